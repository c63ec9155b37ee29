//! A plan (SPEC §9.1): one goal, its Acceptance, and 2 to 20 parts, each a whole work order
//! under `## Part: <name>` with optional key lines (`after`, `to`, `override`, `optional`).
//! Each part is parsed by the one order parser; its diagnostics keep their lines in the plan
//! and name the part. Then the plan's own rules: names, `after` (unknown parts, cycles), and
//! every Goal bullet checked by at least one required part.

use crate::format::diagnostic::Diagnostic;
use crate::model::order::{AgentName, WorkOrder};

use super::order::objective;
use super::scan::{bullets, check_count, scan, sort, unknown_key};
use super::{decode, parse_order, Context, Parsed, MAX_BYTES};

/// The front matter a plan as a whole may carry.
const PLAN_KEYS: [&str; 3] = ["priority", "budget", "deadline"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// The line of its `## Part:` header.
    pub line: usize,
    pub after: Vec<String>,
    pub to: Option<AgentName>,
    pub override_reason: Option<String>,
    pub optional: bool,
    pub order: WorkOrder,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub goal: String,
    pub acceptance: Vec<String>,
    pub priority: Option<String>,
    pub budget: Option<u64>,
    pub deadline: Option<String>,
    pub parts: Vec<Part>,
}

/// Whether a text is a plan: a `**Goal:**` (or `## Goal`) and a `## Part:` header.
pub fn looks_like_plan(text: &str) -> bool {
    let goal = text
        .lines()
        .any(|l| l.starts_with("**Goal:**") || l.trim() == "## Goal");
    goal && text.lines().any(|l| l.starts_with("## Part:"))
}

fn normal(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
}

pub fn parse_plan(bytes: &[u8], ctx: Context<'_>) -> Parsed<Plan> {
    let (text, mut diags) = decode(bytes);
    let mut plan = Plan::default();
    if bytes.len() > MAX_BYTES {
        return Parsed {
            value: plan,
            diagnostics: diags,
        };
    }
    let lines: Vec<&str> = text.lines().collect();
    let heads: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("## Part:"))
        .map(|(i, _)| i)
        .collect();
    let head_end = heads.first().copied().unwrap_or(lines.len());

    // The plan's head: front matter, Goal, Acceptance.
    let head_text = lines[..head_end].join("\n") + "\n";
    let head = scan(&head_text, &["Goal", "Acceptance"]);
    diags.extend(head.diagnostics.iter().cloned());
    for (key, value, line) in &head.front {
        match key.as_str() {
            "priority" => {
                if !["low", "normal", "high"].contains(&value.as_str()) {
                    diags.push(Diagnostic::error(
                        *line,
                        1,
                        format!("priority `{value}`: use low, normal or high"),
                    ));
                }
                plan.priority = Some(value.clone());
            }
            "budget" => match value.split_whitespace().next().unwrap_or("").parse::<u64>() {
                Ok(n) if n > 0 => plan.budget = Some(n),
                _ => diags.push(
                    Diagnostic::error(
                        *line,
                        1,
                        format!("budget `{value}` is not a whole number of tokens"),
                    )
                    .help("the tokens the whole plan may spend, e.g. `budget: 400000`"),
                ),
            },
            "deadline" => {
                let v = value.split_whitespace().next().unwrap_or("");
                match crate::format::config::duration(v) {
                    Ok(_) => plan.deadline = Some(v.to_string()),
                    Err(e) => diags.push(Diagnostic::error(*line, 1, format!("deadline: {e}"))),
                }
            }
            "to" | "override" | "blocked-by" => diags.push(
                Diagnostic::error(
                    *line,
                    1,
                    format!("`{key}` applies to a part, not to the whole plan"),
                )
                .help("put it among the part's key lines, under its `## Part:` header"),
            ),
            _ => diags.push(unknown_key(*line, key, &PLAN_KEYS)),
        }
    }
    match head.section("Goal") {
        Some(s) => {
            let mut goal_diags = Vec::new();
            plan.goal = objective(s, &mut goal_diags);
            diags.extend(goal_diags.into_iter().map(|mut d| {
                d.message = d.message.replace("Objective", "Goal");
                d
            }));
        }
        None => diags.push(
            Diagnostic::error(
                0,
                1,
                "a plan needs a `**Goal:**`: one sentence, the outcome of the whole",
            )
            .help("then its Acceptance (3 to 5 bullets), then 2 to 20 `## Part: <name>` sections"),
        ),
    }
    let mut goal_bullets = Vec::new();
    match head.section("Acceptance") {
        Some(s) => {
            let b = bullets(s, &mut diags);
            check_count(
                s,
                b.len(),
                3,
                5,
                "the plan's Acceptance",
                "bullets",
                &mut diags,
            );
            plan.acceptance = b.iter().map(|b| b.text.clone()).collect();
            goal_bullets = b;
        }
        None => diags.push(Diagnostic::error(
            0,
            1,
            "a plan needs its own **Acceptance:** (3 to 5 bullets)",
        )),
    }

    // The parts.
    if heads.len() < 2 || heads.len() > 20 {
        let line = heads.first().map_or(0, |h| h + 1);
        diags.push(
            Diagnostic::error(
                line,
                1,
                format!("a plan has 2 to 20 parts; this one has {}", heads.len()),
            )
            .help("one part is a work order: submit it as one"),
        );
    }
    for (n, &h) in heads.iter().enumerate() {
        let end = heads.get(n + 1).copied().unwrap_or(lines.len());
        let name = lines[h].trim_start_matches("## Part:").trim().to_string();
        let hl = h + 1;
        let mut part = Part {
            name: name.clone(),
            line: hl,
            ..Part::default()
        };
        if !valid_name(&name) {
            diags.push(
                Diagnostic::error(
                    hl,
                    10,
                    format!("part name `{}` is not [a-z][a-z0-9-]*", name.escape_debug()),
                )
                .help("e.g. `## Part: index`"),
            );
        }
        if plan.parts.iter().any(|p| p.name == name) {
            diags.push(Diagnostic::error(
                hl,
                10,
                format!("part `{name}` is named twice"),
            ));
        }
        // Key lines, then the part's work order.
        let mut i = h + 1;
        while i < end {
            let l = lines[i];
            let Some((key, value)) = l.split_once(':').filter(|(k, _)| {
                !k.starts_with('*') && !k.starts_with('#') && !k.contains(' ') && !k.is_empty()
            }) else {
                break;
            };
            let value = value.trim();
            match key {
                "after" => {
                    part.after = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                "to" => match AgentName::new(value) {
                    Ok(a) => {
                        if let Some(agents) = ctx.agents {
                            if !agents.contains(&a) {
                                diags.push(super::scan::unknown_agent(i + 1, 5, &a, agents));
                            }
                        }
                        part.to = Some(a);
                    }
                    Err(e) => {
                        diags.push(Diagnostic::error(i + 1, 5, format!("part `{name}`: {e}")))
                    }
                },
                "override" => {
                    if value.is_empty() {
                        diags.push(Diagnostic::error(
                            i + 1,
                            1,
                            format!("part `{name}`: `override` needs a reason"),
                        ));
                    }
                    part.override_reason = Some(value.to_string());
                }
                "optional" => match value {
                    "true" => part.optional = true,
                    "false" => {}
                    _ => diags.push(Diagnostic::error(
                        i + 1,
                        11,
                        format!("part `{name}`: optional is `true` or `false`"),
                    )),
                },
                other => diags.push(
                    Diagnostic::error(
                        i + 1,
                        1,
                        format!("part `{name}`: `{other}` is not a part's key"),
                    )
                    .help("a part's key lines are after, to, override and optional"),
                ),
            }
            i += 1;
        }
        let body = lines[i..end].join("\n") + "\n";
        let parsed = parse_order(body.as_bytes(), ctx);
        for mut d in parsed.diagnostics {
            d.line = if d.line == 0 { hl } else { d.line + i };
            d.message = format!("part `{name}`: {}", d.message);
            diags.push(d);
        }
        part.order = parsed.value;
        plan.parts.push(part);
    }
    let names: Vec<String> = plan.parts.iter().map(|p| p.name.clone()).collect();
    for p in &plan.parts {
        for a in &p.after {
            if a == &p.name {
                diags.push(Diagnostic::error(
                    p.line,
                    1,
                    format!("part `{}` comes after itself", p.name),
                ));
            } else if !names.contains(a) {
                diags.push(
                    Diagnostic::error(
                        p.line,
                        1,
                        format!("part `{}`: `after: {a}` names no part of this plan", p.name),
                    )
                    .help(format!("the parts are {}", names.join(", "))),
                );
            }
        }
    }
    if let Some(cycle) = cycle(&plan.parts) {
        let first = plan
            .parts
            .iter()
            .find(|p| p.name == cycle[0])
            .map_or(0, |p| p.line);
        diags.push(
            Diagnostic::error(
                first,
                1,
                format!("`after` makes a cycle: {}", cycle.join(" → ")),
            )
            .help("a part can only wait for parts that do not wait for it"),
        );
    }
    // Every Goal bullet is checked by some required part.
    for b in &goal_bullets {
        let checked = plan.parts.iter().filter(|p| !p.optional).any(|p| {
            p.order
                .acceptance
                .iter()
                .any(|a| normal(a) == normal(&b.text))
        });
        if !checked {
            diags.push(
                Diagnostic::error(
                    b.line,
                    b.col,
                    format!(
                        "nothing would check `{}`: no required part's Acceptance has it",
                        b.text
                    ),
                )
                .help("repeat it, word for word, in the Acceptance of a part that is not optional"),
            );
        }
    }
    sort(&mut diags);
    Parsed {
        value: plan,
        diagnostics: diags,
    }
}

/// A cycle among the parts' `after`, as the names around it (first repeated at the end).
fn cycle(parts: &[Part]) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        parts: &[Part],
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = path.iter().position(|p| p == n) {
            let mut c = path[pos..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.iter().any(|d| d == n) {
            return None;
        }
        path.push(n.to_string());
        if let Some(p) = parts.iter().find(|p| p.name == n) {
            for a in &p.after {
                if a != n {
                    if let Some(c) = visit(a, parts, path, done) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        done.push(n.to_string());
        None
    }
    let mut done = Vec::new();
    for p in parts {
        if let Some(c) = visit(&p.name, parts, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}
