//! SPEC §6.4: every accepted order is a commit, by the specialist, of exactly what the order
//! changed; no hook runs; nothing else in the repository is swept in; nothing is committed as
//! walt; a rejected attempt's changes stay in the tree and the retry's brief lists them.

use std::process::Command;

use crate::common::*;

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Pat")
        .env("GIT_AUTHOR_EMAIL", "pat@example.com")
        .env("GIT_COMMITTER_NAME", "Pat")
        .env("GIT_COMMITTER_EMAIL", "pat@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A real repository at `repos/<name>` with one commit by a person, and hooks that leave a
/// trace if anything runs them.
fn repository(s: &Studio, name: &str) -> std::path::PathBuf {
    let dir = s.path(&format!("repos/{name}"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("src/lib.rs"), "pub fn widget() {}\n").unwrap();
    std::fs::write(dir.join("README.md"), "# app\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "start"]);
    let trace = s.path("hook-ran");
    for hook in [
        "pre-commit",
        "commit-msg",
        "post-commit",
        "reference-transaction",
        "post-index-change",
    ] {
        let p = dir.join(".git/hooks").join(hook);
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho {hook} >> {}\n", trace.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// A command agent that appends a line to each of its order's Files and reports `done`
/// listing them; on a first attempt, when `sloppy`, it leaves a bullet out (rejected at review).
fn agent(s: &Studio, sloppy: bool) {
    let path = s.script(
        "agent.sh",
        &format!(
            r#"files=$(awk '$0 == "**Files:**" {{on=1; next}} /^\*\*/ {{on=0}} on && /^- / {{print substr($0, 3)}}' "$WALT_ORDER_FILE")
for f in $files; do echo "// by chip, order $WALT_ORDER_ID" >> "${{f#repos/}}"; done
tick='[x]'
if {sloppy} && ! grep -q '^attempt: 2' "$WALT_ORDER_FILE"; then tick='[ ]'; fi
{{
printf -- '---\nre: %s\nfrom: chip\nstatus: done\n---\n**Outcome:** Done.\n\n**Acceptance:**\n' "$WALT_ORDER_ID"
awk -v tick="$tick" '$0 == "**Acceptance:**" {{on=1; next}} /^\*\*/ {{on=0}} on && /^- / {{n++; if (n < 3 || tick == "[x]") print "- [x] " substr($0, 3)}}' "$WALT_ORDER_FILE"
printf '\n**Touched:**\n'
for f in $files; do printf -- '- %s\n' "$f"; done
printf '\n**Note:** none\n'
}} > "$WALT_REPORT_FILE"
"#
        ),
    );
    s.chip_command(&path, "");
}

fn done_record(s: &Studio) -> serde_json::Value {
    s.journal()
        .into_iter()
        .find(|r| r["event"] == "order.done")
        .expect("order.done")
}

#[test]
fn an_accepted_order_is_one_commit_by_the_specialist_with_its_trailers_and_no_hook_runs() {
    let s = Studio::new();
    let app = repository(&s, "app");
    agent(&s, false);
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-commit", &["repos/app/src/lib.rs"]),
    );
    wait_for("the order done", || s.log_count("order.done") == 1);
    d.stop();
    let log = git(&app, &["log", "--format=%an <%ae>|%cn|%s", "main"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        vec![
            "chip <chip@walt.invalid>|chip|The widget m-commit is polished.",
            "Pat <pat@example.com>|Pat|start",
        ]
    );
    let body = git(&app, &["log", "-1", "--format=%B"]);
    assert!(
        body.contains("Walt-Order: 0001\nWalt-Attempt: 1\nWalt-Agent: chip"),
        "{body}"
    );
    assert_eq!(
        git(&app, &["show", "--name-only", "--format=", "HEAD"]).trim(),
        "src/lib.rs"
    );
    assert!(!git(&app, &["log", "--format=%an%n%cn"]).contains("walt"));
    assert!(
        !s.path("hook-ran").exists(),
        "a hook ran: {}",
        s.read("hook-ran")
    );
    // The tree is clean: the person's index knows the commit.
    assert_eq!(git(&app, &["status", "--porcelain"]), "");
    let sha = git(&app, &["rev-parse", "HEAD"]).trim().to_string();
    let done = done_record(&s);
    assert_eq!(done["commit"][0], format!("repos/app {sha}"), "{done}");
    let trace = stdout(&s.walt(&["trace", "0001"]));
    assert!(
        trace.contains(&format!("committed as {} in repos/app", &sha[..12])),
        "{trace}"
    );
}

#[test]
fn a_dirty_index_and_unrelated_changes_are_not_swept_into_the_commit() {
    let s = Studio::new();
    let app = repository(&s, "app");
    // The person has something staged, and something changed but not staged.
    std::fs::write(app.join("staged.txt"), "mine\n").unwrap();
    git(&app, &["add", "staged.txt"]);
    std::fs::write(app.join("README.md"), "# app, edited by hand\n").unwrap();
    agent(&s, false);
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-dirty", &["repos/app/src/lib.rs"]),
    );
    wait_for("the order done", || s.log_count("order.done") == 1);
    d.stop();
    assert_eq!(
        git(&app, &["show", "--name-only", "--format=", "HEAD"]).trim(),
        "src/lib.rs"
    );
    // Both of the person's changes are as they were.
    assert_eq!(
        git(&app, &["diff", "--cached", "--name-only"]).trim(),
        "staged.txt"
    );
    assert_eq!(git(&app, &["diff", "--name-only"]).trim(), "README.md");
    assert_eq!(
        std::fs::read_to_string(app.join("README.md")).unwrap(),
        "# app, edited by hand\n"
    );
}

#[test]
fn two_repositories_touched_by_one_order_get_one_commit_each() {
    let s = Studio::new();
    let app = repository(&s, "app");
    let lib = repository(&s, "lib");
    agent(&s, false);
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-two", &["repos/app/src/lib.rs", "repos/lib/src/lib.rs"]),
    );
    wait_for("the order done", || s.log_count("order.done") == 1);
    d.stop();
    for repo in [&app, &lib] {
        assert_eq!(
            git(repo, &["log", "--format=%an|%s", "-1"]).trim(),
            "chip|The widget m-two is polished."
        );
    }
    let done = done_record(&s);
    assert_eq!(done["commit"].as_array().unwrap().len(), 2, "{done}");
}

#[test]
fn a_rejected_attempts_changes_stay_in_the_tree_uncommitted_and_the_retry_lists_them() {
    let s = Studio::new();
    let app = repository(&s, "app");
    agent(&s, true);
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-reject", &["repos/app/src/lib.rs"]),
    );
    wait_for("the retry", || s.log_count("recovery.retry") == 1);
    let retry = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "recovery.retry")
        .unwrap();
    assert!(
        retry["reason"].as_str().unwrap().contains(
            "attempt 1's changes are still in the working tree, not committed: repos/app/src/lib.rs"
        ),
        "{retry}"
    );
    // Until the second attempt is accepted, nothing of the first is committed.
    wait_for("the order done", || s.log_count("order.done") == 1);
    d.stop();
    // Each attempt's run log went with it to done/; a restart takes them as they are.
    let done = s.ls("inbox/chip/done");
    for name in [
        "0001-the-widget-m-reject-is-polished.a1.log",
        "0001-the-widget-m-reject-is-polished.log",
    ] {
        assert!(done.contains(&name.to_string()), "{done:?}");
    }
    assert!(s.run_log("chip", "0001").contains("attempt 2, chip"));
    let d = Daemon::start(&s);
    d.stop();
    assert!(
        s.ls("inbox/chip/held").is_empty(),
        "{:?}",
        s.ls("inbox/chip/held")
    );
    let log = git(&app, &["log", "--format=%an|%b"]);
    assert_eq!(log.matches("chip|").count(), 1, "{log}");
    assert!(log.contains("Walt-Attempt: 2"), "{log}");
    // Both attempts' lines are in the one commit: the first's were left for the second.
    let text = git(&app, &["show", "HEAD:src/lib.rs"]);
    assert_eq!(text.matches("// by chip, order 0001").count(), 2, "{text}");
}

#[test]
fn with_commit_off_nothing_is_committed() {
    let s = Studio::new();
    let app = repository(&s, "app");
    s.edit_config("commit = true", "commit = false");
    agent(&s, false);
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-off", &["repos/app/src/lib.rs"]),
    );
    wait_for("the order done", || s.log_count("order.done") == 1);
    d.stop();
    assert_eq!(git(&app, &["log", "--format=%s"]).trim(), "start");
    assert!(done_record(&s).get("commit").is_none());
}

#[test]
fn a_run_cannot_make_the_daemons_commit_run_a_program_through_git_config() {
    // The attack: a profile that may write the daemon's ~/.gitconfig (as a careless profile
    // might), and an order whose Files include .gitattributes. The run plants a clean filter;
    // if the daemon's commit used that config, git would run the filter, unconfined, as the
    // daemon.
    let s = Studio::new();
    let app = repository(&s, "app");
    std::fs::write(s.home().join(".gitconfig"), "").unwrap();
    let marker = s.home().join("pwned");
    let path = s.script(
        "evil.sh",
        &format!(
            r#"printf '[filter "evil"]\n\tclean = "touch {m}; cat"\n\tsmudge = cat\n' >> "$HOME/.gitconfig"
echo '* filter=evil' > app/.gitattributes
echo '// evil' >> app/src/lib.rs
printf -- '---\nre: %s\nfrom: chip\nstatus: done\n---\n**Outcome:** Done.\n\n**Acceptance:**\n- [x] `cargo test` passes\n- [x] the widget shines in the demo\n- [x] the changelog names m-evil\n\n**Touched:**\n- repos/app/.gitattributes\n- repos/app/src/lib.rs\n\n**Note:** none\n' "$WALT_ORDER_ID" > "$WALT_REPORT_FILE"
"#,
            m = marker.display()
        ),
    );
    s.chip_command(&path, "write = [\"~/.gitconfig\"]");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for(
            "m-evil",
            &["repos/app/src/lib.rs", "repos/app/.gitattributes"],
        ),
    );
    wait_for("the order done", || s.log_count("order.done") == 1);
    d.stop();
    assert!(
        std::fs::read_to_string(s.home().join(".gitconfig"))
            .unwrap()
            .contains("filter"),
        "the run planted its filter (the attack was made)"
    );
    assert!(
        !marker.exists(),
        "the daemon's commit ran a program a run planted in its git config"
    );
    // And the commit was still made, as chip.
    assert_eq!(git(&app, &["log", "-1", "--format=%an"]).trim(), "chip");
}
