//! Markdown work orders and reports → values plus every diagnostic, by one parser.
//!
//! Parsing never fails and never stops at the first problem: it returns what it could read and
//! a list of diagnostics, each with its line and column (rust-analyzer's rule). `walt lint`, the
//! daemon's intake and the review of Walt's own output all call these same functions, so a file
//! that lints clean is a file the daemon takes.

use crate::format::diagnostic::{has_errors, Diagnostic};
use crate::model::order::{AgentName, Report, WorkOrder};

mod order;
mod plan;
mod render;
mod report;
mod scan;

pub use order::{check_path, parse_order};
pub use plan::{looks_like_plan, parse_plan, Part, Plan};
pub use render::{render_order, render_report};
pub use report::parse_report;
use scan::*;

/// The largest work order or report the studio takes.
pub const MAX_BYTES: usize = 64 * 1024;

/// Who wrote the text: a fenced code block is a warning in a person's order and an error in
/// anything Walt authors (a work order carries intent, not artifacts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Person,
    Walt,
}

/// What the parser may check beyond the text itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The studio's configured agents, when known; `route-to-<agent>` and `to:` are checked
    /// against them.
    pub agents: Option<&'a [AgentName]>,
    pub author: Author,
}

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            agents: None,
            author: Author::Person,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Parsed<T> {
    pub value: T,
    pub diagnostics: Vec<Diagnostic>,
}

impl<T> Parsed<T> {
    pub fn is_ok(&self) -> bool {
        !has_errors(&self.diagnostics)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doc {
    Order(WorkOrder),
    Report(Report),
}

/// Bytes → text, with an error for input that is too large or not UTF-8. The text returned is
/// the lossy decoding, so the rest of the parser can still say everything else that is wrong.
pub fn decode(bytes: &[u8]) -> (String, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    if bytes.len() > MAX_BYTES {
        diags.push(
            Diagnostic::error(
                0,
                1,
                format!("file is over {MAX_BYTES} bytes; a work order or report is at most 64 KiB"),
            )
            .help("cut it down: a work order carries intent, not artifacts"),
        );
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Err(e) = std::str::from_utf8(bytes) {
        let at = e.valid_up_to();
        let before = &bytes[..at];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let col = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        diags.push(
            Diagnostic::error(
                line,
                col,
                format!("not UTF-8: byte 0x{:02x} at offset {at}", bytes[at]),
            )
            .help("save the file as UTF-8"),
        );
    }
    if bytes.contains(&0) {
        let at = bytes.iter().position(|b| *b == 0).unwrap_or(0);
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
        diags.push(
            Diagnostic::error(line, 1, format!("NUL byte at offset {at}"))
                .help("a work order is text; remove the binary content"),
        );
    }
    (String::from_utf8_lossy(bytes).into_owned(), diags)
}

/// Reads a file that may be either kind and says which it is: a file whose front matter has
/// `re:` or `status:`, or that has an `Outcome` section, is a report.
pub fn parse_any(bytes: &[u8], ctx: Context<'_>) -> Parsed<Doc> {
    let (text, _) = decode(bytes);
    if looks_like_report(&text) {
        let p = parse_report(bytes, ctx);
        Parsed {
            value: Doc::Report(p.value),
            diagnostics: p.diagnostics,
        }
    } else {
        let p = parse_order(bytes, ctx);
        Parsed {
            value: Doc::Order(p.value),
            diagnostics: p.diagnostics,
        }
    }
}

pub fn looks_like_report(text: &str) -> bool {
    let scan = scan(text, &[]);
    scan.front
        .iter()
        .any(|(k, _, _)| k == "re" || k == "status")
        || scan.sections.iter().any(|s| {
            matches!(
                s.label.to_ascii_lowercase().as_str(),
                "outcome" | "touched" | "note"
            )
        })
}

/// One line of front-matter value: newlines and control characters cannot smuggle in a key.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}
