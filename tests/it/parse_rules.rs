//! Every rule of work orders and reports: a table of breaches, each of which must
//! give its diagnostic on the right line, and clean inputs that must give none.

use walt::format::diagnostic::{Diagnostic, Severity};
use walt::format::parse::{self, Author, Context};
use walt::model::order::{AgentName, Branch, Status};

pub const GOOD_ORDER: &str = "---
to: chip
priority: normal
---
**Objective:** pipeline_items has an index on used_force_route.

**Acceptance:**
- `cargo test -p pipeline` passes
- migration 0042 applies cleanly on an empty database
- EXPLAIN for the force-route query shows an index scan

**Files:**
- repos/pipeline/migrations/0042_force_route_index.sql

**Branching:**
- halt-with-note if the column does not exist
- route-to-rex if the query plan needs an audit
- requeue-with-blocker if migration 0041 is not merged
";

pub const GOOD_REPORT: &str = "---
re: 0042
from: chip
status: done
---
**Outcome:** pipeline_items has an index on used_force_route.

**Acceptance:**
- [x] `cargo test -p pipeline` passes — 48 passed
- [x] migration 0042 applies cleanly on an empty database
- [x] EXPLAIN for the force-route query shows an index scan

**Touched:**
- repos/pipeline/migrations/0042_force_route_index.sql

**Note:** none
";

fn agents() -> Vec<AgentName> {
    ["chip", "rex"]
        .iter()
        .map(|a| AgentName::new(a).unwrap())
        .collect()
}

fn order_diags(text: &str, author: Author) -> Vec<Diagnostic> {
    let agents = agents();
    parse::parse_order(
        text.as_bytes(),
        Context {
            agents: Some(&agents),
            author,
        },
    )
    .diagnostics
}

fn report_diags(text: &str) -> Vec<Diagnostic> {
    let agents = agents();
    parse::parse_report(
        text.as_bytes(),
        Context {
            agents: Some(&agents),
            author: Author::Person,
        },
    )
    .diagnostics
}

fn assert_has(diags: &[Diagnostic], sev: Severity, line: usize, needle: &str, case: &str) {
    assert!(
        diags
            .iter()
            .any(|d| d.severity == sev && d.line == line && d.message.contains(needle)),
        "case {case:?}: expected {sev:?} on line {line} containing {needle:?}, got {diags:#?}"
    );
}

#[test]
fn the_good_order_and_report_are_clean() {
    assert_eq!(order_diags(GOOD_ORDER, Author::Person), vec![]);
    assert_eq!(order_diags(GOOD_ORDER, Author::Walt), vec![]);
    assert_eq!(report_diags(GOOD_REPORT), vec![]);
    let p = parse::parse_order(GOOD_ORDER.as_bytes(), Context::default());
    assert_eq!(
        p.value.objective,
        "pipeline_items has an index on used_force_route."
    );
    assert_eq!(p.value.acceptance.len(), 3);
    assert_eq!(p.value.acceptance[0], "`cargo test -p pipeline` passes");
    assert_eq!(
        p.value.files,
        vec!["repos/pipeline/migrations/0042_force_route_index.sql"]
    );
    assert!(
        matches!(&p.value.branching[1], Branch::RouteTo(a, c) if a.as_str() == "rex" && c == "the query plan needs an audit")
    );
    let r = parse::parse_report(GOOD_REPORT.as_bytes(), Context::default()).value;
    assert_eq!(r.header.status, Some(Status::Done));
    assert_eq!(r.acceptance[0].evidence.as_deref(), Some("48 passed"));
    assert_eq!(r.acceptance[0].text, "`cargo test -p pipeline` passes");
}

#[test]
fn both_label_forms_parse_alike_and_case_does_not_matter() {
    let heading = GOOD_ORDER
        .replace("**Objective:** ", "## Objective\n")
        .replace("**Acceptance:**", "## acceptance")
        .replace("**Files:**", "### FILES:")
        .replace("**Branching:**", "**branching**:");
    assert_eq!(order_diags(&heading, Author::Person), vec![]);
    let a = parse::parse_order(GOOD_ORDER.as_bytes(), Context::default()).value;
    let b = parse::parse_order(heading.as_bytes(), Context::default()).value;
    assert_eq!(a, b);
}

#[test]
fn canonical_rendering_round_trips_and_lints_clean_as_walt() {
    let mut o = parse::parse_order(GOOD_ORDER.as_bytes(), Context::default()).value;
    o.header.id = Some(walt::model::order::OrderId(42));
    o.header.from = Some("walt".into());
    o.header.attempt = Some(1);
    o.header.reason = Some("owns repos/**/*.sql\nforged: yes".into());
    let text = parse::render_order(&o);
    assert!(
        text.contains("reason: owns repos/**/*.sql forged: yes\n"),
        "{text}"
    );
    let again = parse::parse_order(
        text.as_bytes(),
        Context {
            agents: None,
            author: Author::Walt,
        },
    );
    assert_eq!(again.diagnostics, vec![]);
    o.header.reason = Some("owns repos/**/*.sql forged: yes".into());
    assert_eq!(again.value, o);
    let r = parse::parse_report(GOOD_REPORT.as_bytes(), Context::default()).value;
    let back = parse::parse_report(parse::render_report(&r).as_bytes(), Context::default());
    assert_eq!(back.diagnostics, vec![]);
    assert_eq!(back.value, r);
}

/// (case, text, severity, line, message fragment) for work orders.
#[test]
fn every_order_rule_names_its_line() {
    use Severity::{Error as E, Warning as W};
    let g = GOOD_ORDER;
    let cases: Vec<(&str, String, Severity, usize, &str)> = vec![
        ("objective empty", g.replace("**Objective:** pipeline_items has an index on used_force_route.", "**Objective:**"), E, 5, "Objective is empty"),
        ("objective no full stop", g.replace("used_force_route.", "used_force_route"), E, 5, "must end with `.`"),
        ("objective two lines", g.replace("used_force_route.\n", "used_force_route.\nand more.\n"), E, 6, "one sentence on one line"),
        ("objective two sentences", g.replace("used_force_route.", "used_force_route. It is fast."), W, 5, "more than one sentence"),
        ("objective opener will", g.replace("**Objective:** pipeline_items", "**Objective:** Will make pipeline_items"), W, 5, "opens with `will`"),
        ("objective opener please", g.replace("**Objective:** pipeline_items", "**Objective:** Please give pipeline_items"), W, 5, "opens with `please`"),
        ("objective opener should", g.replace("**Objective:** pipeline_items", "**Objective:** Should pipeline_items"), W, 5, "opens with `should`"),
        ("acceptance too few", g.replace("- EXPLAIN for the force-route query shows an index scan\n", "").replace("- migration 0042 applies cleanly on an empty database\n", ""), E, 7, "needs 3 to 5"),
        ("acceptance too many", g.replace("- `cargo test -p pipeline` passes\n", "- a\n- b\n- c\n- d\n"), E, 7, "needs 3 to 5"),
        ("acceptance empty bullet", g.replace("- `cargo test -p pipeline` passes", "-"), E, 8, "empty Acceptance bullet"),
        ("acceptance ask", g.replace("- `cargo test -p pipeline` passes", "- ask Rex whether it is fine"), W, 8, "`ask`"),
        ("acceptance looks good", g.replace("- `cargo test -p pipeline` passes", "- the schema looks good"), W, 8, "`looks good`"),
        ("acceptance as discussed", g.replace("- `cargo test -p pipeline` passes", "- works as discussed"), W, 8, "`as discussed`"),
        ("acceptance tbd", g.replace("- `cargo test -p pipeline` passes", "- latency target TBD"), W, 8, "`tbd`"),
        ("acceptance not a bullet", g.replace("- `cargo test -p pipeline` passes", "cargo test passes"), E, 8, "expected a `- ` bullet"),
        ("files none", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql\n", ""), E, 12, "needs at least 1"),
        ("files absolute", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- /etc/passwd"), E, 13, "absolute path"),
        ("files dotdot", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- repos/../state/x"), E, 13, "`..`"),
        ("files glob", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- repos/**/*.sql"), E, 13, "glob character"),
        ("files outside", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- src/main.rs"), E, 13, "not under repos/ or state/"),
        ("files journal", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/journal.jsonl"), E, 13, "daemon's own"),
        ("files ledger", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/ledger.json"), E, 13, "daemon's own"),
        ("files lock", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/walt.lock"), E, 13, "daemon's own"),
        ("files logs", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/logs/walt.jsonl"), E, 13, "daemon's own"),
        ("files logs folder", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/logs/"), E, 13, "daemon's own"),
        ("files state folder", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/"), E, 13, "daemon's own"),
        ("files decisions", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/decisions/1-0001-cancel.json"), E, 13, "daemon's own"),
        ("files folder under state", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/cache/"), E, 13, "a folder under state/"),
        ("files nested under state", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/cache/x.json"), E, 13, "a folder under state/"),
        ("files tmp under state", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- state/notes.tmp"), E, 13, "`.tmp`"),
        ("files double slash", g.replace("- repos/pipeline/migrations/0042_force_route_index.sql", "- repos//x.sql"), E, 13, "not a plain path"),
        ("branching none", g.replace("- halt-with-note if the column does not exist\n- route-to-rex if the query plan needs an audit\n- requeue-with-blocker if migration 0041 is not merged\n", ""), E, 15, "needs 1 to 3"),
        ("branching four", g.replace("- halt-with-note if the column does not exist\n", "- halt-with-note if a\n- halt-with-note if b\n"), E, 15, "needs 1 to 3"),
        ("branching bad action", g.replace("- halt-with-note if the column does not exist", "- escalate if the column does not exist"), E, 16, "not a Branching action"),
        ("branching no if", g.replace("- halt-with-note if the column does not exist", "- halt-with-note"), E, 16, "no ` if <condition>`"),
        ("branching empty condition", g.replace("- halt-with-note if the column does not exist", "- halt-with-note if  "), E, 16, "condition after `if` is empty"),
        ("branching unknown agent", g.replace("route-to-rex", "route-to-rox"), E, 17, "`rox` is not an agent"),
        ("branching bad agent name", g.replace("route-to-rex", "route-to-Rex"), E, 17, "not an agent name"),
        ("unknown section", g.replace("**Files:**", "**Notes:**\n- x\n\n**Files:**"), E, 12, "unknown section `Notes`"),
        ("section twice", format!("{g}\n**Files:**\n- repos/a.sql\n"), E, 20, "appears twice"),
        ("out of order", g.replace("**Files:**\n- repos/pipeline/migrations/0042_force_route_index.sql\n\n", "") + "\n**Files:**\n- repos/a.sql\n", E, 17, "out of order"),
        ("missing section", g.replace("**Files:**\n- repos/pipeline/migrations/0042_force_route_index.sql\n", ""), E, 0, "missing section `Files`"),
        ("text outside", g.replace("---\n**Objective:**", "---\nhello\n**Objective:**"), E, 5, "text outside any section"),
        ("unknown key suggests", g.replace("priority: normal", "priorty: high"), E, 3, "unknown front matter key `priorty`"),
        ("bad priority", g.replace("priority: normal", "priority: urgent"), E, 3, "not low, normal or high"),
        ("bad blocked-by", g.replace("priority: normal", "blocked-by: soon"), E, 3, "not an order id"),
        ("override empty", g.replace("priority: normal", "override:"), E, 3, "needs a reason"),
        ("to unknown", g.replace("to: chip", "to: chop"), E, 2, "`chop` is not an agent"),
        ("to bad", g.replace("to: chip", "to: ../state"), E, 2, "not an agent name"),
        ("front matter unclosed", g.replacen("---\n**Objective", "**Objective", 1), E, 1, "not closed"),
        ("front matter twice", g.replace("priority: normal", "to: rex"), E, 3, "set twice"),
        ("daemon key by a person", g.replace("priority: normal", "id: 0009"), W, 3, "set by the daemon"),
        ("fence by a person", g.replace("**Files:**", "```sql\nSELECT 1;\n```\n**Files:**"), W, 12, "fenced code block"),
        ("unclosed fence", g.replace("**Files:**", "```sql\n**Files:**"), E, 12, "not closed"),
    ];
    for (case, text, sev, line, needle) in &cases {
        assert_has(
            &order_diags(text, Author::Person),
            *sev,
            *line,
            needle,
            case,
        );
    }
}

#[test]
fn a_fence_walt_authors_is_an_error_with_the_artifact_signal() {
    let text = GOOD_ORDER.replace("**Files:**", "```sql\nSELECT 1;\n```\n**Files:**");
    let d = order_diags(&text, Author::Walt);
    assert!(
        d.iter()
            .any(|d| d.is_error() && d.signal == Some("artifact") && d.line == 12),
        "{d:#?}"
    );
}

#[test]
fn warnings_are_not_errors() {
    let text = GOOD_ORDER.replace("- `cargo test -p pipeline` passes", "- ask Rex");
    let d = order_diags(&text, Author::Person);
    assert!(!d.is_empty());
    assert!(!walt::format::diagnostic::has_errors(&d));
}

#[test]
fn every_report_rule_names_its_line() {
    use Severity::{Error as E, Warning as W};
    let g = GOOD_REPORT;
    let cases: Vec<(&str, String, Severity, usize, &str)> = vec![
        (
            "bad status",
            g.replace("status: done", "status: finished"),
            E,
            4,
            "not one of",
        ),
        (
            "missing status",
            g.replace("status: done\n", ""),
            E,
            1,
            "needs `status:`",
        ),
        (
            "missing re",
            g.replace("re: 0042\n", ""),
            E,
            1,
            "needs `re:`",
        ),
        (
            "bad re",
            g.replace("re: 0042", "re: the index"),
            E,
            2,
            "not an order id",
        ),
        (
            "rerouted without route-to",
            g.replace("status: done", "status: rerouted")
                .replace("**Note:** none", "**Note:** rex owns it"),
            E,
            4,
            "needs `route-to",
        ),
        (
            "blocked without blocker",
            g.replace("status: done", "status: blocked")
                .replace("**Note:** none", "**Note:** waits"),
            E,
            4,
            "needs `blocker",
        ),
        (
            "route-to when done",
            g.replace("status: done", "status: done\nroute-to: rex"),
            E,
            5,
            "only for status `rerouted`",
        ),
        (
            "failed without note",
            g.replace("status: done", "status: failed")
                .replace("- [x] EXPLAIN", "- [ ] EXPLAIN"),
            E,
            16,
            "needs a Note",
        ),
        (
            // SPEC §3: a contradiction is rejected at review, so lint warns.
            "done with an unticked bullet",
            g.replace("- [x] EXPLAIN", "- [ ] EXPLAIN"),
            W,
            8,
            "not ticked",
        ),
        (
            "failed with all ticked",
            g.replace("status: done", "status: failed")
                .replace("**Note:** none", "**Note:** it broke"),
            W,
            8,
            "every Acceptance bullet is ticked",
        ),
        (
            "untickable line",
            g.replace("- [x] EXPLAIN", "- EXPLAIN"),
            E,
            11,
            "starts with `[x]` or `[ ]`",
        ),
        (
            "touched outside",
            g.replace(
                "- repos/pipeline/migrations/0042_force_route_index.sql",
                "- /etc/passwd",
            ),
            E,
            14,
            "absolute",
        ),
        (
            "unknown key",
            g.replace("from: chip", "form: chip"),
            E,
            3,
            "unknown front matter key `form`",
        ),
        (
            "route-to unknown",
            g.replace("status: done", "status: rerouted\nroute-to: bob")
                .replace("**Note:** none", "**Note:** x"),
            E,
            5,
            "`bob` is not an agent",
        ),
        (
            "outcome empty",
            g.replace(
                "**Outcome:** pipeline_items has an index on used_force_route.",
                "**Outcome:**",
            ),
            E,
            6,
            "Outcome is empty",
        ),
    ];
    for (case, text, sev, line, needle) in &cases {
        assert_has(&report_diags(text), *sev, *line, needle, case);
    }
}

#[test]
fn non_utf8_nul_and_oversize_get_clear_errors() {
    let mut bytes = GOOD_ORDER.as_bytes().to_vec();
    bytes.splice(40..40, [0xff, 0xfe]);
    let d = parse::parse_order(&bytes, Context::default()).diagnostics;
    assert!(
        d.iter()
            .any(|d| d.message.starts_with("not UTF-8") && d.line == 5),
        "{d:#?}"
    );
    let d = parse::parse_order(b"**Objective:** a\0b.\n", Context::default()).diagnostics;
    assert!(d.iter().any(|d| d.message.contains("NUL")));
    let big = format!("{GOOD_ORDER}{}", "x".repeat(70_000));
    let d = parse::parse_order(big.as_bytes(), Context::default()).diagnostics;
    assert!(d.iter().any(|d| d.message.contains("at most 64 KiB")));
    // A BOM is UTF-8 and is not a problem.
    let bom = format!("\u{feff}{GOOD_ORDER}");
    assert_eq!(order_diags(&bom, Author::Person), vec![]);
}

#[test]
fn a_file_is_a_report_when_it_says_so() {
    assert!(parse::looks_like_report(GOOD_REPORT));
    assert!(!parse::looks_like_report(GOOD_ORDER));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn markdownish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("---\n".to_string()),
            Just("**Objective:** ".to_string()),
            Just("**Acceptance:**\n".to_string()),
            Just("## Files\n".to_string()),
            Just("**Branching:**\n".to_string()),
            Just("**Outcome:** ".to_string()),
            Just("**Touched:**\n".to_string()),
            Just("**Note:** ".to_string()),
            Just("- ".to_string()),
            Just("- [x] ".to_string()),
            Just("```\n".to_string()),
            Just("route-to-".to_string()),
            Just(" if ".to_string()),
            Just("re: 0001\nstatus: done\n".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            "[a-z/.*: \\-é\u{0}\u{1b}]{0,12}",
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse::parse_any(&bytes, Context::default());
            let _ = parse::parse_order(&bytes, Context { agents: Some(&agents()), author: Author::Walt });
            let _ = parse::parse_report(&bytes, Context::default());
        }

        #[test]
        fn arbitrary_markdown_never_panics_and_diagnostics_point_into_the_file(text in markdownish()) {
            let lines = text.split('\n').count();
            for d in parse::parse_order(text.as_bytes(), Context::default()).diagnostics
                .into_iter()
                .chain(parse::parse_report(text.as_bytes(), Context::default()).diagnostics)
            {
                prop_assert!(d.line <= lines, "{d:?} past the end of {lines} lines");
                prop_assert!(d.col >= 1);
            }
            let linted = walt::cmd::lint::lint("x.md", text.as_bytes(), None);
            let _ = walt::cmd::lint::render("x.md", &linted);
        }

        #[test]
        fn whatever_parses_clean_renders_to_itself(text in markdownish()) {
            let p = parse::parse_order(text.as_bytes(), Context::default());
            if p.is_ok() {
                let again = parse::parse_order(parse::render_order(&p.value).as_bytes(), Context::default());
                prop_assert!(again.is_ok(), "{:?}", again.diagnostics);
                prop_assert_eq!(again.value, p.value);
            }
        }
    }
}
