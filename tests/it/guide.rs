//! The README's walk-through, run as it is written: if a newcomer's first session breaks, this
//! fails. It also covers the errors a user meets first, each saying what to do.

use std::process::Command;

use crate::common::*;

fn walkthrough() -> String {
    block("walkthrough")
}

fn block(name: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split(&format!("<!-- {name}:start -->"))
        .nth(1)
        .and_then(|r| r.split(&format!("<!-- {name}:end -->")).next())
        .expect("README has the block");
    block
        .trim()
        .trim_start_matches("```sh")
        .trim_end_matches("```")
        .to_string()
}

fn run_block(script: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(&*WALT).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        // A step that fails must not leave the daemon holding the output pipes open.
        .arg(format!(
            "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}\n"
        ))
        .current_dir(dir.path())
        .env("PATH", path)
        .env("TMPDIR", dir.path())
        .env_remove("WALT_ROOT")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}\n{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn the_readme_plan_walkthrough_runs_as_written() {
    let (ok, text) = run_block(&block("plan-walkthrough"));
    assert!(ok, "the plan walk-through failed:\n{text}");
    assert!(text.contains("ok (plan)"), "{text}");
    assert!(text.contains("re: 0001\nstatus: done"), "{text}");
    assert!(
        text.contains("- [x] EXPLAIN for the force-route query shows an index scan — index (0002)"),
        "{text}"
    );
    assert!(text.contains("plan.answered"), "{text}");
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let (ok, text) = run_block(&walkthrough());
    assert!(ok, "the walk-through failed:\n{text}");
    assert!(text.contains("order.done"), "{text}");
    assert!(
        text.contains("0001-pipeline-items-has-an-index-on-used.report.md"),
        "{text}"
    );
    assert!(
        text.contains("rejected at review"),
        "the retry quotes the rejection:\n{text}"
    );
}

#[test]
fn commands_on_a_folder_that_is_not_a_studio_say_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["daemon"][..],
        &["status"],
        &["claim", "chip"],
        &["submit", "x.md"],
    ] {
        let o = Command::new(&*WALT)
            .arg("--root")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        assert!(stderr(&o).contains("walt init"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn unknown_agents_and_ids_are_named_with_what_exists() {
    let s = Studio::new();
    let o = s.walt(&["claim", "bob"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the agents are chip, rex"),
        "{}",
        stderr(&o)
    );
    let o = s.walt(&["trace", "0042"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("walt status"));
    assert_eq!(
        s.walt(&["report", "x", "--status", "done"]).status.code(),
        Some(2)
    );
    assert_eq!(
        s.walt(&["report", "1", "--status", "finished"])
            .status
            .code(),
        Some(2)
    );
}

/// Permission bits do not bind root, so the test runs walt as `nobody` on a studio only root
/// may enter.
#[test]
fn permission_denied_on_the_studio_says_so() {
    let s = Studio::new();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.root(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                &*WALT,
                "--root",
            ])
            .arg(s.root())
            .args(args)
            .output()
            .unwrap()
    };
    if unsafe { libc::geteuid() } != 0 {
        // Not root: the bits already bind us; run walt as ourselves on a studio we cannot enter.
        std::fs::set_permissions(s.root(), std::fs::Permissions::from_mode(0o000)).unwrap();
        let o = s.walt(&["status"]);
        std::fs::set_permissions(s.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(o.status.code(), Some(3));
        assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
        return;
    }
    for args in [&["status"][..], &["daemon"]] {
        let o = as_nobody(args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("Permission denied"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let o = Command::new(&*WALT)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("claim") && stdout(&o).contains("--follow"));
    let o = Command::new(&*WALT).arg("man").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains(".TH walt 1"));
}

#[test]
fn walt_log_filters_by_order_and_event() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order_own("m-a", ""));
    s.deliver("walt", "b.md", &order_own("m-b", ""));
    wait_for("two orders", || s.ls("inbox/chip/new").len() == 2);
    d.stop();
    let o = s.walt(&["log", "--order", "0002"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(
        text.lines().count() >= 3 && text.lines().all(|l| l.contains("order=0002")),
        "{text}"
    );
    let o = s.walt(&["log", "--event", "route."]);
    assert!(
        stdout(&o).lines().count() == 2 && stdout(&o).lines().all(|l| l.contains("route.decided"))
    );
}
