//! The scanner every document shares: front matter, labelled sections (`**Label:**` or a
//! `## Label` heading) with their lines, bullets, and the diagnostics common to all kinds.

use crate::format::diagnostic::Diagnostic;
use crate::model::order::AgentName;

pub(super) struct Scan<'t> {
    /// (key, value, line)
    pub(super) front: Vec<(String, String, usize)>,
    pub(super) front_end: usize,
    pub(super) sections: Vec<Section<'t>>,
    pub(super) fences: Vec<usize>,
    pub(super) diagnostics: Vec<Diagnostic>,
}

pub(super) struct Section<'t> {
    /// The canonical label (`Objective`), or the label as written when unknown.
    pub(super) label: String,
    pub(super) known: bool,
    /// Header line.
    pub(super) line: usize,
    /// Column just after the label, where inline text starts.
    pub(super) label_end: usize,
    pub(super) inline: Option<Line<'t>>,
    pub(super) body: Vec<Line<'t>>,
}

#[derive(Clone, Copy)]
pub(super) struct Line<'t> {
    pub(super) line: usize,
    pub(super) col: usize,
    pub(super) text: &'t str,
    /// Inside (or opening/closing) a fenced code block: reported once as a fence, not as
    /// misplaced text.
    pub(super) fenced: bool,
}

impl<'t> Section<'t> {
    /// The section's non-blank lines, inline text first.
    pub(super) fn text_lines(&self) -> Vec<Line<'t>> {
        self.inline
            .iter()
            .chain(self.body.iter())
            .filter(|l| !l.text.trim().is_empty())
            .map(|l| {
                let trimmed = l.text.trim_start();
                Line {
                    line: l.line,
                    col: l.col + chars(&l.text[..l.text.len() - trimmed.len()]),
                    text: trimmed.trim_end(),
                    fenced: l.fenced,
                }
            })
            .collect()
    }
}

impl<'t> Scan<'t> {
    pub(super) fn section(&self, label: &str) -> Option<&Section<'t>> {
        self.sections.iter().find(|s| s.known && s.label == label)
    }
}

pub(super) fn chars(s: &str) -> usize {
    s.chars().count()
}

pub(super) fn scan<'t>(text: &'t str, labels: &[&str]) -> Scan<'t> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut scan = Scan {
        front: Vec::new(),
        front_end: 0,
        sections: Vec::new(),
        fences: Vec::new(),
        diagnostics: Vec::new(),
    };
    let mut i = 0;
    if lines.first().map(|l| l.trim_end()) == Some("---") {
        let close = lines
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, l)| l.trim_end() == "---")
            .map(|(n, _)| n);
        match close {
            None => {
                scan.diagnostics.push(
                    Diagnostic::error(1, 1, "front matter is not closed")
                        .help("end it with a line of `---`"),
                );
                i = lines.len();
            }
            Some(end) => {
                for (n, line) in lines.iter().enumerate().take(end).skip(1) {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match line.split_once(':') {
                        Some((k, v)) if !k.trim().is_empty() => {
                            let key = k.trim().to_ascii_lowercase();
                            if let Some((_, _, first)) =
                                scan.front.iter().find(|(k2, _, _)| *k2 == key)
                            {
                                scan.diagnostics.push(Diagnostic::error(
                                    n + 1,
                                    1,
                                    format!("`{key}` is set twice (first on line {first})"),
                                ));
                                continue;
                            }
                            scan.front.push((key, v.trim().to_string(), n + 1));
                        }
                        _ => scan.diagnostics.push(Diagnostic::error(
                            n + 1,
                            1,
                            "front matter line is not `key: value`",
                        )),
                    }
                }
                i = end + 1;
                scan.front_end = end + 1;
            }
        }
    }
    let mut in_fence: Option<&str> = None;
    for (n, &line) in lines.iter().enumerate().skip(i) {
        let lineno = n + 1;
        let trimmed = line.trim_start();
        let fence_marker = if trimmed.starts_with("```") {
            Some("```")
        } else if trimmed.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        if let Some(open) = in_fence {
            if fence_marker == Some(open) {
                in_fence = None;
            }
            push_body(&mut scan, lineno, line, true);
            continue;
        }
        if let Some(marker) = fence_marker {
            in_fence = Some(marker);
            scan.fences.push(lineno);
            push_body(&mut scan, lineno, line, true);
            continue;
        }
        if let Some((label, label_end, rest)) = header(line) {
            let canonical = labels
                .iter()
                .find(|l| l.eq_ignore_ascii_case(label.trim()))
                .map(|l| l.to_string());
            let known = canonical.is_some();
            if !known {
                let mut d =
                    Diagnostic::error(lineno, 1, format!("unknown section `{}`", label.trim()));
                d = match nearest(label.trim(), labels) {
                    Some(n) => d.help(format!(
                        "did you mean `{n}`? the sections are {}",
                        labels.join(", ")
                    )),
                    None => d.help(format!(
                        "the sections are {}, once each, in that order",
                        labels.join(", ")
                    )),
                };
                scan.diagnostics.push(d);
            }
            let inline = (!rest.trim().is_empty()).then_some(Line {
                line: lineno,
                col: label_end,
                text: rest,
                fenced: false,
            });
            scan.sections.push(Section {
                label: canonical.unwrap_or_else(|| label.trim().to_string()),
                known,
                line: lineno,
                label_end,
                inline,
                body: Vec::new(),
            });
            continue;
        }
        push_body(&mut scan, lineno, line, false);
    }
    if in_fence.is_some() {
        if let Some(&open) = scan.fences.last() {
            scan.diagnostics
                .push(Diagnostic::error(open, 1, "code block is not closed"));
        }
    }
    scan
}

pub(super) fn push_body<'t>(scan: &mut Scan<'t>, lineno: usize, line: &'t str, fenced: bool) {
    match scan.sections.last_mut() {
        Some(s) => s.body.push(Line {
            line: lineno,
            col: 1,
            text: line,
            fenced,
        }),
        None => {
            if !line.trim().is_empty() && !fenced {
                scan.diagnostics.push(
                    Diagnostic::error(lineno, 1, "text outside any section")
                        .help("start with `**Objective:**` (or `**Outcome:**` in a report)"),
                );
            }
        }
    }
}

/// Recognises `**Label:** rest`, `**Label**: rest` and `## Label` (any heading level, optional
/// colon). Returns the label, the column where the rest starts and the rest.
pub(super) fn header(line: &str) -> Option<(&str, usize, &str)> {
    if let Some(after) = line.strip_prefix("**") {
        let (label, rest) = if let Some(p) = after.find(":**") {
            (&after[..p], &after[p + 3..])
        } else if let Some(p) = after.find("**:") {
            (&after[..p], &after[p + 3..])
        } else {
            return None;
        };
        if label.is_empty()
            || !label
                .chars()
                .all(|c| c.is_alphabetic() || c == ' ' || c == '-')
        {
            return None;
        }
        let col = chars(line) - chars(rest) + 1;
        return Some((label, col, rest));
    }
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
        let label = line[hashes..].trim();
        let label = label.strip_suffix(':').unwrap_or(label).trim();
        if !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_alphabetic() || c == ' ' || c == '-')
        {
            let col = chars(line) + 1;
            return Some((label, col, ""));
        }
    }
    None
}

pub(super) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&word, &c.to_ascii_lowercase()), *c))
        .min()
        .filter(|(d, c)| *d <= (c.len() / 2).max(2))
        .map(|(_, c)| c)
}

pub(super) fn check_section_order(
    scan: &Scan<'_>,
    labels: &[&str],
    what: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let mut last: Option<usize> = None;
    for (n, s) in scan.sections.iter().enumerate() {
        if !s.known {
            continue;
        }
        let idx = labels.iter().position(|l| *l == s.label).unwrap_or(0);
        if let Some(first) = scan.sections[..n]
            .iter()
            .find(|p| p.known && p.label == s.label)
        {
            diags.push(Diagnostic::error(
                s.line,
                1,
                format!(
                    "section `{}` appears twice (first on line {})",
                    s.label, first.line
                ),
            ));
            continue;
        }
        if let Some(prev) = last {
            if idx < prev {
                diags.push(
                    Diagnostic::error(s.line, 1, format!("section `{}` is out of order", s.label))
                        .help(format!("{what} has {} in that order", labels.join(", "))),
                );
            }
        }
        last = Some(last.map_or(idx, |p| p.max(idx)));
    }
    for label in labels {
        // A report's Follow-ups (SPEC §9.5) may be left out.
        if scan.section(label).is_none() && *label != "Follow-ups" {
            diags.push(
                Diagnostic::error(0, 1, format!("missing section `{label}`")).help(format!(
                    "{what} has {}, each once, in that order",
                    labels.join(", ")
                )),
            );
        }
    }
}

pub(super) fn check_count(
    s: &Section<'_>,
    n: usize,
    min: usize,
    max: usize,
    what: &str,
    unit: &str,
    diags: &mut Vec<Diagnostic>,
) {
    if n < min || n > max {
        let range = if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        diags.push(Diagnostic::error(
            s.line,
            1,
            format!("{what} has {n} {unit}; it needs {range}"),
        ));
    }
}

pub(super) struct Bullet {
    pub(super) line: usize,
    pub(super) col: usize,
    pub(super) text: String,
}

/// The `- ` (or `* `, `+ `) bullets of a list section; an indented line continues the bullet
/// above it; any other text is an error.
pub(super) fn bullets(s: &Section<'_>, diags: &mut Vec<Diagnostic>) -> Vec<Bullet> {
    let mut out: Vec<Bullet> = Vec::new();
    if let Some(inline) = &s.inline {
        diags.push(
            Diagnostic::error(
                inline.line,
                inline.col,
                format!("text after the `{}` label", s.label),
            )
            .help("put each item on its own `- ` line below the label"),
        );
    }
    for l in s.body.iter().filter(|l| !l.fenced) {
        let trimmed = l.text.trim_start();
        if trimmed.trim().is_empty() {
            continue;
        }
        let indent = chars(&l.text[..l.text.len() - trimmed.len()]);
        let marker = ["- ", "* ", "+ "].iter().find(|m| trimmed.starts_with(**m));
        let bare = matches!(trimmed.trim_end(), "-" | "*" | "+");
        if marker.is_some() || bare {
            let body = if bare { "" } else { &trimmed[2..] };
            let lead = chars(&body[..body.len() - body.trim_start().len()]);
            out.push(Bullet {
                line: l.line,
                col: indent + 3 + lead,
                text: body.trim().to_string(),
            });
        } else if indent > 0 && !out.is_empty() {
            let last = out.last_mut().expect("checked non-empty");
            last.text.push(' ');
            last.text.push_str(trimmed.trim());
        } else {
            diags.push(
                Diagnostic::error(
                    l.line,
                    indent + 1,
                    format!("expected a `- ` bullet in `{}`", s.label),
                )
                .help("each item is a line starting with `- `"),
            );
        }
    }
    out
}

pub(super) fn unknown_agent(
    line: usize,
    col: usize,
    agent: &AgentName,
    agents: &[AgentName],
) -> Diagnostic {
    let names: Vec<&str> = agents.iter().map(AgentName::as_str).collect();
    let d = Diagnostic::error(
        line,
        col,
        format!("`{agent}` is not an agent of this studio"),
    );
    match nearest(agent.as_str(), &names) {
        Some(n) => d.help(format!(
            "did you mean `{n}`? the agents are {}",
            names.join(", ")
        )),
        None => d.help(format!("the agents are {}", names.join(", "))),
    }
}

pub(super) fn unknown_key(line: usize, key: &str, known: &[&str]) -> Diagnostic {
    let best = known
        .iter()
        .min_by_key(|k| strsim::levenshtein(key, k))
        .copied()
        .unwrap_or("to");
    Diagnostic::error(
        line,
        1,
        format!("unknown front matter key `{}`", key.escape_debug()),
    )
    .help(format!(
        "did you mean `{best}`? the keys are {}",
        known.join(", ")
    ))
}

pub(super) fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| (d.line, d.col));
}
