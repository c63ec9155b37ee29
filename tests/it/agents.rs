//! Command agents in a kernel sandbox and changes nobody ordered, through the
//! real daemon: the example agent in contrib/, a hostile agent probing its limits, timeouts,
//! missing reports, observed scope creep and silent execution.

use crate::common::*;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/chip-agent.sh");

fn studio_with(command: &str, extra: &str) -> Studio {
    let s = Studio::new();
    s.chip_command(command, extra);
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    s
}

#[test]
fn the_example_agent_does_its_order_confined_and_its_report_is_accepted() {
    let s = studio_with(EXAMPLE, "");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-ex", ""));
    wait_for("order.done", || {
        s.events("0001").contains(&"order.done".to_string())
    });
    d.stop();
    assert!(s
        .read("repos/app/src/widget.rs")
        .contains("-- order 0001: The widget m-ex is polished."));
    // Its output is kept beside the order, and moved with it to done/.
    let done = s.ls("inbox/chip/done");
    assert!(
        done.contains(&"0001-the-widget-m-ex-is-polished.log".to_string()),
        "{done:?}"
    );
    assert!(!s.path("inbox/chip/active/0001.log").exists());
    assert!(s
        .run_log("chip", "0001")
        .starts_with("==> walt: order 0001, attempt 1, chip"));
    assert!(s
        .ls("inbox/chip/done")
        .iter()
        .any(|n| n.ends_with(".report.md")));
    let ran = s
        .log()
        .into_iter()
        .find(|r| r["event"] == "order.ran")
        .unwrap();
    assert!(ran["reason"].as_str().unwrap().contains("exit status 0"));
}

#[test]
fn a_confined_agent_cannot_reach_state_config_other_inboxes_or_outside_its_files() {
    let s = Studio::new();
    s.write("state/ledger.json", "{\"secret\": 1}\n");
    s.write("inbox/rex/new/0099-private.md", "rex only\n");
    s.write("repos/other/file.txt", "not yours\n");
    let probe = r#"
try() { if sh -c "$2" >/dev/null 2>&1; then echo "ALLOWED $1"; else echo "DENIED $1"; fi; }
try read-state 'cat ../state/ledger.json'
try read-journal 'cat ../state/journal.jsonl'
try read-config 'cat ../config/walt.toml'
try read-other-inbox 'cat ../inbox/rex/new/0099-private.md'
try list-inboxes 'ls ../inbox'
try write-outside-files 'echo x >> other/file.txt'
try create-outside-files 'echo x > other/new.txt'
try hardlink-state 'ln ../state/ledger.json app/src/stolen'
try write-own-file 'echo "// done" >> app/src/widget.rs'
try read-repos 'cat other/file.txt'
try write-report 'echo hello > "$WALT_REPORT_FILE.scratch"'
"#;
    let path = s.script("probe.sh", probe);
    s.chip_command(&path, "");
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-probe", ""));
    wait_for("the run", || s.log_count("order.ran") == 1);
    d.stop();
    // The planted file in rex/new took id 0099 (folders win), so this order is 0100.
    let log = s.run_log("chip", "0100");
    for denied in [
        "read-state",
        "read-journal",
        "read-config",
        "read-other-inbox",
        "list-inboxes",
        "write-outside-files",
        "create-outside-files",
        "hardlink-state",
    ] {
        assert!(
            log.contains(&format!("DENIED {denied}")),
            "{denied} was not denied:\n{log}"
        );
    }
    for allowed in ["write-own-file", "read-repos", "write-report"] {
        assert!(
            log.contains(&format!("ALLOWED {allowed}")),
            "{allowed} was not allowed:\n{log}"
        );
    }
    assert_eq!(s.read("repos/other/file.txt"), "not yours\n");
    assert!(!s.path("repos/other/new.txt").exists());
    assert!(!s.path("repos/app/src/stolen").exists());
    assert!(s.read("repos/app/src/widget.rs").contains("// done"));
}

#[test]
fn a_run_past_its_timeout_is_killed_with_its_process_group_and_fails() {
    let s = Studio::new();
    let path = s.script(
        "hang.sh",
        "sleep 300.1017 &\necho \"child $!\"\nsleep 300\n",
    );
    s.chip_command(&path, "timeout = \"1s\"");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-hang", ""));
    wait_for("the kill", || s.log_count("order.ran") >= 1);
    wait_for("a retry", || {
        s.events("0001").contains(&"recovery.retry".to_string())
    });
    d.stop();
    let ran = s
        .log()
        .into_iter()
        .find(|r| r["event"] == "order.ran")
        .unwrap();
    assert!(
        ran["reason"].as_str().unwrap().contains("timed out"),
        "{ran}"
    );
    let log = s.run_log("chip", "0001");
    assert!(log.contains("child "));
    assert!(
        log.starts_with("==> walt: order 0001, attempt 1, chip, "),
        "each attempt's output starts with a header: {log}"
    );
    wait_for("the background child to be gone", || {
        none_running("sleep 300.1017")
    });
    let retry = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "recovery.retry")
        .unwrap();
    assert!(retry["reason"].as_str().unwrap().contains("timed out"));
}

#[test]
fn no_report_means_a_failed_report_with_the_exit_status_and_last_lines() {
    let s = Studio::new();
    let path = s.script(
        "crash.sh",
        "echo 'compiling widget'\necho 'error: widget.rs:3 expected ;' >&2\nexit 7\n",
    );
    s.chip_command(&path, "");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-crash", ""));
    wait_for("a failure answered", || {
        s.events("0001").contains(&"recovery.retry".to_string())
    });
    d.stop();
    let reports: String = s
        .ls("inbox/chip/done")
        .iter()
        .filter(|n| n.ends_with(".report.md"))
        .map(|n| s.read(&format!("inbox/chip/done/{n}")))
        .collect();
    assert!(
        reports.contains("status: failed")
            && reports.contains("exit status 7")
            && reports.contains("expected ;"),
        "{reports}"
    );
}

#[test]
fn a_report_on_standard_output_is_taken() {
    let s = Studio::new();
    let body = "cat > /dev/null\nprintf -- '---\\nre: %s\\nfrom: chip\\nstatus: halted\\n---\\n**Outcome:** Nothing to do.\\n\\n**Acceptance:**\\n- [ ] `cargo test` passes\\n\\n**Touched:**\\n- none\\n\\n**Note:** the widget is gone\\n' \"$WALT_ORDER_ID\"\n";
    let path = s.script("stdout.sh", body);
    s.chip_command(&path, "");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-out", ""));
    wait_for("escalation of the halt", || {
        s.ls("inbox/human/new").len() == 1
    });
    d.stop();
    assert!(s
        .read(&format!("inbox/human/new/{}", s.ls("inbox/human/new")[0]))
        .contains("the widget is gone"));
}

#[test]
fn changes_outside_an_active_orders_files_are_scope_creep_even_unreported() {
    let s = Studio::new();
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-creep", ""));
    wait_for("routing", || s.ls("inbox/chip/new").len() == 1);
    assert_eq!(s.walt(&["claim", "chip"]).status.code(), Some(0));
    wait_for("claim seen", || {
        s.events("0001").contains(&"order.claimed".to_string())
    });
    // chip edits its file, and one it was not given; its report lists only the first.
    s.write("repos/app/src/widget.rs", "fn widget() { shine() }\n");
    s.write("repos/billing/charge.rs", "fn charge() {}\n");
    wait_for("the repos watch to see it", || {
        s.log().iter().any(|r| {
            r["event"] == "signal.silent-execution" && r["path"] == "repos/billing/charge.rs"
        })
    });
    let report = "---\nre: 0001\nfrom: chip\nstatus: done\n---\n**Outcome:** Polished.\n\n**Acceptance:**\n- [x] `cargo test` passes\n- [x] the widget shines in the demo\n- [x] the changelog names m-creep\n\n**Touched:**\n- repos/app/src/widget.rs\n\n**Note:** none\n";
    let f = s.write("r.md", report);
    assert_eq!(
        s.walt(&["report", "0001", "--status", "done", f.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    wait_for("review", || {
        s.events("0001").contains(&"review.rejected".to_string())
    });
    d.stop();
    let creep = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "signal.scope-creep")
        .unwrap();
    assert!(
        creep["reason"]
            .as_str()
            .unwrap()
            .contains("repos/billing/charge.rs"),
        "{creep}"
    );
    assert!(!creep["reason"].as_str().unwrap().contains("widget.rs"));
}

#[test]
fn a_change_nobody_ordered_alerts_a_person_once() {
    let s = Studio::new();
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    let d = Daemon::start(&s);
    for i in 0..5 {
        s.write(
            "repos/app/src/widget.rs",
            &format!("fn widget() {{ {i} }}\n"),
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    s.write("repos/.git/HEAD", "ref: refs/heads/main\n");
    wait_for("an alert", || s.log_count("signal.silent-execution") >= 1);
    // Another change to a watched folder, so the repeats above have surely been seen.
    s.write("repos/app/src/other.rs", "\n");
    wait_for("the second path", || {
        s.log()
            .iter()
            .any(|r| r["path"] == "repos/app/src/other.rs")
    });
    d.stop();
    let alerts: Vec<String> = s
        .log()
        .into_iter()
        .filter(|r| r["event"] == "signal.silent-execution")
        .filter_map(|r| r["path"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        alerts
            .iter()
            .filter(|p| p.as_str() == "repos/app/src/widget.rs")
            .count(),
        1,
        "repeats within the window make one alert: {alerts:?}"
    );
    assert!(
        !alerts.iter().any(|p| p.contains(".git")),
        "ignored folders are not watched"
    );
    let notes = s.ls("inbox/human/notes");
    assert!(!notes.is_empty());
    assert!(s
        .read(&format!("inbox/human/notes/{}", notes[0]))
        .contains("repos/app/src/widget.rs"));
    assert!(
        s.ls("inbox/human/held").is_empty(),
        "notes are not deliveries"
    );
}

#[test]
fn an_interrupted_run_is_run_again_after_a_restart_and_never_twice_at_once() {
    let s = Studio::new();
    let body = &slow_agent("m-restart", 2);
    let path = s.script("slow.sh", body);
    s.chip_command(&path, "");
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-restart", ""));
    let log = || s.run_log("chip", "0001");
    wait_for("the run to start", || log().contains("start"));
    d.kill9();
    let sleep = format!("sleep {}", slow_sleep("m-restart", 2));
    wait_for("the first run to die with the daemon", || {
        none_running(&sleep)
    });
    let d = Daemon::start(&s);
    wait_for("done after the restart", || {
        s.events("0001").contains(&"order.done".to_string())
    });
    d.stop();
    assert!(s.events("0001").contains(&"order.reconciled".to_string()));
    let runs = s.run_log("chip", "0001").matches("start ").count();
    assert_eq!(runs, 2, "run once before the crash and once after");
    assert_eq!(
        s.read("repos/app/src/widget.rs").matches("// run ").count(),
        1,
        "only the second run finished its work"
    );
}

/// Where Landlock cannot be enforced the daemon refuses a confined command agent and says so;
/// this kernel has Landlock, so the refusal the daemon records is planted, and `walt status`
/// must show it to a person and to scripts.
#[test]
fn status_shows_a_refused_command_agent() {
    let s = Studio::new();
    s.write("state/ledger.json", r#"{"walt": {"refused": {"chip": "refusing to run command agent chip: Landlock ABI 5 cannot be enforced here"}}, "orders": []}"#);
    let text = stdout(&s.walt(&["status"]));
    assert!(
        text.contains("chip cannot run: refusing to run command agent chip"),
        "{text}"
    );
    assert!(s.status()["attention"]["refused"]["chip"]
        .as_str()
        .unwrap()
        .contains("Landlock"));
}

/// Regression: `walt cancel` 1.5 s into a run let the agent finish and edit. Cancelling ends
/// the run and everything it started.
#[test]
fn cancel_ends_a_running_orders_run_and_all_it_started() {
    let s = Studio::new();
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    let path = s.script(
        "slow.sh",
        "echo start\nsetsid sleep 40.1357 &\nsleep 30.2468\necho '// edited' >> app/src/widget.rs\n",
    );
    s.chip_command(&path, "");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-cancel", ""));
    wait_for("the run to start", || !none_running("sleep 30.2468"));
    let o = s.walt(&["cancel", "0001"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    wait_for("the order cancelled", || {
        s.events("0001").contains(&"order.cancelled".to_string())
    });
    wait_for("the run and its helper gone", || {
        none_running("sleep 30.2468") && none_running("sleep 40.1357")
    });
    assert_eq!(d.stop(), Some(0));
    assert_eq!(s.read("repos/app/src/widget.rs"), "fn widget() {}\n");
}

/// Regression: running out of inotify watches after start was silent, and changes under the
/// folders left unwatched were never seen. It is said once, shown in `walt status`, and repos/
/// is rescanned on a timer instead. The daemon runs in a user namespace of its own whose
/// inotify limit is set just above what it needs at start (the machine's own limit is
/// untouched), and then folders are made under repos/.
#[test]
fn running_out_of_inotify_watches_is_said_and_repos_is_rescanned() {
    let s = Studio::new();
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    let mut child = std::process::Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "sh",
            "-c",
            "echo 17 > /proc/sys/user/max_inotify_watches && exec \"$0\" --root \"$1\" daemon",
            &WALT,
        ])
        .arg(s.root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the daemon to start in its namespace", || {
        s.log_count("daemon.started") >= 1
    });
    for d in ["a", "b", "c", "d"] {
        std::fs::create_dir_all(s.path(&format!("repos/app/{d}/deeper"))).unwrap();
    }
    wait_for("running out of watches said", || {
        s.log().iter().any(|r| {
            r["event"] == "daemon.rescan"
                && r["reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("cannot be watched")
        })
    });
    // Rescanned on a timer: a change nobody ordered in an unwatched folder is still noticed.
    std::fs::write(
        s.path("repos/app/d/deeper/stray.txt"),
        "nobody ordered this\n",
    )
    .unwrap();
    wait_for("the stray change noticed", || {
        s.log().iter().any(|r| {
            r["event"] == "signal.silent-execution"
                && r["path"].as_str() == Some("repos/app/d/deeper/stray.txt")
        })
    });
    // The daemon's snapshot, which status reads, is written at most twice a second.
    wait_for("walt status to show it", || {
        s.status()["attention"]["watch"]
            .as_str()
            .unwrap_or("")
            .contains("rescanned")
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
