//! A plan's state as Walt holds it (SPEC §9.2): where each part is, what it spent, what it
//! waits on, the budget and time left, the compact line the meter keeps; what start-up hands
//! back; and what `walt status` shows. Plain data and the questions asked of it.

use crate::format::parse::{self, Plan};
use crate::model::order::{OrderId, Priority, WorkOrder};

/// Where a part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartState {
    /// Not written yet: its `after` parts are not all done, or a File is reserved.
    Waiting,
    /// Written: in flight as an order of its own.
    Out,
    Done,
    /// Optional, failed with nothing left to try: the plan goes on without it.
    Dropped,
    /// Cancelled by a person, or gone from the folders.
    Cancelled,
    /// Never written: the plan's budget was spent first.
    Skipped,
}

impl PartState {
    pub fn as_str(self) -> &'static str {
        match self {
            PartState::Waiting => "waiting",
            PartState::Out => "out",
            PartState::Done => "done",
            PartState::Dropped => "dropped",
            PartState::Cancelled => "cancelled",
            PartState::Skipped => "skipped",
        }
    }

    /// What a part after this one may go on from.
    fn lets_go(self) -> bool {
        matches!(self, PartState::Done | PartState::Dropped)
    }

    fn ended(self) -> bool {
        !matches!(self, PartState::Waiting | PartState::Out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRun {
    pub name: String,
    pub id: OrderId,
    pub state: PartState,
    /// Tokens its reports said it used.
    pub spent: u64,
}

/// A plan as Walt holds it while it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRun {
    pub id: OrderId,
    /// The request's file name in `inbox/walt/`.
    pub name: String,
    pub plan: Plan,
    /// In the plan's order.
    pub parts: Vec<PartRun>,
    /// Seconds since the epoch (the shell's clock when it was accepted).
    pub accepted_at: i64,
    /// The request is in `inbox/walt/active/` (`plan.started` is on record).
    pub started: bool,
    /// `budget.exceeded` is on record.
    pub budget_said: bool,
    /// The evidence for the answer has been asked for.
    pub answering: bool,
}

impl PlanRun {
    pub fn spent(&self) -> u64 {
        self.parts.iter().map(|p| p.spent).sum()
    }

    pub fn done(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| p.state == PartState::Done)
            .count()
    }

    pub fn deadline(&self) -> Option<i64> {
        let d = self.plan.deadline.as_deref()?;
        let d = crate::format::config::duration(d).ok()?;
        Some(self.accepted_at + d.as_secs() as i64)
    }

    /// Tokens left under the budget (negative: past it), if it has one.
    pub fn budget_left(&self) -> Option<i64> {
        self.plan
            .budget
            .map(|b| b as i64 - self.spent().min(i64::MAX as u64) as i64)
    }

    /// Seconds left before the deadline (negative: past it), if it has one.
    pub fn time_left(&self, now: i64) -> Option<i64> {
        self.deadline().map(|d| d - now)
    }

    /// The parts a part still waits for (its `after` that are not done or dropped).
    pub fn waits_on(&self, idx: usize) -> Vec<&str> {
        self.plan.parts[idx]
            .after
            .iter()
            .filter(|a| {
                !self
                    .parts
                    .iter()
                    .any(|p| &p.name == *a && p.state.lets_go())
            })
            .map(String::as_str)
            .collect()
    }

    /// Parts that may be written now, in the plan's order.
    pub(super) fn ready(&self) -> Vec<usize> {
        (0..self.parts.len())
            .filter(|&i| self.parts[i].state == PartState::Waiting && self.waits_on(i).is_empty())
            .collect()
    }

    /// Every part done, dropped, or ended otherwise: time to answer.
    pub fn finished(&self) -> bool {
        self.parts.iter().all(|p| p.state.ended())
    }

    /// The compact line an open plan keeps in Walt's context.
    pub fn line(&self) -> String {
        let out: Vec<&str> = self
            .parts
            .iter()
            .filter(|p| p.state == PartState::Out)
            .map(|p| p.name.as_str())
            .collect();
        format!(
            "- plan {} {}/{} done, out: {}\n",
            self.id,
            self.done(),
            self.parts.len(),
            if out.is_empty() {
                "none".to_string()
            } else {
                out.join(", ")
            }
        )
    }

    pub(super) fn index(&self, part: OrderId) -> Option<usize> {
        self.parts.iter().position(|p| p.id == part)
    }
}

/// A plan Walt takes up again at start-up: the journal's facts and its parts' entries.
#[derive(Debug, Clone)]
pub struct PlanResume {
    pub id: OrderId,
    pub name: String,
    /// The request's text (from `inbox/walt/new/` or `active/`, or the journal for a brain's
    /// plan); `None` when it cannot be read.
    pub text: Option<String>,
    /// Its request is in `active/` already.
    pub started: bool,
    pub accepted_at: i64,
    /// Each part: name, id, where it is, what it spent.
    pub parts: Vec<(String, OrderId, PartState, u64)>,
}

/// An open plan as `walt status` shows it (and `--json`'s `plans`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanView {
    pub id: String,
    pub goal: String,
    pub done: usize,
    pub total: usize,
    pub spent: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
    /// Seconds before the deadline (negative: past it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_left_s: Option<i64>,
    pub parts: Vec<PartView>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartView {
    pub name: String,
    pub id: String,
    pub state: String,
    /// What a waiting part waits on: its `after` parts not yet done, or the order holding
    /// one of its Files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

/// The order a part asks for, as a request: its own four parts, with the part's `to` and
/// `override`, and the plan's priority.
pub fn part_request(plan: &Plan, part: &parse::Part) -> WorkOrder {
    let mut order = part.order.clone();
    order.header.to = part.to.clone();
    order.header.override_reason = part.override_reason.clone();
    if let Some(p) = plan.priority.as_deref().and_then(Priority::parse) {
        order.header.priority = p;
    }
    order
}
