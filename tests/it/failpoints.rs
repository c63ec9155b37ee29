//! Crash at every durable step (SQLite's crash testing, in small): for each crash point the
//! daemon aborts there mid-stream, a fresh daemon takes over, and then every order is present
//! exactly once, nothing half-written is in any `new/`, the journal reads, and the bad file is
//! held once. Built only with `--features failpoints` (.ci/run runs it).

use crate::common::*;

/// Runs a daemon that aborts at `point` after `skip` hits; whether it did (within 5 s: if not,
/// it is killed).
fn run_until_crash(s: &Studio, point: &str, skip: usize) -> bool {
    let err = std::fs::File::create(s.err_path()).unwrap();
    let mut d = s
        .cmd(&["daemon"])
        .env("FAILPOINTS", format!("{point}={skip}*off->return"))
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = d.try_wait().unwrap() {
            return !status.success();
        }
        if start.elapsed() > std::time::Duration::from_secs(5) {
            unsafe { libc::kill(d.id() as i32, libc::SIGKILL) };
            let _ = d.wait();
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_crash_at_every_durable_step_loses_and_duplicates_nothing() {
    // Each point at its first hit, and again at a later hit (mid-batch, after earlier steps of
    // the same kind succeeded).
    for (point, skip) in walt::FAILPOINTS.iter().flat_map(|p| [(p, 0), (p, 3)]) {
        let s = Studio::new();
        for i in 0..5 {
            s.deliver(
                "walt",
                &format!("p{i}.md"),
                &order_own(&format!("p{i}"), "to: chip\n"),
            );
        }
        s.write("inbox/walt/bad.md", "**Objective:** nothing else\n");
        let crashed = run_until_crash(&s, point, skip);
        assert!(crashed || skip > 0, "{point} was never reached");
        let d = Daemon::start(&s);
        wait_for(&format!("recovery after {point}"), || {
            s.ls("inbox/chip/new").len() >= 5
                && s.ls("inbox/walt/new").is_empty()
                && s.ls("inbox/walt/held")
                    .iter()
                    .any(|n| n.ends_with("-bad.md"))
        });
        d.stop();
        let mut markers: Vec<String> = s
            .ls("inbox/chip/new")
            .iter()
            .map(|n| marker_of(&s.read(&format!("inbox/chip/new/{n}"))))
            .collect();
        markers.sort();
        assert_eq!(
            markers,
            vec!["p0", "p1", "p2", "p3", "p4"],
            "after a crash at {point}"
        );
        for agent in ["walt", "chip", "rex", "human"] {
            for n in s.ls(&format!("inbox/{agent}/new")) {
                let o = s.walt(&[
                    "lint",
                    s.path(&format!("inbox/{agent}/new/{n}")).to_str().unwrap(),
                ]);
                assert_eq!(
                    o.status.code(),
                    Some(0),
                    "half-written {agent}/new/{n} after {point}: {}",
                    stdout(&o)
                );
            }
        }
        let held: Vec<String> = s
            .ls("inbox/walt/held")
            .into_iter()
            .filter(|n| n.ends_with("-bad.md"))
            .collect();
        assert_eq!(held.len(), 1, "after {point}: {held:?}");
        assert_eq!(
            s.walt(&["status"]).status.code(),
            Some(0),
            "journal unreadable after {point}"
        );
    }
}

/// A manual agent's claim (`walt claim`, a rename from `new/` to `active/` and two folder
/// syncs) aborted at each crash point on its path: the order is in exactly one place, the
/// daemon records where, and the next claim takes the next order.
#[test]
fn a_crash_while_claiming_loses_and_duplicates_nothing() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    for i in 0..4 {
        s.deliver(
            "walt",
            &format!("c{i}.md"),
            &order_own(&format!("c{i}"), "to: chip\n"),
        );
    }
    wait_for("four orders", || s.ls("inbox/chip/new").len() == 4);
    let points = [
        "mailbox.rename.before",
        "mailbox.rename.after",
        "mailbox.sync.before",
    ];
    for (n, point) in points.iter().enumerate() {
        let o = s
            .cmd(&["claim", "chip"])
            .env("FAILPOINTS", format!("{point}=return"))
            .output()
            .unwrap();
        assert!(!o.status.success(), "{point} is on the claim's path");
        let placed: Vec<String> = ["new", "active"]
            .iter()
            .flat_map(|f| {
                s.ls(&format!("inbox/chip/{f}"))
                    .into_iter()
                    .filter(|n| n.ends_with(".md"))
                    .map(|n| marker_of(&s.read(&format!("inbox/chip/{f}/{n}"))))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut sorted = placed.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec!["c0", "c1", "c2", "c3"],
            "after a claim crashed at {point}"
        );
        // The claim that crashed before its rename moved nothing; each later one moved one.
        let active = n;
        assert_eq!(
            s.ls("inbox/chip/active").len(),
            active,
            "after a claim crashed at {point}"
        );
        wait_for(
            &format!("the daemon to see the claims after {point}"),
            || s.log_count("order.claimed") == active,
        );
    }
    let o = s.walt(&["claim", "chip"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    wait_for("the last claim seen", || s.log_count("order.claimed") == 3);
    d.stop();
    assert_eq!(s.ls("inbox/chip/active").len(), 3);
    assert_eq!(s.ls("inbox/chip/new").len(), 1);
    let status = s.status();
    let active = status["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["state"] == "active")
        .count();
    assert_eq!(active, 3, "{status}");
}

/// The same crash points with chip as a command agent, so the daemon's own claims, the runs'
/// reports, their review and the filing beside the order are on the path too: after each
/// crash (at its first, fourth and ninth hit) and a fresh daemon, every order is done exactly
/// once, its report beside it, nothing held but the bad file, and the journal reads.
#[test]
fn a_crash_at_every_durable_step_with_a_command_agent_finishes_each_order_once() {
    let agent_body = "m=$(sed -n 's/.*The widget \\([^ ]*\\) is polished.*/\\1/p' \"$WALT_ORDER_FILE\" | head -n 1)\nprintf -- '---\\nre: %s\\nfrom: chip\\nstatus: done\\n---\\n**Outcome:** Polished.\\n\\n**Acceptance:**\\n- [x] `cargo test` passes\\n- [x] the widget shines in the demo\\n- [x] the changelog names %s\\n\\n**Touched:**\\n- none\\n\\n**Note:** none\\n' \"$WALT_ORDER_ID\" \"$m\" > \"$WALT_REPORT_FILE\"\n";
    for (point, skip) in walt::FAILPOINTS
        .iter()
        .flat_map(|p| [(p, 0), (p, 3), (p, 8)])
    {
        let s = Studio::new();
        let agent = s.script("quick.sh", agent_body);
        s.chip_command(&agent, "");
        for i in 0..5 {
            s.deliver(
                "walt",
                &format!("q{i}.md"),
                &order_own(&format!("q{i}"), "to: chip\n"),
            );
        }
        s.write("inbox/walt/bad.md", "**Objective:** nothing else\n");
        let crashed = run_until_crash(&s, point, skip);
        assert!(crashed || skip > 0, "{point} was never reached");
        let d = Daemon::start(&s);
        let live_done = || -> Vec<String> {
            s.ls("inbox/chip/done")
                .into_iter()
                .filter(|n| n.ends_with(".md") && !n.ends_with(".report.md") && !n.contains(".a"))
                .collect()
        };
        wait_for(&format!("every order done after {point} #{skip}"), || {
            live_done().len() >= 5
                && s.ls("inbox/walt/new").is_empty()
                && s.ls("inbox/walt/active").is_empty()
                && s.ls("inbox/walt/held")
                    .iter()
                    .any(|n| n.ends_with("-bad.md"))
        });
        d.stop();
        let mut markers: Vec<String> = live_done()
            .iter()
            .map(|n| marker_of(&s.read(&format!("inbox/chip/done/{n}"))))
            .collect();
        markers.sort();
        assert_eq!(
            markers,
            vec!["q0", "q1", "q2", "q3", "q4"],
            "after a crash at {point} #{skip}"
        );
        for n in live_done() {
            let report = n.replace(".md", ".report.md");
            assert!(
                s.ls("inbox/chip/done").contains(&report),
                "{n} has no report beside it after {point} #{skip}"
            );
        }
        // (A run's output log, `<id>.log`, stays in active/.)
        let open: Vec<String> = ["new", "active"]
            .iter()
            .flat_map(|f| s.ls(&format!("inbox/chip/{f}")))
            .filter(|n| n.ends_with(".md"))
            .collect();
        assert!(open.is_empty(), "after {point} #{skip}: {open:?}");
        let held: Vec<String> = s
            .ls("inbox/walt/held")
            .into_iter()
            .filter(|n| !n.ends_with(".why.md"))
            .collect();
        assert_eq!(held.len(), 1, "after {point} #{skip}: {held:?}");
        assert!(held[0].ends_with("-bad.md"));
        assert_eq!(
            s.walt(&["status"]).status.code(),
            Some(0),
            "journal unreadable after {point} #{skip}"
        );
    }
}

/// A plan taken up with a crash at every durable step: after a fresh daemon takes over, the
/// plan was accepted once, its request is in `active/`, and its first part (the only one that
/// may go out) is written exactly once, with the id the journal gave it.
#[test]
fn a_crash_while_taking_a_plan_loses_duplicates_and_resends_nothing() {
    let plan = crate::plans::PLAN.replace("to: rex\n", "to: chip\n");
    for (point, skip) in walt::FAILPOINTS.iter().flat_map(|p| [(p, 0), (p, 2)]) {
        let s = Studio::new();
        s.deliver("walt", "plan.md", &plan);
        let crashed = run_until_crash(&s, point, skip);
        assert!(crashed || skip > 0, "{point} was never reached");
        let d = Daemon::start(&s);
        wait_for(&format!("the plan taken up after {point}"), || {
            s.ls("inbox/walt/active").len() == 1 && s.ls("inbox/chip/new").len() == 1
        });
        // A turn more, to see nothing else goes out.
        std::thread::sleep(std::time::Duration::from_millis(300));
        d.stop();
        let accepted: Vec<_> = s
            .journal()
            .into_iter()
            .filter(|r| r["event"] == "plan.accepted")
            .collect();
        assert_eq!(accepted.len(), 1, "after {point}/{skip}");
        let first = accepted[0]["parts"][0]["id"].as_str().unwrap().to_string();
        let new = s.ls("inbox/chip/new");
        assert_eq!(new.len(), 1, "after {point}/{skip}: {new:?}");
        assert!(new[0].starts_with(&first), "after {point}/{skip}: {new:?}");
        let text = s.read(&format!("inbox/chip/new/{}", new[0]));
        assert!(text.contains("part: index"), "{text}");
        assert!(s.ls("inbox/walt/new").is_empty() && s.ls("inbox/walt/held").is_empty());
    }
}
