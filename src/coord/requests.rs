//! Taking a request: lint it as a person's, route it by the routing rules, author the order
//! Walt writes, check that it lints as his own text, and write it once the meter admits it.

use crate::format::parse::{self, Author, Context};
use crate::model::order::{OrderId, WorkOrder};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};

use super::meter::Meter;
use super::route::{self, Decision, Refusal};
use super::{Effect, Flight, Walt};

impl Walt {
    /// Holds a request Walt will not route (what to do next: fix a copy and drop it again).
    pub(super) fn hold(
        &self,
        id: OrderId,
        name: String,
        event: &str,
        why: String,
        signal: bool,
    ) -> Vec<Effect> {
        let next = "fix a copy of it (`walt lint` shows every problem with its line) and drop that into `inbox/walt/` again".to_string();
        self.hold_as(id, name, event, why, signal, "request", next)
    }

    /// Holds a file taken as `taken_as`, saying why and the `next` step that fits.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hold_as(
        &self,
        id: OrderId,
        name: String,
        event: &str,
        why: String,
        signal: bool,
        taken_as: &'static str,
        next: String,
    ) -> Vec<Effect> {
        let level = if signal { Level::Warn } else { Level::Info };
        vec![
            Effect::HoldRequest {
                id,
                name: name.clone(),
                taken_as,
                why: why.clone(),
                next,
            },
            Effect::Record(
                Record::new(event)
                    .level(level)
                    .order(id)
                    .agent("walt")
                    .state(State::Held)
                    .path(name.clone())
                    .reason(why)
                    .request(Folder::Held, name),
            ),
        ]
    }

    /// Holds a request the routing rules refuse, saying `why` (a signal when it is one).
    pub(super) fn hold_refused(
        &self,
        id: OrderId,
        name: String,
        refusal: &Refusal,
        why: String,
    ) -> Vec<Effect> {
        let event = if refusal.signal().is_some() {
            "signal.override"
        } else {
            "delivery.held"
        };
        let sig = matches!(refusal, Refusal::OverrideNeeded { .. });
        self.hold(id, name, event, why, sig)
    }

    pub(super) fn request(&mut self, id: OrderId, name: String, text: String) -> Vec<Effect> {
        if self.plans.contains_key(&id) || parse::looks_like_plan(&text) {
            return self.plan_request(id, name, text);
        }
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
            // Reservations (SPEC §9.3): the brain is not asked about what cannot go out yet.
            if let Some((holder, file)) = self.holder(&request.files) {
                return self.wait_for_holder(id, holder, file);
            }
            self.reserved.remove(&id);
            return self.consult(id, name, text, request, None, 1);
        }
        self.by_rules(id, name, text, request, None)
    }

    /// Routes a request by the routing rules; `note` says why the rules decide when a
    /// brain was asked first.
    pub(super) fn by_rules(
        &mut self,
        id: OrderId,
        name: String,
        text: String,
        request: WorkOrder,
        note: Option<String>,
    ) -> Vec<Effect> {
        let decision = match route::route(&self.cfg, &request) {
            Ok(d) => d,
            Err(refusal) => return self.hold_refused(id, name, &refusal, refusal.describe()),
        };
        // Reservations (SPEC §9.3): a request the rules would route waits while an order in
        // flight holds one of its Files (one they refuse is held at once, as ever).
        if let Some((holder, file)) = self.holder(&request.files) {
            return self.wait_for_holder(id, holder, file);
        }
        self.reserved.remove(&id);
        let mut decision = decision;
        if let Some(n) = note {
            decision.reason = format!("{} ({n})", decision.reason);
        }
        let order = self.author(id, &request, &decision);
        let body = parse::render_order(&order);
        if let Err(d) = self.lint_as_walt(&body) {
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
        let line = Meter::line_text(id, decision.agent.as_str(), State::New, &order.objective);
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
        self.finish(id, Some(name), order, body, &decision, need, effects)
    }

    /// Writes a decided order: the decision on record first, then the order, then the request
    /// (if it came from one of its own: a plan's part does not) moved to Walt's active tray,
    /// then the record that it is written.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish(
        &mut self,
        id: OrderId,
        name: Option<String>,
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
        if let Some(name) = &name {
            effects.push(Effect::MoveRequest {
                id,
                name: name.clone(),
                from: Folder::New,
                to: Folder::Active,
            });
        }
        self.fly(
            id,
            Flight {
                agent: decision.agent.clone(),
                state: State::New,
                order: order.clone(),
                attempt: 1,
                agent_attempt: 1,
                hops: 0,
                tried: vec![decision.agent.clone()],
                name: order_name.clone(),
                request_name: name.clone(),
                history: Vec::new(),
                blocker: None,
                spent: 0,
            },
        );
        let escalated = decision.agent.is_reserved();
        let mut written = Record::new(if escalated {
            "recovery.escalate"
        } else {
            "order.written"
        })
        .order(id)
        .agent(&decision.agent)
        .state(State::New)
        .attempt(1)
        .path(order_name)
        .rule(decision.rule.as_str())
        .reason(decision.reason.clone())
        .with("kind", "order");
        if let Some(name) = name {
            written = written.request(Folder::Active, name);
        }
        effects.push(Effect::Record(self.stamp(written)));
        effects
    }

    /// Whether an order Walt is about to write lints as his own text; the first error if not.
    pub(super) fn lint_as_walt(
        &self,
        body: &str,
    ) -> Result<(), crate::format::diagnostic::Diagnostic> {
        let check = parse::parse_order(
            body.as_bytes(),
            Context {
                agents: Some(&self.agents),
                author: Author::Walt,
            },
        );
        match check.diagnostics.into_iter().find(|d| d.is_error()) {
            Some(d) => Err(d),
            None => Ok(()),
        }
    }

    /// The work order Walt writes for a routed request: the request's four parts, canonical,
    /// with Walt's front matter (attempt 1).
    pub(super) fn author(
        &self,
        id: OrderId,
        request: &WorkOrder,
        decision: &Decision,
    ) -> WorkOrder {
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
