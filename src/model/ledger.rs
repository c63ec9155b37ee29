//! The ledger: every order's current state, derived from the journal and corrected by the
//! folders. Pure data: replaying the same records gives the same ledger; `state/ledger.json`
//! is only a snapshot of it for people and scripts, never read back as truth.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::order::OrderId;
use crate::model::record::Record;
use crate::model::state::{Folder, State};

/// What a studio file is: a request to Walt, an order to a specialist, a report back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Request,
    Order,
    Report,
    /// A plan (SPEC §9): one request whose parts are orders of their own.
    Plan,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: OrderId,
    pub kind: Kind,
    /// The inbox its file is in now.
    pub agent: String,
    pub state: State,
    /// Its file name in that inbox's folder.
    pub name: String,
    pub attempt: u32,
    /// Where the request that this order came from is in `inbox/walt/` (`new`, `active`, `done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Folder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    /// Reroutes so far, attempts at the current agent, and what a parked order waits for.
    #[serde(default)]
    pub hops: u32,
    #[serde(default)]
    pub agent_attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker: Option<String>,
    /// A report whose review accepted it: the inbox and name it is filed under beside its
    /// order (journaled before the order moves, so a crash before the report is filed does not
    /// leave it looking like a report for a finished order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filed_as: Option<(String, String)>,
    /// The name it was delivered under, before intake named it (for people: a held file's
    /// note names the file they dropped). Known from the journal; not in the snapshot.
    #[serde(skip)]
    pub from_name: Option<String>,
    /// The tokens its reports said the work used, all attempts together (`spent:`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spent: u64,
    /// What the accepted attempt committed (`<repo> <sha>` each), from `order.done`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commit: Vec<String>,
    /// The accepted report's digest and what the accepted attempt changed within its Files
    /// (Touched and observed), from `review.accepted`: what a plan's answer checks.
    #[serde(skip)]
    pub digest: Option<String>,
    #[serde(skip)]
    pub changes: Vec<String>,
    /// When it was first taken, and when it entered its current state (RFC 3339).
    pub created: String,
    pub since: String,
}

impl Entry {
    /// Open orders are those not finished: not done, held, cancelled or missing.
    pub fn is_open(&self) -> bool {
        !self.state.is_finished()
    }

    /// The folder the file the ledger names is in: a parked order's last attempt is archived
    /// in `done/`.
    pub fn folder(&self) -> Option<Folder> {
        self.state.folder()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WaltView {
    pub generation: u32,
    pub hot_tokens: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub entries: BTreeMap<OrderId, Entry>,
    /// (inbox, state, file name) → id, for every order and request file the ledger places:
    /// how a scan tells a known file from a new delivery without walking every entry.
    files: std::collections::HashMap<(String, State, String), OrderId>,
    /// The highest id ever handed out (never reused).
    pub max_id: u64,
    pub walt: WaltView,
    /// Every plan accepted (SPEC §9): its parts' names and ids, from `plan.*` records.
    pub plans: BTreeMap<OrderId, PlanEntry>,
}

/// A plan as the journal knows it: which id each part has (a part has an entry of its own
/// once it is written), when it was accepted, which parts were dropped, and whether it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub parts: Vec<(String, OrderId)>,
    /// Seconds since the epoch, by the daemon's clock when it accepted the plan.
    pub accepted_at: i64,
    pub dropped: Vec<String>,
    /// Answered, escalated or cancelled.
    pub ended: bool,
    /// The plan's text when its request's file is not it (the brain answered with a plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Ledger {
    /// Applies one journal record. Records with a `state` move the order there; others only
    /// add what they carry.
    pub fn apply(&mut self, r: &Record) {
        if let Some(g) = r.generation {
            self.walt.generation = g;
        }
        if let Some(h) = r.hot_tokens {
            self.walt.hot_tokens = h;
        }
        let Some(id) = r.order else { return };
        self.max_id = self.max_id.max(id.0);
        self.apply_plan(id, r);
        let Some(state) = &r.state else {
            if let (Some(e), Some(o)) = (self.entries.get_mut(&id), r.get_str("objective")) {
                e.objective = Some(o.to_string());
            }
            if r.event == "report.received" {
                let spent = r.extra.get("spent").and_then(|v| v.as_u64()).unwrap_or(0);
                if let Some(e) = self.entries.get_mut(&id) {
                    e.spent += spent;
                }
            }
            if r.event == "review.accepted" {
                if let Some(e) = self.entries.get_mut(&id) {
                    e.digest = r.get_str("digest").map(str::to_string);
                    e.changes = strings(r, "changes");
                }
                let report = r.get_str("report").and_then(OrderId::parse);
                let filed = r.agent.clone().zip(r.get_str("filed_as"));
                if let (Some(e), Some((agent, name))) =
                    (report.and_then(|rid| self.entries.get_mut(&rid)), filed)
                {
                    e.filed_as = Some((agent, name.to_string()));
                }
            }
            return;
        };
        let entry = self.entries.entry(id).or_insert_with(|| Entry {
            id,
            kind: Kind::Request,
            agent: String::new(),
            state: *state,
            name: String::new(),
            attempt: 0,
            request: None,
            request_name: None,
            objective: None,
            hops: 0,
            agent_attempt: 0,
            blocker: None,
            filed_as: None,
            from_name: None,
            spent: 0,
            commit: Vec::new(),
            digest: None,
            changes: Vec::new(),
            created: r.ts.clone(),
            since: r.ts.clone(),
        });
        let before = (
            (entry.agent.clone(), entry.state, entry.name.clone()),
            entry.request.zip(entry.request_name.clone()),
        );
        if let Some(a) = &r.agent {
            entry.agent = a.clone();
        }
        if entry.state != *state {
            entry.since = r.ts.clone();
        }
        entry.state = *state;
        if let Some(p) = &r.path {
            entry.name = p.clone();
        }
        if let Some(n) = r.attempt {
            entry.attempt = n;
        }
        if let Some(k) = r.get_str("kind") {
            entry.kind = match k {
                "order" => Kind::Order,
                "report" => Kind::Report,
                "plan" => Kind::Plan,
                _ => Kind::Request,
            };
        }
        if let Some(q) = r.get_str("request").and_then(Folder::parse) {
            entry.request = Some(q);
        }
        if let Some(q) = r.get_str("request_path") {
            entry.request_name = Some(q.to_string());
        }
        if let Some(o) = r.get_str("objective") {
            entry.objective = Some(o.to_string());
        }
        if let Some(n) = r.get_str("from_name") {
            entry.from_name = Some(n.to_string());
        }
        if r.event == "order.done" {
            entry.commit = strings(r, "commit");
        }
        if let Some(h) = r.extra.get("hops").and_then(|v| v.as_u64()) {
            entry.hops = h as u32;
        }
        match r.extra.get("agent_attempt").and_then(|v| v.as_u64()) {
            Some(n) => entry.agent_attempt = n as u32,
            None if r.attempt.is_some() && r.event == "order.written" => entry.agent_attempt = 1,
            None => {}
        }
        entry.blocker = if *state == State::Parked {
            r.get_str("blocker").map(str::to_string)
        } else {
            None
        };
        let after = (
            (entry.agent.clone(), entry.state, entry.name.clone()),
            entry.request.zip(entry.request_name.clone()),
        );
        self.files.remove(&before.0);
        if let Some((s, n)) = before.1 {
            self.files.remove(&("walt".to_string(), s.into(), n));
        }
        self.files.insert(after.0, id);
        if let Some((s, n)) = after.1 {
            self.files.insert(("walt".to_string(), s.into(), n), id);
        }
    }

    /// What a `plan.*` record says of its plan (a part's record names it in `plan`).
    fn apply_plan(&mut self, id: OrderId, r: &Record) {
        match r.event.as_str() {
            "plan.accepted" => {
                let parts: Vec<(String, OrderId)> = r
                    .extra
                    .get("parts")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let name = p.get("name")?.as_str()?.to_string();
                        let pid = OrderId::parse(p.get("id")?.as_str()?)?;
                        Some((name, pid))
                    })
                    .collect();
                for (_, pid) in &parts {
                    self.max_id = self.max_id.max(pid.0);
                }
                let accepted_at = r
                    .extra
                    .get("accepted_at")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                self.plans.insert(
                    id,
                    PlanEntry {
                        parts,
                        accepted_at,
                        dropped: Vec::new(),
                        ended: false,
                        text: r.get_str("text").map(str::to_string),
                    },
                );
            }
            "plan.part-dropped" => {
                let plan = r.get_str("plan").and_then(OrderId::parse);
                let part = r.get_str("part");
                if let (Some(p), Some(part)) = (plan.and_then(|p| self.plans.get_mut(&p)), part) {
                    p.dropped.push(part.to_string());
                }
            }
            "plan.answered" | "plan.escalated" | "plan.cancelled" => {
                if let Some(p) = self.plans.get_mut(&id) {
                    p.ended = true;
                }
            }
            _ => {}
        }
    }

    /// Which order (or request) the ledger places at `inbox/<agent>/<state>/<name>`.
    pub fn locate(&self, agent: &str, state: State, name: &str) -> Option<OrderId> {
        self.files
            .get(&(agent.to_string(), state, name.to_string()))
            .copied()
    }

    pub fn next_id(&self) -> OrderId {
        OrderId(self.max_id + 1)
    }

    pub fn open(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().filter(|e| e.is_open())
    }
}

/// A record's field as a list of strings (missing or malformed: none).
fn strings(r: &Record, key: &str) -> Vec<String> {
    r.extra
        .get(key)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_move_an_order_and_ids_are_remembered() {
        let mut l = Ledger::default();
        let mut r = Record::new("delivery.accepted")
            .order(OrderId(3))
            .agent("walt")
            .state(State::New)
            .path("0003-x.md");
        r.ts = "2026-01-01T00:00:00Z".into();
        l.apply(&r);
        assert_eq!(l.next_id(), OrderId(4));
        l.apply(&Record::new("route.decided").order(OrderId(3)).agent("chip"));
        assert_eq!(
            l.entries[&OrderId(3)].agent,
            "walt",
            "a decision is not a move"
        );
        l.apply(
            &Record::new("order.written")
                .order(OrderId(3))
                .agent("chip")
                .state(State::New)
                .attempt(1)
                .with("request", "active"),
        );
        let e = &l.entries[&OrderId(3)];
        assert_eq!(
            (e.agent.as_str(), e.state, e.attempt),
            ("chip", State::New, 1)
        );
        assert_eq!(e.request, Some(Folder::Active));
        assert_eq!(
            l.locate("walt", State::New, "0003-x.md"),
            None,
            "the request moved on"
        );
        assert!(e.is_open());
        l.apply(
            &Record::new("delivery.held")
                .order(OrderId(9))
                .agent("rex")
                .state(State::Held),
        );
        assert_eq!(l.next_id(), OrderId(10));
        assert_eq!(l.open().count(), 1);
    }
}
