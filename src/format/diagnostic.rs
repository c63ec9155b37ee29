//! Diagnostics: what is wrong with a file, where, and what to do; and their compiler-style text.
//!
//! The parser, the config loader and the daemon's `.why.md` notes all speak in these, so a
//! person sees the same words from `walt lint` as from a held delivery.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A named rule a diagnostic breaks. Signals are the seeds' fire-able signals that a lint rule
/// also catches (a fenced block Walt authored is `artifact`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// 1-based line; 0 when the problem is the whole file.
    pub line: usize,
    /// 1-based column in characters; 1 when the whole line is meant.
    pub col: usize,
    pub message: String,
    pub help: Option<String>,
    /// A signal name (`artifact`, `override`, …) when breaking this rule is one.
    pub signal: Option<&'static str>,
}

impl Diagnostic {
    pub fn error(line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            line,
            col: col.max(1),
            message: message.into(),
            help: None,
            signal: None,
        }
    }

    pub fn warning(line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(line, col, message)
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn signal(mut self, signal: &'static str) -> Diagnostic {
        self.signal = Some(signal);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The first error as `line N: message`, for a one-line reason in a log or a note.
pub fn first_error(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .find(|d| d.is_error())
        .map(|d| format!("line {}: {}", d.line, d.message))
        .unwrap_or_default()
}

pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// Renders diagnostics the way compilers do: `path:line:col: error: message`, the offending
/// line, a caret under the column, and `= help:` when there is advice. `source` is the file's
/// text (lossily decoded) so the line can be quoted; control characters in it are escaped so a
/// hostile file cannot drive the terminal.
pub fn render(path: &str, source: &str, diags: &[Diagnostic]) -> String {
    let lines: Vec<&str> = source.split('\n').collect();
    let mut out = String::new();
    for d in diags {
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let signal = d
            .signal
            .map(|s| format!(" [signal {s}]"))
            .unwrap_or_default();
        if d.line == 0 {
            let _ = writeln!(out, "{path}: {kind}: {}{signal}", d.message);
        } else {
            let _ = writeln!(
                out,
                "{path}:{}:{}: {kind}: {}{signal}",
                d.line, d.col, d.message
            );
            if let Some(text) = lines.get(d.line - 1) {
                let shown = escape_line(text.trim_end_matches('\r'));
                let gutter = d.line.to_string().len();
                let _ = writeln!(out, "{:gutter$} |", "");
                let _ = writeln!(out, "{} | {}", d.line, shown);
                let caret_col = caret_offset(text, d.col);
                let _ = writeln!(out, "{:gutter$} | {:caret_col$}^", "", "");
            }
        }
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  = help: {help}");
        }
    }
    out
}

/// The summary line after a file's diagnostics.
pub fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    format!(
        "{errors} error{}, {warnings} warning{}",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    )
}

fn escape_line(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i >= 200 {
            out.push('…');
            break;
        }
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else if c == '\t' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// Where the caret goes under the escaped line for a 1-based character column.
fn caret_offset(text: &str, col: usize) -> usize {
    let before: String = text.chars().take(col.saturating_sub(1).min(200)).collect();
    escape_line(&before).chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_compiler() {
        let src = "line one\n**Objective:** Will do it.\n";
        let d = vec![Diagnostic::warning(2, 16, "an opener").help("write the outcome")];
        let text = render("a.md", src, &d);
        assert_eq!(
            text,
            "a.md:2:16: warning: an opener\n  |\n2 | **Objective:** Will do it.\n  |                ^\n  = help: write the outcome\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let text = render("x", "\u{1b}[31mred", &[Diagnostic::error(1, 1, "bad")]);
        assert!(!text.contains('\u{1b}'));
    }
}
