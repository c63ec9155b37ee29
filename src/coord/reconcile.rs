//! Reconcile's plan: what to finish at start-up so the ledger says what the folders say.
//!
//! The shell lists every inbox folder (and, for a file the journal never recorded, says
//! whether its text reads as a report); `plan` compares that listing with the ledger and
//! returns the records to journal and the request moves to finish. Folders win. The shell only
//! performs the plan. An order the listing does not show is not called gone here: folders are
//! listed one at a time while agents claim, so `plan` names the candidates and the shell
//! confirms each with a fresh look before `gone` decides what that means.

use std::collections::BTreeMap;

use crate::model::ledger::{Entry, Kind, Ledger};
use crate::model::order::{AgentName, OrderId, WALT};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};

/// One file found in a folder, named by an order id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub agent: AgentName,
    pub folder: Folder,
    pub name: String,
    /// For a file the ledger has no entry for: whether its text reads as a report.
    pub looks_like_report: bool,
}

/// What the folders hold: each order id's files (a request in `inbox/walt/`, its order in a
/// specialist's inbox), and the id of every file whose name starts with one.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub files: BTreeMap<OrderId, Vec<Found>>,
    pub ids: std::collections::BTreeSet<OrderId>,
}

/// A request of Walt's to move between his folders.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMove {
    pub id: OrderId,
    pub name: String,
    pub from: Folder,
    pub to: Folder,
    /// Journaled only once this move is done.
    pub record: Option<Record>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Journaled once the moves are durable.
    pub records: Vec<Record>,
    /// Requests whose move a crash interrupted.
    pub moves: Vec<RequestMove>,
    /// Open entries the listing does not show: the shell looks again before `gone`.
    pub unseen: Vec<OrderId>,
    /// The next id to hand out.
    pub next_id: u64,
}

/// Compares the folders with the ledger.
pub fn plan(ledger: &Ledger, listing: &Listing, next_id: u64) -> Plan {
    let base = next_id.max(ledger.max_id + 1);
    // Ids seen in folders count (a crash may have left names the journal never recorded), but
    // only near the ids on record: a stray name far out must not move the next id.
    let (near, strays): (Vec<OrderId>, Vec<OrderId>) =
        listing.ids.iter().partition(|id| id.adoptable(base));
    let mut out = Plan {
        next_id: near.iter().map(|id| id.0 + 1).fold(base, u64::max),
        ..Plan::default()
    };
    if !strays.is_empty() {
        out.records.push(
            Record::new("daemon.rescan")
                .level(Level::Warn)
                .reason(format!(
                    "ignored {} name(s) whose id is far past any the daemon handed out (the highest: {}); they do not move the next id {}",
                    strays.len(),
                    strays.last().expect("not empty"),
                    OrderId(out.next_id)
                )),
        );
    }
    for (id, places) in &listing.files {
        if strays.contains(id) {
            // Not the daemon's: left where it is, and not taken into the ledger either.
            continue;
        }
        let request = places.iter().find(|f| f.agent.as_str() == WALT);
        let orders: Vec<&Found> = places.iter().filter(|f| f.agent.as_str() != WALT).collect();
        if orders.len() > 1 {
            out.records.push(
                Record::new("daemon.rescan")
                    .level(Level::Error)
                    .order(*id)
                    .reason(format!(
                        "order {id} is in {} inboxes: {}; a person should keep one",
                        orders.len(),
                        orders
                            .iter()
                            .map(|f| f.folder.display(&f.agent, &f.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
            );
        }
        let Some(here) = orders.first().copied().or(request) else {
            continue;
        };
        let entry = ledger.entries.get(id);
        // A cancelled order's last attempt is archived (not listed): only its request is
        // left to find, and where the ledger says it is, all agrees.
        if orders.is_empty()
            && entry.is_some_and(|e| {
                e.kind == Kind::Order
                    && e.state == State::Cancelled
                    && request.is_some_and(|r| e.request == Some(r.folder))
            })
        {
            continue;
        }
        let said = entry
            .map(|e| format!("{} in inbox/{}/{}", e.name, e.agent, e.state))
            .unwrap_or_else(|| "nothing".into());
        let state = State::from(here.folder);
        let differs = match entry {
            None => true,
            Some(e) => {
                e.agent != here.agent.as_str()
                    || e.state != state
                    || e.name != here.name
                    || request.is_some_and(|r| e.request != Some(r.folder))
            }
        };
        // A request still in new/ whose order is already written: a crash came between
        // writing the order and moving the request. Finish the move; never route it twice.
        let finish_move = request.is_some_and(|r| r.folder == Folder::New) && !orders.is_empty();
        // A request still in active/ whose order is done: a crash came between the order's
        // move to done/ and the request's. Finish that move too.
        let finish_done = request.is_some_and(|r| r.folder == Folder::Active)
            && orders.first().is_some_and(|o| o.folder == Folder::Done);
        let request_now = match request {
            Some(r) if finish_move => {
                out.moves.push(move_of(*id, r, Folder::Active));
                Some((Folder::Active, r))
            }
            Some(r) if finish_done => {
                out.moves.push(move_of(*id, r, Folder::Done));
                Some((Folder::Done, r))
            }
            Some(r) => Some((r.folder, r)),
            None => None,
        };
        if !(differs || finish_move || finish_done) {
            continue;
        }
        let kind = if !orders.is_empty() {
            Kind::Order
        } else {
            match entry.map(|e| e.kind) {
                Some(Kind::Report) => Kind::Report,
                Some(_) => Kind::Request,
                // Accepted, then a crash before its record: what it is, its text says.
                None if here.looks_like_report => Kind::Report,
                None => Kind::Request,
            }
        };
        let mut r = Record::new("order.reconciled")
            .order(*id)
            .agent(&here.agent)
            .state(state)
            .path(here.name.clone())
            .with("kind", kind_word(kind))
            .reason(format!(
                "the journal said {said}; the folders say {}",
                here.folder.display(&here.agent, &here.name)
            ));
        if let Some((folder, req)) = request_now {
            r = r.request(folder, req.name.clone());
        }
        out.records.push(r);
    }
    out.unseen = ledger
        .open()
        .filter(|e| e.state != State::Parked && !listing.files.contains_key(&e.id))
        .map(|e| e.id)
        .collect();
    out
}

/// What it means that an open entry's file is gone from every folder, confirmed by a fresh
/// look: it is missing (folders win); and an order that came through Walt has its request sent
/// round again, since a crash between archiving an attempt and writing the next leaves the
/// request with no order, and it must not be lost.
pub fn gone(e: &Entry, plan: &mut Plan) {
    plan.records.push(
        Record::new("order.reconciled")
            .level(Level::Warn)
            .order(e.id)
            .agent(&e.agent)
            .state(State::Missing)
            .path(e.name.clone())
            .reason(format!(
                "its file inbox/{}/{}/{} is gone from every folder; folders win",
                e.agent, e.state, e.name
            )),
    );
    if e.kind != Kind::Order || e.request != Some(Folder::Active) {
        return;
    }
    let Some(req) = &e.request_name else {
        return;
    };
    plan.moves.push(RequestMove {
        id: e.id,
        name: req.clone(),
        from: Folder::Active,
        to: Folder::New,
        record: Some(
            Record::new("order.reconciled")
                .level(Level::Warn)
                .order(e.id)
                .agent(WALT)
                .state(State::New)
                .path(req.clone())
                .with("kind", "request")
                .request(Folder::New, req.clone())
                .reason("its order is gone; the request goes round again"),
        ),
    });
}

fn move_of(id: OrderId, r: &Found, to: Folder) -> RequestMove {
    RequestMove {
        id,
        name: r.name.clone(),
        from: r.folder,
        to,
        record: None,
    }
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Order => "order",
        Kind::Report => "report",
        Kind::Request => "request",
        Kind::Plan => "plan",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(a: &str) -> AgentName {
        AgentName::new(a).unwrap()
    }

    fn found(a: &str, folder: Folder, name: &str) -> Found {
        Found {
            agent: agent(a),
            folder,
            name: name.into(),
            looks_like_report: false,
        }
    }

    fn ledger(records: &[Record]) -> Ledger {
        let mut l = Ledger::default();
        for r in records {
            l.apply(r);
        }
        l
    }

    fn written(id: u64) -> Vec<Record> {
        vec![
            Record::new("delivery.accepted")
                .order(OrderId(id))
                .agent("walt")
                .state(State::New)
                .path(format!("{id:04}-x.md")),
            Record::new("order.written")
                .order(OrderId(id))
                .agent("chip")
                .state(State::New)
                .path(format!("{id:04}-x.md"))
                .with("kind", "order")
                .request(Folder::Active, format!("{id:04}-x.md")),
        ]
    }

    #[test]
    fn folders_that_agree_with_the_ledger_need_nothing() {
        let l = ledger(&written(1));
        let mut listing = Listing::default();
        listing.files.insert(
            OrderId(1),
            vec![
                found("walt", Folder::Active, "0001-x.md"),
                found("chip", Folder::New, "0001-x.md"),
            ],
        );
        listing.ids.insert(OrderId(1));
        let p = plan(&l, &listing, 2);
        assert!(p.records.is_empty() && p.moves.is_empty() && p.unseen.is_empty());
        assert_eq!(p.next_id, 2);
    }

    #[test]
    fn a_request_left_in_new_beside_its_written_order_is_moved_not_routed_again() {
        let l = ledger(&written(1)[..1]);
        let mut listing = Listing::default();
        listing.files.insert(
            OrderId(1),
            vec![
                found("walt", Folder::New, "0001-x.md"),
                found("chip", Folder::New, "0001-x.md"),
            ],
        );
        let p = plan(&l, &listing, 1);
        assert_eq!(
            p.moves,
            vec![RequestMove {
                id: OrderId(1),
                name: "0001-x.md".into(),
                from: Folder::New,
                to: Folder::Active,
                record: None,
            }]
        );
        let r = &p.records[0];
        assert_eq!(r.state, Some(State::New));
        assert_eq!(r.agent.as_deref(), Some("chip"));
        assert_eq!(r.get_str("request"), Some("active"));
        assert_eq!(r.get_str("kind"), Some("order"));
    }

    #[test]
    fn a_request_left_in_active_beside_its_done_order_is_moved_to_done() {
        let l = ledger(&written(1));
        let mut listing = Listing::default();
        listing.files.insert(
            OrderId(1),
            vec![
                found("walt", Folder::Active, "0001-x.md"),
                found("chip", Folder::Done, "0001-x.md"),
            ],
        );
        let p = plan(&l, &listing, 1);
        assert_eq!(p.moves[0].to, Folder::Done);
        assert_eq!(p.records[0].state, Some(State::Done));
        assert_eq!(p.records[0].get_str("request"), Some("done"));
    }

    #[test]
    fn a_cancelled_order_whose_request_is_done_needs_nothing() {
        let mut records = written(1);
        records.push(
            Record::new("order.cancelled")
                .order(OrderId(1))
                .agent("chip")
                .state(State::Cancelled)
                .request(Folder::Done, "0001-x.md"),
        );
        let l = ledger(&records);
        let mut listing = Listing::default();
        listing
            .files
            .insert(OrderId(1), vec![found("walt", Folder::Done, "0001-x.md")]);
        let p = plan(&l, &listing, 2);
        assert!(
            p.records.is_empty(),
            "a cancelled order was rewritten as its request: {:?}",
            p.records
        );
    }

    #[test]
    fn a_stray_name_far_past_every_id_does_not_move_the_next_id() {
        let l = ledger(&written(1));
        let mut listing = Listing::default();
        listing.ids.insert(OrderId(5));
        listing.ids.insert(OrderId(999_999_999_999));
        let p = plan(&l, &listing, 2);
        assert_eq!(p.next_id, 6, "a near id counts, the stray does not");
        listing.files.insert(
            OrderId(999_999_999_999),
            vec![found("walt", Folder::Done, "999999999999-x.md")],
        );
        let p = plan(&l, &listing, 2);
        assert!(
            p.records.iter().all(|r| r.order.is_none()),
            "a stray file is not taken into the ledger: {:?}",
            p.records
        );
        assert!(p.records[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("ignored 1 name"));
    }

    #[test]
    fn a_file_the_journal_never_recorded_is_taken_as_its_text_says() {
        let l = Ledger::default();
        let mut listing = Listing::default();
        let mut f = found("walt", Folder::New, "0007-report.md");
        f.looks_like_report = true;
        listing.files.insert(OrderId(7), vec![f]);
        listing.ids.insert(OrderId(7));
        let p = plan(&l, &listing, 1);
        assert_eq!(p.records[0].get_str("kind"), Some("report"));
        assert_eq!(
            p.next_id, 8,
            "ids seen in folders are never handed out again"
        );
    }

    #[test]
    fn an_order_in_two_inboxes_is_said_and_an_unlisted_one_is_only_a_candidate() {
        let mut records = written(1);
        records.extend(written(2));
        let l = ledger(&records);
        let mut listing = Listing::default();
        listing.files.insert(
            OrderId(1),
            vec![
                found("walt", Folder::Active, "0001-x.md"),
                found("chip", Folder::New, "0001-x.md"),
                found("rex", Folder::New, "0001-x.md"),
            ],
        );
        let mut p = plan(&l, &listing, 3);
        assert!(p.records[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("is in 2 inboxes"));
        assert_eq!(p.unseen, vec![OrderId(2)]);
        gone(&l.entries[&OrderId(2)], &mut p);
        assert_eq!(p.records.last().unwrap().state, Some(State::Missing));
        let requeue = p.moves.last().unwrap();
        assert_eq!((requeue.from, requeue.to), (Folder::Active, Folder::New));
        assert_eq!(
            requeue.record.as_ref().unwrap().state,
            Some(State::New),
            "once moved, the request goes round again"
        );
    }
}
