//! An order in flight, as Walt holds it: who has it, where it is, which attempt, and what went
//! wrong before.

use crate::model::order::{AgentName, OrderId, WorkOrder};
use crate::model::state::{Folder, State};

use super::Effect;

/// An order in flight, as Walt holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    pub agent: AgentName,
    /// New, active or parked.
    pub state: State,
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
    /// The tokens its reports said the work used so far, all attempts together.
    pub spent: u64,
}

impl Flight {
    pub(crate) fn stem(&self) -> String {
        self.name
            .strip_suffix(".md")
            .unwrap_or(&self.name)
            .to_string()
    }

    /// Moving the current attempt's file to its agent's `done/` as `to_name`, with its run's
    /// log (`<id>.log`) beside it as `<to_name's stem>.log`; none for a parked order, whose
    /// last attempt is archived already.
    pub(crate) fn archive(&self, id: OrderId, to_name: String) -> Option<Effect> {
        let log = format!("{}.log", to_name.strip_suffix(".md").unwrap_or(&to_name));
        (self.state != State::Parked).then(|| Effect::Archive {
            id,
            agent: self.agent.clone(),
            from: self.state.folder().unwrap_or(Folder::New),
            name: self.name.clone(),
            to_name,
            log: (format!("{id}.log"), log),
        })
    }

    /// Moving the request it came from to Walt's `done/`, when it came through Walt.
    pub(crate) fn request_done(&self, id: OrderId) -> Option<Effect> {
        self.request_name.as_ref().map(|req| Effect::MoveRequest {
            id,
            name: req.clone(),
            from: Folder::Active,
            to: Folder::Done,
        })
    }

    pub fn objective(&self) -> &str {
        &self.order.objective
    }
}
