//! The plan format (SPEC §9.1): the example from the spec lints clean, and each rule has a
//! case that fails with its line (inside a part, naming the part).

use walt::format::diagnostic::{Diagnostic, Severity};
use walt::format::parse::{self, Author, Context};
use walt::model::order::AgentName;

pub const PLAN: &str = "---
priority: normal
budget: 400000
deadline: 8h
---
**Goal:** The force-route query uses an index, and the change is audited.

**Acceptance:**
- EXPLAIN for the force-route query shows an index scan
- the audit of migration 0042 finds no lock held longer than a second
- `cargo test -p pipeline` passes

## Part: index
**Objective:** pipeline_items has an index on used_force_route.

**Acceptance:**
- migration 0042 applies cleanly on an empty database
- EXPLAIN for the force-route query shows an index scan
- `cargo test -p pipeline` passes

**Files:**
- repos/pipeline/migrations/0042_force_route_index.sql

**Branching:**
- halt-with-note if the column does not exist

## Part: audit
after: index
to: rex

**Objective:** Migration 0042 is audited for lock time.

**Acceptance:**
- the audit of migration 0042 finds no lock held longer than a second
- the audit names every statement it timed
- the audit's notes are in repos/pipeline/AUDIT.md

**Files:**
- repos/pipeline/AUDIT.md

**Branching:**
- route-to-chip if the migration must change
";

fn lint(text: &str) -> Vec<Diagnostic> {
    let agents = vec![
        AgentName::new("chip").unwrap(),
        AgentName::new("rex").unwrap(),
    ];
    parse::parse_plan(
        text.as_bytes(),
        Context {
            agents: Some(&agents),
            author: Author::Person,
        },
    )
    .diagnostics
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn has(d: &[Diagnostic], line: usize, needle: &str, case: &str) {
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.line == line && d.message.contains(needle)),
        "{case}: expected an error on line {line} containing {needle:?}, got {d:#?}"
    );
}

#[test]
fn the_spec_example_parses_and_lints_clean() {
    let agents = vec![
        AgentName::new("chip").unwrap(),
        AgentName::new("rex").unwrap(),
    ];
    let p = parse::parse_plan(
        PLAN.as_bytes(),
        Context {
            agents: Some(&agents),
            author: Author::Person,
        },
    );
    assert!(
        p.diagnostics.iter().all(|d| !d.is_error()),
        "{:#?}",
        p.diagnostics
    );
    let plan = p.value;
    assert_eq!(plan.parts.len(), 2);
    assert_eq!(plan.parts[1].after, vec!["index"]);
    assert_eq!(plan.parts[1].to.as_ref().unwrap().as_str(), "rex");
    assert_eq!(plan.budget, Some(400000));
    assert_eq!(plan.acceptance.len(), 3);
    assert!(parse::looks_like_plan(PLAN));
}

#[test]
fn every_plan_rule_names_its_line_and_part() {
    let unchecked = PLAN.replace(
        "- the audit of migration 0042 finds no lock held longer than a second\n- the audit names",
        "- the audit of every migration is filed\n- the audit names",
    );
    let l = line_of(&unchecked, "- the audit of migration 0042 finds no lock");
    has(
        &lint(&unchecked),
        l,
        "nothing would check",
        "a Goal bullet no part checks",
    );

    let optional = PLAN.replace("after: index\n", "after: index\noptional: true\n");
    let l = line_of(&optional, "- the audit of migration 0042 finds no lock");
    has(
        &lint(&optional),
        l,
        "no required part",
        "a Goal bullet only an optional part checks",
    );

    let cyclic = PLAN.replace("## Part: index\n", "## Part: index\nafter: audit\n");
    has(
        &lint(&cyclic),
        line_of(&cyclic, "## Part: index"),
        "cycle: index → audit → index",
        "an after cycle",
    );

    let unknown = PLAN.replace("after: index", "after: indx");
    has(
        &lint(&unknown),
        line_of(&unknown, "## Part: audit"),
        "names no part",
        "after an unknown part",
    );

    let twice = PLAN.replace("## Part: audit", "## Part: index");
    has(
        &lint(&twice),
        line_of(&twice, "after: index") - 1,
        "named twice",
        "a duplicate name",
    );

    let badname = PLAN.replace("## Part: audit", "## Part: Audit");
    has(
        &lint(&badname),
        line_of(&badname, "## Part: Audit"),
        "not [a-z]",
        "a bad part name",
    );

    let inside = PLAN.replace("- the audit's notes are in repos/pipeline/AUDIT.md\n", "");
    let acc = inside
        .lines()
        .enumerate()
        .filter(|(_, t)| *t == "**Acceptance:**")
        .map(|(i, _)| i + 1)
        .nth(2)
        .unwrap();
    has(
        &lint(&inside),
        acc,
        "part `audit`: ",
        "a §2 rule inside a part",
    );

    let files = PLAN.replace("- repos/pipeline/AUDIT.md", "- /etc/passwd");
    has(
        &lint(&files),
        line_of(&files, "- /etc/passwd"),
        "part `audit`",
        "a bad File inside a part",
    );

    let one = PLAN[..PLAN.find("## Part: audit").unwrap()].to_string();
    has(
        &lint(&one),
        line_of(&one, "## Part: index"),
        "2 to 20 parts",
        "a single part",
    );

    let front = PLAN.replace("priority: normal\n", "priority: normal\nto: chip\n");
    has(
        &lint(&front),
        line_of(&front, "to: chip"),
        "applies to a part",
        "to on the whole plan",
    );

    let key = PLAN.replace("to: rex\n", "to: rex\nowner: pat\n");
    has(
        &lint(&key),
        line_of(&key, "owner: pat"),
        "not a part's key",
        "an unknown key line",
    );

    let agent = PLAN.replace("to: rex\n", "to: bob\n");
    has(
        &lint(&agent),
        line_of(&agent, "to: bob"),
        "bob",
        "an unknown agent",
    );

    let goal = PLAN.replace(
        "**Goal:** The force-route query uses an index, and the change is audited.",
        "**Goal:**",
    );
    has(
        &lint(&goal),
        line_of(&goal, "**Goal:**"),
        "Goal is empty",
        "an empty goal",
    );

    let few = PLAN
        .replace(
            "- `cargo test -p pipeline` passes\n\n## Part: index",
            "\n## Part: index",
        )
        .replacen(
            "- the audit of migration 0042 finds no lock held longer than a second\n",
            "",
            1,
        );
    has(
        &lint(&few),
        line_of(&few, "**Acceptance:**"),
        "3 to 5",
        "a plan Acceptance of 1 bullet",
    );

    let budget = PLAN.replace("budget: 400000", "budget: lots");
    has(
        &lint(&budget),
        line_of(&budget, "budget: lots"),
        "budget",
        "a budget that is no number",
    );
}

#[test]
fn walt_lint_knows_a_plan_and_a_delivered_plan_is_accepted_and_its_first_part_written() {
    use crate::common::*;
    let s = Studio::new();
    let f = s.write("plan.md", PLAN);
    let out = s.walt(&["lint", &f.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("ok (plan)"), "{}", stdout(&out));
    let bad = s.write("bad.md", &PLAN.replace("after: index", "after: nothing"));
    let out = s.walt(&["lint", &bad.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("names no part"), "{}", stdout(&out));
    let d = Daemon::start(&s);
    s.deliver("walt", "plan.md", PLAN);
    wait_for("the first part", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    assert_eq!(s.ls("inbox/walt/active").len(), 1);
    assert!(s.ls("inbox/rex/new").is_empty(), "audit comes after index");
    let part = s.read(&format!("inbox/chip/new/{}", s.ls("inbox/chip/new")[0]));
    assert!(
        part.contains("part: index") && part.contains("**Objective:** pipeline_items has an index"),
        "{part}"
    );
}
