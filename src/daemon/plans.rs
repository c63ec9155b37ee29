//! The shell's side of plans: giving Walt the clock and the next free id, his tick once a turn,
//! reading the evidence for an answer (each done part's report as it is now, and whether its
//! commits are still in history), and the open plans at start-up from the journal. What to do
//! with any of it is Walt's (`coord/plans.rs`, `coord/answer.rs`).

use std::ffi::OsStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::coord::plans::{PartState, PlanResume};
use crate::coord::{Event, Evidence};
use crate::format::parse::MAX_BYTES;
use crate::model::order::{AgentName, OrderId};
use crate::model::state::{Folder, State};

use super::shell::Shell;
use super::{text, DaemonError};

/// Seconds since the epoch, by this machine's clock.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Shell {
    /// Before Walt routes: the clock and the next id he may give a plan's part.
    pub fn set_clock(&mut self) {
        self.walt.set_clock(unix_now(), self.next_id);
    }

    /// After Walt decided: the ids he handed out are taken.
    pub fn take_ids(&mut self) {
        self.next_id = self.next_id.max(self.walt.next_id());
    }

    /// Walt's tick: plans write what may go out, and answer once every part has ended.
    pub fn plans_turn(&mut self) -> Result<(), DaemonError> {
        if self.walt.plans().is_empty() {
            return Ok(());
        }
        self.set_clock();
        let effects = self.walt.handle(Event::Tick);
        self.take_ids();
        self.perform(effects)
    }

    /// The evidence for plan `id`'s answer, in the order its parts were accepted.
    pub fn gather(&self, id: OrderId) -> Vec<Evidence> {
        let Some(plan) = self.ledger.plans.get(&id) else {
            return Vec::new();
        };
        let mut done: Vec<_> = plan
            .parts
            .iter()
            .filter_map(|(_, pid)| self.ledger.entries.get(pid))
            .filter(|e| e.state == State::Done)
            .collect();
        done.sort_by(|a, b| a.since.cmp(&b.since).then(a.id.cmp(&b.id)));
        done.into_iter()
            .map(|e| {
                let stem = e.name.strip_suffix(".md").unwrap_or(&e.name);
                let report = AgentName::new(&e.agent).ok().and_then(|agent| {
                    match self.desk.mailbox().read_file(
                        &agent,
                        Folder::Done,
                        OsStr::new(&format!("{stem}.report.md")),
                        MAX_BYTES + 1,
                    ) {
                        Ok(Ok(bytes)) => Some(text(bytes)),
                        _ => None,
                    }
                });
                let commits = e
                    .commit
                    .iter()
                    .map(|c| {
                        let present = c.split_once(' ').is_some_and(|(repo, sha)| {
                            super::commit::in_history(&self.root_path, repo, sha)
                        });
                        (c.clone(), present)
                    })
                    .collect();
                Evidence {
                    id: e.id,
                    agent: e.agent.clone(),
                    attempt: e.attempt,
                    report,
                    digest: e.digest.clone(),
                    changes: e.changes.clone(),
                    commits,
                }
            })
            .collect()
    }

    /// The open plans as the journal and the folders have them, for Walt to take up.
    pub fn open_plans(&self) -> Vec<PlanResume> {
        let walt = AgentName::walt();
        let mut out = Vec::new();
        for (id, plan) in &self.ledger.plans {
            if plan.ended {
                continue;
            }
            let Some(e) = self.ledger.entries.get(id) else {
                continue;
            };
            let (folder, started) = match e.state {
                State::Active => (Folder::Active, true),
                _ => (Folder::New, false),
            };
            let name = e.request_name.clone().unwrap_or_else(|| e.name.clone());
            let from_file = || match self.desk.mailbox().read_file(
                &walt,
                folder,
                OsStr::new(&name),
                MAX_BYTES + 1,
            ) {
                Ok(Ok(bytes)) => Some(text(bytes)),
                _ => None,
            };
            let text = plan.text.clone().or_else(from_file);
            let parts = plan
                .parts
                .iter()
                .map(|(part, pid)| {
                    let entry = self.ledger.entries.get(pid);
                    let state = match entry.map(|e| e.state) {
                        None => PartState::Waiting,
                        Some(State::Done) => PartState::Done,
                        Some(State::Cancelled) if plan.dropped.contains(part) => PartState::Dropped,
                        Some(s) if s.is_finished() => PartState::Cancelled,
                        Some(_) => PartState::Out,
                    };
                    (part.clone(), *pid, state, entry.map_or(0, |e| e.spent))
                })
                .collect();
            out.push(PlanResume {
                id: *id,
                name,
                text,
                started,
                accepted_at: plan.accepted_at,
                parts,
            });
        }
        out
    }
}
