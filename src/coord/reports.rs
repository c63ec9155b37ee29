//! Collecting a report: parse it, check it against the order it answers (review), and then
//! accept it (the order done, its report beside it) or answer the failure it reports.

use crate::format::parse::{self, Author, Context};
use crate::model::order::{AgentName, OrderId, Status};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};

use super::recovery::{self, Failure};
use super::{review, Effect, Flight, Walt};

impl Walt {
    pub(super) fn report(
        &mut self,
        rid: OrderId,
        name: String,
        text: String,
        changed: Vec<String>,
        accepted: Option<(AgentName, String)>,
        closed: Option<(AgentName, State, String)>,
    ) -> Vec<Effect> {
        let ctx = Context {
            agents: Some(&self.agents),
            author: Author::Person,
        };
        let parsed = parse::parse_report(text.as_bytes(), ctx);
        let report = parsed.value;
        let Some(re) = report.header.re else {
            return self.hold_as(
                rid,
                name,
                "delivery.held",
                "the report names no order (`re:`)".into(),
                false,
                "report",
                "add `re: <the order's id>` to a copy's front matter and deliver it again (`walt report ID --status S FILE` checks it first)".into(),
            );
        };
        if !parsed.diagnostics.iter().all(|d| !d.is_error()) {
            let first = crate::format::diagnostic::first_error(&parsed.diagnostics);
            return self.hold_as(
                rid,
                name,
                "delivery.held",
                format!("the report does not lint: {first}"),
                false,
                "report",
                format!("fix a copy (`walt lint` shows every problem with its line) and deliver it again: `walt report {re} --status <status> FILE`"),
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
            return match closed {
                Some((agent, State::Cancelled, cancelled)) => {
                    // Late: the order was cancelled while its work went on. Kept beside it,
                    // for the record; nothing changes.
                    let stem = cancelled.strip_suffix(".md").unwrap_or(&cancelled);
                    let mut effects = Vec::new();
                    self.file_report(re, rid, &name, &agent, format!("{stem}.late.report.md"), &mut effects);
                    effects.push(Effect::Record(self.stamp(
                        Record::new("report.late")
                            .order(re)
                            .agent(&agent)
                            .reason(format!(
                                "report {rid} arrived after a person cancelled order {re}: filed beside it in inbox/{agent}/done/ as late; nothing changes and nothing is committed"
                            ))
                            .with("report", rid.to_string()),
                    )));
                    effects
                }
                Some((_, state, _)) => self.hold_as(
                    rid,
                    name,
                    "delivery.held",
                    format!("a report for order {re}, which is {} already; nothing was changed", state.as_str()),
                    false,
                    "report",
                    format!("nothing, if it is a copy of one already given (`walt trace {re}` tells the order's story); if it answers another order, fix the `re:` of a copy and deliver that"),
                ),
                None => self.hold_as(
                    rid,
                    name,
                    "delivery.held",
                    format!("a report for order {re}, which this studio has no record of; nothing was changed"),
                    false,
                    "report",
                    "check the order id (`walt status` lists the open orders); fix the `re:` of a copy and deliver that".into(),
                ),
            };
        };
        if f.state == State::Parked {
            return self.hold_as(
                rid,
                name,
                "delivery.held",
                format!(
                    "a report for order {re}, which is parked until {}",
                    f.blocker.as_deref().unwrap_or("a person unblocks it")
                ),
                false,
                "report",
                format!("`walt unblock {re}` if its blocker is cleared, then deliver a copy of the report again"),
            );
        }
        let status = report.header.status.unwrap_or(Status::Failed);
        // What the work cost, as its CLI said: added to the order's, journaled with the report.
        let mut f = f;
        let spent = report.header.spent;
        f.spent += spent.unwrap_or(0);
        if let Some(fl) = self.flights.get_mut(&re) {
            fl.spent = f.spent;
        }
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
                    .with("status", status.as_str())
                    .with_opt("spent", spent),
            ),
        )];
        // What this attempt changed within its Files: Touched and observed, each once.
        let mut changes: Vec<String> = Vec::new();
        for p in report.touched.iter().chain(&changed) {
            if review::within(&f.order.files, p) && !changes.contains(p) {
                changes.push(p.clone());
            }
        }
        // Follow-ups (SPEC §9.5): work seen outside the Files becomes a request of its own
        // for a person to scope; it never widens this order.
        effects.extend(self.follow_ups(re, &f.agent, &report.follow_ups));
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
            let mut reasons = rej.reasons.clone();
            let left = left_in_tree(f.attempt, &changes);
            if !left.is_empty() {
                reasons.push(left.trim_start_matches("; ").to_string());
            }
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
                if self.cfg.walt.commit && !changes.is_empty() {
                    effects.push(Effect::Commit {
                        id: re,
                        agent: f.agent.clone(),
                        attempt: f.attempt,
                        subject: f.order.objective.clone(),
                        paths: changes.clone(),
                    });
                }
                self.archive_done(re, &f, rid, &name, &mut effects);
                // What a plan's answer checks later: the report as accepted, and what changed.
                for e in effects.iter_mut() {
                    if let Effect::Decide(r) = e {
                        if r.event == "review.accepted" {
                            r.extra
                                .insert("digest".into(), super::answer::digest(&text).into());
                            r.extra.insert("changes".into(), changes.clone().into());
                        }
                    }
                }
                self.land(re);
                self.part_ended(re, super::plans::PartState::Done, f.spent);
                effects.extend(self.unpark_blocked_by(re));
            }
            Status::Failed => self.recover_with(
                re,
                f.clone(),
                Failure::Failed(format!("{note}{}", left_in_tree(f.attempt, &changes))),
                Some((rid, &name)),
                &mut effects,
            ),
            Status::Halted => {
                let facts = self.facts_for(re, &f);
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
                let facts = self.facts_for(re, &f);
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
                parked.state = State::Parked;
                parked.blocker = Some(blocker.clone());
                effects.push(Effect::Record(self.stamp(
                    Record::new("order.parked")
                        .order(re)
                        .agent(&f.agent)
                        .state(State::Parked)
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
    pub(super) fn archive_done(
        &mut self,
        id: OrderId,
        f: &Flight,
        rid: OrderId,
        report_name: &str,
        effects: &mut Vec<Effect>,
    ) {
        effects.extend(f.archive(id, f.name.clone()));
        self.file_report(
            id,
            rid,
            report_name,
            &f.agent,
            format!("{}.report.md", f.stem()),
            effects,
        );
        effects.extend(f.request_done(id));
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
            .state(State::Done)
            .attempt(f.attempt)
            .path(f.name.clone())
            .reason(format!("{} finished it on attempt {}", f.agent, f.attempt));
        if f.spent > 0 {
            done = done.with("spent", f.spent);
        }
        if let Some(req) = &f.request_name {
            done = done.request(Folder::Done, req.clone());
        }
        effects.push(Effect::Record(self.stamp(done)));
        self.meter.clear_rejection(id);
    }
}

impl Walt {
    /// Each follow-up of a report on order `re` as a request from `agent`, linked to the order
    /// (`follows:`), left in `inbox/human/new/` for a person to scope (`followup.filed`).
    fn follow_ups(&mut self, re: OrderId, agent: &AgentName, ups: &[String]) -> Vec<Effect> {
        let mut effects = Vec::new();
        for up in ups {
            let id = OrderId(self.next_id);
            self.next_id += 1;
            let objective = parse::one_line(up);
            let name = format!("{id}-{}.md", crate::model::order::slug(&objective));
            let body = format!(
                "---\nfollows: {re}\npriority: normal\n---\n**Objective:** {objective}\n\n**Acceptance:**\n- to be scoped: 3 to 5 bullets, each checkable without asking a person\n\n**Files:**\n- to be scoped: the paths under repos/ it may change\n\n**Branching:**\n- halt-with-note if to be scoped\n"
            );
            effects.push(Effect::Write {
                agent: AgentName::human(),
                id,
                name: name.clone(),
                body,
            });
            effects.push(Effect::Record(self.stamp(
                Record::new("followup.filed")
                    .order(id)
                    .agent("human")
                    .state(State::New)
                    .path(name.clone())
                    .reason(format!(
                        "{agent} saw work outside order {re}'s Files: {objective} A person scopes it (Acceptance, Files, Branching) and submits it (`walt submit`)"
                    ))
                    .with("kind", "request")
                    .with("follows", re.to_string())
                    .with("from", agent.to_string())
                    .with("objective", objective),
            )));
        }
        effects
    }
}

/// What an attempt that was not accepted left in the working tree (it is not committed, nor
/// undone): said in the next attempt's brief, so its specialist starts from it knowingly.
fn left_in_tree(attempt: u32, changes: &[String]) -> String {
    if changes.is_empty() {
        return String::new();
    }
    format!(
        "; attempt {attempt}'s changes are still in the working tree, not committed: {}",
        changes.join(", ")
    )
}
