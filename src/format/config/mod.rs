//! `config/walt.toml` → a validated `Config`, or every problem with its line and key.
//!
//! Loading is two steps (ripgrep's low/high args): serde reads the text into raw, spanned
//! values with unknown keys refused, then `validate` turns them into a `Config` whose values are
//! known good (agent names checked, globs compiled, durations parsed). Reading the file is the
//! caller's business, so this module is pure and the coordinator may hold a `Config`.

use std::time::Duration;

use globset::{Glob, GlobMatcher};
use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::format::diagnostic::Diagnostic;
use crate::model::order::AgentName;

mod profile;
mod sample;

pub use profile::{Profile, Spot, DEFAULT_LOG_LIMIT};
pub use sample::SAMPLE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    O200kBase,
    Cl100kBase,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Brain {
    Rules,
    Command,
}

#[derive(Debug, Clone)]
pub struct WaltSettings {
    pub encoding: Encoding,
    pub rotate_at: u32,
    pub ceiling: u32,
    pub max_hops: u32,
    pub brain: Brain,
    /// Commit each accepted order's changes in its git repository (SPEC §6.4).
    pub commit: bool,
    /// Folder names under `repos/` whose changes are not watched (`.git`, `target`, …).
    pub ignore: Vec<String>,
}

impl Default for WaltSettings {
    fn default() -> Self {
        WaltSettings {
            encoding: Encoding::O200kBase,
            rotate_at: 6000,
            ceiling: 7000,
            max_hops: 3,
            brain: Brain::Rules,
            commit: true,
            ignore: vec![".git".into(), "target".into(), "node_modules".into()],
        }
    }
}

/// `[brain]`: the program asked with `brain = "command"`, and its run profile.
#[derive(Debug, Clone)]
pub struct BrainSettings {
    pub command: Vec<String>,
    /// The line `command` is on (0 when not written), for saying where a program was looked for.
    pub line: usize,
    pub timeout: Duration,
    pub profile: Profile,
}

impl Default for BrainSettings {
    fn default() -> Self {
        BrainSettings {
            command: Vec::new(),
            line: 0,
            timeout: Duration::from_secs(60),
            profile: Profile::default(),
        }
    }
}

/// One `owns` rule: the glob as written and its compiled matcher (`*` never crosses `/`).
#[derive(Debug, Clone)]
pub struct OwnsRule {
    pub glob: String,
    pub matcher: GlobMatcher,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub name: AgentName,
    pub role: String,
    pub owns: Vec<OwnsRule>,
    pub keywords: Vec<String>,
    pub attempts: u32,
    pub fallback: Vec<AgentName>,
    pub lease: Duration,
    pub command: Option<Vec<String>>,
    /// The line `command` is on, for saying where its program was looked for.
    pub command_line: usize,
    pub timeout: Duration,
    /// A run with no output for this long is shown as quiet.
    pub quiet: Duration,
    /// The wait after a failed run before the next (doubling, at most ten minutes).
    pub backoff: Duration,
    pub unconfined: bool,
    pub profile: Profile,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub walt: WaltSettings,
    /// In the order the file lists them: ties in routing go to the agent listed first.
    pub agents: Vec<Agent>,
    pub brain: BrainSettings,
    /// What loads but should change (an earlier form of a key).
    pub warnings: Vec<Diagnostic>,
}

impl Config {
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.name.as_str() == name)
    }

    pub fn agent_names(&self) -> Vec<AgentName> {
        self.agents.iter().map(|a| a.name.clone()).collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    walt: Option<RawWalt>,
    brain: Option<RawBrain>,
    #[serde(default)]
    agents: IndexMap<Spanned<String>, Spanned<RawAgent>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWalt {
    encoding: Option<Spanned<String>>,
    rotate_at: Option<Spanned<i64>>,
    ceiling: Option<Spanned<i64>>,
    max_hops: Option<Spanned<i64>>,
    brain: Option<Spanned<String>>,
    brain_command: Option<Spanned<Vec<String>>>,
    brain_timeout: Option<Spanned<String>>,
    commit: Option<bool>,
    ignore: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBrain {
    command: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    read: Vec<Spanned<String>>,
    #[serde(default)]
    write: Vec<Spanned<String>>,
    #[serde(default)]
    env: Vec<Spanned<String>>,
    network: Option<bool>,
    log_limit: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    role: Option<Spanned<String>>,
    #[serde(default)]
    owns: Vec<Spanned<String>>,
    #[serde(default)]
    keywords: Vec<Spanned<String>>,
    attempts: Option<Spanned<i64>>,
    #[serde(default)]
    fallback: Vec<Spanned<String>>,
    lease: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<String>>,
    quiet: Option<Spanned<String>>,
    backoff: Option<Spanned<String>>,
    #[serde(default)]
    unconfined: bool,
    #[serde(default)]
    read: Vec<Spanned<String>>,
    #[serde(default)]
    write: Vec<Spanned<String>>,
    #[serde(default)]
    env: Vec<Spanned<String>>,
    network: Option<bool>,
    log_limit: Option<Spanned<String>>,
}

const WALT_KEYS: [&str; 9] = [
    "ignore",
    "commit",
    "encoding",
    "rotate_at",
    "ceiling",
    "max_hops",
    "brain",
    "brain_command",
    "brain_timeout",
];
const BRAIN_KEYS: [&str; 7] = [
    "command",
    "timeout",
    "read",
    "write",
    "env",
    "network",
    "log_limit",
];
const AGENT_KEYS: [&str; 16] = [
    "backoff",
    "role",
    "owns",
    "keywords",
    "attempts",
    "fallback",
    "lease",
    "command",
    "timeout",
    "quiet",
    "unconfined",
    "read",
    "write",
    "env",
    "network",
    "log_limit",
];

/// (line, column), both 1-based, of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// Parses and validates the text of `walt.toml`. On failure, every problem found, each naming
/// its line and key.
pub fn parse(text: &str) -> Result<Config, Vec<Diagnostic>> {
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (line, col) = e.span().map_or((0, 1), |s| position(text, s.start));
            let message = e.message().trim().to_string();
            let mut d = Diagnostic::error(line, col, message.clone());
            if let Some(field) = message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split('`').next())
            {
                let known: &[&str] = if message.contains("ceiling") {
                    &WALT_KEYS
                } else if message.contains("attempts") {
                    &AGENT_KEYS
                } else if message.contains("log_limit") {
                    &BRAIN_KEYS
                } else {
                    &["walt", "agents"]
                };
                let best = known
                    .iter()
                    .min_by_key(|k| strsim::levenshtein(field, k))
                    .copied()
                    .unwrap_or("walt");
                d = d.help(format!("did you mean `{best}`?"));
            }
            return Err(vec![d]);
        }
    };
    let mut diags = Vec::new();
    let at = |span: std::ops::Range<usize>| position(text, span.start);
    let mut walt = WaltSettings::default();
    let mut brain = BrainSettings::default();
    let mut warnings = Vec::new();
    let brain_span = raw
        .walt
        .as_ref()
        .and_then(|w| w.brain.as_ref())
        .map(|b| b.span());
    if let Some(w) = &raw.walt {
        if let Some(e) = &w.encoding {
            walt.encoding = match e.get_ref().as_str() {
                "o200k_base" => Encoding::O200kBase,
                "cl100k_base" => Encoding::Cl100kBase,
                other => {
                    let (l, c) = at(e.span());
                    diags.push(
                        Diagnostic::error(
                            l,
                            c,
                            format!("[walt] encoding: `{other}` is not a known encoding"),
                        )
                        .help("use \"o200k_base\" or \"cl100k_base\""),
                    );
                    walt.encoding
                }
            };
        }
        let mut number =
            |v: &Option<Spanned<i64>>, key: &str, min: i64, max: i64, slot: &mut u32| {
                if let Some(v) = v {
                    let n = *v.get_ref();
                    if n < min || n > max {
                        let (l, c) = at(v.span());
                        diags.push(Diagnostic::error(
                            l,
                            c,
                            format!("[walt] {key}: {n} is out of range ({min} to {max})"),
                        ));
                    } else {
                        *slot = n as u32;
                    }
                }
            };
        number(
            &w.rotate_at,
            "rotate_at",
            100,
            1_000_000,
            &mut walt.rotate_at,
        );
        number(&w.ceiling, "ceiling", 100, 1_000_000, &mut walt.ceiling);
        number(&w.max_hops, "max_hops", 0, 100, &mut walt.max_hops);
        if walt.rotate_at > walt.ceiling {
            let span = w
                .rotate_at
                .as_ref()
                .map(|s| s.span())
                .or(w.ceiling.as_ref().map(|s| s.span()))
                .unwrap_or(0..0);
            let (l, c) = at(span);
            diags.push(
                Diagnostic::error(
                    l,
                    c,
                    format!(
                        "[walt] rotate_at ({}) is above ceiling ({})",
                        walt.rotate_at, walt.ceiling
                    ),
                )
                .help("Walt rotates before the ceiling: rotate_at must be at most ceiling"),
            );
        }
        if let Some(b) = &w.brain {
            walt.brain = match b.get_ref().as_str() {
                "rules" => Brain::Rules,
                "command" => Brain::Command,
                other => {
                    let (l, c) = at(b.span());
                    diags.push(
                        Diagnostic::error(l, c, format!("[walt] brain: `{other}` is not a brain"))
                            .help("use \"rules\" or \"command\""),
                    );
                    Brain::Rules
                }
            };
        }
        // The earlier form of `[brain]`: loads, with a warning naming the new place.
        if let Some(cmd) = &w.brain_command {
            let (l, c) = at(cmd.span());
            if raw.brain.as_ref().is_some_and(|b| b.command.is_some()) {
                diags.push(
                    Diagnostic::error(
                        l,
                        c,
                        "[walt] brain_command: the brain's command is also set in [brain]",
                    )
                    .help("keep `command` in [brain] and remove brain_command"),
                );
            } else if !cmd.get_ref().is_empty() {
                warnings.push(
                    Diagnostic::warning(
                        l,
                        c,
                        "[walt] brain_command is the earlier form of [brain] command",
                    )
                    .help("move it: [brain]\ncommand = [...]"),
                );
            }
            if !cmd.get_ref().is_empty() {
                brain.command = cmd.get_ref().clone();
                brain.line = l;
            }
        }
        if let Some(t) = &w.brain_timeout {
            let (l, c) = at(t.span());
            warnings.push(
                Diagnostic::warning(
                    l,
                    c,
                    "[walt] brain_timeout is the earlier form of [brain] timeout",
                )
                .help("move it: [brain]\ntimeout = \"60s\""),
            );
            match duration(t.get_ref()) {
                Ok(d) => brain.timeout = d,
                Err(e) => diags.push(Diagnostic::error(
                    l,
                    c,
                    format!("[walt] brain_timeout: {e}"),
                )),
            }
        }
        if let Some(i) = &w.ignore {
            walt.ignore = i.clone();
        }
        if let Some(commit) = w.commit {
            walt.commit = commit;
        }
    }
    if let Some(b) = raw.brain {
        if let Some(cmd) = b.command {
            let (l, c) = at(cmd.span());
            if cmd.get_ref().is_empty() {
                diags.push(Diagnostic::error(l, c, "[brain] command: an empty command")
                    .help("name the program and its arguments, e.g. command = [\"contrib/agents/claude-brain.sh\"]"));
            } else {
                brain.command = cmd.into_inner();
                brain.line = l;
            }
        }
        if let Some(t) = &b.timeout {
            match duration(t.get_ref()) {
                Ok(d) => brain.timeout = d,
                Err(e) => {
                    let (l, c) = at(t.span());
                    diags.push(Diagnostic::error(l, c, format!("[brain] timeout: {e}")));
                }
            }
        }
        let raw_profile = profile::RawProfile {
            read: b.read,
            write: b.write,
            env: b.env,
            network: b.network,
            log_limit: b.log_limit,
        };
        brain.profile = profile::validate(raw_profile, "[brain]", &at, &mut diags);
    }
    if walt.brain == Brain::Command && brain.command.is_empty() {
        let span = brain_span.unwrap_or(0..0);
        let (l, c) = at(span);
        diags.push(
            Diagnostic::error(l, c, "[walt] brain = \"command\" needs a [brain] command")
                .help("e.g. [brain]\ncommand = [\"contrib/brain.sh\"]"),
        );
    }

    let mut agents: Vec<Agent> = Vec::new();
    let mut pending_fallbacks: Vec<(usize, Vec<Spanned<String>>)> = Vec::new();
    for (name, raw_agent) in raw.agents {
        let (l, c) = at(name.span());
        let name_text = name.get_ref();
        let agent_name = match AgentName::new(name_text) {
            Ok(n) if n.is_reserved() => {
                diags.push(
                    Diagnostic::error(
                        l,
                        c,
                        format!("[agents.{name_text}]: `{name_text}` is reserved"),
                    )
                    .help("`walt` and `human` are the studio's own inboxes; pick another name"),
                );
                continue;
            }
            Ok(n) => n,
            Err(e) => {
                diags.push(Diagnostic::error(l, c, format!("[agents]: {e}")));
                continue;
            }
        };
        let raw_agent = raw_agent.into_inner();
        let key = |k: &str| format!("[agents.{name_text}] {k}");
        let mut owns = Vec::new();
        for g in &raw_agent.owns {
            match Glob::new(g.get_ref()) {
                Ok(glob) if !g.get_ref().is_empty() => owns.push(OwnsRule {
                    glob: g.get_ref().clone(),
                    matcher: globset::GlobBuilder::new(glob.glob())
                        .literal_separator(true)
                        .build()
                        .map(|g| g.compile_matcher())
                        .unwrap_or_else(|_| glob.compile_matcher()),
                }),
                Ok(_) => {
                    let (l, c) = at(g.span());
                    diags.push(Diagnostic::error(
                        l,
                        c,
                        format!("{}: an empty glob", key("owns")),
                    ));
                }
                Err(e) => {
                    let (l, c) = at(g.span());
                    diags.push(Diagnostic::error(
                        l,
                        c,
                        format!(
                            "{}: `{}` does not compile: {}",
                            key("owns"),
                            g.get_ref(),
                            e.kind()
                        ),
                    ));
                }
            }
        }
        let mut attempts = 2;
        if let Some(a) = &raw_agent.attempts {
            let n = *a.get_ref();
            if !(1..=100).contains(&n) {
                let (l, c) = at(a.span());
                diags.push(Diagnostic::error(
                    l,
                    c,
                    format!("{}: {n} is out of range (1 to 100)", key("attempts")),
                ));
            } else {
                attempts = n as u32;
            }
        }
        let mut dur = |v: &Option<Spanned<String>>, k: &str, default: Duration| match v {
            None => default,
            Some(s) => match duration(s.get_ref()) {
                Ok(d) => d,
                Err(e) => {
                    let (l, c) = at(s.span());
                    diags.push(Diagnostic::error(l, c, format!("{}: {e}", key(k))));
                    default
                }
            },
        };
        let lease = dur(&raw_agent.lease, "lease", Duration::from_secs(30 * 60));
        let timeout = dur(&raw_agent.timeout, "timeout", Duration::from_secs(20 * 60));
        let quiet = dur(&raw_agent.quiet, "quiet", Duration::from_secs(5 * 60));
        let backoff = dur(&raw_agent.backoff, "backoff", Duration::from_secs(10));
        let mut command_line = 0;
        let command = match raw_agent.command {
            Some(c) if c.get_ref().is_empty() => {
                let (l, col) = at(c.span());
                diags.push(
                    Diagnostic::error(l, col, format!("{}: an empty command", key("command")))
                        .help("name a program, or leave `command` out for a manual agent"),
                );
                None
            }
            Some(c) => {
                command_line = at(c.span()).0;
                Some(c.into_inner())
            }
            None => None,
        };
        let raw_profile = profile::RawProfile {
            read: raw_agent.read,
            write: raw_agent.write,
            env: raw_agent.env,
            network: raw_agent.network,
            log_limit: raw_agent.log_limit,
        };
        let profile = profile::validate(
            raw_profile,
            &format!("[agents.{name_text}]"),
            &at,
            &mut diags,
        );
        pending_fallbacks.push((agents.len(), raw_agent.fallback));
        agents.push(Agent {
            name: agent_name,
            role: raw_agent.role.map(Spanned::into_inner).unwrap_or_default(),
            owns,
            keywords: raw_agent
                .keywords
                .into_iter()
                .map(|k| k.into_inner().to_lowercase())
                .collect(),
            attempts,
            fallback: Vec::new(),
            lease,
            command,
            command_line,
            timeout,
            quiet,
            backoff,
            unconfined: raw_agent.unconfined,
            profile,
        });
    }
    let names: Vec<AgentName> = agents.iter().map(|a| a.name.clone()).collect();
    for (idx, fallbacks) in pending_fallbacks {
        for f in fallbacks {
            let (l, c) = at(f.span());
            let owner = agents[idx].name.clone();
            match AgentName::new(f.get_ref()) {
                Ok(n) if names.contains(&n) && n != owner => agents[idx].fallback.push(n),
                Ok(n) if n == owner => diags.push(Diagnostic::error(
                    l,
                    c,
                    format!("[agents.{owner}] fallback: `{n}` cannot fall back to itself"),
                )),
                _ => diags.push(
                    Diagnostic::error(
                        l,
                        c,
                        format!(
                            "[agents.{owner}] fallback: `{}` is not an agent of this studio",
                            f.get_ref().escape_debug()
                        ),
                    )
                    .help(format!(
                        "the agents are {}",
                        names
                            .iter()
                            .map(AgentName::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ),
            }
        }
    }
    if diags.is_empty() {
        Ok(Config {
            walt,
            agents,
            brain,
            warnings,
        })
    } else {
        diags.sort_by_key(|d| (d.line, d.col));
        Err(diags)
    }
}

/// `30m`, `20s`, `1h 30m`: humantime's forms, and never zero.
pub fn duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!("`{text}` is zero; give a positive duration")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "`{}` is not a duration ({e}); write e.g. \"30s\", \"20m\", \"2h\"",
            text.escape_debug()
        )),
    }
}

#[cfg(test)]
mod tests;
