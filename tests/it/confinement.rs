//! Confinement, tried as an attacker would: for each right a run does not have, a hostile
//! command agent tries to use it, and the test checks that the world is unchanged (files byte
//! for byte, no process left, the daemon still routing). Each of these got through before the
//! sandbox of `daemon/runner/` (run them with `WALT_BIN` naming an older `walt` to see it).

use std::os::unix::fs::FileTypeExt;

use crate::common::*;

/// A script body that reports `done` on `order_for(marker, …)`, touching `touched`.
fn report_done(marker: &str, touched: &str) -> String {
    format!(
        "printf -- '---\\nre: %s\\nfrom: chip\\nstatus: done\\n---\\n**Outcome:** Done.\\n\\n**Acceptance:**\\n- [x] `cargo test` passes\\n- [x] the widget shines in the demo\\n- [x] the changelog names {marker}\\n\\n**Touched:**\\n- {touched}\\n\\n**Note:** none\\n' \"$WALT_ORDER_ID\" > \"$WALT_REPORT_FILE\"\n"
    )
}

/// A repository under `repos/app` with a `.git` a hook could be planted in.
fn repo(s: &Studio) {
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    s.write("repos/app/.git/config", "[core]\n\tbare = false\n");
    s.write("repos/app/.git/HEAD", "ref: refs/heads/main\n");
    std::fs::create_dir_all(s.path("repos/app/.git/hooks")).unwrap();
}

fn git_untouched(s: &Studio) {
    assert_eq!(s.read("repos/app/.git/config"), "[core]\n\tbare = false\n");
    assert!(
        s.ls("repos/app/.git/hooks").is_empty(),
        "a hook was planted: {:?}",
        s.ls("repos/app/.git/hooks")
    );
}

/// Runs one order by the hostile `script` and waits until its run has ended.
fn run(s: &Studio, script: &str, order: &str) -> Daemon {
    let path = s.script("hostile.sh", script);
    s.chip_command(&path, "");
    let d = Daemon::start(s);
    s.deliver("walt", "a.md", order);
    wait_for("the run to end", || s.log_count("order.ran") >= 1);
    d
}

fn journal_says(s: &Studio, words: &str) -> bool {
    s.journal()
        .iter()
        .any(|r| r["reason"].as_str().is_some_and(|x| x.contains(words)))
}

#[test]
fn a_file_that_does_not_exist_yet_grants_that_one_file_and_nothing_beside_it() {
    let s = Studio::new();
    repo(&s);
    let script = format!(
        "echo '// new' > app/newdir/x.rs\n\
         echo hostile > app/newdir/y.rs\n\
         echo hostile > app/src/widget.rs\n\
         printf '#!/bin/sh\\necho pwned\\n' > app/.git/hooks/pre-commit\n\
         printf '[core]\\n\\tfsmonitor = /tmp/pwn\\n' >> app/.git/config\n\
         echo hostile > z.rs\n{}",
        report_done("m-new", "repos/app/newdir/x.rs")
    );
    let d = run(
        &s,
        &script,
        &order_for(
            "m-new",
            &["repos/app/newdir/x.rs", "repos/app/newdir/unused.rs"],
        ),
    );
    wait_for("the order done", || {
        s.events("0001").contains(&"order.done".to_string())
    });
    d.stop();
    assert_eq!(s.read("repos/app/newdir/x.rs"), "// new\n");
    assert_eq!(
        s.ls("repos/app/newdir"),
        vec!["x.rs".to_string()],
        "beside its File nothing was made, and the File it left alone is not left empty"
    );
    assert_eq!(s.read("repos/app/src/widget.rs"), "fn widget() {}\n");
    assert!(!s.path("repos/z.rs").exists());
    git_untouched(&s);
}

#[test]
fn a_folder_grant_keeps_every_git_beneath_it_read_only() {
    let s = Studio::new();
    repo(&s);
    let script = format!(
        "echo '# notes' > app/NOTES.md\n\
         printf '#!/bin/sh\\necho pwned\\n' > app/.git/hooks/post-checkout\n\
         echo '[alias]' >> app/.git/config\n\
         rm -f app/.git/HEAD\n{}",
        report_done("m-folder", "repos/app/NOTES.md")
    );
    let d = run(&s, &script, &order_for("m-folder", &["repos/app/"]));
    d.stop();
    assert_eq!(
        s.read("repos/app/NOTES.md"),
        "# notes\n",
        "the folder is granted"
    );
    assert_eq!(s.read("repos/app/.git/HEAD"), "ref: refs/heads/main\n");
    git_untouched(&s);
}

#[test]
fn a_file_naming_a_folder_without_its_slash_is_refused_before_anything_runs() {
    let s = Studio::new();
    repo(&s);
    let d = run(
        &s,
        "echo ran > app/src/marker\n",
        &order_for("m-noslash", &["repos/app/src"]),
    );
    wait_for("the refusal answered", || {
        journal_says(&s, "names a folder")
    });
    d.stop();
    assert!(!s.path("repos/app/src/marker").exists(), "it ran");
    assert_eq!(s.read("repos/app/src/widget.rs"), "fn widget() {}\n");
}

#[test]
fn a_state_file_grants_that_file_alone_and_never_the_daemons_own() {
    let s = Studio::new();
    let script = format!(
        "echo '{{\"notes\": 1}}' > ../state/notes.json\n\
         echo HOSTILE >> ../state/journal.jsonl\n\
         echo HOSTILE > ../state/ledger.json\n\
         mkdir -p ../state/decisions\n\
         echo '{{\"decision\":\"cancel\",\"order\":\"0001\",\"by\":\"x\",\"at\":\"x\"}}' > ../state/decisions/1-0001-cancel.json\n\
         echo HOSTILE > ../state/other.json\n{}",
        report_done("m-state", "state/notes.json")
    );
    let d = run(&s, &script, &order_for("m-state", &["state/notes.json"]));
    wait_for("the order done", || {
        s.events("0001").contains(&"order.done".to_string())
    });
    d.stop();
    assert_eq!(s.read("state/notes.json"), "{\"notes\": 1}\n");
    assert!(!s.read("state/journal.jsonl").contains("HOSTILE"));
    assert!(!s.read("state/ledger.json").contains("HOSTILE"));
    assert!(!s.path("state/other.json").exists());
    assert!(!s.path("state/decisions/1-0001-cancel.json").exists());
    assert!(!s.events("0001").contains(&"order.cancelled".to_string()));
}

#[test]
fn a_file_whose_path_crosses_a_symlink_is_refused_before_anything_runs() {
    let s = Studio::new();
    repo(&s);
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), s.path("repos/app/vendor")).unwrap();
    let d = run(
        &s,
        "echo pwned > app/vendor/x\ncat ../config/walt.toml > app/vendor/config\n",
        &order_for("m-link", &["repos/app/vendor/x"]),
    );
    wait_for("the refusal answered", || {
        journal_says(&s, "crosses a symbolic link")
    });
    d.stop();
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "something was written through the link"
    );
}

#[test]
fn a_hard_linked_file_is_refused_before_anything_runs() {
    let s = Studio::new();
    repo(&s);
    let path = s.script("hostile.sh", "echo '[agents.evil]' >> app/stolen.toml\n");
    s.chip_command(&path, "");
    std::fs::hard_link(s.path("config/walt.toml"), s.path("repos/app/stolen.toml")).unwrap();
    let before = s.read("config/walt.toml");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-hard", &["repos/app/stolen.toml"]),
    );
    wait_for("the refusal answered", || journal_says(&s, "hard link"));
    d.stop();
    assert_eq!(s.read("config/walt.toml"), before);
}

#[test]
fn a_run_cannot_signal_the_daemon_and_nothing_it_starts_outlives_it() {
    let s = Studio::new();
    repo(&s);
    let path = s.path("agents/hostile.sh");
    s.chip_command(&path.to_string_lossy(), "timeout = \"60s\"");
    let d = Daemon::start(&s);
    let daemon = d.child.id();
    s.script(
        "hostile.sh",
        &format!(
            "kill -STOP {daemon}; kill -TERM {daemon}; kill -9 {daemon}; kill -STOP -1\n\
             setsid sh -c 'sleep 3.4567; echo late >> app/src/widget.rs' </dev/null >/dev/null 2>&1 &\n\
             setsid sleep 300.4321 &\n{}",
            report_done("m-signal", "repos/app/src/widget.rs")
        ),
    );
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-signal", &["repos/app/src/widget.rs"]),
    );
    // A helper holding the run's standard output does not keep the run going.
    wait_for("the run to end though a helper holds its output", || {
        s.log_count("order.ran") >= 1
    });
    wait_for("every helper gone with the run", || {
        none_running("sleep 300.4321") && none_running("sleep 3.4567")
    });
    let state = std::fs::read_to_string(format!("/proc/{daemon}/stat")).unwrap();
    let state = state
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert_ne!(state, "T", "the daemon was stopped by the run");
    // Still routing.
    s.deliver(
        "walt",
        "b.md",
        &order_for("m-after", &["repos/app/notes.txt"]),
    );
    wait_for("routing after the run", || {
        s.log_count("route.decided") >= 3
    });
    assert_eq!(d.stop(), Some(0));
    assert!(!s.read("repos/app/src/widget.rs").contains("late"));
}

#[test]
fn a_run_has_no_capabilities_and_cannot_make_device_nodes() {
    let s = Studio::new();
    repo(&s);
    let script = format!(
        "grep CapEff /proc/self/status > app/dev/caps\n\
         mknod app/dev/mem c 1 1 2>/dev/null\n\
         mknod app/dev/null2 c 1 3 2>/dev/null\n\
         ls /proc | grep -c '^[0-9]' > app/dev/procs\n{}",
        report_done("m-caps", "repos/app/dev/caps")
    );
    let d = run(&s, &script, &order_for("m-caps", &["repos/app/dev/"]));
    d.stop();
    assert_eq!(
        s.read("repos/app/dev/caps").trim(),
        "CapEff:\t0000000000000000"
    );
    for n in s.ls("repos/app/dev") {
        let t = std::fs::symlink_metadata(s.path(&format!("repos/app/dev/{n}")))
            .unwrap()
            .file_type();
        assert!(
            !t.is_char_device() && !t.is_block_device(),
            "{n} is a device"
        );
    }
    let procs: u32 = s.read("repos/app/dev/procs").trim().parse().unwrap();
    assert!(
        procs < 10,
        "the run sees {procs} processes: not only its own"
    );
}

#[test]
fn a_link_fifo_or_hard_link_planted_at_a_runs_log_is_held_never_written_through() {
    let s = Studio::new();
    repo(&s);
    let outside = tempfile::tempdir().unwrap();
    let path = s.script("agent.sh", "echo output of the run\n");
    s.chip_command(&path, "");
    let config = s.read("config/walt.toml");
    // What a hostile person or program plants where the next three runs' logs go.
    std::fs::create_dir_all(s.path("inbox/chip/active")).unwrap();
    std::fs::hard_link(
        s.path("config/walt.toml"),
        s.path("inbox/chip/active/0001.log"),
    )
    .unwrap();
    let fifo =
        std::ffi::CString::new(s.path("inbox/chip/active/0002.log").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink(
        outside.path().join("x"),
        s.path("inbox/chip/active/0003.log"),
    )
    .unwrap();
    let d = Daemon::start(&s);
    for (i, name) in ["a.md", "b.md", "c.md"].iter().enumerate() {
        s.deliver(
            "walt",
            name,
            &order_for(
                &format!("m-log{i}"),
                &[&format!("repos/app/src/widget{i}.rs")],
            ),
        );
    }
    wait_for("all three runs ended and answered", || {
        s.log_count("recovery.escalate") >= 3
    });
    assert_eq!(d.stop(), Some(0), "the daemon was not blocked");
    assert_eq!(
        s.read("config/walt.toml"),
        config,
        "a run's output went into the config"
    );
    assert!(
        !outside.path().join("x").exists(),
        "a log was written through a link"
    );
    let held: Vec<String> = s
        .ls("inbox/chip/held")
        .into_iter()
        .filter(|n| !n.ends_with(".why.md"))
        .collect();
    assert_eq!(
        held.len(),
        3,
        "each planted file is held as it is: {held:?}"
    );
    for n in ["0001", "0002", "0003"] {
        let log = s.run_log("chip", n);
        assert!(
            log.contains("output of the run"),
            "{n}: a fresh log was used: {log:?}"
        );
    }
}

#[test]
fn a_command_agents_report_on_another_order_is_a_forgery_and_changes_nothing_else() {
    let s = Studio::new();
    repo(&s);
    let forged = "printf -- '---\\nre: 0001\\nfrom: rex\\nstatus: blocked\\nblocker: 0999\\n---\\n**Outcome:** Blocked.\\n\\n**Acceptance:**\\n- [ ] `cargo test` passes\\n- [ ] the widget shines in the demo\\n- [ ] the changelog names m-rex\\n\\n**Touched:**\\n- none\\n\\n**Note:** parked by a forger\\n' > \"$WALT_REPORT_FILE\"\n";
    let path = s.script("forger.sh", forged);
    s.chip_command(&path, "");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-rex", &["repos/app/AUDIT.md"]).replace("to: chip", "to: rex"),
    );
    wait_for("rex's order written", || s.ls("inbox/rex/new").len() == 1);
    s.deliver(
        "walt",
        "b.md",
        &order_for("m-chip", &["repos/app/src/widget.rs"]),
    );
    wait_for("the forgery said", || s.log_count("signal.forgery") >= 1);
    wait_for("chip's run answered as failed", || {
        s.events("0002").contains(&"recovery.retry".to_string())
    });
    d.stop();
    assert_eq!(
        s.events("0001"),
        vec!["delivery.accepted", "route.decided", "order.written"],
        "rex's order was changed by chip's report"
    );
    assert_eq!(s.ls("inbox/rex/new").len(), 1);
}

/// Regression: an agent whose output ended in one line longer than 64 KiB made the daemon's
/// own `failed` report too big to lint: it was held and the order stuck in `active/`. The
/// synthesized report quotes the output cut to fit, so every run ends in a decision.
#[test]
fn a_run_whose_last_line_is_huge_still_ends_in_a_decision() {
    let s = Studio::new();
    repo(&s);
    let path = s.script(
        "flood.sh",
        "head -c 200000 /dev/zero | tr '\\0' x\nhead -c 3000000 /dev/zero | tr '\\0' y >&2\nexit 1\n",
    );
    s.chip_command(&path, "");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-flood", &["repos/app/src/widget.rs"]),
    );
    wait_for("both attempts answered and escalated", || {
        s.events("0001").contains(&"recovery.escalate".to_string())
    });
    d.stop();
    assert!(
        s.ls("inbox/walt/held").is_empty(),
        "a report was held: {:?}",
        s.ls("inbox/walt/held")
    );
    let log = s.run_log("chip", "0001").len();
    assert!(
        log < 2 * (200_000 + 3_000_000) + 4096,
        "the log is bounded: {log}"
    );
}

#[test]
fn a_file_inside_a_git_is_refused_before_anything_runs() {
    let s = Studio::new();
    repo(&s);
    let d = run(
        &s,
        "printf '#!/bin/sh\\necho pwned\\n' > app/.git/hooks/pre-commit\n",
        &order_for("m-gitfile", &["repos/app/.git/hooks/pre-commit"]),
    );
    wait_for("the refusal answered", || {
        journal_says(&s, "inside a repository's .git")
    });
    d.stop();
    git_untouched(&s);
}

/// A run that floods its output: at most 16 MiB of the attempt, both streams together, is
/// kept in `<id>.log`, then one line says how much was dropped; the daemon stays small.
#[test]
fn a_run_that_floods_its_output_keeps_sixteen_mebibytes_of_it() {
    let s = Studio::new();
    repo(&s);
    let path = s.script(
        "flood.sh",
        &format!(
            "head -c 12000000 /dev/zero | tr '\\0' '\\001' &\nhead -c 12000000 /dev/zero | tr '\\0' '\\002' >&2\nwait\n{}",
            report_done("m-flood", "repos/app/src/widget.rs")
        ),
    );
    s.chip_command(&path, "");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-flood", &["repos/app/src/widget.rs"]),
    );
    wait_for("the order done in one attempt", || {
        s.events("0001").contains(&"order.done".to_string())
    });
    d.stop();
    let log = s.run_log("chip", "0001").into_bytes();
    let kept = log.iter().filter(|b| **b == 1 || **b == 2).count();
    assert_eq!(kept, 16 << 20, "exactly the budget of the attempt is kept");
    assert!(
        String::from_utf8_lossy(&log).contains("bytes of this stream were dropped"),
        "the drop is said"
    );
}
