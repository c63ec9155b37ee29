//! A plan's answer (SPEC §9.4): once every part is done or dropped, Walt checks the parts
//! against the goal and against each other before he answers. Three checks, each on the
//! evidence the shell gathered just now (the folders and repositories as they are):
//! - every Goal bullet is ticked in the accepted report of at least one done part;
//! - no two parts changed the same file (`signal.conflict` names both, the file, and which
//!   changed it after the other was accepted);
//! - every part's report is the one Walt accepted (its digest), and its commits are still in
//!   their repositories' history.
//!
//! All pass: the answer is written beside the plan's request in `inbox/walt/done/`
//! (`plan.answered`). One fails: it goes to a person in `inbox/human/new/` with the reason
//! (`plan.escalated`).

use sha2::{Digest, Sha256};

use crate::format::parse::{self, one_line};
use crate::model::order::{slug, AgentName, OrderId, Report};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};

use super::plans::{PartState, PlanRun};
use super::{Effect, Evidence, Walt};

/// The digest a report is accepted with (SHA-256 of its text, hex).
pub fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn normal(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Two parts that changed one file: `later` changed it after `earlier` was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub earlier: String,
    pub later: String,
    pub file: String,
}

/// What the three checks found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checks {
    /// Each Goal bullet, with the part and evidence that ticks it (`None`: nothing does).
    pub goal: Vec<(String, Option<String>)>,
    pub conflicts: Vec<Conflict>,
    /// Reports no longer the accepted ones, commits gone from history.
    pub invalid: Vec<String>,
    /// Parts neither done nor dropped (cancelled, or never written for the budget).
    pub missing: Vec<String>,
}

impl Checks {
    pub fn status(&self) -> &'static str {
        if !self.conflicts.is_empty() {
            "conflicted"
        } else if self.goal.iter().any(|(_, by)| by.is_none())
            || !self.invalid.is_empty()
            || !self.missing.is_empty()
        {
            "incomplete"
        } else {
            "done"
        }
    }

    /// Why a person must look, in one sentence per failed check.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let unticked: Vec<&str> = self
            .goal
            .iter()
            .filter(|(_, by)| by.is_none())
            .map(|(b, _)| b.as_str())
            .collect();
        if !unticked.is_empty() {
            out.push(format!(
                "no accepted report of a done part ticks: {}",
                unticked.join("; ")
            ));
        }
        for c in &self.conflicts {
            out.push(format!(
                "parts {} and {} both changed {}: {} changed it after {} was accepted",
                c.earlier, c.later, c.file, c.later, c.earlier
            ));
        }
        out.extend(self.invalid.iter().cloned());
        if !self.missing.is_empty() {
            out.push(format!("not done: {}", self.missing.join(", ")));
        }
        out
    }
}

/// Runs the three checks on a plan's evidence. `evidence` is in the order the parts were
/// accepted; only parts Walt holds as done count (dropped parts count for nothing).
pub fn check(run: &PlanRun, evidence: &[Evidence]) -> Checks {
    let label = |id: OrderId| {
        run.parts
            .iter()
            .find(|p| p.id == id)
            .map_or(id.to_string(), |p| format!("{} ({id})", p.name))
    };
    let done: Vec<&Evidence> = evidence
        .iter()
        .filter(|e| {
            run.parts
                .iter()
                .any(|p| p.id == e.id && p.state == PartState::Done)
        })
        .collect();
    let reports: Vec<Option<Report>> = done
        .iter()
        .map(|e| {
            e.report
                .as_ref()
                .map(|t| parse::parse_report(t.as_bytes(), parse::Context::default()).value)
        })
        .collect();
    let mut checks = Checks::default();
    for p in &run.parts {
        if p.state == PartState::Done && !done.iter().any(|e| e.id == p.id) {
            checks.invalid.push(format!(
                "{}: Walt holds it as done, but the folders have no accepted attempt of it",
                label(p.id)
            ));
        }
    }
    for e in &done {
        match &e.report {
            None => checks.invalid.push(format!(
                "{}: its accepted report cannot be read",
                label(e.id)
            )),
            Some(t) if e.digest.as_deref() != Some(digest(t).as_str()) => {
                checks.invalid.push(format!(
                    "{}: its report is not the one Walt accepted (it was changed since)",
                    label(e.id)
                ))
            }
            Some(_) => {}
        }
        for (c, present) in &e.commits {
            if !present {
                let (repo, sha) = c.split_once(' ').unwrap_or(("?", c));
                checks.invalid.push(format!(
                    "{}: its commit {} in {repo} is no longer in that repository's history",
                    label(e.id),
                    &sha[..sha.len().min(12)]
                ));
            }
        }
    }
    for bullet in &run.plan.acceptance {
        let want = normal(bullet);
        let by = done.iter().zip(&reports).find_map(|(e, r)| {
            let tick = r
                .as_ref()?
                .acceptance
                .iter()
                .find(|t| t.ticked && normal(&t.text) == want)?;
            Some(match &tick.evidence {
                Some(ev) => format!("{}: {}", label(e.id), one_line(ev)),
                None => label(e.id),
            })
        });
        checks.goal.push((bullet.clone(), by));
    }
    // What each done part changed: its Touched and what was observed, each once.
    let changed: Vec<Vec<String>> = done
        .iter()
        .zip(&reports)
        .map(|(e, r)| {
            let mut v: Vec<String> = e.changes.clone();
            for t in r.iter().flat_map(|r| &r.touched) {
                if !v.contains(t) {
                    v.push(t.clone());
                }
            }
            v
        })
        .collect();
    for j in 0..done.len() {
        for i in 0..j {
            for file in &changed[j] {
                if changed[i].contains(file) {
                    checks.conflicts.push(Conflict {
                        earlier: label(done[i].id),
                        later: label(done[j].id),
                        file: file.clone(),
                    });
                }
            }
        }
    }
    for p in &run.parts {
        if matches!(p.state, PartState::Cancelled | PartState::Skipped) {
            checks
                .missing
                .push(format!("{} ({}) {}", p.name, p.id, p.state.as_str()));
        }
    }
    checks
}

/// The answer's text (SPEC §9.4).
pub fn render(run: &PlanRun, evidence: &[Evidence], checks: &Checks, note: &str) -> String {
    let mut out = format!(
        "---\nre: {}\nstatus: {}\nspent: {}\n---\n**Goal:** {}\n\n**Acceptance:**\n",
        run.id,
        checks.status(),
        run.spent(),
        one_line(&run.plan.goal)
    );
    for (bullet, by) in &checks.goal {
        match by {
            Some(by) => out.push_str(&format!("- [x] {} — {by}\n", one_line(bullet))),
            None => out.push_str(&format!(
                "- [ ] {} — no accepted report of a done part ticks it\n",
                one_line(bullet)
            )),
        }
    }
    out.push_str("\n**Parts:**\n");
    for (p, spec) in run.parts.iter().zip(&run.plan.parts) {
        let ev = evidence.iter().find(|e| e.id == p.id);
        match (p.state, ev) {
            (PartState::Done, Some(e)) => {
                let commit = if e.commits.is_empty() {
                    String::new()
                } else {
                    let shas: Vec<String> = e
                        .commits
                        .iter()
                        .map(|(c, _)| {
                            let sha = c.split_once(' ').map_or(c.as_str(), |(_, s)| s);
                            sha[..sha.len().min(7)].to_string()
                        })
                        .collect();
                    format!(", commit {}", shas.join(" "))
                };
                let files = if e.changes.is_empty() {
                    spec.order.files.join(", ")
                } else {
                    e.changes.join(", ")
                };
                out.push_str(&format!(
                    "- {} ({}) {}, attempt {}, done{commit}: {files}\n",
                    p.name, p.id, e.agent, e.attempt
                ));
            }
            (state, _) => out.push_str(&format!(
                "- {} ({}) {}{}\n",
                p.name,
                p.id,
                state.as_str(),
                if spec.optional { " (optional)" } else { "" }
            )),
        }
    }
    out.push_str("\n**Conflicts:**");
    if checks.conflicts.is_empty() {
        out.push_str(" none\n");
    } else {
        out.push('\n');
        for c in &checks.conflicts {
            out.push_str(&format!(
                "- {}: changed by {}, then by {} after {} was accepted\n",
                c.file, c.earlier, c.later, c.earlier
            ));
        }
    }
    out.push_str(&format!("\n**Note:** {}\n", one_line(note)));
    out
}

/// What the brain is asked when it may write an answer's Note.
pub const NOTE_FORMAT: &str = "\n## Your answer\nThe plan above is answered; the daemon made the checks. Write the answer's Note for the person who asked: one short paragraph of plain prose on one line (what was done, what to look at). No code, no SQL, no diff, no fenced block, no front matter.\n";

/// A plan whose answer waits for the brain's Note: the evidence it will be checked on.
#[derive(Debug, Clone)]
pub struct Noting {
    pub evidence: Vec<Evidence>,
}

/// The brain's Note as it may stand in an answer, or why it may not.
pub fn check_note(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("the Note is empty".into());
    }
    if t.contains("```") || t.starts_with("---") || t.contains("\n**") || t.contains("\n## ") {
        return Err("the Note is prose only: no fenced block, front matter or sections".into());
    }
    if t.len() > 2000 {
        return Err(format!("the Note is {} bytes; at most 2000", t.len()));
    }
    Ok(one_line(t))
}

impl Walt {
    /// Answers a plan from its evidence: checked, then written beside its request, or given
    /// to a person with what does not hold. With a brain, it is first asked for the Note (one
    /// question at a time: while it thinks about a request, the answer waits a turn).
    pub(super) fn answer(&mut self, id: OrderId, evidence: Vec<Evidence>) -> Vec<Effect> {
        if self.cfg.walt.brain == crate::format::config::Brain::Command {
            let Some(run) = self.plans.get_mut(&id) else {
                return Vec::new();
            };
            if !self.consulting.is_empty() || !self.noting.is_empty() {
                run.answering = false;
                return Vec::new();
            }
            let run = run.clone();
            let checks = check(&run, &evidence);
            let message = format!(
                "## The answer to plan {id}\n{}{NOTE_FORMAT}",
                render(&run, &evidence, &checks, "(yours to write)")
            );
            let need = self.counter.count(&message);
            if let Ok(mut effects) = self.admit(id, need) {
                self.peak = self.peak.max(self.meter.hot() + need);
                self.noting.insert(id, Noting { evidence });
                effects.push(Effect::Consult {
                    id,
                    prompt: self.prompt(Some(&message)),
                });
                return effects;
            }
            // No room to ask: the answer goes out without the brain's Note.
        }
        self.finish_answer(id, evidence, None)
    }

    /// The brain's Note came back (or did not): the answer goes out either way.
    pub(super) fn noted(&mut self, id: OrderId, answer: Result<String, String>) -> Vec<Effect> {
        let Some(n) = self.noting.remove(&id) else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let note = match answer
            .map_err(|e| format!("no answer: {e}"))
            .and_then(|t| check_note(&t))
        {
            Ok(note) => Some(note),
            Err(why) => {
                effects.push(Effect::Record(
                    self.stamp(
                        Record::new("brain.refused")
                            .level(Level::Warn)
                            .order(id)
                            .agent("walt")
                            .reason(format!("the brain's Note for plan {id} was refused: {why}; the answer goes out without it")),
                    ),
                ));
                None
            }
        };
        // The plan may have been cancelled meanwhile.
        if !self.plans.contains_key(&id) {
            return effects;
        }
        effects.extend(self.finish_answer(id, n.evidence, note));
        effects
    }

    fn finish_answer(
        &mut self,
        id: OrderId,
        evidence: Vec<Evidence>,
        brain_note: Option<String>,
    ) -> Vec<Effect> {
        let Some(run) = self.plans.remove(&id) else {
            return Vec::new();
        };
        for p in &run.parts {
            self.part_of.remove(&p.id);
        }
        self.meter.end_plan(id);
        let checks = check(&run, &evidence);
        let failures = checks.failures();
        let mut effects = Vec::new();
        for c in &checks.conflicts {
            effects.push(Effect::Record(
                self.stamp(
                    Record::new("signal.conflict")
                        .level(Level::Warn)
                        .order(id)
                        .agent("walt")
                        .path(c.file.clone())
                        .reason(format!(
                            "plan {id}: parts {} and {} both changed {}; {} changed it after {} was accepted",
                            c.earlier, c.later, c.file, c.later, c.earlier
                        ))
                        .with("parts", vec![c.earlier.clone(), c.later.clone()]),
                ),
            ));
        }
        let stem = format!("{id}-{}", slug(&run.plan.goal));
        let status = checks.status();
        let brain = brain_note
            .as_deref()
            .map_or(String::new(), |n| format!("; the brain notes: {n}"));
        let (note, answer_to, folder, name) = if failures.is_empty() {
            (
                brain_note.clone().unwrap_or_else(|| "none".to_string()),
                AgentName::walt(),
                Folder::Done,
                format!("{stem}.answer.md"),
            )
        } else {
            (
                format!("a person decides: {}{brain}", failures.join("; ")),
                AgentName::human(),
                Folder::New,
                format!("{stem}.md"),
            )
        };
        let body = render(&run, &evidence, &checks, &note);
        effects.push(Effect::WriteAnswer {
            id,
            agent: answer_to.clone(),
            folder,
            name: name.clone(),
            body,
        });
        effects.push(Effect::MoveRequest {
            id,
            name: run.name.clone(),
            from: Folder::Active,
            to: Folder::Done,
        });
        let record = if failures.is_empty() {
            Record::new("plan.answered")
                .order(id)
                .agent("walt")
                .state(State::Done)
                .path(run.name.clone())
                .reason(format!(
                    "every part done or dropped ({}/{} done), every Goal bullet ticked, no two parts changed one file, every report and commit as accepted: answered in inbox/walt/done/{name}",
                    run.done(),
                    run.parts.len()
                ))
        } else {
            Record::new("plan.escalated")
                .level(Level::Warn)
                .order(id)
                .agent(&answer_to)
                .state(State::New)
                .path(name.clone())
                .reason(format!(
                    "plan {id} is {status}: {}; its answer is in inbox/human/new/{name}",
                    failures.join("; ")
                ))
        };
        effects.push(Effect::Record(
            self.stamp(
                record
                    .with("kind", "plan")
                    .with("status", status)
                    .with("answer", name)
                    .with("spent", run.spent())
                    .request(Folder::Done, run.name.clone()),
            ),
        ));
        effects
    }
}
