//! Markdown work orders and reports → values plus every diagnostic, by one parser.
//!
//! Parsing never fails and never stops at the first problem: it returns what it could read and
//! a list of diagnostics, each with its line and column (rust-analyzer's rule). `walt lint`, the
//! daemon's intake and the review of Walt's own output all call these same functions, so a file
//! that lints clean is a file the daemon takes.

use crate::format::diagnostic::{has_errors, Diagnostic};
use crate::model::order::{
    AgentName, Branch, OrderHeader, OrderId, Priority, Report, ReportHeader, Status, Tick,
    WorkOrder,
};

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

const ORDER_SECTIONS: [&str; 4] = ["Objective", "Acceptance", "Files", "Branching"];
const REPORT_SECTIONS: [&str; 4] = ["Outcome", "Acceptance", "Touched", "Note"];
const ORDER_KEYS: [&str; 8] = [
    "to",
    "override",
    "priority",
    "blocked-by",
    "id",
    "from",
    "attempt",
    "reason",
];
const DAEMON_KEYS: [&str; 4] = ["id", "from", "attempt", "reason"];
const REPORT_KEYS: [&str; 5] = ["re", "from", "status", "route-to", "blocker"];

/// Words that make an Acceptance bullet uncheckable without asking a person.
const VAGUE: [&str; 7] = [
    "ask",
    "looks good",
    "as discussed",
    "tbd",
    "lgtm",
    "to be decided",
    "somehow",
];
/// Openers that state an intention or a command instead of an outcome.
const OPENERS: [&str; 12] = [
    "will", "should", "please", "must", "shall", "let's", "lets", "need", "needs", "try", "going",
    "todo",
];

/// Parses a work order. Every rule of SPEC §2 is checked here.
pub fn parse_order(bytes: &[u8], ctx: Context<'_>) -> Parsed<WorkOrder> {
    let (text, mut diags) = decode(bytes);
    if bytes.len() > MAX_BYTES {
        // Readers stop at the limit, so the rest would be judged on a cut-off text: the size is
        // the one problem worth stating.
        return Parsed {
            value: WorkOrder::default(),
            diagnostics: diags,
        };
    }
    let scan = scan(&text, &ORDER_SECTIONS);
    diags.extend(scan.diagnostics.iter().cloned());
    let mut order = WorkOrder {
        header: order_header(&scan, ctx, &mut diags),
        ..WorkOrder::default()
    };
    check_section_order(&scan, &ORDER_SECTIONS, "a work order", &mut diags);

    if let Some(s) = scan.section("Objective") {
        order.objective = objective(s, &mut diags);
    }
    if let Some(s) = scan.section("Acceptance") {
        let bullets = bullets(s, &mut diags);
        check_count(s, bullets.len(), 3, 5, "Acceptance", "bullets", &mut diags);
        for b in &bullets {
            if b.text.is_empty() {
                diags.push(Diagnostic::error(b.line, b.col, "empty Acceptance bullet"));
            } else if let Some(word) = vague_word(&b.text) {
                diags.push(
                    Diagnostic::warning(
                        b.line,
                        b.col,
                        format!("`{word}`: this bullet cannot be checked without asking a person"),
                    )
                    .help("say what a test, a command or a file will show"),
                );
            }
        }
        order.acceptance = bullets.into_iter().map(|b| b.text).collect();
    }
    if let Some(s) = scan.section("Files") {
        let bullets = bullets(s, &mut diags);
        check_count(
            s,
            bullets.len(),
            1,
            usize::MAX,
            "Files",
            "paths",
            &mut diags,
        );
        let mut seen: Vec<String> = Vec::new();
        for b in &bullets {
            let path = unquote(&b.text);
            if let Err(e) = check_path(path) {
                diags.push(Diagnostic::error(b.line, b.col, e.0).help(e.1));
            } else if seen.iter().any(|p| p == path) {
                diags.push(Diagnostic::warning(
                    b.line,
                    b.col,
                    format!("`{path}` is listed twice"),
                ));
            }
            seen.push(path.to_string());
        }
        order.files = seen;
    }
    if let Some(s) = scan.section("Branching") {
        let bullets = bullets(s, &mut diags);
        check_count(s, bullets.len(), 1, 3, "Branching", "bullets", &mut diags);
        for b in &bullets {
            match branch(&b.text) {
                Ok(br) => {
                    if let (Branch::RouteTo(agent, _), Some(agents)) = (&br, ctx.agents) {
                        if !agents.contains(agent) {
                            diags.push(unknown_agent(b.line, b.col + 9, agent, agents));
                        }
                    }
                    order.branching.push(br);
                }
                Err(msg) => diags.push(Diagnostic::error(b.line, b.col, msg).help(
                    "write `halt-with-note if …`, `route-to-<agent> if …` or `requeue-with-blocker if …`",
                )),
            }
        }
    }
    if ctx.author == Author::Walt {
        // Intent, not artifacts: SQL, a diff or code in place of a sentence is refused in
        // anything Walt writes, fenced or not.
        for s in &scan.sections {
            for l in s.inline.iter().chain(s.body.iter()).filter(|l| !l.fenced) {
                if let Some(what) = artifact(l.text) {
                    diags.push(
                        Diagnostic::error(
                            l.line,
                            1,
                            format!(
                                "Walt authored {what}: a work order carries intent, not artifacts"
                            ),
                        )
                        .signal("artifact"),
                    );
                }
            }
        }
    }
    for &line in &scan.fences {
        diags.push(match ctx.author {
            Author::Person => Diagnostic::warning(line, 1, "a fenced code block in a work order")
                .help("a work order carries intent, not artifacts: describe the outcome and name the file"),
            Author::Walt => Diagnostic::error(line, 1, "Walt authored a fenced code block: a work order carries intent, not artifacts")
                .signal("artifact"),
        });
    }
    sort(&mut diags);
    Parsed {
        value: order,
        diagnostics: diags,
    }
}

/// Parses a report. Every rule of SPEC §3 is checked here; checks against the order it answers
/// are the reviewer's (`coord::review`).
pub fn parse_report(bytes: &[u8], ctx: Context<'_>) -> Parsed<Report> {
    let (text, mut diags) = decode(bytes);
    if bytes.len() > MAX_BYTES {
        return Parsed {
            value: Report::default(),
            diagnostics: diags,
        };
    }
    let scan = scan(&text, &REPORT_SECTIONS);
    diags.extend(scan.diagnostics.iter().cloned());
    check_section_order(&scan, &REPORT_SECTIONS, "a report", &mut diags);
    let mut report = Report {
        header: report_header(&scan, ctx, &mut diags),
        ..Report::default()
    };
    if let Some(s) = scan.section("Outcome") {
        let lines = s.text_lines();
        match lines.first() {
            None => diags.push(Diagnostic::error(s.line, s.label_end, "Outcome is empty")),
            Some(first) => {
                report.outcome = first.text.to_string();
                for extra in &lines[1..] {
                    diags.push(Diagnostic::error(
                        extra.line,
                        extra.col,
                        "Outcome is one sentence on one line",
                    ));
                }
            }
        }
    }
    if let Some(s) = scan.section("Acceptance") {
        let bullets = bullets(s, &mut diags);
        check_count(
            s,
            bullets.len(),
            1,
            usize::MAX,
            "Acceptance",
            "bullets",
            &mut diags,
        );
        for b in bullets {
            match tick(&b.text) {
                Some(t) => report.acceptance.push(t),
                None => diags.push(
                    Diagnostic::error(
                        b.line,
                        b.col,
                        "an Acceptance line of a report starts with `[x]` or `[ ]`",
                    )
                    .help("repeat the order's bullet, ticked `[x]` if it holds, `[ ]` if not"),
                ),
            }
        }
    }
    if let Some(s) = scan.section("Touched") {
        for b in bullets(s, &mut diags) {
            let path = unquote(&b.text);
            if path.eq_ignore_ascii_case("none") {
                continue;
            }
            match check_path(path) {
                Ok(()) => report.touched.push(path.to_string()),
                Err(e) => diags.push(Diagnostic::error(b.line, b.col, e.0).help(e.1)),
            }
        }
    }
    if let Some(s) = scan.section("Note") {
        report.note = s
            .text_lines()
            .iter()
            .map(|l| l.text)
            .collect::<Vec<_>>()
            .join("\n");
    }
    let status = report.header.status;
    let note_empty =
        report.note.trim().is_empty() || report.note.trim().eq_ignore_ascii_case("none");
    if let Some(status) = status {
        if status != Status::Done && note_empty {
            let line = scan.section("Note").map_or(0, |s| s.line);
            diags.push(
                Diagnostic::error(
                    line,
                    1,
                    format!("status `{}` needs a Note saying why", status.as_str()),
                )
                .help("the coordinator decides what happens next from this note"),
            );
        }
        let ticked = report.acceptance.iter().filter(|t| t.ticked).count();
        let line = scan.section("Acceptance").map_or(0, |s| s.line);
        if status == Status::Done && ticked < report.acceptance.len() {
            diags.push(
                Diagnostic::error(
                    line,
                    1,
                    format!(
                        "status `done` but {} of {} Acceptance bullets are not ticked",
                        report.acceptance.len() - ticked,
                        report.acceptance.len()
                    ),
                )
                .help("tick what holds; if something does not, the status is `failed`"),
            );
        }
        if status == Status::Failed
            && !report.acceptance.is_empty()
            && ticked == report.acceptance.len()
        {
            diags.push(
                Diagnostic::error(
                    line,
                    1,
                    "status `failed` but every Acceptance bullet is ticked",
                )
                .help("untick what does not hold, or say `status: done`"),
            );
        }
    }
    sort(&mut diags);
    Parsed {
        value: report,
        diagnostics: diags,
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical rendering: the form Walt writes.

/// One line of front-matter value: newlines and control characters cannot smuggle in a key.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Writes a work order in canonical form (`**Label:**`, daemon keys first).
pub fn render_order(order: &WorkOrder) -> String {
    let h = &order.header;
    let mut out = String::from("---\n");
    if let Some(id) = h.id {
        out.push_str(&format!("id: {id}\n"));
    }
    if let Some(from) = &h.from {
        out.push_str(&format!("from: {}\n", one_line(from)));
    }
    if let Some(to) = &h.to {
        out.push_str(&format!("to: {to}\n"));
    }
    if let Some(attempt) = h.attempt {
        out.push_str(&format!("attempt: {attempt}\n"));
    }
    out.push_str(&format!("priority: {}\n", h.priority.as_str()));
    if let Some(b) = h.blocked_by {
        out.push_str(&format!("blocked-by: {b}\n"));
    }
    if let Some(o) = &h.override_reason {
        out.push_str(&format!("override: {}\n", one_line(o)));
    }
    if let Some(r) = &h.reason {
        out.push_str(&format!("reason: {}\n", one_line(r)));
    }
    out.push_str("---\n");
    out.push_str(&format!(
        "**Objective:** {}\n\n",
        one_line(&order.objective)
    ));
    out.push_str("**Acceptance:**\n");
    for a in &order.acceptance {
        out.push_str(&format!("- {}\n", one_line(a)));
    }
    out.push_str("\n**Files:**\n");
    for f in &order.files {
        out.push_str(&format!("- {}\n", one_line(f)));
    }
    out.push_str("\n**Branching:**\n");
    for b in &order.branching {
        out.push_str(&format!("- {}\n", one_line(&b.render())));
    }
    out
}

/// Writes a report in canonical form.
pub fn render_report(report: &Report) -> String {
    let h = &report.header;
    let mut out = String::from("---\n");
    if let Some(re) = h.re {
        out.push_str(&format!("re: {re}\n"));
    }
    if let Some(from) = &h.from {
        out.push_str(&format!("from: {}\n", one_line(from)));
    }
    if let Some(s) = h.status {
        out.push_str(&format!("status: {}\n", s.as_str()));
    }
    if let Some(r) = &h.route_to {
        out.push_str(&format!("route-to: {r}\n"));
    }
    if let Some(b) = &h.blocker {
        out.push_str(&format!("blocker: {}\n", one_line(b)));
    }
    out.push_str("---\n");
    out.push_str(&format!(
        "**Outcome:** {}\n\n**Acceptance:**\n",
        one_line(&report.outcome)
    ));
    for t in &report.acceptance {
        let mark = if t.ticked { "x" } else { " " };
        match &t.evidence {
            Some(e) => out.push_str(&format!(
                "- [{mark}] {} — {}\n",
                one_line(&t.text),
                one_line(e)
            )),
            None => out.push_str(&format!("- [{mark}] {}\n", one_line(&t.text))),
        }
    }
    out.push_str("\n**Touched:**\n");
    if report.touched.is_empty() {
        out.push_str("- none\n");
    }
    for t in &report.touched {
        out.push_str(&format!("- {}\n", one_line(t)));
    }
    let note = if report.note.trim().is_empty() {
        "none"
    } else {
        report.note.trim()
    };
    out.push_str(&format!("\n**Note:** {note}\n"));
    out
}

// ---------------------------------------------------------------------------------------------
// The scanner: front matter, section headers, fences. Shared by both kinds.

struct Scan<'t> {
    /// (key, value, line)
    front: Vec<(String, String, usize)>,
    front_end: usize,
    sections: Vec<Section<'t>>,
    fences: Vec<usize>,
    diagnostics: Vec<Diagnostic>,
}

struct Section<'t> {
    /// The canonical label (`Objective`), or the label as written when unknown.
    label: String,
    known: bool,
    /// Header line.
    line: usize,
    /// Column just after the label, where inline text starts.
    label_end: usize,
    inline: Option<Line<'t>>,
    body: Vec<Line<'t>>,
}

#[derive(Clone, Copy)]
struct Line<'t> {
    line: usize,
    col: usize,
    text: &'t str,
    /// Inside (or opening/closing) a fenced code block: reported once as a fence, not as
    /// misplaced text.
    fenced: bool,
}

impl<'t> Section<'t> {
    /// The section's non-blank lines, inline text first.
    fn text_lines(&self) -> Vec<Line<'t>> {
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
    fn section(&self, label: &str) -> Option<&Section<'t>> {
        self.sections.iter().find(|s| s.known && s.label == label)
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn scan<'t>(text: &'t str, labels: &[&str]) -> Scan<'t> {
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

fn push_body<'t>(scan: &mut Scan<'t>, lineno: usize, line: &'t str, fenced: bool) {
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
fn header(line: &str) -> Option<(&str, usize, &str)> {
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

fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&word, &c.to_ascii_lowercase()), *c))
        .min()
        .filter(|(d, c)| *d <= (c.len() / 2).max(2))
        .map(|(_, c)| c)
}

fn check_section_order(scan: &Scan<'_>, labels: &[&str], what: &str, diags: &mut Vec<Diagnostic>) {
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
        if scan.section(label).is_none() {
            diags.push(
                Diagnostic::error(0, 1, format!("missing section `{label}`")).help(format!(
                    "{what} has {}, each once, in that order",
                    labels.join(", ")
                )),
            );
        }
    }
}

fn check_count(
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

struct Bullet {
    line: usize,
    col: usize,
    text: String,
}

/// The `- ` (or `* `, `+ `) bullets of a list section; an indented line continues the bullet
/// above it; any other text is an error.
fn bullets(s: &Section<'_>, diags: &mut Vec<Diagnostic>) -> Vec<Bullet> {
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

fn objective(s: &Section<'_>, diags: &mut Vec<Diagnostic>) -> String {
    let lines: Vec<Line<'_>> = s.text_lines().into_iter().filter(|l| !l.fenced).collect();
    let Some(first) = lines.first() else {
        diags.push(
            Diagnostic::error(s.line, s.label_end, "Objective is empty")
                .help("one sentence, present tense: the outcome"),
        );
        return String::new();
    };
    for extra in &lines[1..] {
        diags.push(
            Diagnostic::error(
                extra.line,
                extra.col,
                "Objective is one sentence on one line",
            )
            .help("move detail into Acceptance"),
        );
    }
    let text = first.text;
    if !text.ends_with('.') {
        diags.push(
            Diagnostic::error(
                first.line,
                first.col + chars(text),
                "Objective must end with `.`",
            )
            .help("one sentence, present tense, ending in a full stop"),
        );
    }
    let body = text.strip_suffix('.').unwrap_or(text);
    if let Some(at) = second_sentence(body) {
        diags.push(
            Diagnostic::warning(
                first.line,
                first.col + at,
                "Objective has more than one sentence",
            )
            .help("one sentence: the outcome; the rest belongs in Acceptance"),
        );
    }
    let opener = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches([',', ':'])
        .to_ascii_lowercase();
    if OPENERS.contains(&opener.as_str()) {
        diags.push(
            Diagnostic::warning(
                first.line,
                first.col,
                format!("Objective opens with `{opener}`: say the outcome in the present tense"),
            )
            .help("e.g. `pipeline_items has an index on used_force_route.`"),
        );
    }
    text.to_string()
}

/// The char column (0-based) of a second sentence's start, if the text has one.
fn second_sentence(text: &str) -> Option<usize> {
    let cs: Vec<char> = text.chars().collect();
    for i in 0..cs.len() {
        if matches!(cs[i], '.' | '!' | '?') && cs.get(i + 1) == Some(&' ') {
            let before: String = cs[..i].iter().collect();
            let word = before.rsplit(' ').next().unwrap_or("").to_ascii_lowercase();
            if matches!(
                word.as_str(),
                "e.g" | "i.e" | "etc" | "vs" | "cf" | "no" | "mr" | "dr"
            ) {
                continue;
            }
            if let Some(next) = cs[i + 1..].iter().find(|c| **c != ' ') {
                if next.is_uppercase() || cs[i] != '.' {
                    return Some(i + 2);
                }
            }
        }
    }
    None
}

/// Whether a line is an artifact rather than intent: SQL, a diff, or a line of code.
fn artifact(line: &str) -> Option<&'static str> {
    let t = line.trim_start();
    let t = t.strip_prefix("- ").unwrap_or(t).trim_start_matches('`');
    const SQL: [&str; 9] = [
        "SELECT ",
        "INSERT INTO ",
        "UPDATE ",
        "DELETE FROM ",
        "CREATE TABLE ",
        "CREATE INDEX ",
        "ALTER TABLE ",
        "DROP TABLE ",
        "WITH ",
    ];
    if SQL.iter().any(|k| t.starts_with(k))
        && (t.contains(" FROM ")
            || t.contains(" SET ")
            || t.contains('(')
            || t.contains(" ON ")
            || t.ends_with(';')
            || t.starts_with("INSERT")
            || t.starts_with("ALTER")
            || t.starts_with("DROP"))
    {
        return Some("SQL");
    }
    if t.starts_with("diff --git ")
        || t.starts_with("@@ ")
        || t.starts_with("+++ ")
        || t.starts_with("--- a/")
    {
        return Some("a diff");
    }
    let code_start = [
        "fn ",
        "def ",
        "class ",
        "import ",
        "#include",
        "pub fn ",
        "let ",
        "const ",
        "function ",
    ];
    if code_start.iter().any(|k| t.starts_with(k))
        && (t.ends_with('{')
            || t.ends_with(';')
            || t.ends_with(':')
            || t.contains("=>")
            || t.contains(" = "))
    {
        return Some("code");
    }
    None
}

fn vague_word(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    VAGUE.iter().copied().find(|w| {
        lower.match_indices(w).any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + w.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric())
                && !after.is_some_and(|c| c.is_alphanumeric())
        })
    })
}

fn unquote(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix('`')
        .and_then(|t| t.strip_suffix('`'))
        .unwrap_or(t)
}

/// The daemon's own files under `state/`, which no order may name.
const RESERVED_STATE: [&str; 4] = [
    "state/journal.jsonl",
    "state/ledger.json",
    "state/walt.lock",
    "state/logs",
];

/// Checks a Files or Touched path: relative, under `repos/` or `state/`, normalized, no glob,
/// not one of the daemon's own files. Returns (what is wrong, what to do).
pub fn check_path(path: &str) -> Result<(), (String, String)> {
    let shown = path.escape_debug().to_string();
    if path.is_empty() {
        return Err(("empty path".into(), "name a file under repos/".into()));
    }
    if path.chars().any(char::is_control) {
        return Err((
            format!("`{shown}` has a control character"),
            "name the file plainly".into(),
        ));
    }
    if path.starts_with('/') || path.starts_with('~') || path.get(1..3) == Some(":\\") {
        return Err((
            format!("`{shown}` is an absolute path"),
            "write it relative to the studio, e.g. `repos/app/src/main.rs`".into(),
        ));
    }
    if path.contains('\\') {
        return Err((
            format!("`{shown}` has a `\\`"),
            "separate folders with `/`".into(),
        ));
    }
    if let Some(c) = path
        .chars()
        .find(|c| matches!(c, '*' | '?' | '[' | ']' | '{' | '}'))
    {
        return Err((
            format!("`{shown}` has the glob character `{c}`"),
            "name each file, or a folder with a trailing `/` for everything under it".into(),
        ));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.contains(&"..") {
        return Err((
            format!("`{shown}` climbs out with `..`"),
            "name the file by its path under repos/".into(),
        ));
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return Err((
            format!("`{shown}` is not a plain path (empty or `.` part)"),
            "write it without `//` or `./`".into(),
        ));
    }
    if parts[0] != "repos" && parts[0] != "state" {
        return Err((
            format!("`{shown}` is not under repos/ or state/"),
            "an order's Files are paths under repos/ (or state/ for a state file a specialist owns)".into(),
        ));
    }
    if parts[0] == "state" {
        let reserved = parts.len() == 1
            || RESERVED_STATE
                .iter()
                .any(|r| trimmed == *r || trimmed.starts_with(&format!("{r}/")));
        if reserved {
            return Err((
                format!("`{shown}` is the daemon's own state"),
                "state/journal.jsonl, state/ledger.json, state/walt.lock and state/logs/ are never a work order's Files".into(),
            ));
        }
    }
    Ok(())
}

fn branch(text: &str) -> Result<Branch, String> {
    if text.ends_with(" if") {
        return Err("the condition after `if` is empty".into());
    }
    let Some((head, cond)) = text.split_once(" if ") else {
        return Err(format!(
            "Branching bullet `{}` has no ` if <condition>`",
            text.escape_debug()
        ));
    };
    let cond = cond.trim().to_string();
    if cond.is_empty() {
        return Err("the condition after `if` is empty".into());
    }
    match head.trim() {
        "halt-with-note" => Ok(Branch::HaltWithNote(cond)),
        "requeue-with-blocker" => Ok(Branch::RequeueWithBlocker(cond)),
        h => match h.strip_prefix("route-to-") {
            Some(agent) => AgentName::new(agent).map(|a| Branch::RouteTo(a, cond)),
            None => Err(format!("`{}` is not a Branching action", h.escape_debug())),
        },
    }
}

fn tick(text: &str) -> Option<Tick> {
    let (ticked, rest) = if let Some(r) = text
        .strip_prefix("[x]")
        .or_else(|| text.strip_prefix("[X]"))
    {
        (true, r)
    } else if let Some(r) = text.strip_prefix("[ ]") {
        (false, r)
    } else {
        return None;
    };
    let rest = rest.trim();
    let (text, evidence) = match rest.split_once(" — ").or_else(|| rest.split_once(" -- ")) {
        Some((t, e)) => (t.trim().to_string(), Some(e.trim().to_string())),
        None => (rest.to_string(), None),
    };
    Some(Tick {
        text,
        ticked,
        evidence,
    })
}

fn unknown_agent(line: usize, col: usize, agent: &AgentName, agents: &[AgentName]) -> Diagnostic {
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

fn unknown_key(line: usize, key: &str, known: &[&str]) -> Diagnostic {
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

fn order_header(scan: &Scan<'_>, ctx: Context<'_>, diags: &mut Vec<Diagnostic>) -> OrderHeader {
    let mut h = OrderHeader::default();
    for (key, value, line) in &scan.front {
        let line = *line;
        let col = key.len() + 3;
        if !ORDER_KEYS.contains(&key.as_str()) {
            diags.push(unknown_key(line, key, &ORDER_KEYS));
            continue;
        }
        if ctx.author == Author::Person && DAEMON_KEYS.contains(&key.as_str()) {
            diags.push(
                Diagnostic::warning(
                    line,
                    1,
                    format!("`{key}` is set by the daemon; this value will be replaced"),
                )
                .help("leave it out"),
            );
        }
        match key.as_str() {
            "to" => match AgentName::new(value) {
                Ok(a) => {
                    if let Some(agents) = ctx.agents {
                        if !agents.contains(&a) && !a.is_reserved() {
                            diags.push(unknown_agent(line, col, &a, agents));
                        }
                    }
                    h.to = Some(a);
                }
                Err(e) => diags.push(Diagnostic::error(line, col, e)),
            },
            "override" => {
                if value.is_empty() {
                    diags.push(
                        Diagnostic::error(line, col, "`override` needs a reason")
                            .help("say why the ownership rules are wrong here"),
                    );
                }
                h.override_reason = Some(value.clone());
            }
            "priority" => match Priority::parse(value) {
                Some(p) => h.priority = p,
                None => diags.push(Diagnostic::error(
                    line,
                    col,
                    format!(
                        "priority `{}` is not low, normal or high",
                        value.escape_debug()
                    ),
                )),
            },
            "blocked-by" => match OrderId::parse(value) {
                Some(id) => h.blocked_by = Some(id),
                None => diags.push(
                    Diagnostic::error(
                        line,
                        col,
                        format!("blocked-by `{}` is not an order id", value.escape_debug()),
                    )
                    .help("e.g. `blocked-by: 0041`"),
                ),
            },
            "id" => match OrderId::parse(value) {
                Some(id) => h.id = Some(id),
                None => diags.push(Diagnostic::error(
                    line,
                    col,
                    format!("id `{}` is not an order id", value.escape_debug()),
                )),
            },
            "from" => h.from = Some(value.clone()),
            "attempt" => match value.parse::<u32>() {
                Ok(n) if n >= 1 => h.attempt = Some(n),
                _ => diags.push(Diagnostic::error(
                    line,
                    col,
                    format!(
                        "attempt `{}` is not a positive number",
                        value.escape_debug()
                    ),
                )),
            },
            "reason" => h.reason = Some(value.clone()),
            _ => {}
        }
    }
    h
}

fn report_header(scan: &Scan<'_>, ctx: Context<'_>, diags: &mut Vec<Diagnostic>) -> ReportHeader {
    let mut h = ReportHeader::default();
    let mut lines = std::collections::HashMap::new();
    for (key, value, line) in &scan.front {
        let line = *line;
        let col = key.len() + 3;
        lines.insert(key.as_str(), line);
        match key.as_str() {
            "re" => match OrderId::parse(value) {
                Some(id) => h.re = Some(id),
                None => diags.push(
                    Diagnostic::error(
                        line,
                        col,
                        format!("re `{}` is not an order id", value.escape_debug()),
                    )
                    .help("the id of the order this report answers, e.g. `re: 0042`"),
                ),
            },
            "from" => match AgentName::new(value) {
                Ok(_) => h.from = Some(value.clone()),
                Err(e) => diags.push(Diagnostic::error(line, col, e)),
            },
            "status" => match Status::parse(value) {
                Some(s) => h.status = Some(s),
                None => diags.push(Diagnostic::error(
                    line,
                    col,
                    format!(
                        "status `{}` is not one of {}",
                        value.escape_debug(),
                        Status::ALL.join(", ")
                    ),
                )),
            },
            "route-to" => match AgentName::new(value) {
                Ok(a) => {
                    if let Some(agents) = ctx.agents {
                        if !agents.contains(&a) {
                            diags.push(unknown_agent(line, col, &a, agents));
                        }
                    }
                    h.route_to = Some(a);
                }
                Err(e) => diags.push(Diagnostic::error(line, col, e)),
            },
            "blocker" => {
                if value.is_empty() {
                    diags.push(
                        Diagnostic::error(line, col, "`blocker` is empty")
                            .help("an order id or what is missing"),
                    );
                }
                h.blocker = Some(value.clone());
            }
            _ => diags.push(unknown_key(line, key, &REPORT_KEYS)),
        }
    }
    let fm_line = if scan.front_end > 0 { 1 } else { 0 };
    for required in ["re", "from", "status"] {
        if !lines.contains_key(required) {
            diags.push(
                Diagnostic::error(fm_line, 1, format!("a report needs `{required}:` in its front matter"))
                    .help("front matter: `re: <order id>`, `from: <agent>`, `status: done|failed|halted|rerouted|blocked`"),
            );
        }
    }
    match h.status {
        Some(Status::Rerouted) if h.route_to.is_none() && !lines.contains_key("route-to") => diags
            .push(Diagnostic::error(
                lines.get("status").copied().unwrap_or(fm_line),
                1,
                "status `rerouted` needs `route-to: <agent>`",
            )),
        Some(Status::Blocked) if h.blocker.is_none() => diags.push(Diagnostic::error(
            lines.get("status").copied().unwrap_or(fm_line),
            1,
            "status `blocked` needs `blocker: <order id or text>`",
        )),
        _ => {}
    }
    if let Some(&l) = lines.get("route-to") {
        if h.status.is_some() && h.status != Some(Status::Rerouted) {
            diags.push(Diagnostic::error(
                l,
                1,
                "`route-to` is only for status `rerouted`",
            ));
        }
    }
    if let Some(&l) = lines.get("blocker") {
        if h.status.is_some() && h.status != Some(Status::Blocked) {
            diags.push(Diagnostic::error(
                l,
                1,
                "`blocker` is only for status `blocked`",
            ));
        }
    }
    h
}

fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| (d.line, d.col));
}
