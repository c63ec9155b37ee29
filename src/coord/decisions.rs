//! Parking and people's decisions: an order blocked by another waits until that one is done;
//! `walt retry`, `walt cancel` and `walt unblock` are a person's word on an order in flight.

use crate::model::order::OrderId;
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};

use super::recovery::{self};
use super::{Effect, PersonDecision, Walt};

impl Walt {
    /// Orders parked behind `done` go back to their agent.
    pub(super) fn unpark_blocked_by(&mut self, done: OrderId) -> Vec<Effect> {
        let waiting: Vec<OrderId> = self
            .flights
            .iter()
            .filter(|(_, f)| {
                f.state == State::Parked
                    && f.blocker.as_deref().and_then(OrderId::parse) == Some(done)
            })
            .map(|(id, _)| *id)
            .collect();
        let mut effects = Vec::new();
        for id in waiting {
            effects.extend(self.unpark(id, format!("its blocker {done} is done")));
        }
        effects
    }

    pub(super) fn unpark(&mut self, id: OrderId, why: String) -> Vec<Effect> {
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
                        .state(State::New)
                        .attempt(attempt)
                        .path(name.clone())
                        .reason(format!("unparked: {why}"))
                        .with("kind", "order"),
                ),
            ),
        ];
        let mut next = f;
        next.state = State::New;
        next.order = order;
        next.attempt = attempt;
        next.name = name;
        next.blocker = None;
        self.fly(id, next);
        effects.shrink_to_fit();
        effects
    }

    pub(super) fn decision(
        &mut self,
        id: OrderId,
        kind: PersonDecision,
        by: String,
    ) -> Vec<Effect> {
        if self.plans.contains_key(&id) {
            return self.plan_decision(id, kind, by);
        }
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
            PersonDecision::Unblock if f.state == State::Parked => {
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
                let facts = self.facts_for(id, &f);
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
                // A parked order's last attempt is archived already, under its own name.
                let cancelled = if f.state == State::Parked {
                    f.name.clone()
                } else {
                    format!("{}.a{}.cancelled.md", f.stem(), f.attempt)
                };
                effects.extend(f.archive(id, cancelled.clone()));
                effects.extend(f.request_done(id));
                let mut r = Record::new("order.cancelled")
                    .order(id)
                    .agent(&f.agent)
                    .state(State::Cancelled)
                    .attempt(f.attempt)
                    .path(cancelled)
                    .rule("person")
                    .reason(format!("{by} cancelled it"));
                if let Some(req) = &f.request_name {
                    r = r.request(Folder::Done, req.clone());
                }
                effects.push(Effect::Record(self.stamp(r)));
                self.land(id);
                self.meter.clear_rejection(id);
                self.part_ended(id, super::plans::PartState::Cancelled, f.spent);
                effects
            }
        }
    }
}
