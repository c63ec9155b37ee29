//! Crash at every durable step (SQLite's crash testing, in small): for each crash point the
//! daemon aborts there mid-stream, a fresh daemon takes over, and then every order is present
//! exactly once, nothing half-written is in any `new/`, the journal reads, and the bad file is
//! held once. Built only with `--features failpoints` (.ci/run runs it).

use crate::common::*;

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
                &order(&format!("p{i}"), "to: chip\n"),
            );
        }
        s.write("inbox/walt/bad.md", "**Objective:** nothing else\n");
        let err = std::fs::File::create(s.path("daemon.err")).unwrap();
        let mut d = s
            .cmd(&["daemon"])
            .env("FAILPOINTS", format!("{point}={skip}*off->return"))
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        let crashed = loop {
            if let Some(status) = d.try_wait().unwrap() {
                break !status.success();
            }
            if start.elapsed() > std::time::Duration::from_secs(5) {
                unsafe { libc::kill(d.id() as i32, libc::SIGKILL) };
                let _ = d.wait();
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
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
