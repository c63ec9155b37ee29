//! `walt init` and `walt lint` through the real binary: layout, refusals, exit codes, and the
//! human-facing output (snapshots).

use crate::common::*;
use crate::parse_rules::{GOOD_ORDER, GOOD_REPORT};

#[test]
fn init_lays_out_the_studio_of_spec_section_1() {
    let s = Studio::new();
    for dir in [
        "config",
        "repos",
        "state",
        "state/logs",
        "inbox/walt/handoff",
    ] {
        assert!(s.path(dir).is_dir(), "{dir} missing");
    }
    for agent in ["walt", "human", "chip", "rex"] {
        for f in ["tmp", "new", "active", "done", "held"] {
            assert!(
                s.path(&format!("inbox/{agent}/{f}")).is_dir(),
                "inbox/{agent}/{f} missing"
            );
        }
    }
    let config = s.read("config/walt.toml");
    assert!(config.starts_with("# walt.toml"));
    assert!(config.contains("[agents.chip]") && config.contains("[agents.rex]"));
    assert!(walt::format::config::parse(&config).is_ok());
}

#[test]
fn init_refuses_to_overwrite_a_config() {
    let s = Studio::new();
    s.write("config/walt.toml", "# mine\n");
    let out = std::process::Command::new(&*WALT)
        .arg("init")
        .arg(s.root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(s.read("config/walt.toml"), "# mine\n");
}

#[test]
fn lint_exits_0_clean_0_with_warnings_1_with_errors() {
    let s = Studio::new();
    let good = s.write("good.md", GOOD_ORDER);
    let warn = s.write(
        "warn.md",
        &GOOD_ORDER.replace("- `cargo test -p pipeline` passes", "- ask Rex"),
    );
    let bad = s.write(
        "bad.md",
        &GOOD_ORDER.replace("used_force_route.", "used_force_route"),
    );
    let run = |p: &std::path::Path| s.walt(&["lint", p.to_str().unwrap()]).status.code();
    assert_eq!(run(&good), Some(0));
    assert_eq!(run(&warn), Some(0));
    assert_eq!(run(&bad), Some(1));
    let both = s.walt(&["lint", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(both.status.code(), Some(1));
    let missing = s.walt(&["lint", "/nonexistent/x.md"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stdout(&missing).contains("cannot read"));
    assert_eq!(
        s.walt(&["lint"]).status.code(),
        Some(2),
        "no file is a usage error"
    );
}

#[test]
fn lint_checks_route_to_against_the_studios_agents_only_with_a_studio() {
    let s = Studio::new();
    let p = s.write("o.md", &GOOD_ORDER.replace("route-to-rex", "route-to-bob"));
    let with_root = s.walt(&["lint", p.to_str().unwrap()]);
    assert_eq!(with_root.status.code(), Some(1));
    assert!(stdout(&with_root).contains("`bob` is not an agent of this studio"));
    let elsewhere = tempfile::tempdir().unwrap();
    let without = std::process::Command::new(&*WALT)
        .current_dir(elsewhere.path())
        .env_remove("WALT_ROOT")
        .args(["lint", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(without.status.code(), Some(0), "{}", stdout(&without));
}

#[test]
fn lint_with_a_broken_studio_config_exits_3() {
    let s = Studio::with_config("[walt]\nceilng = 1\n");
    let p = s.write("o.md", GOOD_ORDER);
    let out = s.walt(&["lint", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("walt.toml:2:1: error: unknown field `ceilng`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn snapshot_lint_of_a_broken_order() {
    let s = Studio::new();
    let text = "---\nto: chip\npriorty: high\n---\n## objective\nWill add an index. Then celebrate\n\n## Acceptance\n- looks good\n-\n\n## Files\n- /etc/passwd\n- repos/../state/journal.jsonl\n- repos/*.rs\n- state/ledger.json\n\n## Notes\n- hi\n\n## Branching\n- route-to-bob if x\n- escalate if y\n```sql\nSELECT 1;\n```\n";
    let p = s.write("bad.md", text);
    let out = s.walt(&["lint", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(scrub(&stdout(&out), &s));
}

#[test]
fn snapshot_lint_of_a_report_and_a_clean_order() {
    let s = Studio::new();
    let r = s.write(
        "r.md",
        &GOOD_REPORT
            .replace("- [x] EXPLAIN", "- [ ] EXPLAIN")
            .replace("from: chip", "form: chip"),
    );
    let o = s.write("o.md", GOOD_ORDER);
    let out = s.walt(&["lint", r.to_str().unwrap(), o.to_str().unwrap()]);
    insta::assert_snapshot!(scrub(&stdout(&out), &s));
}

#[test]
fn snapshot_lint_of_a_bad_config() {
    let s = Studio::new();
    let p = s.write("other.toml", "[walt]\nrotate_at = 8000\nceiling = 7000\n\n[agents.human]\n\n[agents.chip]\nlease = \"soon\"\nowns = [\"repos/[a\"]\nfallback = [\"bob\"]\n");
    let out = std::process::Command::new(&*WALT)
        .args(["lint", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(scrub(&stdout(&out), &s));
}

#[test]
fn lint_escapes_hostile_names_and_content() {
    let s = Studio::new();
    let p = s.write("evil\u{1b}[31m.md", "**Objective:** \u{1b}]0;pwned\u{7}x\n");
    let out = s.walt(&["lint", p.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
}
