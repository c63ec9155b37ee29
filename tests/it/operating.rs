//! Operating it (SPEC §10): runs in progress in status, a cancel that stops the work, a setup
//! failure that costs no attempt, backoff after failed runs, and held files that tell the
//! truth.

use std::time::{Duration, Instant};

use crate::common::*;

fn report_for(id: &str, marker: &str, status: &str, ticks: [&str; 3], file: &str) -> String {
    format!(
        "---\nre: {id}\nfrom: chip\nstatus: {status}\n---\n**Outcome:** The widget is polished.\n\n**Acceptance:**\n- {} `cargo test` passes\n- {} the widget shines in the demo\n- {} the changelog names {marker}\n\n**Touched:**\n- {file}\n\n**Note:** {}\n",
        ticks[0],
        ticks[1],
        ticks[2],
        if status == "done" { "none" } else { "it did not work" }
    )
}

fn git_repo(s: &Studio) {
    let app = s.path("repos/app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(app.join("src/widget.rs"), "fn widget() {}\n").unwrap();
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg("git init -q -b main && git add . && git -c user.name=Pat -c user.email=p@x commit -qm start")
        .current_dir(&app)
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn runs_in_progress_are_listed_with_pid_elapsed_and_quiet_time_and_a_cancel_ends_them() {
    let s = Studio::new();
    git_repo(&s);
    let agent = s.script(
        "slow.sh",
        "echo started\necho 'late edit' >> app/src/widget.rs\nexec sleep 120.1357\n",
    );
    s.chip_command(&agent, "quiet = \"1s\"");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-run", &["repos/app/src/widget.rs"]),
    );
    wait_for("the run listed and quiet", || {
        let st = s.status();
        st["runs"][0]["quiet"] == true
    });
    let st = s.status();
    let run = &st["runs"][0];
    assert_eq!(run["order"], "0001");
    assert_eq!(run["agent"], "chip");
    let pid = run["pid"].as_i64().unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "{run}"
    );
    assert!(run["elapsed_s"].as_u64().unwrap() >= 1, "{run}");
    let text = stdout(&s.walt(&["status"]));
    assert!(text.contains("RUN    AGENT"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("0001   chip")
            && l.contains(&pid.to_string())
            && l.contains("quiet:")),
        "{text}"
    );
    // A cancel ends the run, and everything it started, within a second of the daemon
    // seeing it.
    assert!(s.walt(&["cancel", "0001"]).status.success());
    wait_for("the cancel seen", || s.log_count("order.cancelled") == 1);
    let seen = Instant::now();
    while !none_running("sleep 120.1357") {
        assert!(
            seen.elapsed() < Duration::from_secs(1),
            "the run outlived its cancel by a second"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for("the run gone from status", || {
        s.status()["runs"].as_array().is_some_and(|r| r.is_empty())
    });
    // A report that still comes for it (a manual answer, say) is filed beside it as late, and
    // the cancelled order's change is not committed.
    s.write(
        "late.md",
        &report_for(
            "0001",
            "m-run",
            "done",
            ["[x]", "[x]", "[x]"],
            "repos/app/src/widget.rs",
        ),
    );
    assert!(s
        .walt(&[
            "report",
            "0001",
            "--status",
            "done",
            &s.path("late.md").to_string_lossy()
        ])
        .status
        .success());
    wait_for("the late report filed", || s.log_count("report.late") == 1);
    d.stop();
    let done = s.ls("inbox/chip/done");
    assert!(
        done.iter().any(|n| n.ends_with(".a1.cancelled.md")),
        "{done:?}"
    );
    assert!(
        done.iter()
            .any(|n| n.ends_with(".a1.cancelled.late.report.md")),
        "{done:?}"
    );
    assert!(
        s.ls("inbox/walt/held").is_empty(),
        "{:?}",
        s.ls("inbox/walt/held")
    );
    let log = std::process::Command::new("git")
        .args(["log", "--format=%an"])
        .current_dir(s.path("repos/app"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout), "Pat\n");
}

#[test]
fn a_setup_failure_costs_no_attempt_stops_the_agent_and_a_person_retry_runs_it_again() {
    let s = Studio::new();
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    // The wrapper is there; the CLI it runs is not (sh says so and exits 127).
    let agent = s.script("wrapper.sh", "no-such-agent-cli-4711 -p \"$(cat)\"\n");
    s.chip_command(&agent, "");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-setup", &["repos/app/src/widget.rs"]),
    );
    wait_for("the setup failure", || s.log_count("run.setup-failed") == 1);
    s.deliver(
        "walt",
        "b.md",
        &order_for("m-setup2", &["repos/app/notes.txt"]),
    );
    wait_for("the second order queued", || {
        s.ls("inbox/chip/new").len() == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    // No attempt was counted: both wait in new/ as attempt 1, and no recovery was decided.
    let journal = s.journal();
    assert!(!journal
        .iter()
        .any(|r| r["event"].as_str().unwrap().starts_with("recovery.")));
    assert_eq!(s.log_count("order.ran"), 0);
    assert_eq!(
        s.log_count("run.setup-failed"),
        1,
        "the agent is run no more"
    );
    for n in s.ls("inbox/chip/new") {
        assert!(
            s.read(&format!("inbox/chip/new/{n}"))
                .contains("attempt: 1"),
            "{n}"
        );
    }
    let failed = journal
        .iter()
        .find(|r| r["event"] == "run.setup-failed")
        .unwrap();
    assert_eq!(failed["state"], "new");
    let text = stdout(&s.walt(&["status"]));
    assert!(
        text.contains("needs a person:")
            && text.contains("chip cannot run: its command exited 127"),
        "{text}"
    );
    // The person fixes the setup and retries: the agent runs again and both orders finish.
    s.script("wrapper.sh", &crate::common::report_done_script());
    assert!(s.walt(&["retry", "0001"]).status.success());
    wait_for("both orders done", || s.log_count("order.done") == 2);
    d.stop();
    assert_eq!(s.log_count("agent.ready"), 1);
}

#[test]
fn failed_runs_back_off_doubling_and_an_accepted_run_starts_it_over() {
    let s = Studio::new();
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    // Fails (no report) twice, then does the work; it counts its runs in a folder its
    // profile may write.
    std::fs::create_dir_all(s.home().join("flaky")).unwrap();
    let agent = s.script(
        "flaky.sh",
        &format!(
            "c=$HOME/flaky/runs; n=$(cat $c 2>/dev/null || echo 0); n=$((n+1)); echo $n > $c\nif [ $n -le 2 ] || [ $n -eq 4 ]; then echo 'failing'; exit 1; fi\n{}",
            crate::common::report_done_script()
        ),
    );
    s.edit_config("attempts = 2 ", "attempts = 3 ");
    s.chip_command(&agent, "backoff = \"1s\"\nwrite = [\"~/flaky\"]");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-flaky", &["repos/app/src/widget.rs"]),
    );
    wait_for("the order done", || s.log_count("order.done") == 1);
    // After an accepted run the next failure waits the first wait again.
    s.deliver(
        "walt",
        "b.md",
        &order_for("m-flaky2", &["repos/app/src/widget.rs"]),
    );
    wait_for("the second order done", || s.log_count("order.done") == 2);
    d.stop();
    let log = s.log();
    let waits: Vec<String> = log
        .iter()
        .filter(|r| r["event"] == "run.backoff")
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(waits.len(), 3, "{waits:?}");
    assert!(waits[0].ends_with("waits 1s"), "{waits:?}");
    assert!(waits[1].ends_with("waits 2s"), "{waits:?}");
    assert!(
        waits[2].ends_with("waits 1s"),
        "reset by the accepted run: {waits:?}"
    );
    // The runs were that far apart at least.
    let claims: Vec<jiff::Timestamp> = s
        .journal()
        .iter()
        .filter(|r| r["event"] == "order.claimed")
        .map(|r| r["ts"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(claims.len(), 5);
    assert!(claims[1].duration_since(claims[0]) >= jiff::SignedDuration::from_secs(1));
    assert!(claims[2].duration_since(claims[1]) >= jiff::SignedDuration::from_secs(2));
}

#[test]
fn a_report_whose_status_contradicts_its_ticks_is_rejected_at_review_with_the_reason_quoted() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-contra", &["repos/app/src/widget.rs"]),
    );
    wait_for("routing", || s.ls("inbox/chip/new").len() == 1);
    assert!(s.walt(&["claim", "chip"]).status.success());
    s.write(
        "r.md",
        &report_for(
            "0001",
            "m-contra",
            "done",
            ["[x]", "[ ]", "[x]"],
            "repos/app/src/widget.rs",
        ),
    );
    // `walt lint` warns, and delivery goes ahead.
    let lint = s.walt(&["lint", &s.path("r.md").to_string_lossy()]);
    assert!(lint.status.success(), "{}", stdout(&lint));
    assert!(stdout(&lint).contains("warning"), "{}", stdout(&lint));
    assert!(s
        .walt(&[
            "report",
            "0001",
            "--status",
            "done",
            &s.path("r.md").to_string_lossy()
        ])
        .status
        .success());
    wait_for("the retry", || s.log_count("recovery.retry") == 1);
    d.stop();
    assert!(
        s.ls("inbox/walt/held").is_empty(),
        "not held: {:?}",
        s.ls("inbox/walt/held")
    );
    let retry = s.ls("inbox/chip/new");
    let text = s.read(&format!("inbox/chip/new/{}", retry[0]));
    assert!(
        text.contains("status done, but 1 of 3 bullets are not ticked"),
        "{text}"
    );
}

#[test]
fn held_reports_name_the_file_as_dropped_say_they_were_taken_as_reports_and_what_fits_next() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    // A report for an order this studio never had.
    s.deliver(
        "walt",
        "my-answer.md",
        &report_for(
            "0042",
            "m-x",
            "done",
            ["[x]", "[x]", "[x]"],
            "repos/app/x.rs",
        ),
    );
    wait_for("held", || s.ls("inbox/walt/held").len() == 2);
    // A report for an order that is done.
    s.deliver(
        "walt",
        "b.md",
        &order_for("m-done", &["repos/app/src/widget.rs"]),
    );
    wait_for("routing", || s.ls("inbox/chip/new").len() == 1);
    assert!(s.walt(&["claim", "chip"]).status.success());
    let report = report_for(
        "0002",
        "m-done",
        "done",
        ["[x]", "[x]", "[x]"],
        "repos/app/src/widget.rs",
    );
    s.deliver("walt", "first.md", &report);
    wait_for("done", || s.log_count("order.done") == 1);
    s.deliver("walt", "again.md", &report);
    wait_for("held again", || s.ls("inbox/walt/held").len() == 4);
    d.stop();
    let notes: Vec<String> = s
        .ls("inbox/walt/held")
        .into_iter()
        .filter(|n| n.ends_with(".why.md"))
        .map(|n| s.read(&format!("inbox/walt/held/{n}")))
        .collect();
    let unknown = notes
        .iter()
        .find(|n| n.contains("`my-answer.md`"))
        .expect("names the dropped file");
    assert!(unknown.contains("taken as a report"), "{unknown}");
    assert!(unknown.contains("no record of"), "{unknown}");
    assert!(unknown.contains("check the order id"), "{unknown}");
    assert!(
        !unknown.contains("drop it into `inbox/walt/` again"),
        "{unknown}"
    );
    let again = notes
        .iter()
        .find(|n| n.contains("`again.md`"))
        .expect("names the dropped file");
    assert!(again.contains("which is done already"), "{again}");
    assert!(again.contains("walt trace 0002"), "{again}");
}

#[test]
fn attention_items_have_stable_keys_and_counts_and_ack_closes_them_until_they_return() {
    let s = Studio::new();
    s.edit_config("brain = \"rules\"", "brain = \"command\"");
    s.edit_config(
        "command = [\"contrib/brain.sh\"]",
        "command = [\"contrib/agents/none.sh\"]",
    );
    let d = Daemon::start(&s);
    let items = |s: &Studio| -> Vec<serde_json::Value> {
        s.status()["attention"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let item = |s: &Studio, key: &str| items(s).into_iter().find(|i| i["key"] == key);
    s.deliver("walt", "a.md", &order_own("m-one", ""));
    s.deliver("walt", "b.md", &order_own("m-two", ""));
    s.deliver("walt", "bad.md", "not a work order at all\n");
    wait_for("both routed by the rules", || {
        s.ls("inbox/chip/new").len() == 2
    });
    wait_for("the items", || {
        item(&s, "brain").is_some_and(|i| i["count"] == 2) && items(&s).len() == 2
    });
    let held = items(&s).into_iter().find(|i| i["kind"] == "held").unwrap();
    assert!(
        held["key"].as_str().unwrap().starts_with("held:walt/"),
        "{held}"
    );
    let text = stdout(&s.walt(&["status"]));
    assert!(text.contains("walt ack KEY"), "{text}");
    assert!(
        text.lines().any(
            |l| l.trim_start().starts_with("brain  the brain is failing") && l.contains("(2x")
        ),
        "{text}"
    );
    // Acknowledged, it leaves the list; the same condition again opens it once more.
    assert!(s.walt(&["ack", "brain"]).status.success());
    wait_for("the ack journaled", || item(&s, "brain").is_none());
    assert!(s
        .journal()
        .iter()
        .any(|r| r["event"] == "attention.ack" && r["key"] == "brain"));
    s.deliver("walt", "c.md", &order_own("m-three", ""));
    wait_for("the brain item again", || {
        item(&s, "brain").is_some_and(|i| i["count"] == 1)
    });
    // An unknown key says what is open; --all closes everything.
    let nope = s.walt(&["ack", "nope"]);
    assert_eq!(nope.status.code(), Some(1));
    assert!(
        stderr(&nope).contains("the open ones are"),
        "{}",
        stderr(&nope)
    );
    assert!(s.walt(&["ack", "--all"]).status.success());
    wait_for("nothing open", || items(&s).is_empty());
    d.stop();
}
