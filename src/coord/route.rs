//! Routing: which agent an order goes to, by which rule, and why, as plain values.
//!
//! `to:` if given; else the agent owning most of the order's Files (each file's owner is the
//! last `owns` rule that matches it, across agents in the order the config lists them; ties go
//! to the agent listed first); else the agent whose keywords the Objective names most; else a
//! person, with the reason "no handler". A `to:` that the ownership rules contradict needs
//! `override: <reason>`.

use crate::format::config::Config;
use crate::model::order::{AgentName, WorkOrder, HUMAN, WALT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    To,
    Override,
    Owns,
    Keywords,
    NoHandler,
    /// A language-model brain decided.
    Brain,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::To => "to",
            Rule::Override => "override",
            Rule::Owns => "owns",
            Rule::Keywords => "keywords",
            Rule::NoHandler => "no-handler",
            Rule::Brain => "brain",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub agent: AgentName,
    pub rule: Rule,
    pub reason: String,
    /// Every agent considered, with what it had for it.
    pub candidates: Vec<String>,
}

/// Why an order cannot be routed as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `to:` contradicts ownership and gives no `override:` (signal *override*).
    OverrideNeeded {
        to: AgentName,
        owner: AgentName,
        reason: String,
    },
    /// `to: walt`: the coordinator never takes work itself.
    ToWalt,
    /// `to:` names no agent of this studio.
    UnknownAgent(AgentName),
}

impl Refusal {
    pub fn describe(&self) -> String {
        match self {
            Refusal::OverrideNeeded { to, owner, reason } => format!(
                "`to: {to}` goes against the ownership rules ({reason}, so it belongs to {owner}); add `override: <why>` to the front matter, or send it to {owner}"
            ),
            Refusal::ToWalt => "`to: walt`: Walt routes work and never does it; name the specialist who should".into(),
            Refusal::UnknownAgent(a) => format!("`to: {a}` is not an agent of this studio"),
        }
    }

    pub fn signal(&self) -> Option<&'static str> {
        matches!(self, Refusal::OverrideNeeded { .. }).then_some("override")
    }
}

/// Each file's owner: the last matching `owns` rule over all agents in config order.
pub fn owner_of<'c>(cfg: &'c Config, path: &str) -> Option<(&'c AgentName, &'c str)> {
    let mut owner = None;
    for agent in &cfg.agents {
        for rule in &agent.owns {
            if rule.matcher.is_match(path) {
                owner = Some((&agent.name, rule.glob.as_str()));
            }
        }
    }
    owner
}

/// The ownership verdict: the agent owning most Files (ties to the first listed), with counts.
fn by_ownership(
    cfg: &Config,
    order: &WorkOrder,
) -> (Option<(AgentName, usize)>, Vec<String>, String) {
    let mut counts: Vec<(usize, Vec<String>)> = vec![(0, Vec::new()); cfg.agents.len()];
    for f in &order.files {
        if let Some((name, glob)) = owner_of(cfg, f) {
            let idx = cfg
                .agents
                .iter()
                .position(|a| &a.name == name)
                .expect("owner is an agent");
            counts[idx].0 += 1;
            counts[idx].1.push(format!("{f} ({glob})"));
        }
    }
    let mut best: Option<(usize, usize)> = None;
    for (i, (n, _)) in counts.iter().enumerate() {
        if *n > 0 && best.is_none_or(|(_, b)| *n > b) {
            best = Some((i, *n));
        }
    }
    let candidates = cfg
        .agents
        .iter()
        .zip(&counts)
        .filter(|(_, (n, _))| *n > 0)
        .map(|(a, (n, files))| {
            format!(
                "{}: owns {n} of {} files: {}",
                a.name,
                order.files.len(),
                files.join(", ")
            )
        })
        .collect();
    let detail = best
        .map(|(i, n)| {
            format!(
                "{} owns {n} of {} files ({})",
                cfg.agents[i].name,
                order.files.len(),
                counts[i].1.join(", ")
            )
        })
        .unwrap_or_default();
    (
        best.map(|(i, n)| (cfg.agents[i].name.clone(), n)),
        candidates,
        detail,
    )
}

/// How many of an agent's keywords the text names, as whole words.
fn keyword_hits(text: &str, keywords: &[String]) -> Vec<String> {
    let lower = text.to_lowercase();
    keywords
        .iter()
        .filter(|k| {
            !k.is_empty()
                && lower.match_indices(k.as_str()).any(|(at, _)| {
                    let before = lower[..at].chars().next_back();
                    let after = lower[at + k.len()..].chars().next();
                    !before.is_some_and(char::is_alphanumeric)
                        && !after.is_some_and(char::is_alphanumeric)
                })
        })
        .cloned()
        .collect()
}

pub fn route(cfg: &Config, order: &WorkOrder) -> Result<Decision, Refusal> {
    let (owner, own_candidates, own_detail) = by_ownership(cfg, order);
    if let Some(to) = &order.header.to {
        if to.as_str() == WALT {
            return Err(Refusal::ToWalt);
        }
        if to.as_str() != HUMAN && cfg.agent(to.as_str()).is_none() {
            return Err(Refusal::UnknownAgent(to.clone()));
        }
        let mut candidates = vec![format!("{to}: named by `to:`")];
        candidates.extend(own_candidates);
        return match owner {
            Some((owner, _)) if &owner != to => match &order.header.override_reason {
                Some(why) if !why.trim().is_empty() => Ok(Decision {
                    agent: to.clone(),
                    rule: Rule::Override,
                    reason: format!(
                        "`to: {to}` overrides ownership ({own_detail}): {}",
                        why.trim()
                    ),
                    candidates,
                }),
                _ => Err(Refusal::OverrideNeeded {
                    to: to.clone(),
                    owner,
                    reason: own_detail,
                }),
            },
            _ => Ok(Decision {
                agent: to.clone(),
                rule: Rule::To,
                reason: format!("the request names `to: {to}`"),
                candidates,
            }),
        };
    }
    if let Some((agent, _)) = owner {
        return Ok(Decision {
            agent,
            rule: Rule::Owns,
            reason: own_detail,
            candidates: own_candidates,
        });
    }
    let mut best: Option<(usize, Vec<String>)> = None;
    let mut candidates = Vec::new();
    for (i, a) in cfg.agents.iter().enumerate() {
        let hits = keyword_hits(&order.objective, &a.keywords);
        if !hits.is_empty() {
            candidates.push(format!("{}: keywords {}", a.name, hits.join(", ")));
            if best.as_ref().is_none_or(|(_, b)| hits.len() > b.len()) {
                best = Some((i, hits));
            }
        }
    }
    if let Some((i, hits)) = best {
        return Ok(Decision {
            agent: cfg.agents[i].name.clone(),
            rule: Rule::Keywords,
            reason: format!(
                "no agent owns its Files; the Objective names {}'s keyword{} {}",
                cfg.agents[i].name,
                if hits.len() == 1 { "" } else { "s" },
                hits.join(", ")
            ),
            candidates,
        });
    }
    Ok(Decision {
        agent: AgentName::human(),
        rule: Rule::NoHandler,
        reason: "no handler: no agent owns its Files and no agent's keywords are in its Objective"
            .into(),
        candidates: Vec::new(),
    })
}
