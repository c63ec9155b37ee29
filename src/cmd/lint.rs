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
    Config,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Order => "work order",
            Kind::Report => "report",
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
            Ok(_) => Vec::new(),
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
