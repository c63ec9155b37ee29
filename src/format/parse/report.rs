//! A report: its outcome, the ticked Acceptance, Touched, the Note and front matter.

use super::order::{check_path, unquote};
use super::*;
use crate::format::diagnostic::Diagnostic;
use crate::model::order::{AgentName, OrderId, Report, ReportHeader, Status, Tick};

pub(super) const REPORT_SECTIONS: [&str; 5] =
    ["Outcome", "Acceptance", "Touched", "Note", "Follow-ups"];

pub(super) const REPORT_KEYS: [&str; 6] = ["re", "from", "status", "route-to", "blocker", "spent"];

/// Parses a report. Every rule of the format is checked here; checks against the order it answers
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
    if let Some(s) = scan.section("Follow-ups") {
        // SPEC §9.5: work seen and not done (outside the Files), one objective a bullet.
        for b in bullets(s, &mut diags) {
            let text = b.text.trim();
            if text.eq_ignore_ascii_case("none") {
                continue;
            }
            if !text.ends_with('.') || text.len() > 300 {
                diags.push(
                    Diagnostic::error(b.line, b.col, "a follow-up is one sentence ending with `.`")
                        .help(
                            "each follow-up is an objective: the outcome another order would reach",
                        ),
                );
                continue;
            }
            report.follow_ups.push(text.to_string());
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
            // A contradiction review rejects (quoting it in the retry), not a file to hold.
            diags.push(
                Diagnostic::warning(
                    line,
                    1,
                    format!(
                        "status `done` but {} of {} Acceptance bullets are not ticked",
                        report.acceptance.len() - ticked,
                        report.acceptance.len()
                    ),
                )
                .help("tick what holds; if something does not, the status is `failed` (Walt rejects this at review)"),
            );
        }
        if status == Status::Failed
            && !report.acceptance.is_empty()
            && ticked == report.acceptance.len()
        {
            diags.push(
                Diagnostic::warning(
                    line,
                    1,
                    "status `failed` but every Acceptance bullet is ticked",
                )
                .help("untick what does not hold, or say `status: done` (Walt rejects this at review)"),
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

pub(super) fn tick(text: &str) -> Option<Tick> {
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

pub(super) fn report_header(
    scan: &Scan<'_>,
    ctx: Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> ReportHeader {
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
            "spent" => match value.parse::<u64>() {
                Ok(n) => h.spent = Some(n),
                Err(_) => diags.push(
                    Diagnostic::error(
                        line,
                        col,
                        format!("`spent` is `{}`, not a whole number of tokens", value.escape_debug()),
                    )
                    .help("the tokens the work used, as the model CLI reports them, e.g. `spent: 12345`"),
                ),
            },
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
