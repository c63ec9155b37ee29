//! The brain: a request put to the brain command with Walt's hot context as the
//! prompt, its answer checked as text Walt authors, refused once with the reason quoted, and
//! then the rules decide.

use crate::format::parse::{self, Author, Context};
use crate::model::order::{OrderId, WorkOrder};
use crate::model::record::{Level, Record};

use super::route::{self, Decision};
use super::{review, Effect, Walt};

/// A request put to the brain, waiting for its answer.
#[derive(Debug, Clone)]
pub(super) struct Consult {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) request: WorkOrder,
    pub(super) tries: u32,
    pub(super) need: u32,
    pub(super) tokens_in: u32,
}

/// What the brain is asked to answer with, after the message in hand.
pub const BRAIN_FORMAT: &str = "\n## Your answer\nRoute the message in hand. Answer with the work order you write for the specialist, and nothing else:\n---\nto: <agent>\nreason: <why this agent>\noverride: <only when going against the ownership rules: why>\n---\n**Objective:** <one sentence, present tense, the outcome>\n\n**Acceptance:**\n- <3 to 5 bullets, each checkable without asking a person>\n\n**Files:**\n- <paths under repos/ the specialist may touch>\n\n**Branching:**\n- <halt-with-note if … / route-to-<agent> if … / requeue-with-blocker if …>\n\nIntent only: no code, no SQL, no diff, no fenced block.\nA request that is really several orders may instead be answered with a plan: `**Goal:**`, its **Acceptance** (3 to 5 bullets), then 2 to 20 `## Part: <name>` sections (key lines `after:`, `to:`, `optional: true`, then a work order as above), each part's Files within the request's.\n";

impl Walt {
    // ---- the brain --------------------------------------------------------------------------

    /// Puts a request to the brain: makes room under the meter for the message in hand (the
    /// request, the refusal being answered if any, and the answer format), then asks for the
    /// prompt to be sent: exactly the hot context the meter counts.
    pub(super) fn consult(
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
    pub(super) fn check_brain(
        &self,
        id: OrderId,
        answer: &str,
        request: &WorkOrder,
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
        // The brain scopes within the request: its Files may narrow the request's, never
        // widen them (nor reach into state/ when the request does not).
        let beyond = review::beyond(&request.files, &answer.files);
        if !beyond.is_empty() {
            return Err((
                None,
                format!(
                    "the answer's Files reach beyond the request's ({}): {}",
                    request.files.join(", "),
                    beyond.join(", ")
                ),
            ));
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

    pub(super) fn brain_answer(
        &mut self,
        id: OrderId,
        answer: Result<String, String>,
    ) -> Vec<Effect> {
        if self.noting.contains_key(&id) {
            return self.noted(id, answer);
        }
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
            Ok(text) if parse::looks_like_plan(text) => {
                match self.brain_plan(id, &c.name, text, &c.request) {
                    Ok(plan) => {
                        self.brain_trouble = None;
                        effects.extend(plan);
                        return effects;
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(text) => self.check_brain(id, text, &c.request),
            Err(e) => Err((None, format!("no answer: {e}"))),
        };
        match verdict {
            Ok((order, decision)) => {
                self.brain_trouble = None;
                let body = parse::render_order(&order);
                effects.extend(self.finish(
                    id,
                    Some(c.name),
                    order,
                    body,
                    &decision,
                    c.need,
                    Vec::new(),
                ));
            }
            Err((signal, why)) => {
                self.brain_trouble = Some(why.clone());
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
                    // Journaled: a brain that fails is an attention item (SPEC §10).
                    effects.push(Effect::Record(
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
