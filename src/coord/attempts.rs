//! Attempts: the facts a recovery decision is made from, archiving a finished attempt beside
//! its report, and writing the next attempt (retry, reassign, escalate) quoting what went wrong.

use crate::format::parse::{self};
use crate::model::order::{AgentName, OrderId, WorkOrder};
use crate::model::record::{Level, Record};
use crate::model::state::State;

use super::recovery::{self, Facts, Failure};
use super::{Effect, Flight, Walt};

impl Walt {
    /// Facts for a recovery decision about a flight.
    pub(super) fn facts(&self, f: &Flight) -> Facts {
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
            plan: None,
        }
    }

    /// `facts` with the plan's, for an order that is a plan's part.
    pub(super) fn facts_for(&self, id: OrderId, f: &Flight) -> Facts {
        Facts {
            plan: self.plan_facts(id),
            ..self.facts(f)
        }
    }

    pub(super) fn facts_fields(r: Record, facts: &Facts) -> Record {
        let r = r
            .with("attempts", facts.attempts)
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
            .with("hops", facts.hops);
        match &facts.plan {
            None => r,
            Some(p) => r
                .with("plan", p.plan.to_string())
                .with("part", p.part.clone())
                .with("optional", p.optional)
                .with_opt("budget_left", p.budget_left)
                .with_opt("time_left", p.time_left),
        }
    }

    /// Moves the current attempt's file out of the way (to the agent's `done/`, as
    /// `<stem>.a<N>.md`), with its report beside it if there is one.
    pub(super) fn archive(
        &self,
        id: OrderId,
        f: &Flight,
        report: Option<(OrderId, &str)>,
        effects: &mut Vec<Effect>,
    ) {
        self.archive_as(id, f, "md", report, effects);
    }

    /// `archive`, the attempt's file named `<stem>.a<N>.<suffix>` (a dropped part's is
    /// `dropped.md`); returns that name.
    pub(super) fn archive_as(
        &self,
        id: OrderId,
        f: &Flight,
        suffix: &str,
        report: Option<(OrderId, &str)>,
        effects: &mut Vec<Effect>,
    ) -> String {
        let to_name = format!("{}.a{}.{suffix}", f.stem(), f.attempt);
        effects.extend(f.archive(id, to_name.clone()));
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
        to_name
    }

    /// Files a report beside the attempt it answers, and records where the report went.
    pub(super) fn file_report(
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
                    .state(State::Done)
                    .path(to_name)
                    .reason(format!("filed beside order {order}"))
                    .with("kind", "report")
                    .with("re", order.to_string()),
            ),
        ));
    }

    /// A new attempt of an order, for `agent`, quoting what went before.
    pub(super) fn next_attempt(
        &self,
        f: &Flight,
        agent: &AgentName,
        reason: &str,
    ) -> (WorkOrder, String) {
        let mut order = f.order.clone();
        order.header.to = Some(agent.clone());
        order.header.attempt = Some(f.attempt + 1);
        order.header.from = Some("walt".into());
        order.header.reason = Some(reason.to_string());
        let body = parse::render_order(&order);
        (order, body)
    }

    /// Answers a failed attempt: retry, reassign or escalate, with the facts on record.
    pub(super) fn recover(
        &mut self,
        id: OrderId,
        f: Flight,
        failure: Failure,
        mut effects: Vec<Effect>,
    ) -> Vec<Effect> {
        self.recover_with(id, f, failure, None, &mut effects);
        effects
    }

    pub(super) fn recover_with(
        &mut self,
        id: OrderId,
        f: Flight,
        failure: Failure,
        report: Option<(OrderId, &str)>,
        effects: &mut Vec<Effect>,
    ) {
        let facts = self.facts_for(id, &f);
        let decision = recovery::decide(&failure, &facts);
        self.apply_decision(id, f, decision, &facts, failure.quote(), report, effects);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_decision(
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
        if let (recovery::Decision::Escalate { why }, Some(p)) = (&decision, &facts.plan) {
            if p.optional && !f.agent.is_reserved() {
                // An optional part with nothing left to try: dropped, with the facts on record.
                effects.push(Effect::Decide(
                    self.stamp(Walt::facts_fields(
                        Record::new("route.decided")
                            .order(id)
                            .agent(&f.agent)
                            .rule("drop")
                            .reason(format!("{why}; the part is optional: dropped")),
                        facts,
                    )),
                ));
                let why = why.clone();
                self.drop_part(id, &f, &why, report, effects);
                return;
            }
        }
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
                    .state(State::New)
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
        next.state = State::New;
        next.order = order;
        next.attempt = attempt;
        next.agent_attempt = if same_agent { f.agent_attempt + 1 } else { 1 };
        if !same_agent && !agent.is_reserved() && !next.tried.contains(&agent) {
            next.tried.push(agent);
        }
        self.fly(id, next);
    }
}
