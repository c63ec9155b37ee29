//! `walt lint`: one file's bytes → the diagnostics a person reads. The same parser the daemon
//! uses decides; this module only chooses the kind and renders.

use crate::format::diagnostic::{self, Diagnostic};
use crate::format::parse::{self, Author, Context, Doc};
use crate::model::order::AgentName;

/// What a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Order,
    Report,
    Plan,
    Config,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Order => "work order",
            Kind::Report => "report",
            Kind::Plan => "plan",
            Kind::Config => "config",
        }
    }
}

pub struct Linted {
    pub kind: Kind,
    pub diagnostics: Vec<Diagnostic>,
    /// The text as decoded, for quoting lines.
    pub text: String,
}

/// Lints one file. A `.toml` file is checked as a studio config; anything else is a work order
/// or a report, whichever it looks like.
pub fn lint(name: &str, bytes: &[u8], agents: Option<&[AgentName]>) -> Linted {
    let (text, _) = parse::decode(bytes);
    if name.ends_with(".toml") {
        let diagnostics = match crate::format::config::parse(&text) {
            Ok(cfg) => cfg.warnings,
            Err(d) => d,
        };
        return Linted {
            kind: Kind::Config,
            diagnostics,
            text,
        };
    }
    let ctx = Context {
        agents,
        author: Author::Person,
    };
    if parse::looks_like_plan(&text) {
        return Linted {
            kind: Kind::Plan,
            diagnostics: parse::parse_plan(bytes, ctx).diagnostics,
            text,
        };
    }
    let parsed = parse::parse_any(bytes, ctx);
    let kind = match parsed.value {
        Doc::Order(_) => Kind::Order,
        Doc::Report(_) => Kind::Report,
    };
    Linted {
        kind,
        diagnostics: parsed.diagnostics,
        text,
    }
}

/// Lints a document as the kind it is meant to be (the MCP server's `lint`, told which).
pub fn lint_as(kind: Kind, bytes: &[u8], agents: Option<&[AgentName]>) -> Linted {
    let (text, _) = parse::decode(bytes);
    let ctx = Context {
        agents,
        author: Author::Person,
    };
    let diagnostics = match kind {
        Kind::Report => parse::parse_report(bytes, ctx).diagnostics,
        Kind::Plan => parse::parse_plan(bytes, ctx).diagnostics,
        _ => parse::parse_order(bytes, ctx).diagnostics,
    };
    Linted {
        kind,
        diagnostics,
        text,
    }
}

/// The text `walt lint` prints for one file.
pub fn render(name: &str, linted: &Linted) -> String {
    if linted.diagnostics.is_empty() {
        return format!("{name}: ok ({})\n", linted.kind.as_str());
    }
    let mut out = diagnostic::render(name, &linted.text, &linted.diagnostics);
    out.push_str(&format!(
        "{name}: {} ({})\n",
        diagnostic::summary(&linted.diagnostics),
        linted.kind.as_str()
    ));
    out
}

/// `walt lint FILE…`: every file's diagnostics on stdout; the answer is no when any has errors.
pub fn command(
    cli_root: &Option<std::path::PathBuf>,
    files: &[std::path::PathBuf],
) -> crate::cmd::Result {
    let cfg = optional_config(cli_root)?;
    let agents: Option<Vec<AgentName>> = cfg.map(|c| c.agent_names());
    let mut failed = false;
    for file in files {
        let name = crate::cmd::display(file);
        let bytes = match crate::cmd::read_limited(file) {
            Ok(b) => b,
            Err(e) => {
                println!("{name}: error: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        let mut linted = lint(&name, &bytes, agents.as_deref());
        if linted.kind == Kind::Config && !diagnostic::has_errors(&linted.diagnostics) {
            // Against the world: programs that can be run, profiles that stay out of the studio.
            if let Ok(cfg) = crate::format::config::parse(&linted.text) {
                let studio = studio_of(file, cli_root);
                linted.diagnostics.extend(
                    crate::daemon::runner::profile::check(&cfg, &studio)
                        .into_iter()
                        .map(|f| f.diagnostic),
                );
                linted.diagnostics.sort_by_key(|d| (d.line, d.col));
            }
        }
        failed |= diagnostic::has_errors(&linted.diagnostics);
        print!("{}", render(&name, &linted));
    }
    if failed {
        Err(crate::cmd::Error::Said)
    } else {
        Ok(())
    }
}

/// The studio a config file belongs to: the folder above `config/` when the file is in one,
/// else the studio the command line names (or the current folder).
fn studio_of(file: &std::path::Path, cli_root: &Option<std::path::PathBuf>) -> std::path::PathBuf {
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    match abs.parent() {
        Some(dir) if dir.file_name().is_some_and(|n| n == "config") => dir
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
        _ => crate::cmd::root_path(cli_root),
    }
}

/// The studio config for checking agents' names, when there is one: `None` when the current
/// folder is no studio and none was asked for explicitly.
fn optional_config(
    cli_root: &Option<std::path::PathBuf>,
) -> crate::cmd::Result<Option<crate::format::config::Config>> {
    use crate::cmd::Error;
    use crate::inbox::studio::CONFIG;
    let path = crate::cmd::root_path(cli_root).join(CONFIG);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            match crate::format::config::parse(&text) {
                Ok(c) => Ok(Some(c)),
                Err(d) => {
                    eprint!(
                        "{}",
                        diagnostic::render(&path.display().to_string(), &text, &d)
                    );
                    Err(Error::Studio(format!(
                        "the studio config is invalid; fix it (walt lint {} shows the same)",
                        path.display()
                    )))
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && cli_root.is_none() => Ok(None),
        Err(e) => Err(Error::Studio(format!(
            "cannot read {}: {e}; is --root a studio? (walt init DIR makes one)",
            path.display()
        ))),
    }
}
