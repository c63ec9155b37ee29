//! What a failure means, decided from facts only the coordinator holds: how many
//! attempts this order has had and may have, which fallbacks exist and were tried, how many
//! times it was rerouted, and how much it matters. Pure: facts in, a decision out.

use crate::model::order::{AgentName, Priority};

/// What went wrong with an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The specialist said `failed`.
    Failed(String),
    /// Walt rejected the report at review.
    Rejected(Vec<String>),
    /// A command agent ran past its timeout.
    TimedOut(String),
    /// A manual agent left it untouched past its lease.
    LeaseLost(String),
}

impl Failure {
    /// The words a retry's brief quotes.
    pub fn quote(&self) -> String {
        match self {
            Failure::Failed(note) => format!("the specialist reported failed: {note}"),
            Failure::Rejected(reasons) => format!("rejected at review: {}", reasons.join("; ")),
            Failure::TimedOut(what) => format!("timed out: {what}"),
            Failure::LeaseLost(what) => format!("lease lost: {what}"),
        }
    }
}

/// The facts a decision is made from; logged with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub agent: AgentName,
    pub attempt: u32,
    pub attempts: u32,
    /// The agent's fallbacks, in order, that are configured.
    pub fallbacks: Vec<AgentName>,
    /// Agents this order has already been with.
    pub tried: Vec<AgentName>,
    pub priority: Priority,
    pub hops: u32,
    pub max_hops: u32,
    /// For a plan's part: what the plan has left (SPEC §9.2).
    pub plan: Option<PlanFacts>,
}

/// A plan's facts, for a decision about one of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFacts {
    pub plan: crate::model::order::OrderId,
    pub part: String,
    pub optional: bool,
    /// Tokens left under the budget, seconds left before the deadline (negative: past it).
    pub budget_left: Option<i64>,
    pub time_left: Option<i64>,
}

impl PlanFacts {
    /// Why nothing more may be tried for the part, if so: the plan is past its deadline or
    /// its budget.
    pub fn spent(&self) -> Option<String> {
        if let Some(t) = self.time_left.filter(|t| *t <= 0) {
            return Some(format!("plan {} is {}s past its deadline", self.plan, -t));
        }
        if let Some(b) = self.budget_left.filter(|b| *b <= 0) {
            return Some(format!(
                "plan {} has spent its budget ({} tokens over)",
                self.plan, -b
            ));
        }
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Retry {
        agent: AgentName,
        attempt: u32,
        why: String,
    },
    Reassign {
        agent: AgentName,
        why: String,
    },
    Escalate {
        why: String,
    },
}

/// Retry the same agent while its attempts last; else the first fallback not yet tried; else a
/// person. (A person's order — sent to `human` — is never retried by Walt.)
pub fn decide(failure: &Failure, f: &Facts) -> Decision {
    if f.agent.is_reserved() {
        return Decision::Escalate {
            why: format!("{} on an order a person holds", failure.quote()),
        };
    }
    if let Some(past) = f.plan.as_ref().and_then(PlanFacts::spent) {
        return Decision::Escalate {
            why: format!(
                "{} ({}); {past}: nothing is retried or reassigned",
                f.agent,
                failure.quote()
            ),
        };
    }
    if f.attempt < f.attempts {
        return Decision::Retry {
            agent: f.agent.clone(),
            attempt: f.attempt + 1,
            why: format!(
                "attempt {} of {} failed ({}); {} has attempts left",
                f.attempt,
                f.attempts,
                failure.quote(),
                f.agent
            ),
        };
    }
    if let Some(next) = f.fallbacks.iter().find(|a| !f.tried.contains(a)) {
        return Decision::Reassign {
            agent: next.clone(),
            why: format!(
                "{}'s {} attempts are used up ({}); {next} is its first untried fallback",
                f.agent,
                f.attempts,
                failure.quote()
            ),
        };
    }
    let fallbacks = if f.fallbacks.is_empty() {
        "it has no fallback".to_string()
    } else {
        "every fallback was tried".to_string()
    };
    Decision::Escalate {
        why: format!(
            "{}'s {} attempts are used up ({}) and {fallbacks}; a person decides",
            f.agent,
            f.attempts,
            failure.quote()
        ),
    }
}

/// A reroute is honored while hops last.
pub fn reroute(to: &AgentName, f: &Facts) -> Decision {
    if let Some(past) = f.plan.as_ref().and_then(PlanFacts::spent) {
        return Decision::Escalate {
            why: format!(
                "{} asked to reroute to {to}; {past}: nothing is reassigned",
                f.agent
            ),
        };
    }
    if f.hops >= f.max_hops {
        return Decision::Escalate {
            why: format!("{} asked to reroute to {to}, but the order has been rerouted {} times (max_hops {}); a person decides", f.agent, f.hops, f.max_hops),
        };
    }
    Decision::Reassign {
        agent: to.clone(),
        why: format!(
            "{} rerouted it to {to}, which its Branching allows (hop {} of {})",
            f.agent,
            f.hops + 1,
            f.max_hops
        ),
    }
}
