//! Noticing what others did: orders a manual agent claimed or a person moved by hand, leases
//! that ran out (`coord::lease` decides), and people's decisions left in `state/decisions/`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::coord::recovery::Failure;
use crate::coord::{lease, Effect, Event, PersonDecision};
use crate::inbox::mailbox::Mailbox;
use crate::model::ledger::Kind;
use crate::model::order::{AgentName, OrderId};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};

use super::shell::Shell;
use super::DaemonError;

impl Shell {
    /// Notices orders that others moved (a manual agent claiming one, a person moving one by
    /// hand) and records where they are now; then leases, then people's decisions.
    pub fn observe(&mut self) -> Result<(), DaemonError> {
        let mut listed: BTreeMap<(String, Folder), BTreeSet<String>> = BTreeMap::new();
        let mut records = Vec::new();
        let mut stalled: Vec<(OrderId, String)> = Vec::new();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i128;
        let open: Vec<(OrderId, String, State, String)> = self
            .ledger
            .open()
            .filter(|e| e.kind == Kind::Order && e.state.is_live())
            .map(|e| (e.id, e.agent.clone(), e.state, e.name.clone()))
            .collect();
        for (id, agent, state, name) in open {
            let Ok(agent_name) = AgentName::new(&agent) else {
                continue;
            };
            let here = state.folder().unwrap_or(Folder::New);
            let mut find = |folder: Folder, mb: &Mailbox| -> bool {
                let names = listed.entry((agent.clone(), folder)).or_insert_with(|| {
                    mb.list(&agent_name, folder)
                        .map(|v| {
                            v.into_iter()
                                .filter_map(|e| e.name.into_string().ok())
                                .collect()
                        })
                        .unwrap_or_default()
                });
                names.contains(&name)
            };
            if find(here, self.desk.mailbox()) {
                // A manual agent keeps its lease by touching the file now and then.
                let lease = self
                    .cfg
                    .agent(&agent)
                    .filter(|a| a.command.is_none())
                    .map(|a| a.lease);
                if let (Folder::Active, Some(lease)) = (here, lease) {
                    let since = self
                        .ledger
                        .entries
                        .get(&id)
                        .and_then(|e| e.since.parse::<jiff::Timestamp>().ok())
                        .map_or(0, |t| t.as_nanosecond());
                    if let Ok(mtime) =
                        self.desk
                            .mailbox()
                            .mtime_ns(&agent_name, Folder::Active, OsStr::new(&name))
                    {
                        if let Some(why) = lease::expired(&agent, now, mtime, since, lease) {
                            stalled.push((id, why));
                        }
                    }
                }
                continue;
            }
            // The listings above were taken one folder at a time, and a claim may have moved
            // the file between two of them: confirm where it is with fresh looks, in the order
            // files move, before concluding anything (found by the kill -9 soak, where a
            // claim between two listings made an order look gone).
            let mb = self.desk.mailbox();
            let now_in = [
                here,
                Folder::Active,
                Folder::Done,
                Folder::Held,
                Folder::New,
            ]
            .into_iter()
            .find(|f| {
                mb.exists(&agent_name, *f, OsStr::new(&name))
                    .unwrap_or(false)
            });
            if now_in == Some(here) {
                continue;
            }
            let (event, new_state, reason) = match now_in {
                Some(Folder::Active) => (
                    "order.claimed",
                    State::Active,
                    format!("{agent} moved it to active/"),
                ),
                Some(Folder::New) => (
                    "order.reconciled",
                    State::New,
                    "moved back to new/ by hand".to_string(),
                ),
                Some(f) => (
                    "order.reconciled",
                    State::from(f),
                    format!("moved to {}/ by hand", f.as_str()),
                ),
                None => (
                    "order.reconciled",
                    State::Missing,
                    format!("its file inbox/{agent}/{state}/{name} is gone; folders win"),
                ),
            };
            records.push(
                Record::new(event)
                    .level(if new_state == State::Missing {
                        Level::Warn
                    } else {
                        Level::Info
                    })
                    .order(id)
                    .agent(&agent)
                    .state(new_state)
                    .path(name.clone())
                    .reason(reason),
            );
            self.walt.handle(Event::Moved {
                id,
                agent: agent_name,
                state: new_state,
            });
        }
        self.commit(records)?;
        let mut effects = Vec::new();
        for (id, why) in stalled {
            effects.push(Effect::Record(
                self.walt.stamp(
                    Record::new("order.stalled")
                        .level(Level::Warn)
                        .order(id)
                        .reason(why.clone()),
                ),
            ));
            effects.extend(self.walt.handle(Event::Failed {
                id,
                failure: Failure::LeaseLost(why),
            }));
        }
        self.perform(effects)?;
        self.decisions()
    }

    /// Acts on people's decisions (`walt retry|cancel|unblock`), left in `state/decisions/`.
    fn decisions(&mut self) -> Result<(), DaemonError> {
        for (name, decision) in self.keeper.decisions() {
            let effects = match decision {
                Ok(crate::store::keeper::Decided::Ack(key, by)) => {
                    self.commit(vec![Record::new("attention.ack")
                        .reason(format!(
                            "{by} acknowledged {}",
                            if key == crate::coord::attention::ALL {
                                "every open item".to_string()
                            } else {
                                key.clone()
                            }
                        ))
                        .with("key", key)
                        .with("by", by)])?;
                    self.snapshot();
                    Vec::new()
                }
                Ok(crate::store::keeper::Decided::Order(id, kind, by)) => {
                    if kind == PersonDecision::Retry {
                        let agent = self.walt.flights().get(&id).map(|f| f.agent.to_string());
                        if let Some(a) = agent.filter(|a| self.agents.retried(a)) {
                            self.log(Record::new("agent.ready").agent(a.as_str()).order(id).reason(format!(
                                "{by} retried order {id}: {a}, refused after a setup failure, is run again"
                            )));
                            self.snapshot();
                        }
                    }
                    if kind == PersonDecision::Cancel && self.agents.stop(id) {
                        self.log(
                            Record::new("run.ended")
                                .level(Level::Warn)
                                .order(id)
                                .reason(format!("{by} cancelled the order: its run is ended, with everything it started")),
                        );
                    }
                    self.walt.handle(Event::Decision { id, kind, by })
                }
                Err(why) => {
                    self.report_error(format!(
                        "state/decisions/{name}: {why}; it is set aside in state/decisions/done/"
                    ));
                    Vec::new()
                }
            };
            self.perform(effects)?;
            if let Err(e) = self.keeper.file_decision(&name) {
                self.report_error(format!("cannot move state/decisions/{name} to done/: {e}"));
            }
        }
        Ok(())
    }
}
