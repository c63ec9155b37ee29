//! Walt, the coordinator: a function from events to effects, with no hands.
//!
//! `Walt::handle` takes one closed `Event` and returns the `Effect`s the shell must perform, in
//! order, each carrying its reason. Nothing in `coord/` touches the world: no filesystem, no
//! processes, no async runtime, no clock (a test reads these sources and fails if one appears).
//! That is what lets routing, review and the meter be tested with plain values, and what makes
//! it true that Walt cannot do the work: he has no way to.

pub mod admission;
pub mod answer;
pub mod attempts;
pub mod attention;
pub mod backoff;
pub mod brain;
pub mod decisions;
pub mod flight;
pub mod lease;
pub mod meter;
pub mod plan_state;
pub mod plans;
pub mod reconcile;
pub mod recovery;
pub mod reports;
pub mod requests;
pub mod reservations;
pub mod review;
pub mod route;
pub mod silent;
pub mod vocabulary;

use std::collections::{BTreeMap, BTreeSet};

use crate::format::config::Config;
use crate::model::order::{AgentName, OrderId};
use crate::model::record::Record;
use crate::model::state::{Folder, State};
use meter::{Counter, Meter};

pub use brain::BRAIN_FORMAT;
pub use flight::Flight;
pub use vocabulary::{Effect, Event, Evidence, PersonDecision, Resume};

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
    consulting: BTreeMap<OrderId, brain::Consult>,
    /// Why the brain's last answer could not be used (it could not run, timed out, or was
    /// refused), until one is: a person is told.
    brain_trouble: Option<String>,
    /// Requests waiting for an order in flight whose Files overlap theirs: request → holder.
    reserved: BTreeMap<OrderId, OrderId>,
    /// Open plans, and which plan each of their parts belongs to.
    plans: BTreeMap<OrderId, plans::PlanRun>,
    part_of: BTreeMap<OrderId, OrderId>,
    /// Plans whose answer waits for the brain's Note.
    noting: BTreeMap<OrderId, answer::Noting>,
    /// Parts that could not be written as Walt's text (said once).
    stuck: BTreeSet<OrderId>,
    /// The shell's clock (seconds since the epoch) and the next id Walt may hand out.
    now: i64,
    next_id: u64,
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
            brain_trouble: None,
            reserved: BTreeMap::new(),
            plans: BTreeMap::new(),
            part_of: BTreeMap::new(),
            noting: BTreeMap::new(),
            stuck: BTreeSet::new(),
            now: 0,
            next_id: 1,
        }
    }

    /// Why the brain is failing, while it is (for `walt status`).
    pub fn brain_trouble(&self) -> Option<&str> {
        self.brain_trouble.as_deref()
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
                closed,
            } => self.report(id, name, text, changed, accepted, closed),
            Event::Resume(orders) => {
                self.resume(orders);
                Vec::new()
            }
            Event::Moved { id, agent, state } => self.moved(id, agent, state),
            Event::Failed { id, failure } => match self.flights.get(&id).cloned() {
                Some(f) if f.state != State::Parked => self.recover(id, f, failure, Vec::new()),
                _ => Vec::new(),
            },
            Event::Decision { id, kind, by } => self.decision(id, kind, by),
            Event::BrainAnswer { id, answer } => self.brain_answer(id, answer),
            Event::ResumePlans(plans) => self.resume_plans(plans),
            Event::Tick => self.tick(),
            Event::Gathered { plan, parts } => self.answer(plan, parts),
        }
    }

    /// Takes up the orders in flight at start-up; their lines are counted together (a
    /// hundred thousand lines are worth the counter's batch).
    fn resume(&mut self, orders: Vec<Resume>) {
        let mut lines = Vec::with_capacity(orders.len());
        for r in orders {
            // The shell resumes only entries that name a valid agent.
            let Ok(agent) = AgentName::new(&r.entry.agent) else {
                continue;
            };
            let id = r.entry.id;
            let tried = if agent.is_reserved() {
                Vec::new()
            } else {
                vec![agent.clone()]
            };
            let flight = Flight {
                agent,
                state: r.state,
                order: r.order,
                attempt: r.entry.attempt.max(1),
                agent_attempt: r.entry.agent_attempt.max(1),
                hops: r.entry.hops,
                tried,
                name: r.entry.name,
                // Only a request still in Walt's active tray is his to finish.
                request_name: r
                    .entry
                    .request_name
                    .filter(|_| r.entry.request == Some(Folder::Active)),
                history: Vec::new(),
                blocker: r.entry.blocker,
                spent: r.entry.spent,
            };
            lines.push((
                id,
                Meter::line_text(
                    id,
                    flight.agent.as_str(),
                    flight.state,
                    &flight.order.objective,
                ),
            ));
            self.flights.insert(id, flight);
        }
        self.meter.set_lines(lines, self.counter.as_ref());
    }

    /// Puts an order in flight (or updates it), keeping its line in the meter.
    fn fly(&mut self, id: OrderId, flight: Flight) {
        let line = Meter::line_text(
            id,
            flight.agent.as_str(),
            flight.state,
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

    fn moved(&mut self, id: OrderId, agent: AgentName, state: State) -> Vec<Effect> {
        if state.is_finished() {
            let spent = self.flights.get(&id).map_or(0, |f| f.spent);
            self.land(id);
            let ended = if state == State::Done {
                plans::PartState::Done
            } else {
                plans::PartState::Cancelled
            };
            self.part_ended(id, ended, spent);
            return Vec::new();
        }
        if let Some(mut f) = self.flights.get(&id).cloned() {
            f.agent = agent;
            f.state = state;
            self.fly(id, f);
        }
        Vec::new()
    }
}
