//! A work order: its four parts, the rules each must keep, and its front matter.

use super::*;
use crate::format::diagnostic::Diagnostic;
use crate::model::order::{AgentName, Branch, OrderHeader, OrderId, Priority, WorkOrder};

pub(super) const ORDER_SECTIONS: [&str; 4] = ["Objective", "Acceptance", "Files", "Branching"];

pub(super) const ORDER_KEYS: [&str; 11] = [
    "to",
    "override",
    "priority",
    "blocked-by",
    "id",
    "from",
    "attempt",
    "reason",
    "plan",
    "part",
    "follows",
];

pub(super) const DAEMON_KEYS: [&str; 6] = ["id", "from", "attempt", "reason", "plan", "part"];

/// Words that make an Acceptance bullet uncheckable without asking a person.
pub(super) const VAGUE: [&str; 7] = [
    "ask",
    "looks good",
    "as discussed",
    "tbd",
    "lgtm",
    "to be decided",
    "somehow",
];

/// Openers that state an intention or a command instead of an outcome.
pub(super) const OPENERS: [&str; 12] = [
    "will", "should", "please", "must", "shall", "let's", "lets", "need", "needs", "try", "going",
    "todo",
];

/// Parses a work order. Every rule of the format is checked here.
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

pub(super) fn objective(s: &Section<'_>, diags: &mut Vec<Diagnostic>) -> String {
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
pub(super) fn second_sentence(text: &str) -> Option<usize> {
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
pub(super) fn artifact(line: &str) -> Option<&'static str> {
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

pub(super) fn vague_word(text: &str) -> Option<&'static str> {
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

pub(super) fn unquote(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix('`')
        .and_then(|t| t.strip_suffix('`'))
        .unwrap_or(t)
}

/// The daemon's own files under `state/`, which no order may name.
pub(super) const RESERVED_STATE: [&str; 5] = [
    "state/journal.jsonl",
    "state/ledger.json",
    "state/walt.lock",
    "state/logs",
    "state/decisions",
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
                "state/journal.jsonl, state/ledger.json, state/walt.lock, state/logs/ and state/decisions/ are never a work order's Files".into(),
            ));
        }
        if path.ends_with('/') || parts.len() > 2 {
            return Err((
                format!("`{shown}` is a folder under state/"),
                "under state/ only plain files directly in it may be named, each on its own".into(),
            ));
        }
        if trimmed.ends_with(".tmp") {
            return Err((
                format!("`{shown}` ends in `.tmp` under state/"),
                "a state file a specialist owns needs a name of its own, not a temporary one"
                    .into(),
            ));
        }
    }
    Ok(())
}

pub(super) fn branch(text: &str) -> Result<Branch, String> {
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

pub(super) fn order_header(
    scan: &Scan<'_>,
    ctx: Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> OrderHeader {
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
            "plan" => match OrderId::parse(value) {
                Some(id) => h.plan = Some(id),
                None => diags.push(Diagnostic::error(
                    line,
                    col,
                    format!("plan `{}` is not a plan's id", value.escape_debug()),
                )),
            },
            "part" => h.part = Some(value.clone()),
            "follows" => match OrderId::parse(value) {
                Some(id) => h.follows = Some(id),
                None => diags.push(Diagnostic::error(
                    line,
                    col,
                    format!("follows `{}` is not an order id", value.escape_debug()),
                )),
            },
            _ => {}
        }
    }
    h
}
