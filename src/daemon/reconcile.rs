//! Start-up's two steps after replay: make the ledger say what the folders say (the plan is
//! `coord::reconcile`'s; this file lists the folders and performs it), then hand Walt every
//! order in flight (resume), reading and parsing their files over the cores.

use std::ffi::OsStr;

use crate::coord::reconcile::{self, Found, Listing};
use crate::coord::{Event, Resume};
use crate::format::parse::{self, MAX_BYTES};
use crate::inbox::mailbox::{is_archive, EntryKind, Mailbox, MoveError};
use crate::model::ledger::{Entry, Kind};
use crate::model::order::{AgentName, OrderId};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};
use crate::store::journal::Fatal;

use super::shell::Shell;
use super::{text, DaemonError};

impl Shell {
    /// Reads every folder and makes the ledger say what the folders say (folders win).
    pub fn reconcile(&mut self) -> Result<(), DaemonError> {
        let listing = self.listing()?;
        let mut plan = reconcile::plan(&self.ledger, &listing, self.next_id);
        self.next_id = plan.next_id;
        // Folders were listed one at a time while agents may be claiming: before calling an
        // order gone (and sending its request round again), look for its file afresh (found
        // by the kill -9 soak: a claim between two listings made a duplicate).
        for id in std::mem::take(&mut plan.unseen) {
            let e = &self.ledger.entries[&id];
            if !self.still_there(e) {
                reconcile::gone(e, &mut plan);
            }
        }
        let mut records = plan.records;
        for m in plan.moves {
            match self.desk.move_request(&m.name, m.from, m.to) {
                Ok(()) => records.extend(m.record),
                Err(e) => self.report_error(format!(
                    "cannot move request {} to inbox/walt/{}/: {e}",
                    m.id,
                    m.to.as_str()
                )),
            }
        }
        self.desk.sync().map_err(Fatal::NotDurable)?;
        self.commit(records)?;
        Ok(())
    }

    /// Every file in every inbox folder that an order id names.
    fn listing(&mut self) -> Result<Listing, DaemonError> {
        let mut listing = Listing::default();
        for inbox in &self.inboxes {
            for folder in Folder::MAIL {
                let entries = self.desk.mailbox().list(inbox, folder).map_err(|source| {
                    DaemonError::List {
                        what: folder.display(inbox, ""),
                        source,
                    }
                })?;
                for e in entries {
                    let Some(name) = e.name.to_str() else {
                        continue;
                    };
                    let Some(id) = OrderId::from_name_prefix(name) else {
                        continue;
                    };
                    if e.kind != EntryKind::File {
                        // A folder (or a link) held as it is got its id from the daemon, which
                        // the journal has; a stray one must not move the next id.
                        continue;
                    }
                    listing.ids.insert(id);
                    if e.kind != EntryKind::File
                        || name.ends_with(".why.md")
                        || is_archive(name)
                        || OrderId::from_file_name(name).is_none()
                    {
                        continue;
                    }
                    // A file the journal never recorded: what it is, its text says.
                    let looks_like_report = !self.ledger.entries.contains_key(&id)
                        && self
                            .desk
                            .mailbox()
                            .read_file(inbox, folder, OsStr::new(name), MAX_BYTES + 1)
                            .ok()
                            .and_then(Result::ok)
                            .is_some_and(|b| parse::looks_like_report(&text(b)));
                    listing.files.entry(id).or_default().push(Found {
                        agent: inbox.clone(),
                        folder,
                        name: name.to_string(),
                        looks_like_report,
                    });
                }
            }
        }
        Ok(listing)
    }

    /// Whether an entry's file is in any of its inbox's folders now.
    fn still_there(&self, e: &Entry) -> bool {
        let Ok(a) = AgentName::new(&e.agent) else {
            return false;
        };
        Folder::MAIL.into_iter().any(|f| {
            self.desk
                .mailbox()
                .exists(&a, f, OsStr::new(&e.name))
                .unwrap_or(false)
        })
    }

    /// Hands Walt every order in flight, as the ledger (corrected by the folders) has it.
    pub fn resume(&mut self) -> Result<(), DaemonError> {
        // A command agent's run dies with the daemon (PR_SET_PDEATHSIG): an order still in its
        // active/ was interrupted. Put it back in new/ so it runs again, once.
        let interrupted: Vec<(OrderId, String, String)> = self
            .ledger
            .open()
            .filter(|e| e.kind == Kind::Order && e.state == State::Active)
            .filter(|e| {
                self.cfg
                    .agent(&e.agent)
                    .is_some_and(|a| a.command.is_some())
            })
            .map(|e| (e.id, e.agent.clone(), e.name.clone()))
            .collect();
        let mut records = Vec::new();
        for (id, agent, name) in interrupted {
            let Ok(a) = AgentName::new(&agent) else {
                continue;
            };
            match self.desk.mailbox().move_synced(
                &a,
                Folder::Active,
                Folder::New,
                OsStr::new(&name),
            ) {
                Ok(()) => records.push(
                    Record::new("order.reconciled")
                        .level(Level::Warn)
                        .order(id)
                        .agent(&agent)
                        .state(State::New)
                        .path(name)
                        .reason("its run was interrupted when the daemon stopped; it runs again"),
                ),
                Err(MoveError::Sync(e)) => return Err(Fatal::NotDurable(e).into()),
                Err(MoveError::Rename(e)) => {
                    self.report_error(format!("cannot requeue interrupted order {id}: {e}"))
                }
            }
        }
        self.commit(records)?;
        // Each order's file is read and parsed on its own, so the files are shared out over
        // the cores; Walt then takes them up in one event.
        let mb = self.desk.mailbox();
        let open: Vec<&Entry> = self
            .ledger
            .open()
            .filter(|e| e.kind == Kind::Order)
            .collect();
        let results = super::par::map(&open, |e| resumable(mb, e));
        drop(open);
        let resumed = self.sort_out(results);
        self.walt.handle(Event::Resume(resumed));
        let plans = self.open_plans();
        let effects = self.walt.handle(Event::ResumePlans(plans));
        self.perform(effects)?;
        // Resumed from a long run, Walt's context may start above rotate_at: hand off to a
        // fresh generation at once rather than carry it past the ceiling.
        let effects = self.walt.settle();
        self.perform(effects)?;
        Ok(())
    }

    /// Orders delivered by hand into a specialist's inbox are in flight from now on: Walt takes
    /// them up as he does at start-up, so their reports are reviewed like any other.
    pub fn take_up(&mut self, ids: Vec<OrderId>) {
        if ids.is_empty() {
            return;
        }
        let mb = self.desk.mailbox();
        let results: Vec<_> = ids
            .iter()
            .filter_map(|id| self.ledger.entries.get(id))
            .map(|e| resumable(mb, e))
            .collect();
        let taken = self.sort_out(results);
        self.walt.handle(Event::Resume(taken));
    }

    fn sort_out(&mut self, results: Vec<Option<Result<Resume, String>>>) -> Vec<Resume> {
        let mut taken = Vec::with_capacity(results.len());
        for r in results.into_iter().flatten() {
            match r {
                Ok(r) => taken.push(r),
                Err(e) => self.report_error(e),
            }
        }
        taken
    }
}

/// An order in flight as Walt takes it up: its ledger entry and its file, read and parsed
/// (`None` for an entry naming no valid agent; an error saying why when the file cannot be read).
fn resumable(mb: &Mailbox, e: &Entry) -> Option<Result<Resume, String>> {
    let agent = AgentName::new(&e.agent).ok()?;
    let folder = e.folder().unwrap_or(Folder::New);
    // A manual agent may claim it while the daemon starts: look where it moves next.
    let mut state = e.state;
    let mut found = mb.read_file(&agent, folder, OsStr::new(&e.name), MAX_BYTES + 1);
    if folder == Folder::New && !matches!(found, Ok(Ok(_))) {
        found = mb.read_file(&agent, Folder::Active, OsStr::new(&e.name), MAX_BYTES + 1);
        state = State::Active;
    }
    let Ok(Ok(bytes)) = found else {
        return Some(Err(format!(
            "cannot read order {} at {}; it stays as the folders have it",
            e.id,
            folder.display(&agent, &e.name)
        )));
    };
    let order = parse::parse_order(&bytes, parse::Context::default()).value;
    Some(Ok(Resume {
        entry: e.clone(),
        state,
        order,
    }))
}
