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
    pub brain_command: Vec<String>,
    pub brain_timeout: Duration,
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
            brain_command: Vec::new(),
            brain_timeout: Duration::from_secs(60),
            ignore: vec![".git".into(), "target".into(), "node_modules".into()],
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
    pub timeout: Duration,
    pub unconfined: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub walt: WaltSettings,
    /// In the order the file lists them: ties in routing go to the agent listed first.
    pub agents: Vec<Agent>,
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
    ignore: Option<Vec<String>>,
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
    #[serde(default)]
    unconfined: bool,
}

const WALT_KEYS: [&str; 8] = [
    "ignore",
    "encoding",
    "rotate_at",
    "ceiling",
    "max_hops",
    "brain",
    "brain_command",
    "brain_timeout",
];
const AGENT_KEYS: [&str; 9] = [
    "role",
    "owns",
    "keywords",
    "attempts",
    "fallback",
    "lease",
    "command",
    "timeout",
    "unconfined",
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
    if let Some(w) = raw.walt {
        if let Some(e) = w.encoding {
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
        if let Some(cmd) = &w.brain_command {
            walt.brain_command = cmd.get_ref().clone();
        }
        if walt.brain == Brain::Command && walt.brain_command.is_empty() {
            let span = w.brain.as_ref().map(|s| s.span()).unwrap_or(0..0);
            let (l, c) = at(span);
            diags.push(
                Diagnostic::error(l, c, "[walt] brain = \"command\" needs brain_command")
                    .help("e.g. brain_command = [\"contrib/brain.sh\"]"),
            );
        }
        if let Some(i) = w.ignore {
            walt.ignore = i;
        }
        if let Some(t) = &w.brain_timeout {
            match duration(t.get_ref()) {
                Ok(d) => walt.brain_timeout = d,
                Err(e) => {
                    let (l, c) = at(t.span());
                    diags.push(Diagnostic::error(
                        l,
                        c,
                        format!("[walt] brain_timeout: {e}"),
                    ));
                }
            }
        }
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
        let command = match raw_agent.command {
            Some(c) if c.get_ref().is_empty() => {
                let (l, col) = at(c.span());
                diags.push(
                    Diagnostic::error(l, col, format!("{}: an empty command", key("command")))
                        .help("name a program, or leave `command` out for a manual agent"),
                );
                None
            }
            Some(c) => Some(c.into_inner()),
            None => None,
        };
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
            timeout,
            unconfined: raw_agent.unconfined,
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
        Ok(Config { walt, agents })
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

/// The commented sample config `walt init` writes; the repository's own `config/walt.toml`
/// is this text too.
pub const SAMPLE: &str = r#"# walt.toml: the studio's configuration. `walt lint` and the daemon read it;
# unknown keys and bad values are errors that name their line.
#
# Two inboxes are the studio's own and need no section here:
#   inbox/walt/   Walt, the coordinator: requests and specialists' reports arrive here.
#   inbox/human/  a person: escalations land here when nothing automatic is right.

[walt]
encoding = "o200k_base"    # tokenizer for Walt's hot context: o200k_base or cl100k_base
rotate_at = 6000           # hot tokens: rotate Walt's working context before passing this
ceiling = 7000             # hot tokens: never passed (new requests wait instead)
max_hops = 3               # reroutes of one order before a person decides
brain = "rules"            # "rules" (built in) or "command" (a model CLI, see brain_command)
brain_command = []         # with brain = "command": the program and its arguments
brain_timeout = "60s"
ignore = [".git", "target", "node_modules"]   # folders under repos/ whose changes are not watched

# A specialist. `owns` globs route an order by its Files (last matching rule wins; `*` does
# not cross `/`); `keywords` route by the Objective when no file is owned.
[agents.chip]
role = "Writes and changes code."
owns = ["repos/**/*.rs", "repos/**/*.sql"]
keywords = ["implement", "fix", "migrate", "index"]
attempts = 2               # tries before reassigning or escalating
fallback = []              # agents to reassign to when attempts run out
lease = "30m"              # a claimed order untouched this long is stalled
# command = ["../contrib/chip-agent.sh"]  # uncomment to let the daemon run chip as a command agent;
#                                         # it runs in repos/, confined by Landlock
# timeout = "20m"                         # a command agent is killed after this
# unconfined = false                      # true only where Landlock is unavailable

[agents.rex]
role = "Audits changes."
keywords = ["audit", "review"]
attempts = 1
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Vec<Diagnostic> {
        parse(text).expect_err("should not load")
    }

    #[test]
    fn the_sample_loads() {
        let c = parse(SAMPLE).unwrap();
        assert_eq!(c.agents.len(), 2);
        assert_eq!(c.agents[0].name.as_str(), "chip");
        assert_eq!(c.walt.ceiling, 7000);
        assert_eq!(c.agents[0].lease, Duration::from_secs(1800));
    }

    #[test]
    fn unknown_keys_name_line_and_nearest_key() {
        let d = err("[walt]\nceilng = 7000\n");
        assert_eq!(d[0].line, 2);
        assert!(d[0].message.contains("ceilng"), "{:?}", d);
        assert_eq!(d[0].help.as_deref(), Some("did you mean `ceiling`?"));
        let d = err("[agents.chip]\nrole = \"x\"\nowner = []\n");
        assert_eq!(d[0].line, 3);
        assert_eq!(d[0].help.as_deref(), Some("did you mean `owns`?"));
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let cases: &[(&str, usize, &str)] = &[
            ("[agents.Chip]\nrole = \"x\"\n", 1, "not an agent name"),
            ("[agents.human]\n", 1, "reserved"),
            ("[agents.walt]\n", 1, "reserved"),
            (
                "[walt]\nrotate_at = 8000\nceiling = 7000\n",
                2,
                "rotate_at (8000) is above ceiling",
            ),
            ("[agents.chip]\nlease = \"soon\"\n", 2, "lease"),
            (
                "[agents.chip]\nowns = [\"repos/[a\"]\n",
                2,
                "does not compile",
            ),
            (
                "[agents.chip]\nfallback = [\"bob\"]\n",
                2,
                "`bob` is not an agent",
            ),
            ("[walt]\nencoding = \"gpt2\"\n", 2, "encoding"),
            ("[walt]\nbrain = \"command\"\n", 2, "brain_command"),
            ("[agents.chip]\ncommand = []\n", 2, "empty command"),
            ("[walt]\nceiling = \"big\"\n", 2, "invalid type"),
        ];
        for (text, line, needle) in cases {
            let d = err(text);
            assert!(
                d.iter()
                    .any(|d| d.line == *line && d.message.contains(needle)),
                "{text:?}: {d:?}"
            );
        }
    }

    #[test]
    fn owns_globs_do_not_cross_separators() {
        let c = parse("[agents.chip]\nowns = [\"repos/*.rs\"]\n").unwrap();
        let m = &c.agents[0].owns[0].matcher;
        assert!(m.is_match("repos/a.rs"));
        assert!(!m.is_match("repos/x/a.rs"));
    }
}
