//! Plans (SPEC §9.2): Walt holds the whole picture. A plan is accepted as one request with its
//! own id and gives each part an order id of its own; a part is written once the parts it comes
//! `after` are done (or dropped), and waits, with the reason, until then; past the plan's
//! budget no part is written; a part's failure is answered with the plan's facts (optional,
//! budget and time left); and once every part is done or dropped, Walt gathers the evidence
//! and answers (`answer.rs`). The plan's state is derived again at start-up from the journal
//! (which parts exist, which were dropped) and the parts' own entries, so a restart loses,
//! duplicates and re-sends nothing.

use crate::format::diagnostic::has_errors;
use crate::format::parse::{self, Author, Context, Plan};
use crate::model::order::{AgentName, OrderId, WorkOrder};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};

use super::meter::Meter;
use super::recovery::PlanFacts;
use super::route::{self, Decision, Rule};
use super::{Effect, Flight, Walt};

pub use super::plan_state::{
    part_request, PartRun, PartState, PartView, PlanResume, PlanRun, PlanView,
};

impl Walt {
    /// The open plans, for `walt status`.
    pub fn plan_views(&self) -> Vec<PlanView> {
        self.plans
            .values()
            .map(|run| PlanView {
                id: run.id.to_string(),
                goal: run.plan.goal.clone(),
                done: run.done(),
                total: run.parts.len(),
                spent: run.spent(),
                budget: run.plan.budget,
                time_left_s: run.time_left(self.now),
                parts: run
                    .parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| PartView {
                        name: p.name.clone(),
                        id: p.id.to_string(),
                        state: p.state.as_str().to_string(),
                        after: if p.state == PartState::Waiting {
                            run.waits_on(i).iter().map(|s| s.to_string()).collect()
                        } else {
                            Vec::new()
                        },
                        holder: self
                            .reserved
                            .get(&p.id)
                            .filter(|_| p.state == PartState::Waiting)
                            .map(|h| h.to_string()),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Gives Walt the clock and the next free id (the shell reads both; Walt never does).
    pub fn set_clock(&mut self, now: i64, next_id: u64) {
        self.now = now;
        self.next_id = self.next_id.max(next_id);
    }

    /// The next id Walt has not handed out (the shell's intake goes on from it).
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    pub fn plans(&self) -> &std::collections::BTreeMap<OrderId, PlanRun> {
        &self.plans
    }

    /// The plan a part belongs to, with the part's index.
    pub(super) fn part_of(&self, id: OrderId) -> Option<(OrderId, usize)> {
        let plan = *self.part_of.get(&id)?;
        let idx = self.plans.get(&plan)?.index(id)?;
        Some((plan, idx))
    }

    /// The plan's facts for a recovery decision about one of its parts.
    pub(super) fn plan_facts(&self, id: OrderId) -> Option<PlanFacts> {
        let (plan, idx) = self.part_of(id)?;
        let run = &self.plans[&plan];
        Some(PlanFacts {
            plan,
            part: run.parts[idx].name.clone(),
            optional: run.plan.parts[idx].optional,
            budget_left: run.budget_left(),
            time_left: run.time_left(self.now),
        })
    }

    /// A request that is a plan: lint it, check each part can be routed, give the parts
    /// their ids, and start it.
    pub(super) fn plan_request(&mut self, id: OrderId, name: String, text: String) -> Vec<Effect> {
        if self.plans.contains_key(&id) {
            // Accepted before a restart that came before its request moved: finish the move.
            return self.start_plan(id);
        }
        let parsed = parse::parse_plan(
            text.as_bytes(),
            Context {
                agents: Some(&self.agents),
                author: Author::Person,
            },
        );
        if has_errors(&parsed.diagnostics) {
            let first = crate::format::diagnostic::first_error(&parsed.diagnostics);
            return self.hold(
                id,
                name,
                "delivery.held",
                format!("the plan does not lint: {first}"),
                false,
            );
        }
        self.accept_plan(id, name, parsed.value, None)
    }

    /// The brain answered a loose request with a plan: it must lint as Walt's text, and each
    /// part's Files must stay within the request's. Then it is accepted as the request's plan
    /// (its text journaled with it: the request's own file is not a plan).
    pub(super) fn brain_plan(
        &mut self,
        id: OrderId,
        name: &str,
        text: &str,
        request: &WorkOrder,
    ) -> Result<Vec<Effect>, (Option<&'static str>, String)> {
        let parsed = parse::parse_plan(
            text.as_bytes(),
            Context {
                agents: Some(&self.agents),
                author: Author::Walt,
            },
        );
        if has_errors(&parsed.diagnostics) {
            let first = crate::format::diagnostic::first_error(&parsed.diagnostics);
            return Err((
                None,
                format!("the plan does not lint as Walt's text: {first}"),
            ));
        }
        for part in &parsed.value.parts {
            let beyond = super::review::beyond(&request.files, &part.order.files);
            if !beyond.is_empty() {
                return Err((
                    None,
                    format!(
                        "part {}'s Files reach beyond the request's ({}): {}",
                        part.name,
                        request.files.join(", "),
                        beyond.join(", ")
                    ),
                ));
            }
        }
        let effects = self.accept_plan(id, name.to_string(), parsed.value, Some(text.to_string()));
        if effects
            .iter()
            .any(|e| matches!(e, Effect::Decide(r) if r.event == "plan.accepted"))
        {
            Ok(effects)
        } else {
            Err((None, "a part of the plan cannot be routed".into()))
        }
    }

    /// Accepts a linted plan: checks each part can be routed, gives the parts their ids, and
    /// starts it. `text` is the plan's text when the request's file is not it (the brain's).
    fn accept_plan(
        &mut self,
        id: OrderId,
        name: String,
        plan: Plan,
        text: Option<String>,
    ) -> Vec<Effect> {
        let by_brain = text.is_some();
        for part in &plan.parts {
            if let Err(refusal) = route::route(&self.cfg, &part_request(&plan, part)) {
                let why = format!(
                    "part {} (line {}): {}",
                    part.name,
                    part.line,
                    refusal.describe()
                );
                return self.hold_refused(id, name, &refusal, why);
            }
        }
        let parts: Vec<PartRun> = plan
            .parts
            .iter()
            .map(|p| {
                let pid = OrderId(self.next_id);
                self.next_id += 1;
                PartRun {
                    name: p.name.clone(),
                    id: pid,
                    state: PartState::Waiting,
                    spent: 0,
                }
            })
            .collect();
        let listed: Vec<serde_json::Value> = parts
            .iter()
            .zip(&plan.parts)
            .map(|(r, p)| {
                serde_json::json!({
                    "name": r.name,
                    "id": r.id.to_string(),
                    "after": p.after,
                    "optional": p.optional,
                })
            })
            .collect();
        let names: Vec<String> = parts
            .iter()
            .map(|p| format!("{} ({})", p.name, p.id))
            .collect();
        let mut effects = vec![Effect::Decide(
            self.stamp(
                Record::new("plan.accepted")
                    .order(id)
                    .agent("walt")
                    .reason(format!(
                        "a plan of {} parts: {}",
                        parts.len(),
                        names.join(", ")
                    ))
                    .with("parts", listed)
                    .with("acceptance", plan.acceptance.clone())
                    .with("accepted_at", self.now)
                    .with("objective", plan.goal.clone())
                    .with_opt("budget", plan.budget)
                    .with_opt("deadline", plan.deadline.clone())
                    .with_opt("text", text)
                    .rule(if by_brain { "brain" } else { "plan" }),
            ),
        )];
        let run = PlanRun {
            id,
            name,
            plan,
            parts,
            accepted_at: self.now,
            started: false,
            budget_said: false,
            answering: false,
        };
        for p in &run.parts {
            self.part_of.insert(p.id, id);
        }
        self.plans.insert(id, run);
        effects.extend(self.start_plan(id));
        effects.extend(self.advance(id));
        effects
    }

    /// The plan's request moves to Walt's active tray (`plan.started`).
    fn start_plan(&mut self, id: OrderId) -> Vec<Effect> {
        let Some(run) = self.plans.get_mut(&id) else {
            return Vec::new();
        };
        if run.started {
            return Vec::new();
        }
        run.started = true;
        let name = run.name.clone();
        let line = run.line();
        self.meter.set_plan(id, line, self.counter.as_ref());
        vec![
            Effect::MoveRequest {
                id,
                name: name.clone(),
                from: Folder::New,
                to: Folder::Active,
            },
            Effect::Record(
                self.stamp(
                    Record::new("plan.started")
                        .order(id)
                        .agent("walt")
                        .state(State::Active)
                        .path(name.clone())
                        .with("kind", "plan")
                        .request(Folder::Active, name),
                ),
            ),
        ]
    }

    /// Takes up the open plans at start-up.
    pub(super) fn resume_plans(&mut self, plans: Vec<PlanResume>) -> Vec<Effect> {
        let mut effects = Vec::new();
        for r in plans {
            let plan = r
                .text
                .as_deref()
                .map(|t| parse::parse_plan(t.as_bytes(), Context::default()).value);
            let names: Vec<&str> = r.parts.iter().map(|(n, ..)| n.as_str()).collect();
            let why = match &plan {
                None => Some("its request cannot be read".to_string()),
                Some(p) if p.parts.iter().map(|x| x.name.as_str()).ne(names.iter().copied()) => {
                    Some(format!(
                        "its request no longer has the parts the journal gave ids ({}); it was changed by hand",
                        names.join(", ")
                    ))
                }
                Some(_) => None,
            };
            if let Some(why) = why {
                // Not taken up: said, so a person knows (its parts in flight finish as orders).
                effects.push(Effect::Record(
                    self.stamp(
                        Record::new("plan.lost")
                            .level(Level::Error)
                            .order(r.id)
                            .agent("walt")
                            .path(r.name.clone())
                            .reason(format!(
                                "plan {} is not taken up: {why}; its parts in flight finish as orders, and a person decides the rest",
                                r.id
                            )),
                    ),
                ));
                continue;
            }
            let plan = plan.expect("checked");
            let parts = r
                .parts
                .into_iter()
                .map(|(name, id, state, spent)| PartRun {
                    name,
                    id,
                    state,
                    spent,
                })
                .collect();
            let run = PlanRun {
                id: r.id,
                name: r.name,
                plan,
                parts,
                accepted_at: r.accepted_at,
                started: r.started,
                budget_said: false,
                answering: false,
            };
            for p in &run.parts {
                self.part_of.insert(p.id, r.id);
            }
            if run.started {
                self.meter.set_plan(r.id, run.line(), self.counter.as_ref());
            }
            self.plans.insert(r.id, run);
        }
        effects
    }

    /// A part left flight: done, dropped or cancelled.
    pub(super) fn part_ended(&mut self, id: OrderId, state: PartState, spent: u64) {
        let Some((plan, idx)) = self.part_of(id) else {
            return;
        };
        let run = self.plans.get_mut(&plan).expect("part_of found it");
        run.parts[idx].state = state;
        run.parts[idx].spent = spent;
        let line = run.line();
        self.meter.set_plan(plan, line, self.counter.as_ref());
    }

    /// Once a turn: every open plan writes what may go out, says a spent budget, and asks for
    /// its evidence when every part has ended.
    pub(super) fn tick(&mut self) -> Vec<Effect> {
        let ids: Vec<OrderId> = self.plans.keys().copied().collect();
        let mut effects = Vec::new();
        for id in ids {
            // What the parts in flight have spent so far.
            let spent: Vec<(usize, u64)> = self.plans[&id]
                .parts
                .iter()
                .enumerate()
                .filter_map(|(i, p)| self.flights.get(&p.id).map(|f| (i, f.spent)))
                .collect();
            if let Some(run) = self.plans.get_mut(&id) {
                for (i, s) in spent {
                    run.parts[i].spent = s;
                }
            }
            effects.extend(self.advance(id));
            let run = self.plans.get_mut(&id).expect("listed");
            if run.started && run.finished() && !run.answering {
                run.answering = true;
                effects.push(Effect::Gather { plan: id });
            }
        }
        effects
    }

    /// Writes every part of a plan that may go out now.
    fn advance(&mut self, id: OrderId) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(run) = self.plans.get(&id) else {
            return effects;
        };
        if run.budget_left().is_some_and(|left| left <= 0) {
            let skipped: Vec<usize> = (0..run.parts.len())
                .filter(|&i| run.parts[i].state == PartState::Waiting)
                .collect();
            let run = self.plans.get_mut(&id).expect("there");
            let names: Vec<String> = skipped
                .iter()
                .map(|&i| format!("{} ({})", run.parts[i].name, run.parts[i].id))
                .collect();
            for &i in &skipped {
                run.parts[i].state = PartState::Skipped;
            }
            if !run.budget_said {
                run.budget_said = true;
                let (budget, spent) = (run.plan.budget.unwrap_or(0), run.spent());
                let r = Record::new("budget.exceeded")
                    .level(Level::Warn)
                    .order(id)
                    .agent("walt")
                    .reason(format!(
                        "plan {id} has spent {spent} tokens of its budget of {budget}: no part is written from now on{}",
                        if names.is_empty() {
                            String::new()
                        } else {
                            format!(" (not written: {})", names.join(", "))
                        }
                    ))
                    .with("spent", spent)
                    .with("budget", budget);
                effects.push(Effect::Record(self.stamp(r)));
            }
            return effects;
        }
        for idx in run.ready() {
            let run = &self.plans[&id];
            let part = run.plan.parts[idx].clone();
            let pid = run.parts[idx].id;
            let request = part_request(&run.plan, &part);
            if let Some((holder, file)) = self.holder(&request.files) {
                effects.extend(self.wait_for_holder(pid, holder, file));
                continue;
            }
            let decision = route::route(&self.cfg, &request).unwrap_or_else(|refusal| Decision {
                agent: AgentName::human(),
                rule: Rule::NoHandler,
                reason: format!("the rules refuse it now: {}", refusal.describe()),
                candidates: Vec::new(),
            });
            let mut order = self.author(pid, &request, &decision);
            order.header.plan = Some(id);
            order.header.part = Some(part.name.clone());
            let body = parse::render_order(&order);
            if let Err(d) = self.lint_as_walt(&body) {
                // The plan linted; its part as Walt writes it must too. Said once, left waiting.
                if self.stuck.insert(pid) {
                    let first = format!("line {}: {}", d.line, d.message);
                    effects.push(Effect::Record(self.stamp(
                        Record::new("signal.artifact")
                            .level(Level::Warn)
                            .order(pid)
                            .agent("walt")
                            .reason(format!("part {} of plan {id} as Walt would write it does not lint: {first}; it waits for a person", part.name)),
                    )));
                }
                continue;
            }
            let line = Meter::line_text(pid, decision.agent.as_str(), State::New, &order.objective);
            let need = body.len().max(line.len()) as u32;
            let admitted = match self.admit(pid, need) {
                Ok(e) => e,
                // Backpressure: the part goes out on a later turn.
                Err(_) => break,
            };
            self.reserved.remove(&pid);
            let name = part.name.clone();
            let mut written = self.finish(pid, None, order, body, &decision, need, admitted);
            for e in written.iter_mut() {
                if let Effect::Decide(r) | Effect::Record(r) = e {
                    if r.order == Some(pid) {
                        r.extra.insert("plan".into(), id.to_string().into());
                        r.extra.insert("part".into(), name.clone().into());
                    }
                }
            }
            effects.extend(written);
            let run = self.plans.get_mut(&id).expect("there");
            run.parts[idx].state = PartState::Out;
            let line = run.line();
            self.meter.set_plan(id, line, self.counter.as_ref());
        }
        effects
    }

    /// An optional part with nothing left to try is dropped: its attempt archived as dropped,
    /// the plan goes on without it (`plan.part-dropped`).
    pub(super) fn drop_part(
        &mut self,
        id: OrderId,
        f: &Flight,
        why: &str,
        report: Option<(OrderId, &str)>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(facts) = self.plan_facts(id) else {
            return;
        };
        let name = self.archive_as(id, f, "dropped.md", report, effects);
        effects.push(Effect::Record(self.stamp(
            Record::new("plan.part-dropped")
                .level(Level::Warn)
                .order(id)
                .agent(&f.agent)
                .state(State::Cancelled)
                .attempt(f.attempt)
                .path(name)
                .reason(format!(
                    "part {} of plan {} is optional and has nothing left to try ({why}): the plan goes on without it",
                    facts.part, facts.plan
                ))
                .with("plan", facts.plan.to_string())
                .with("part", facts.part.clone()),
        )));
        self.land(id);
        self.meter.clear_rejection(id);
        self.part_ended(id, PartState::Dropped, f.spent);
    }

    /// A person's cancel, retry or unblock on a plan: applied to its open parts; a cancel
    /// also ends the plan (its unwritten parts are never written).
    pub(super) fn plan_decision(
        &mut self,
        id: OrderId,
        kind: super::PersonDecision,
        by: String,
    ) -> Vec<Effect> {
        let parts: Vec<OrderId> = self.plans[&id]
            .parts
            .iter()
            .filter(|p| p.state == PartState::Out)
            .map(|p| p.id)
            .collect();
        let mut effects = Vec::new();
        for pid in parts {
            let applies = self.flights.get(&pid).is_some_and(|f| match kind {
                super::PersonDecision::Cancel => true,
                super::PersonDecision::Unblock => f.state == State::Parked,
                // A retry is for what waits for a person: an escalated part.
                super::PersonDecision::Retry => f.agent.is_reserved(),
            });
            if applies {
                effects.extend(self.decision(pid, kind, by.clone()));
            }
        }
        if kind == super::PersonDecision::Cancel {
            let run = self.plans.remove(&id).expect("there");
            for p in &run.parts {
                self.part_of.remove(&p.id);
                self.reserved.remove(&p.id);
            }
            self.meter.end_plan(id);
            effects.push(Effect::MoveRequest {
                id,
                name: run.name.clone(),
                from: Folder::Active,
                to: Folder::Done,
            });
            effects.push(Effect::Record(
                self.stamp(
                    Record::new("plan.cancelled")
                        .order(id)
                        .agent("walt")
                        .state(State::Cancelled)
                        .path(run.name.clone())
                        .rule("person")
                        .reason(format!(
                            "{by} cancelled plan {id}: its open parts are cancelled and the rest are never written"
                        ))
                        .with("kind", "plan")
                        .request(Folder::Done, run.name),
                ),
            ));
        }
        effects
    }
}
