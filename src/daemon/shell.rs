//! The shell: the daemon's state as an assembly of owned parts, and one turn of its loop.
//!
//! Each part is changed by the file that owns it: the store (`Keeper`, the journal and log,
//! with the `Ledger` it derives), Walt's desk on `inbox/` and the intake of deliveries, Walt
//! himself, the command agents' runs (`agents.rs`), the repos watch (`repos.rs`). This file
//! holds what ties them together: journaling Walt's effects phase by phase (`perform`), letting
//! him route what waits (`route`), and the turn that runs them in order.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::coord::{Effect, Event, Walt};
use crate::format::config::Config;
use crate::format::parse::{self, MAX_BYTES};
use crate::inbox::desk::Desk;
use crate::inbox::intake::{self, Intake};
use crate::model::ledger::{Kind, Ledger};
use crate::model::order::{AgentName, OrderId, WALT};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};
use crate::store::journal::{self, Fatal};
use crate::store::keeper::Keeper;

use super::agents::Agents;
use super::brain::Brain;
use super::repos::ReposWatch;
use super::{text, DaemonError};

/// Errors already said, so one that persists is logged once, not every turn.
#[derive(Default)]
pub struct Complaints {
    said: HashSet<String>,
}

impl Complaints {
    /// Whether `what` is new (and so should be said now).
    pub fn first_time(&mut self, what: &str) -> bool {
        self.said.insert(what.to_string())
    }
}

pub struct Shell {
    pub cfg: Config,
    /// The configured specialists (what intake accepts hand-drops for).
    pub agent_names: Vec<AgentName>,
    /// Every inbox the daemon serves: walt, human and the specialists.
    pub inboxes: Vec<AgentName>,
    pub desk: Desk,
    pub keeper: Keeper,
    pub ledger: Ledger,
    pub walt: Walt,
    pub intake: Intake,
    pub next_id: u64,
    pub complaints: Complaints,
    /// The studio's path (for the runner's rules and working folder, and the repos watch).
    pub root_path: PathBuf,
    pub agents: Agents,
    pub repos: ReposWatch,
    /// The brain's question in flight, if any.
    pub brain: Brain,
    last_snapshot: Option<Instant>,
}

impl Shell {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: Config,
        inboxes: Vec<AgentName>,
        desk: Desk,
        keeper: Keeper,
        ledger: Ledger,
        walt: Walt,
        intake: Intake,
        root_path: PathBuf,
        agents: Agents,
        brain: Brain,
    ) -> Shell {
        let next_id = ledger.max_id + 1;
        Shell {
            agent_names: cfg.agent_names(),
            cfg,
            inboxes,
            desk,
            keeper,
            ledger,
            walt,
            intake,
            next_id,
            complaints: Complaints::default(),
            root_path,
            agents,
            repos: ReposWatch::default(),
            brain,
            last_snapshot: None,
        }
    }

    pub fn log(&mut self, r: Record) {
        let r = if r.generation.is_none() {
            self.walt.stamp(r)
        } else {
            r
        };
        self.keeper.log(&r);
    }

    /// Journals records durably; a record Walt did not stamp gets his generation and hot
    /// tokens now (every record carries them).
    pub fn commit(&mut self, records: Vec<Record>) -> Result<(), Fatal> {
        let records = records
            .into_iter()
            .map(|r| {
                if r.generation.is_none() {
                    self.walt.stamp(r)
                } else {
                    r
                }
            })
            .collect();
        self.keeper.commit(records, &mut self.ledger)
    }

    /// Logs an error once, however many turns it persists.
    pub fn report_error(&mut self, what: String) {
        if self.complaints.first_time(&what) {
            self.log(
                Record::new("daemon.rescan")
                    .level(Level::Error)
                    .reason(what),
            );
        }
    }

    /// One turn: take deliveries, notice moves, route, commit. Returns when to look again at
    /// hand-drops still settling.
    pub fn turn(&mut self) -> Result<Option<Instant>, DaemonError> {
        self.collect_runs()?;
        self.watch_repos()?;
        // Take everything that is there before routing any of it: a burst still arriving is
        // taken in a few large batches (one journal fsync each) instead of many small turns,
        // and what is taken is acknowledged sooner. Bounded, so routing is never starved.
        let mut recheck = None;
        for _ in 0..8 {
            let batch = self.intake.scan(
                self.desk.mailbox(),
                &self.inboxes,
                &self.ledger,
                &self.agent_names,
                &mut self.next_id,
                Instant::now(),
            );
            for e in batch.errors {
                self.report_error(e);
            }
            for (agent, folder) in &batch.dirty {
                self.desk
                    .mailbox()
                    .sync(agent, *folder)
                    .map_err(Fatal::NotDurable)?;
            }
            recheck = batch.recheck_at;
            let taken = batch.records.len();
            let by_hand: Vec<OrderId> = batch
                .records
                .iter()
                .filter(|r| r.rule.as_deref() == Some(intake::BY_HAND))
                .filter_map(|r| r.order)
                .collect();
            self.commit(batch.records)?;
            self.take_up(by_hand);
            if taken == 0 {
                break;
            }
        }
        self.observe()?;
        self.route()?;
        self.dispatch()?;
        self.snapshot_soon();
        // While runs are in progress, status shows their elapsed and quiet time: look again
        // within a second.
        if !self.agents.running_ids().is_empty() {
            let soon = Instant::now() + Duration::from_secs(1);
            recheck = Some(recheck.map_or(soon, |r: Instant| r.min(soon)));
        }
        Ok(recheck)
    }

    /// Lets Walt route every request waiting in `inbox/walt/new/`, oldest first, and performs
    /// what he decides.
    fn route(&mut self) -> Result<(), DaemonError> {
        self.set_clock();
        self.hear_brain()?;
        // Reports first: they finish orders, which makes room for requests under the meter.
        for kind in [Kind::Report, Kind::Request] {
            if kind == Kind::Request && self.brain.busy() {
                // The brain is thinking about the oldest request; the rest wait their turn.
                continue;
            }
            let waiting: Vec<(OrderId, String)> = self
                .ledger
                .entries
                .values()
                .filter(|e| e.agent == WALT && e.state == State::New && e.kind == kind)
                .map(|e| (e.id, e.name.clone()))
                .collect();
            let mut effects = Vec::new();
            let walt = AgentName::walt();
            for (id, name) in waiting {
                let text = match self.desk.mailbox().read_file(
                    &walt,
                    Folder::New,
                    OsStr::new(&name),
                    MAX_BYTES + 1,
                ) {
                    Ok(Ok(bytes)) => text(bytes),
                    // Moved away meanwhile; the next turn sees where.
                    Ok(Err(_)) | Err(_) => continue,
                };
                let out = match kind {
                    Kind::Report => {
                        // What changed under repos/ during the attempt goes to review with it.
                        let re = parse::parse_report(text.as_bytes(), parse::Context::default())
                            .value
                            .header
                            .re;
                        let changed = re
                            .map(|re| self.repos.take_observed(re))
                            .unwrap_or_default();
                        let accepted = self
                            .ledger
                            .entries
                            .get(&id)
                            .and_then(|e| e.filed_as.clone())
                            .and_then(|(agent, name)| Some((AgentName::new(&agent).ok()?, name)));
                        // The order it answers, if it is no longer in flight.
                        let closed = re
                            .filter(|re| !self.walt.flights().contains_key(re))
                            .and_then(|re| self.ledger.entries.get(&re))
                            .filter(|e| matches!(e.state, State::Done | State::Cancelled))
                            .and_then(|e| {
                                Some((AgentName::new(&e.agent).ok()?, e.state, e.name.clone()))
                            });
                        self.walt.handle(Event::Report {
                            id,
                            name,
                            text,
                            changed,
                            accepted,
                            closed,
                        })
                    }
                    _ => self.walt.handle(Event::Request { id, name, text }),
                };
                self.take_ids();
                let out = self.brain.ask(out);
                // A question out to the brain, or backpressure: later requests wait their turn.
                let wait =
                    out.iter().any(|e| matches!(e, Effect::Wait { .. })) || self.brain.busy();
                effects.extend(out);
                if wait {
                    break;
                }
                // Bounded batches: progress is committed every few hundred orders, so a daemon
                // killed mid-backlog keeps what it did (the soak showed livelock otherwise).
                if effects.len() >= 1024 {
                    self.perform(std::mem::take(&mut effects))?;
                }
            }
            self.perform(effects)?;
        }
        self.plans_turn()
    }

    /// Performs a batch of Walt's effects phase by phase (see `Effect::phase`), with one
    /// journal commit per phase and one sync of the inbox per phase.
    pub fn perform(&mut self, mut effects: Vec<Effect>) -> Result<(), DaemonError> {
        if effects.is_empty() {
            return Ok(());
        }
        effects.sort_by_key(Effect::phase);
        // An order whose step fails is skipped for the rest of the batch, and Walt is told it
        // left flight; the next turn finds it where the folders say.
        let mut failed: BTreeSet<OrderId> = BTreeSet::new();
        let mut commits: BTreeMap<OrderId, super::commit::Outcome> = BTreeMap::new();
        let decisions: Vec<Record> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Decide(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        self.commit(decisions)?;
        for phase in 1..=3 {
            for e in effects.iter().filter(|e| e.phase() == phase) {
                if e.order().is_some_and(|id| failed.contains(&id)) {
                    continue;
                }
                let result = match e {
                    Effect::Archive {
                        agent,
                        from,
                        name,
                        to_name,
                        log,
                        ..
                    } => self
                        .desk
                        .archive(agent, *from, name, to_name)
                        .and_then(|()| self.desk.archive_log(agent, &log.0, &log.1)),
                    Effect::Write {
                        agent, name, body, ..
                    } => self.desk.write_order(agent, name, body),
                    Effect::Handoff { name, body, .. } => self.desk.write_handoff(name, body),
                    Effect::WriteAnswer {
                        agent,
                        folder,
                        name,
                        body,
                        ..
                    } => self.desk.write_answer(agent, *folder, name, body),
                    Effect::MoveRequest { name, from, to, .. } => {
                        self.desk.move_request(name, *from, *to)
                    }
                    Effect::HoldRequest {
                        id,
                        name,
                        taken_as,
                        why,
                        next,
                    } => {
                        let dropped = self
                            .ledger
                            .entries
                            .get(id)
                            .and_then(|e| e.from_name.clone())
                            .unwrap_or_else(|| name.clone());
                        self.desk.hold_request(name, &dropped, taken_as, why, next)
                    }
                    Effect::FileReport {
                        name,
                        agent,
                        to_name,
                        ..
                    } => self.desk.file_report(name, agent, to_name),
                    Effect::Commit {
                        id,
                        agent,
                        attempt,
                        subject,
                        paths,
                    } => {
                        let done = super::commit::commit(
                            &self.root_path,
                            *id,
                            agent,
                            *attempt,
                            subject,
                            paths,
                        );
                        commits.insert(*id, done);
                        Ok(())
                    }
                    _ => Ok(()),
                };
                if let Err(err) = result {
                    if journal::is_disk_full(&err) {
                        // Not this order's trouble: pause, and start over when there is space
                        // (what was decided is journaled; the folders say the rest).
                        return Err(Fatal::DiskFull(err).into());
                    }
                    if let Some(id) = e.order() {
                        failed.insert(id);
                    }
                    self.report_error(
                        format!("{e:?} failed: {err}; it is tried again from what the folders say")
                            .chars()
                            .take(400)
                            .collect(),
                    );
                }
            }
            self.desk.sync().map_err(Fatal::NotDurable)?;
        }
        let mut records = Vec::new();
        let mut gather = Vec::new();
        for e in effects {
            match e {
                Effect::Gather { plan } => gather.push(plan),
                Effect::Record(r) if !r.order.is_some_and(|id| failed.contains(&id)) => {
                    let done = r.event == "order.done";
                    if done {
                        if let Some(a) = &r.agent {
                            self.agents.accepted(a);
                        }
                    }
                    match r.order.and_then(|id| commits.remove(&id).filter(|_| done)) {
                        Some(outcome) => {
                            let (r, warnings) = super::commit::record(r, outcome);
                            for w in warnings {
                                self.log(w);
                            }
                            records.push(r)
                        }
                        None => records.push(r),
                    }
                }
                Effect::Log(r) => self.log(r),
                _ => {}
            }
        }
        for id in &failed {
            self.walt.handle(Event::Moved {
                id: *id,
                agent: AgentName::walt(),
                state: State::Missing,
            });
        }
        self.commit(records)?;
        // A plan whose parts have all ended: Walt answers it from what the folders and
        // repositories hold now.
        for plan in gather {
            let parts = self.gather(plan);
            let effects = self.walt.handle(Event::Gathered { plan, parts });
            // With a brain, Walt asks it for the answer's Note first.
            let effects = self.brain.ask(effects);
            self.perform(effects)?;
        }
        Ok(())
    }

    fn snapshot_soon(&mut self) {
        if self
            .last_snapshot
            .is_some_and(|t| t.elapsed() < Duration::from_millis(500))
        {
            return;
        }
        self.snapshot();
    }

    /// Writes `state/ledger.json` for people and scripts, with Walt's meter and the runs.
    pub fn snapshot(&mut self) {
        self.last_snapshot = Some(Instant::now());
        let walt = serde_json::json!({
            "generation": self.walt.generation(),
            "hot_tokens": self.walt.hot_tokens(),
            "rotate_at": self.cfg.walt.rotate_at,
            "ceiling": self.walt.ceiling(),
            "band": crate::coord::meter::band(self.walt.hot_tokens()),
            "refused": self.agents.refused,
            "running": self.agents.running_ids(),
            "runs": self.agents.runs(),
            "backoff": self.agents.backoff(),
            "waiting": self
                .walt
                .waiting_for()
                .iter()
                .map(|(r, h)| (r.to_string(), serde_json::Value::String(h.to_string())))
                .collect::<serde_json::Map<String, serde_json::Value>>(),
            "plans": self.walt.plan_views(),
            "watch": self.repos.degraded,
            "brain": self.walt.brain_trouble().or(self.brain.cannot()),
        });
        if let Err(e) = self.keeper.snapshot(&self.ledger, walt) {
            self.report_error(format!("cannot write state/ledger.json: {e}"));
        }
    }
}
