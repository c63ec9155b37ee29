//! Walt, the coordinator: a function from events to effects, with no hands.
//!
//! `Walt::handle` takes one closed `Event` and returns the `Effect`s the shell must perform, in
//! order, each carrying its reason. Nothing in `coord/` touches the world: no filesystem, no
//! processes, no async runtime, no clock (a test reads these sources and fails if one appears).
//! That is what lets routing, review and the meter be tested with plain values, and what makes
//! it true that Walt cannot do the work: he has no way to.

pub mod meter;
pub mod route;

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::diagnostic::has_errors;
use crate::order::{AgentName, OrderId, WorkOrder};
use crate::parse::{self, Author, Context};
use crate::record::{Level, Record};
use meter::{Counter, Meter, Verdict};
use route::{Decision, Refusal};

/// What happens in the world, as Walt is told it.
#[derive(Debug, Clone)]
pub enum Event {
    /// A request waits in `inbox/walt/new/` under `name`; `text` is its content.
    Request {
        id: OrderId,
        name: String,
        text: String,
    },
    /// At start: an order already in flight (from the ledger, corrected by the folders).
    Resume {
        id: OrderId,
        agent: AgentName,
        state: String,
        objective: String,
        attempt: u32,
    },
    /// The shell saw an order reach a new state (claimed, done, cancelled, gone).
    Moved {
        id: OrderId,
        agent: AgentName,
        state: String,
    },
}

/// Where a request in `inbox/walt/` goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tray {
    Active,
    Done,
}

/// What the shell must do. The shell performs a batch phase by phase: every `Decide` is made
/// durable first, then every `Write`/`Handoff`, then every move, then every `Record`; so a
/// decision is on record before the order it decides is written, and an order is on disk before
/// the request that asked for it leaves `new/`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Journal this before anything after it is done.
    Decide(Record),
    /// Write a work order into `inbox/<agent>/new/<name>` (through the desk).
    Write {
        agent: AgentName,
        id: OrderId,
        name: String,
        body: String,
    },
    /// Write a handoff brief to `inbox/walt/handoff/<name>`.
    Handoff {
        generation: u32,
        name: String,
        body: String,
    },
    /// Move a request from `inbox/walt/new/` to another tray.
    MoveRequest { id: OrderId, name: String, to: Tray },
    /// Move a request to `inbox/walt/held/` with a `.why.md` saying `why`.
    HoldRequest {
        id: OrderId,
        name: String,
        why: String,
    },
    /// The request stays in `inbox/walt/new/` (backpressure); take no later request either.
    Wait { id: OrderId },
    /// Journal this once the moves above are durable.
    Record(Record),
    /// Log only: no state changed.
    Log(Record),
}

impl Effect {
    /// The phase in which the shell performs this effect.
    pub fn phase(&self) -> u8 {
        match self {
            Effect::Decide(_) => 0,
            Effect::Write { .. } | Effect::Handoff { .. } => 1,
            Effect::MoveRequest { .. } | Effect::HoldRequest { .. } | Effect::Wait { .. } => 2,
            Effect::Record(_) | Effect::Log(_) => 3,
        }
    }
}

/// An order in flight, as Walt holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    pub agent: AgentName,
    pub state: String,
    pub objective: String,
    pub attempt: u32,
}

pub struct Walt {
    cfg: Config,
    agents: Vec<AgentName>,
    counter: Box<dyn Counter + Send>,
    meter: Meter,
    flights: BTreeMap<OrderId, Flight>,
    /// Requests already reported as waiting (one `meter.backpressure` each).
    waiting: BTreeSet<OrderId>,
    /// The most hot tokens ever held at once, message in hand included.
    peak: u32,
}

fn is_finished(state: &str) -> bool {
    matches!(state, "done" | "cancelled" | "held" | "missing")
}

impl Walt {
    pub fn new(cfg: Config, generation: u32, counter: Box<dyn Counter + Send>) -> Walt {
        let meter = Meter::new(
            cfg.walt.rotate_at,
            cfg.walt.ceiling,
            generation,
            counter.as_ref(),
        );
        let agents = cfg.agent_names();
        Walt {
            cfg,
            agents,
            counter,
            meter,
            flights: BTreeMap::new(),
            waiting: BTreeSet::new(),
            peak: 0,
        }
    }

    pub fn generation(&self) -> u32 {
        self.meter.generation
    }

    pub fn hot_tokens(&self) -> u32 {
        self.meter.hot()
    }

    pub fn ceiling(&self) -> u32 {
        self.meter.ceiling
    }

    pub fn flights(&self) -> &BTreeMap<OrderId, Flight> {
        &self.flights
    }

    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The most hot tokens Walt has held at once, the message in hand included.
    pub fn peak(&self) -> u32 {
        self.peak
    }

    /// Walt's hot context as text (what a language-model brain would be sent), with a message
    /// in hand if given: exactly what the meter counts.
    pub fn prompt(&self, message: Option<&str>) -> String {
        self.meter.render(message)
    }

    /// Stamps a record with Walt's generation and hot tokens (every log line carries them).
    pub fn stamp(&self, mut r: Record) -> Record {
        r.generation = Some(self.generation());
        r.hot_tokens = Some(self.hot_tokens());
        r
    }

    pub fn handle(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Request { id, name, text } => self.request(id, name, text),
            Event::Resume {
                id,
                agent,
                state,
                objective,
                attempt,
            } => {
                self.fly(id, agent, state, objective, attempt);
                Vec::new()
            }
            Event::Moved { id, agent, state } => self.moved(id, agent, state),
        }
    }

    fn fly(
        &mut self,
        id: OrderId,
        agent: AgentName,
        state: String,
        objective: String,
        attempt: u32,
    ) {
        let line = Meter::line_text(id, agent.as_str(), &state, &objective);
        self.meter.set_line(id, line, self.counter.as_ref());
        self.flights.insert(
            id,
            Flight {
                agent,
                state,
                objective,
                attempt,
            },
        );
    }

    fn moved(&mut self, id: OrderId, agent: AgentName, state: String) -> Vec<Effect> {
        if is_finished(&state) {
            if self.flights.remove(&id).is_some() {
                self.meter.finish(id);
            }
            return Vec::new();
        }
        if let Some(f) = self.flights.get(&id).cloned() {
            self.fly(id, agent, state, f.objective, f.attempt);
        }
        Vec::new()
    }

    fn hold(
        &self,
        id: OrderId,
        name: String,
        event: &str,
        why: String,
        signal: bool,
    ) -> Vec<Effect> {
        let level = if signal { Level::Warn } else { Level::Info };
        vec![
            Effect::HoldRequest {
                id,
                name: name.clone(),
                why: why.clone(),
            },
            Effect::Record(
                Record::new(event)
                    .level(level)
                    .order(id)
                    .agent("walt")
                    .state("held")
                    .path(name.clone())
                    .reason(why)
                    .with("request", "held")
                    .with("request_path", name),
            ),
        ]
    }

    fn request(&mut self, id: OrderId, name: String, text: String) -> Vec<Effect> {
        let ctx = Context {
            agents: Some(&self.agents),
            author: Author::Person,
        };
        let parsed = parse::parse_order(text.as_bytes(), ctx);
        if !parsed.is_ok() {
            let first = parsed
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(|d| format!("line {}: {}", d.line, d.message))
                .unwrap_or_default();
            return self.hold(
                id,
                name,
                "delivery.held",
                format!("the request does not lint: {first}"),
                false,
            );
        }
        let request = parsed.value;
        let decision = match route::route(&self.cfg, &request) {
            Ok(d) => d,
            Err(refusal) => {
                let event = if refusal.signal().is_some() {
                    "signal.override"
                } else {
                    "delivery.held"
                };
                let sig = matches!(refusal, Refusal::OverrideNeeded { .. });
                return self.hold(id, name, event, refusal.describe(), sig);
            }
        };
        let order = self.author(id, &request, &decision);
        let body = parse::render_order(&order);
        let check = parse::parse_order(
            body.as_bytes(),
            Context {
                agents: Some(&self.agents),
                author: Author::Walt,
            },
        );
        if has_errors(&check.diagnostics) {
            let d = check
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .expect("has errors");
            let event = if d.signal == Some("artifact") {
                "signal.artifact"
            } else {
                "delivery.held"
            };
            return self.hold(
                id,
                name,
                event,
                format!(
                    "the order Walt would write does not lint: line {}: {}",
                    d.line, d.message
                ),
                true,
            );
        }

        // The meter: the message in hand, and the line the order will keep while in flight.
        // A token is at least one byte, so a text's length bounds its count: far below
        // rotate_at the bound decides and the message is never tokenized; near it, the exact
        // count does. Only the order's line, which joins the running sum, is always counted.
        let line = Meter::line_text(id, decision.agent.as_str(), "new", &order.objective);
        let bound = text.len().max(line.len()) as u32;
        let need = if self.meter.hot() + bound <= self.meter.rotate_at {
            bound
        } else {
            self.counter.count(&text).max(self.counter.count(&line))
        };
        let mut effects = Vec::new();
        match self.verdict(need) {
            Verdict::Take => {}
            Verdict::Rotate { .. } => {
                let before = self.meter.hot();
                let (dropped, freed) = self.meter.rotate();
                effects.push(Effect::Record(self.stamp(
                    Record::new("meter.rotated")
                        .order(id)
                        .reason(format!("dropped {dropped} finished entries ({freed} tokens) before taking a request of {need} tokens; hot {before} → {}", self.meter.hot()))
                        .with("dropped", dropped)
                        .with("freed", freed),
                )));
            }
            Verdict::Handoff { .. } => {
                let before = self.meter.hot();
                self.meter.rotate();
                let flights = self.flight_list();
                let brief = self.meter.handoff_text(&flights);
                self.meter
                    .hand_off(brief.clone(), &flights, self.counter.as_ref());
                let generation = self.meter.generation;
                let file = format!("gen-{generation:04}.md");
                effects.push(Effect::Handoff {
                    generation,
                    name: file.clone(),
                    body: brief,
                });
                effects.push(Effect::Record(self.stamp(
                    Record::new("meter.handoff")
                        .order(id)
                        .path(format!("inbox/walt/handoff/{file}"))
                        .reason(format!(
                            "hot {before} + {need} would pass rotate_at {}; generation {generation} starts from a handoff brief listing the {} orders in flight (hot {})",
                            self.meter.rotate_at,
                            flights.len(),
                            self.meter.hot()
                        ))
                        .with("in_flight", flights.len()),
                )));
            }
            Verdict::Wait { need, room } => {
                let mut effects = vec![Effect::Wait { id }];
                if self.waiting.insert(id) {
                    effects.push(Effect::Record(self.stamp(
                        Record::new("meter.backpressure")
                            .level(Level::Warn)
                            .order(id)
                            .agent("walt")
                            .reason(format!(
                                "the request needs {need} tokens and even a fresh generation has room for {room} under the ceiling of {}; it waits in inbox/walt/new/ until orders finish",
                                self.meter.ceiling
                            )),
                    )));
                }
                return effects;
            }
        }
        self.waiting.remove(&id);
        self.peak = self.peak.max(self.meter.hot() + need);
        let order_name = format!("{id}-{}.md", order.slug());
        effects.push(Effect::Decide(
            self.stamp(
                Record::new("route.decided")
                    .order(id)
                    .agent(&decision.agent)
                    .rule(decision.rule.as_str())
                    .reason(decision.reason.clone())
                    .candidates(decision.candidates.clone())
                    .with("objective", order.objective.clone()),
            ),
        ));
        effects.push(Effect::Write {
            agent: decision.agent.clone(),
            id,
            name: order_name.clone(),
            body,
        });
        effects.push(Effect::MoveRequest {
            id,
            name: name.clone(),
            to: Tray::Active,
        });
        self.fly(
            id,
            decision.agent.clone(),
            "new".into(),
            order.objective.clone(),
            1,
        );
        let escalated = decision.agent.is_reserved();
        effects.push(Effect::Record(
            self.stamp(
                Record::new(if escalated {
                    "recovery.escalate"
                } else {
                    "order.written"
                })
                .order(id)
                .agent(&decision.agent)
                .state("new")
                .attempt(1)
                .path(order_name)
                .rule(decision.rule.as_str())
                .reason(decision.reason.clone())
                .with("kind", "order")
                .with("request", "active")
                .with("request_path", name),
            ),
        ));
        effects
    }

    fn verdict(&self, need: u32) -> Verdict {
        let hot = self.meter.hot();
        if hot + need <= self.meter.rotate_at {
            return Verdict::Take;
        }
        // Only now is the fresh generation's size worth counting.
        let flights = self.flight_list();
        let fresh = self
            .meter
            .fresh_size(&self.meter.handoff_text(&flights), self.counter.as_ref());
        self.meter.verdict(need, fresh)
    }

    fn flight_list(&self) -> Vec<(OrderId, String, String)> {
        self.flights
            .iter()
            .map(|(id, f)| (*id, f.agent.to_string(), f.state.clone()))
            .collect()
    }

    /// The work order Walt writes for a routed request: the request's four parts, canonical,
    /// with Walt's front matter.
    fn author(&self, id: OrderId, request: &WorkOrder, decision: &Decision) -> WorkOrder {
        let mut order = request.clone();
        order.header.id = Some(id);
        order.header.from = Some("walt".into());
        order.header.to = Some(decision.agent.clone());
        order.header.attempt = Some(1);
        order.header.reason = Some(format!(
            "{} (rule {})",
            decision.reason,
            decision.rule.as_str()
        ));
        if decision.rule != route::Rule::Override {
            order.header.override_reason = None;
        }
        order
    }
}
