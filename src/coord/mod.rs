//! Walt, the coordinator: a function from events to effects, with no hands.
//!
//! `Walt::handle` takes one closed `Event` and returns the `Effect`s the shell must perform, in
//! order, each carrying its reason. Nothing in `coord/` touches the world: no filesystem, no
//! processes, no async runtime, no clock (a test reads these sources and fails if one appears).
//! That is what lets routing, review and the meter be tested with plain values, and what makes
//! it true that Walt cannot do the work: he has no way to.

pub mod meter;
pub mod recovery;
pub mod review;
pub mod route;

use std::collections::{BTreeMap, BTreeSet};

use crate::format::config::Config;
use crate::format::diagnostic::has_errors;
use crate::format::parse::{self, Author, Context};
use crate::model::order::{AgentName, OrderId, Status, WorkOrder};
use crate::model::record::{Level, Record};
use meter::{Counter, Meter, Verdict};
use recovery::{Facts, Failure};
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
    /// A report waits in `inbox/walt/new/` under `name` (`id` is the report's own id);
    /// `changed` is what the shell saw change under `repos/` while the order was active.
    Report {
        changed: Vec<String>,
        id: OrderId,
        name: String,
        text: String,
        /// Where an earlier review (before a restart) decided to file it, if one did.
        accepted: Option<(AgentName, String)>,
    },
    /// At start: the orders already in flight (from the ledger, corrected by the folders),
    /// each with its current attempt's file as parsed.
    Resume(Vec<Resume>),
    /// The shell saw an order reach a new state (claimed, moved by hand, gone).
    Moved {
        id: OrderId,
        agent: AgentName,
        state: String,
    },
    /// The shell saw an attempt fail without a report (lease lost, timed out).
    Failed { id: OrderId, failure: Failure },
    /// What the brain command answered to a `Consult` (or why it did not: timeout, crash).
    BrainAnswer {
        id: OrderId,
        answer: Result<String, String>,
    },
    /// A person's decision (`walt retry|cancel|unblock`).
    Decision {
        id: OrderId,
        kind: PersonDecision,
        by: String,
    },
}

#[derive(Debug, Clone)]
pub struct Resume {
    pub id: OrderId,
    pub agent: AgentName,
    pub state: String,
    pub attempt: u32,
    pub agent_attempt: u32,
    pub hops: u32,
    pub name: String,
    pub request_name: Option<String>,
    /// The order as its file says (the shell reads and parses the files, many at once).
    pub order: WorkOrder,
    pub blocker: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonDecision {
    Retry,
    Cancel,
    Unblock,
}

impl PersonDecision {
    pub fn parse(s: &str) -> Option<PersonDecision> {
        match s {
            "retry" => Some(PersonDecision::Retry),
            "cancel" => Some(PersonDecision::Cancel),
            "unblock" => Some(PersonDecision::Unblock),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PersonDecision::Retry => "retry",
            PersonDecision::Cancel => "cancel",
            PersonDecision::Unblock => "unblock",
        }
    }
}

/// A folder of an inbox, as Walt names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tray {
    New,
    Active,
    Done,
}

impl Tray {
    fn of(state: &str) -> Tray {
        match state {
            "active" => Tray::Active,
            "done" => Tray::Done,
            _ => Tray::New,
        }
    }
}

/// What the shell must do. The shell performs a batch phase by phase: every `Decide` is made
/// durable first, then old attempts are archived, then every `Write`/`Handoff`, then every
/// move, then every `Record`; so a decision is on record before the order it decides is
/// written, and an order is on disk before the request that asked for it leaves `new/`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Journal this before anything after it is done.
    Decide(Record),
    /// Move an attempt's file to `inbox/<agent>/done/<to_name>` (it is finished with).
    Archive {
        id: OrderId,
        agent: AgentName,
        from: Tray,
        name: String,
        to_name: String,
    },
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
    /// Move a file of Walt's (a request or a report) between his trays.
    MoveRequest {
        id: OrderId,
        name: String,
        from: Tray,
        to: Tray,
    },
    /// Move a file from `inbox/walt/new/` to `inbox/walt/held/` with a `.why.md` saying `why`.
    HoldRequest {
        id: OrderId,
        name: String,
        why: String,
    },
    /// Move a report from `inbox/walt/new/<name>` to `inbox/<agent>/done/<to_name>`, beside
    /// the order it answers.
    FileReport {
        id: OrderId,
        name: String,
        agent: AgentName,
        to_name: String,
    },
    /// The request stays in `inbox/walt/new/` (backpressure); take no later request either.
    Wait { id: OrderId },
    /// Ask the brain command: `prompt` on its standard input (exactly what the meter counts);
    /// its answer comes back as `Event::BrainAnswer`.
    Consult { id: OrderId, prompt: String },
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
            Effect::Archive { .. } => 1,
            Effect::Write { .. } | Effect::Handoff { .. } => 2,
            Effect::MoveRequest { .. }
            | Effect::HoldRequest { .. }
            | Effect::FileReport { .. }
            | Effect::Wait { .. }
            | Effect::Consult { .. } => 3,
            Effect::Record(_) | Effect::Log(_) => 4,
        }
    }

    /// The order an effect is about (for skipping the rest of an order whose step failed).
    pub fn order(&self) -> Option<OrderId> {
        match self {
            Effect::Decide(r) | Effect::Record(r) | Effect::Log(r) => r.order,
            Effect::Archive { id, .. }
            | Effect::Write { id, .. }
            | Effect::MoveRequest { id, .. }
            | Effect::HoldRequest { id, .. }
            | Effect::FileReport { id, .. }
            | Effect::Wait { id }
            | Effect::Consult { id, .. } => Some(*id),
            Effect::Handoff { .. } => None,
        }
    }
}

/// An order in flight, as Walt holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    pub agent: AgentName,
    /// `new`, `active` or `parked`.
    pub state: String,
    /// The order as last written (its header carries the attempt).
    pub order: WorkOrder,
    /// Attempts in all (names each attempt's file in `done/`).
    pub attempt: u32,
    /// Attempts at the current agent (what `attempts` limits).
    pub agent_attempt: u32,
    /// Reroutes so far (what `max_hops` limits).
    pub hops: u32,
    /// Agents it has been with.
    pub tried: Vec<AgentName>,
    /// The current attempt's file name in the agent's folder.
    pub name: String,
    /// The request's file name in `inbox/walt/active/`, when it came through Walt.
    pub request_name: Option<String>,
    /// What went wrong before, oldest first (quoted to whoever gets it next).
    pub history: Vec<String>,
    /// What a parked order waits for.
    pub blocker: Option<String>,
}

impl Flight {
    fn stem(&self) -> String {
        self.name
            .strip_suffix(".md")
            .unwrap_or(&self.name)
            .to_string()
    }

    pub fn objective(&self) -> &str {
        &self.order.objective
    }
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
    /// Requests the brain is being asked about.
    consulting: BTreeMap<OrderId, Consult>,
}

/// A request put to the brain, waiting for its answer.
#[derive(Debug, Clone)]
struct Consult {
    name: String,
    text: String,
    request: WorkOrder,
    tries: u32,
    need: u32,
    tokens_in: u32,
}

/// What the brain is asked to answer with, after the message in hand.
pub const BRAIN_FORMAT: &str = "\n## Your answer\nRoute the message in hand. Answer with the work order you write for the specialist, and nothing else:\n---\nto: <agent>\nreason: <why this agent>\noverride: <only when going against the ownership rules: why>\n---\n**Objective:** <one sentence, present tense, the outcome>\n\n**Acceptance:**\n- <3 to 5 bullets, each checkable without asking a person>\n\n**Files:**\n- <paths under repos/ the specialist may touch>\n\n**Branching:**\n- <halt-with-note if … / route-to-<agent> if … / requeue-with-blocker if …>\n\nIntent only: no code, no SQL, no diff, no fenced block.\n";

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
            consulting: BTreeMap::new(),
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
            Event::Report {
                id,
                name,
                text,
                changed,
                accepted,
            } => self.report(id, name, text, changed, accepted),
            Event::Resume(orders) => {
                self.resume(orders);
                Vec::new()
            }
            Event::Moved { id, agent, state } => self.moved(id, agent, state),
            Event::Failed { id, failure } => match self.flights.get(&id).cloned() {
                Some(f) if f.state != "parked" => self.recover(id, f, failure, Vec::new()),
                _ => Vec::new(),
            },
            Event::Decision { id, kind, by } => self.decision(id, kind, by),
            Event::BrainAnswer { id, answer } => self.brain_answer(id, answer),
        }
    }

    /// Takes up the orders in flight at start-up; their lines are counted together (a
    /// hundred thousand lines are worth the counter's batch).
    fn resume(&mut self, orders: Vec<Resume>) {
        let mut lines = Vec::with_capacity(orders.len());
        for r in orders {
            let mut tried = vec![r.agent.clone()];
            if r.agent.is_reserved() {
                tried.clear();
            }
            let flight = Flight {
                agent: r.agent,
                state: r.state,
                order: r.order,
                attempt: r.attempt.max(1),
                agent_attempt: r.agent_attempt.max(1),
                hops: r.hops,
                tried,
                name: r.name,
                request_name: r.request_name,
                history: Vec::new(),
                blocker: r.blocker,
            };
            lines.push((
                r.id,
                Meter::line_text(
                    r.id,
                    flight.agent.as_str(),
                    &flight.state,
                    &flight.order.objective,
                ),
            ));
            self.flights.insert(r.id, flight);
        }
        self.meter.set_lines(lines, self.counter.as_ref());
    }

    /// Puts an order in flight (or updates it), keeping its line in the meter.
    fn fly(&mut self, id: OrderId, flight: Flight) {
        let line = Meter::line_text(
            id,
            flight.agent.as_str(),
            &flight.state,
            &flight.order.objective,
        );
        self.meter.set_line(id, line, self.counter.as_ref());
        self.flights.insert(id, flight);
    }

    /// An order leaves flight: its line and any open rejection go at the next rotation.
    fn land(&mut self, id: OrderId) {
        if self.flights.remove(&id).is_some() {
            self.meter.finish(id);
        }
    }

    fn moved(&mut self, id: OrderId, agent: AgentName, state: String) -> Vec<Effect> {
        if is_finished(&state) {
            self.land(id);
            return Vec::new();
        }
        if let Some(mut f) = self.flights.get(&id).cloned() {
            f.agent = agent;
            f.state = state;
            self.fly(id, f);
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
            let first = crate::format::diagnostic::first_error(&parsed.diagnostics);
            return self.hold(
                id,
                name,
                "delivery.held",
                format!("the request does not lint: {first}"),
                false,
            );
        }
        let request = parsed.value;
        if self.cfg.walt.brain == crate::format::config::Brain::Command {
            return self.consult(id, name, text, request, None, 1);
        }
        self.by_rules(id, name, text, request, None)
    }

    /// Routes a request by the rules (SPEC §4.2); `note` says why the rules decide when a
    /// brain was asked first.
    fn by_rules(
        &mut self,
        id: OrderId,
        name: String,
        text: String,
        request: WorkOrder,
        note: Option<String>,
    ) -> Vec<Effect> {
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
        let mut decision = decision;
        if let Some(n) = note {
            decision.reason = format!("{} ({n})", decision.reason);
        }
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
        let effects = match self.admit(id, need) {
            Ok(e) => e,
            Err(wait) => return wait,
        };
        self.finish(id, name, order, body, &decision, need, effects)
    }

    /// Writes a decided order: the decision on record first, then the order, then the request
    /// moved to Walt's active tray, then the record that it is written.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        id: OrderId,
        name: String,
        order: WorkOrder,
        body: String,
        decision: &Decision,
        need: u32,
        mut effects: Vec<Effect>,
    ) -> Vec<Effect> {
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
            from: Tray::New,
            to: Tray::Active,
        });
        self.fly(
            id,
            Flight {
                agent: decision.agent.clone(),
                state: "new".into(),
                order: order.clone(),
                attempt: 1,
                agent_attempt: 1,
                hops: 0,
                tried: vec![decision.agent.clone()],
                name: order_name.clone(),
                request_name: Some(name.clone()),
                history: Vec::new(),
                blocker: None,
            },
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

    /// After resuming the orders in flight: if the context is past `rotate_at`, drop what is
    /// finished, then hand off to a fresh generation (one compact line per order), so Walt
    /// starts under his ceiling whenever the work in flight allows it.
    pub fn settle(&mut self) -> Vec<Effect> {
        let mut effects = self.settle_handoff();
        if self.meter.hot() > self.meter.ceiling {
            // More orders in flight than even a compact list fits under the ceiling: they
            // came in past Walt (dropped straight into specialists' inboxes) or the ceiling was
            // lowered. None is dropped from his context; nothing new is taken until enough
            // finish. Say so, once, where a person looks.
            effects.push(Effect::Log(
                self.stamp(
                    Record::new("meter.backpressure")
                        .level(Level::Warn)
                        .reason(format!(
                            "resumed with {} orders in flight, {} hot tokens even listed compactly, past the ceiling {}: no request is taken until enough of them finish (or the ceiling is raised)",
                            self.flights.len(),
                            self.meter.hot(),
                            self.meter.ceiling
                        ))
                        .with("in_flight", self.flights.len()),
                ),
            ));
        }
        effects
    }

    /// `settle`'s handoff: a fresh generation when the resumed context is past `rotate_at`
    /// and a handoff brief makes it smaller.
    fn settle_handoff(&mut self) -> Vec<Effect> {
        if self.meter.hot() <= self.meter.rotate_at {
            return Vec::new();
        }
        let before = self.meter.hot();
        self.meter.rotate();
        let flights = self.flight_list();
        let brief = self.meter.handoff_text(&flights);
        if self.meter.fresh_size(&brief, self.counter.as_ref()) >= self.meter.hot() {
            return Vec::new();
        }
        self.meter
            .hand_off(brief.clone(), &flights, self.counter.as_ref());
        let generation = self.meter.generation;
        let file = format!("gen-{generation:04}.md");
        vec![
            Effect::Handoff { generation, name: file.clone(), body: brief },
            Effect::Log(self.stamp(
                Record::new("meter.handoff")
                    .path(format!("inbox/walt/handoff/{file}"))
                    .reason(format!(
                        "resumed with {} orders in flight at {before} hot tokens, past rotate_at {}; generation {generation} starts from a handoff brief (hot {})",
                        flights.len(),
                        self.meter.rotate_at,
                        self.meter.hot()
                    ))
                    .with("in_flight", flights.len()),
            )),
        ]
    }

    /// Makes room for a message of `need` tokens: rotation or handoff effects when it fits,
    /// or the wait effects (backpressure) when it does not.
    fn admit(&mut self, id: OrderId, need: u32) -> Result<Vec<Effect>, Vec<Effect>> {
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
                return Err(effects);
            }
        }
        Ok(effects)
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
    /// with Walt's front matter (attempt 1).
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

    /// Facts for a recovery decision about a flight.
    fn facts(&self, f: &Flight) -> Facts {
        let agent_cfg = self.cfg.agent(f.agent.as_str());
        Facts {
            agent: f.agent.clone(),
            attempt: f.agent_attempt,
            attempts: agent_cfg.map_or(1, |a| a.attempts),
            fallbacks: agent_cfg.map(|a| a.fallback.clone()).unwrap_or_default(),
            tried: f.tried.clone(),
            priority: f.order.header.priority,
            hops: f.hops,
            max_hops: self.cfg.walt.max_hops,
        }
    }

    fn facts_fields(r: Record, facts: &Facts) -> Record {
        r.with("attempts", facts.attempts)
            .with("agent_attempt", facts.attempt)
            .with(
                "fallbacks",
                facts
                    .fallbacks
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>(),
            )
            .with(
                "tried",
                facts
                    .tried
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>(),
            )
            .with("priority", facts.priority.as_str())
            .with("hops", facts.hops)
    }

    /// Moves the current attempt's file out of the way (to the agent's `done/`, as
    /// `<stem>.a<N>.md`), with its report beside it if there is one.
    fn archive(
        &self,
        id: OrderId,
        f: &Flight,
        report: Option<(OrderId, &str)>,
        effects: &mut Vec<Effect>,
    ) {
        let to_name = format!("{}.a{}.md", f.stem(), f.attempt);
        if f.state != "parked" {
            effects.push(Effect::Archive {
                id,
                agent: f.agent.clone(),
                from: Tray::of(&f.state),
                name: f.name.clone(),
                to_name: to_name.clone(),
            });
        }
        if let Some((rid, rname)) = report {
            self.file_report(
                id,
                rid,
                rname,
                &f.agent,
                format!("{}.a{}.report.md", f.stem(), f.attempt),
                effects,
            );
        }
    }

    /// Files a report beside the attempt it answers, and records where the report went.
    fn file_report(
        &self,
        order: OrderId,
        rid: OrderId,
        name: &str,
        agent: &AgentName,
        to_name: String,
        effects: &mut Vec<Effect>,
    ) {
        effects.push(Effect::FileReport {
            id: rid,
            name: name.to_string(),
            agent: agent.clone(),
            to_name: to_name.clone(),
        });
        effects.push(Effect::Record(
            self.stamp(
                Record::new("report.filed")
                    .order(rid)
                    .agent(agent)
                    .state("done")
                    .path(to_name)
                    .reason(format!("filed beside order {order}"))
                    .with("kind", "report")
                    .with("re", order.to_string()),
            ),
        ));
    }

    /// A new attempt of an order, for `agent`, quoting what went before.
    fn next_attempt(&self, f: &Flight, agent: &AgentName, reason: &str) -> (WorkOrder, String) {
        let mut order = f.order.clone();
        order.header.to = Some(agent.clone());
        order.header.attempt = Some(f.attempt + 1);
        order.header.from = Some("walt".into());
        order.header.reason = Some(reason.to_string());
        let body = parse::render_order(&order);
        (order, body)
    }

    /// Answers a failed attempt: retry, reassign or escalate, with the facts on record.
    fn recover(
        &mut self,
        id: OrderId,
        f: Flight,
        failure: Failure,
        mut effects: Vec<Effect>,
    ) -> Vec<Effect> {
        self.recover_with(id, f, failure, None, &mut effects);
        effects
    }

    fn recover_with(
        &mut self,
        id: OrderId,
        f: Flight,
        failure: Failure,
        report: Option<(OrderId, &str)>,
        effects: &mut Vec<Effect>,
    ) {
        let facts = self.facts(&f);
        let decision = recovery::decide(&failure, &facts);
        self.apply_decision(id, f, decision, &facts, failure.quote(), report, effects);
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_decision(
        &mut self,
        id: OrderId,
        mut f: Flight,
        decision: recovery::Decision,
        facts: &Facts,
        quote: String,
        report: Option<(OrderId, &str)>,
        effects: &mut Vec<Effect>,
    ) {
        f.history
            .push(format!("attempt {} ({}): {quote}", f.attempt, f.agent));
        let (event, agent, why, same_agent) = match decision {
            recovery::Decision::Retry { agent, why, .. } => ("recovery.retry", agent, why, true),
            recovery::Decision::Reassign { agent, why } => ("recovery.reassign", agent, why, false),
            recovery::Decision::Escalate { why } => {
                ("recovery.escalate", AgentName::human(), why, false)
            }
        };
        // The brief quotes why the last attempt went wrong; for a person, the whole history.
        let brief = if event == "recovery.escalate" {
            format!("escalated: {why}; history: {}", f.history.join(" | "))
        } else {
            format!("{why}; last attempt: {quote}")
        };
        let (order, body) = self.next_attempt(&f, &agent, &brief);
        if event == "recovery.retry" && !body.contains(&parse::one_line(&quote)) {
            // Never send a retry that does not say why the last one was rejected.
            effects.push(Effect::Record(
                self.stamp(
                    Record::new("signal.feedback")
                        .level(Level::Warn)
                        .order(id)
                        .agent(&f.agent)
                        .reason("a retry's brief did not quote the rejection; escalating instead"),
                ),
            ));
            let why = "a retry could not carry its feedback".to_string();
            return self.apply_decision(
                id,
                f,
                recovery::Decision::Escalate { why },
                facts,
                quote,
                None,
                effects,
            );
        }
        effects.push(Effect::Decide(
            self.stamp(Walt::facts_fields(
                Record::new("route.decided")
                    .order(id)
                    .agent(&agent)
                    .rule(event.trim_start_matches("recovery."))
                    .reason(why.clone()),
                facts,
            )),
        ));
        self.archive(id, &f, report, effects);
        effects.push(Effect::Write {
            agent: agent.clone(),
            id,
            name: f.name.clone(),
            body,
        });
        let attempt = f.attempt + 1;
        effects.push(Effect::Record(
            self.stamp(Walt::facts_fields(
                Record::new(event)
                    .level(if event == "recovery.escalate" {
                        Level::Warn
                    } else {
                        Level::Info
                    })
                    .order(id)
                    .agent(&agent)
                    .state("new")
                    .attempt(attempt)
                    .path(f.name.clone())
                    .rule(event.trim_start_matches("recovery."))
                    .reason(brief.clone())
                    .with("kind", "order")
                    .with(
                        "agent_attempt",
                        if same_agent { f.agent_attempt + 1 } else { 1 },
                    )
                    .with("hops", f.hops),
                facts,
            )),
        ));
        self.meter
            .set_rejection(id, format!("- {id}: {quote}"), self.counter.as_ref());
        let mut next = f.clone();
        next.agent = agent.clone();
        next.state = "new".into();
        next.order = order;
        next.attempt = attempt;
        next.agent_attempt = if same_agent { f.agent_attempt + 1 } else { 1 };
        if !same_agent && !agent.is_reserved() && !next.tried.contains(&agent) {
            next.tried.push(agent);
        }
        self.fly(id, next);
    }

    fn report(
        &mut self,
        rid: OrderId,
        name: String,
        text: String,
        changed: Vec<String>,
        accepted: Option<(AgentName, String)>,
    ) -> Vec<Effect> {
        let ctx = Context {
            agents: Some(&self.agents),
            author: Author::Person,
        };
        let parsed = parse::parse_report(text.as_bytes(), ctx);
        let report = parsed.value;
        let Some(re) = report.header.re else {
            return self.hold(
                rid,
                name,
                "delivery.held",
                "the report names no order (`re:`)".into(),
                false,
            );
        };
        if !parsed.diagnostics.iter().all(|d| !d.is_error()) {
            let first = crate::format::diagnostic::first_error(&parsed.diagnostics);
            return self.hold(
                rid,
                name,
                "delivery.held",
                format!("the report does not lint: {first}"),
                false,
            );
        }
        let Some(f) = self.flights.get(&re).cloned() else {
            if let Some((agent, to_name)) = accepted {
                // Its review accepted it and the order moved to done/, but the daemon stopped
                // before the report was filed beside it: finish what was decided.
                let mut effects = Vec::new();
                self.file_report(re, rid, &name, &agent, to_name, &mut effects);
                return effects;
            }
            return self.hold(
                rid,
                name,
                "delivery.held",
                format!(
                    "a report for order {re}, which is unknown or finished; nothing was changed"
                ),
                false,
            );
        };
        if f.state == "parked" {
            return self.hold(
                rid,
                name,
                "delivery.held",
                format!(
                    "a report for order {re}, which is parked until {}",
                    f.blocker.as_deref().unwrap_or("a person unblocks it")
                ),
                false,
            );
        }
        let status = report.header.status.unwrap_or(Status::Failed);
        // Received and (below) accepted are decisions: journaled before anything moves.
        let mut effects = vec![Effect::Decide(
            self.stamp(
                Record::new("report.received")
                    .order(re)
                    .agent(&f.agent)
                    .attempt(f.attempt)
                    .path(name.clone())
                    .reason(format!(
                        "{} reports {}: {}",
                        report.header.from.as_deref().unwrap_or("?"),
                        status.as_str(),
                        report.outcome
                    ))
                    .with("report", rid.to_string())
                    .with("status", status.as_str()),
            ),
        )];
        let review = review::review(&f.order, f.agent.as_str(), &report, &changed);
        if let Err(rej) = &review {
            if !rej.scope_creep.is_empty() {
                effects.push(Effect::Record(
                    self.stamp(
                        Record::new("signal.scope-creep")
                            .level(Level::Warn)
                            .order(re)
                            .agent(&f.agent)
                            .reason(format!(
                                "outside the order's Files: {}",
                                rej.scope_creep.join(", ")
                            )),
                    ),
                ));
            }
            effects.push(Effect::Record(
                self.stamp(
                    Record::new("review.rejected")
                        .level(Level::Warn)
                        .order(re)
                        .agent(&f.agent)
                        .attempt(f.attempt)
                        .reason(rej.reasons.join("; "))
                        .with("reasons", rej.reasons.clone()),
                ),
            ));
            let reasons = rej.reasons.clone();
            self.recover_with(
                re,
                f,
                Failure::Rejected(reasons),
                Some((rid, &name)),
                &mut effects,
            );
            return effects;
        }
        let note = report.note.trim().to_string();
        match status {
            Status::Done => {
                self.archive_done(re, &f, rid, &name, &mut effects);
                self.land(re);
                effects.extend(self.unpark_blocked_by(re));
            }
            Status::Failed => self.recover_with(
                re,
                f,
                Failure::Failed(note),
                Some((rid, &name)),
                &mut effects,
            ),
            Status::Halted => {
                let facts = self.facts(&f);
                let why = format!("{} halted: {note}", f.agent);
                self.apply_decision(
                    re,
                    f,
                    recovery::Decision::Escalate { why },
                    &facts,
                    format!("halted: {note}"),
                    Some((rid, &name)),
                    &mut effects,
                );
            }
            Status::Rerouted => {
                let to = report
                    .header
                    .route_to
                    .clone()
                    .expect("lint requires route-to");
                let facts = self.facts(&f);
                let decision = recovery::reroute(&to, &facts);
                let mut f = f;
                if matches!(decision, recovery::Decision::Reassign { .. }) {
                    f.hops += 1;
                }
                self.apply_decision(
                    re,
                    f,
                    decision,
                    &facts,
                    format!("rerouted to {to}: {note}"),
                    Some((rid, &name)),
                    &mut effects,
                );
            }
            Status::Blocked => {
                let blocker = report.header.blocker.clone().unwrap_or_default();
                self.archive(re, &f, Some((rid, &name)), &mut effects);
                let mut parked = f.clone();
                parked.name = format!("{}.a{}.md", f.stem(), f.attempt);
                parked.state = "parked".into();
                parked.blocker = Some(blocker.clone());
                effects.push(Effect::Record(self.stamp(
                    Record::new("order.parked")
                        .order(re)
                        .agent(&f.agent)
                        .state("parked")
                        .attempt(f.attempt)
                        .path(parked.name.clone())
                        .reason(format!("{} is blocked by {blocker}: {note}; it waits until that is done or `walt unblock {re}`", f.agent))
                        .with("blocker", blocker),
                )));
                self.fly(re, parked);
            }
        }
        effects
    }

    /// An accepted attempt: the order and its report side by side in the agent's `done/`, the
    /// request in `inbox/walt/done/`.
    fn archive_done(
        &mut self,
        id: OrderId,
        f: &Flight,
        rid: OrderId,
        report_name: &str,
        effects: &mut Vec<Effect>,
    ) {
        effects.push(Effect::Archive {
            id,
            agent: f.agent.clone(),
            from: Tray::of(&f.state),
            name: f.name.clone(),
            to_name: f.name.clone(),
        });
        self.file_report(
            id,
            rid,
            report_name,
            &f.agent,
            format!("{}.report.md", f.stem()),
            effects,
        );
        if let Some(req) = &f.request_name {
            effects.push(Effect::MoveRequest {
                id,
                name: req.clone(),
                from: Tray::Active,
                to: Tray::Done,
            });
        }
        effects.push(Effect::Decide(
            self.stamp(
                Record::new("review.accepted")
                    .order(id)
                    .agent(&f.agent)
                    .attempt(f.attempt)
                    .reason(format!(
                        "every Acceptance bullet ticked, every Touched path within Files; report {rid}"
                    ))
                    .with("report", rid.to_string())
                    .with("filed_as", format!("{}.report.md", f.stem())),
            ),
        ));
        let mut done = Record::new("order.done")
            .order(id)
            .agent(&f.agent)
            .state("done")
            .attempt(f.attempt)
            .path(f.name.clone())
            .reason(format!("{} finished it on attempt {}", f.agent, f.attempt));
        if let Some(req) = &f.request_name {
            done = done
                .with("request", "done")
                .with("request_path", req.clone());
        }
        effects.push(Effect::Record(self.stamp(done)));
        self.meter.clear_rejection(id);
    }

    /// Orders parked behind `done` go back to their agent.
    fn unpark_blocked_by(&mut self, done: OrderId) -> Vec<Effect> {
        let waiting: Vec<OrderId> = self
            .flights
            .iter()
            .filter(|(_, f)| {
                f.state == "parked" && f.blocker.as_deref().and_then(OrderId::parse) == Some(done)
            })
            .map(|(id, _)| *id)
            .collect();
        let mut effects = Vec::new();
        for id in waiting {
            effects.extend(self.unpark(id, format!("its blocker {done} is done")));
        }
        effects
    }

    fn unpark(&mut self, id: OrderId, why: String) -> Vec<Effect> {
        let Some(f) = self.flights.get(&id).cloned() else {
            return Vec::new();
        };
        let agent = f.agent.clone();
        let (order, body) = self.next_attempt(&f, &agent, &format!("unparked: {why}"));
        let name = format!("{}-{}.md", id, order.slug());
        let attempt = f.attempt + 1;
        let mut effects = vec![
            Effect::Write {
                agent: agent.clone(),
                id,
                name: name.clone(),
                body,
            },
            Effect::Record(
                self.stamp(
                    Record::new("order.unparked")
                        .order(id)
                        .agent(&agent)
                        .state("new")
                        .attempt(attempt)
                        .path(name.clone())
                        .reason(format!("unparked: {why}"))
                        .with("kind", "order"),
                ),
            ),
        ];
        let mut next = f;
        next.state = "new".into();
        next.order = order;
        next.attempt = attempt;
        next.name = name;
        next.blocker = None;
        self.fly(id, next);
        effects.shrink_to_fit();
        effects
    }

    fn decision(&mut self, id: OrderId, kind: PersonDecision, by: String) -> Vec<Effect> {
        let Some(f) = self.flights.get(&id).cloned() else {
            return vec![Effect::Log(
                self.stamp(
                    Record::new("recovery.escalate")
                        .level(Level::Warn)
                        .order(id)
                        .reason(format!(
                            "{by} asked to {} order {id}, which is not in flight; nothing changed",
                            kind.as_str()
                        )),
                ),
            )];
        };
        match kind {
            PersonDecision::Unblock if f.state == "parked" => {
                self.unpark(id, format!("{by} unblocked it"))
            }
            PersonDecision::Unblock => vec![Effect::Log(
                self.stamp(
                    Record::new("order.unparked")
                        .level(Level::Warn)
                        .order(id)
                        .reason(format!(
                        "{by} asked to unblock order {id}, which is not parked; nothing changed"
                    )),
                ),
            )],
            PersonDecision::Retry => {
                // A person grants fresh attempts: to the last specialist it was with.
                let agent = f.tried.last().cloned().unwrap_or_else(|| f.agent.clone());
                let facts = self.facts(&f);
                let mut f = f;
                f.agent_attempt = 0;
                let why = format!("{by} decided to retry it with {agent}");
                let mut effects = Vec::new();
                let decision = recovery::Decision::Retry {
                    agent,
                    attempt: 1,
                    why,
                };
                self.apply_decision(
                    id,
                    f,
                    decision,
                    &facts,
                    format!("{by} asked for a retry"),
                    None,
                    &mut effects,
                );
                for e in effects.iter_mut() {
                    if let Effect::Record(r) = e {
                        if r.event.starts_with("recovery.") {
                            r.rule = Some("person".into());
                        }
                    }
                }
                effects
            }
            PersonDecision::Cancel => {
                let mut effects = Vec::new();
                if f.state != "parked" {
                    effects.push(Effect::Archive {
                        id,
                        agent: f.agent.clone(),
                        from: Tray::of(&f.state),
                        name: f.name.clone(),
                        to_name: format!("{}.a{}.cancelled.md", f.stem(), f.attempt),
                    });
                }
                if let Some(req) = &f.request_name {
                    effects.push(Effect::MoveRequest {
                        id,
                        name: req.clone(),
                        from: Tray::Active,
                        to: Tray::Done,
                    });
                }
                let mut r = Record::new("order.cancelled")
                    .order(id)
                    .agent(&f.agent)
                    .state("cancelled")
                    .attempt(f.attempt)
                    .rule("person")
                    .reason(format!("{by} cancelled it"));
                if let Some(req) = &f.request_name {
                    r = r.with("request", "done").with("request_path", req.clone());
                }
                effects.push(Effect::Record(self.stamp(r)));
                self.land(id);
                self.meter.clear_rejection(id);
                effects
            }
        }
    }

    // ---- the brain (SPEC §4.8) --------------------------------------------------------------

    /// Puts a request to the brain: makes room under the meter for the message in hand (the
    /// request, the refusal being answered if any, and the answer format), then asks for the
    /// prompt to be sent: exactly the hot context the meter counts.
    fn consult(
        &mut self,
        id: OrderId,
        name: String,
        text: String,
        request: WorkOrder,
        refusal: Option<String>,
        tries: u32,
    ) -> Vec<Effect> {
        let mut message = format!("## Message in hand\n{text}");
        if let Some(r) = &refusal {
            message.push_str(&format!(
                "\n## Your last answer was refused\n{}\n",
                parse::one_line(r)
            ));
        }
        message.push_str(BRAIN_FORMAT);
        let need = self.counter.count(&message);
        let mut effects = match self.admit(id, need) {
            Ok(e) => e,
            Err(wait) => return wait,
        };
        self.waiting.remove(&id);
        self.peak = self.peak.max(self.meter.hot() + need);
        let prompt = self.meter.render(Some(&message));
        let tokens_in = self.meter.hot() + need;
        self.consulting.insert(
            id,
            Consult {
                name,
                text,
                request,
                tries,
                need,
                tokens_in,
            },
        );
        effects.push(Effect::Consult { id, prompt });
        effects
    }

    /// Checks the brain's answer: it must parse and lint clean as text Walt authors (no
    /// artifact), name a configured agent and a reason, and carry an override reason when it
    /// goes against ownership. Ok: the order to write and the decision; Err: (signal, why).
    fn check_brain(
        &self,
        id: OrderId,
        answer: &str,
    ) -> Result<(WorkOrder, Decision), (Option<&'static str>, String)> {
        let parsed = parse::parse_order(
            answer.as_bytes(),
            Context {
                agents: Some(&self.agents),
                author: Author::Walt,
            },
        );
        if let Some(d) = parsed.diagnostics.iter().find(|d| d.is_error()) {
            let artifact = parsed
                .diagnostics
                .iter()
                .any(|d| d.signal == Some("artifact"));
            let first = parsed
                .diagnostics
                .iter()
                .find(|d| d.signal == Some("artifact"))
                .unwrap_or(d);
            return Err((
                artifact.then_some("artifact"),
                format!(
                    "the answer does not lint as a work order Walt writes: line {}: {}",
                    first.line, first.message
                ),
            ));
        }
        let answer = parsed.value;
        let Some(to) = answer.header.to.clone() else {
            return Err((None, "the answer names no agent (`to:`)".into()));
        };
        let reason = answer.header.reason.clone().unwrap_or_default();
        if reason.trim().is_empty() {
            return Err((None, "the answer gives no `reason:` for its choice".into()));
        }
        let routed = route::route(&self.cfg, &answer).map_err(|r| (r.signal(), r.describe()))?;
        let mut order = answer.clone();
        order.header.id = Some(id);
        order.header.from = Some("walt".into());
        order.header.attempt = Some(1);
        let why = match routed.rule {
            route::Rule::Override => format!("{} ({})", reason.trim(), routed.reason),
            _ => reason.trim().to_string(),
        };
        order.header.reason = Some(format!("{why} (rule brain)"));
        if routed.rule != route::Rule::Override {
            order.header.override_reason = None;
        }
        let decision = Decision {
            agent: to,
            rule: route::Rule::Brain,
            reason: why,
            candidates: routed.candidates,
        };
        Ok((order, decision))
    }

    fn brain_answer(&mut self, id: OrderId, answer: Result<String, String>) -> Vec<Effect> {
        let Some(c) = self.consulting.remove(&id) else {
            return Vec::new();
        };
        let tokens_out = answer.as_ref().map(|a| self.counter.count(a)).unwrap_or(0);
        let mut effects = vec![Effect::Log(
            self.stamp(
                Record::new("brain.answered")
                    .order(id)
                    .attempt(c.tries)
                    .reason(match &answer {
                        Ok(_) => "the brain answered".to_string(),
                        Err(e) => format!("no answer: {e}"),
                    })
                    .with("tokens_in", c.tokens_in)
                    .with("tokens_out", tokens_out),
            ),
        )];
        let verdict = match &answer {
            Ok(text) => self.check_brain(id, text),
            Err(e) => Err((None, format!("no answer: {e}"))),
        };
        match verdict {
            Ok((order, decision)) => {
                let body = parse::render_order(&order);
                effects.extend(self.finish(id, c.name, order, body, &decision, c.need, Vec::new()));
            }
            Err((signal, why)) => {
                let event = match signal {
                    Some("artifact") => "signal.artifact",
                    Some("override") => "signal.override",
                    _ => "brain.refused",
                };
                effects.push(Effect::Record(
                    self.stamp(
                        Record::new(event)
                            .level(Level::Warn)
                            .order(id)
                            .agent("walt")
                            .attempt(c.tries)
                            .reason(format!("the brain's answer was refused: {why}")),
                    ),
                ));
                if c.tries < 2 {
                    effects.extend(self.consult(
                        id,
                        c.name,
                        c.text,
                        c.request,
                        Some(why),
                        c.tries + 1,
                    ));
                } else {
                    let note = format!(
                        "the brain's answer was refused twice, last: {why}; the rules decided"
                    );
                    effects.push(Effect::Log(
                        self.stamp(
                            Record::new("brain.fallback")
                                .level(Level::Warn)
                                .order(id)
                                .reason(note.clone()),
                        ),
                    ));
                    effects.extend(self.by_rules(id, c.name, c.text, c.request, Some(note)));
                }
            }
        }
        effects
    }
}
