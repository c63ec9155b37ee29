//! How long Walt takes to answer a 20-part plan after its last report, against the same run's
//! baseline: how long he takes to close one ordinary order after its report. Both on the real
//! daemon, with chip a manual agent (the reports are delivered by the bench, as `walt report`
//! would), so only Walt's own work is timed.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{init_studio, start_daemon, stop};

const PARTS: usize = 20;

fn plan() -> String {
    let mut out = String::from("---\npriority: normal\n---\n**Goal:** Every part of the big plan is done.\n\n**Acceptance:**\n- part p0 works\n- the big plan holds\n- every part is checked\n");
    for i in 0..PARTS {
        out.push_str(&format!(
            "\n## Part: p{i}\n\n**Objective:** Part p{i} of the big plan is implemented.\n\n**Acceptance:**\n- part p{i} works\n- the big plan holds\n- every part is checked\n\n**Files:**\n- repos/app/src/f{i}.rs\n\n**Branching:**\n- halt-with-note if the file cannot be written\n"
        ));
    }
    out
}

fn report(id: &str, bullets: &[String], file: &str) -> String {
    let mut out = format!(
        "---\nre: {id}\nfrom: chip\nstatus: done\n---\n**Outcome:** Done.\n\n**Acceptance:**\n"
    );
    for b in bullets {
        out.push_str(&format!("- [x] {b}\n"));
    }
    out.push_str(&format!("\n**Touched:**\n- {file}\n\n**Note:** none\n"));
    out
}

fn journal(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("state/journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn count(dir: &Path, event: &str) -> usize {
    std::fs::read_to_string(dir.join("state/journal.jsonl"))
        .unwrap_or_default()
        .matches(&format!("\"event\":\"{event}\""))
        .count()
}

fn deliver(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join("inbox/walt/tmp").join(name);
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("inbox/walt/new").join(name)).unwrap();
}

/// (time from the last part's report to `plan.answered`, time from an ordinary order's report
/// to its `order.done`), in one daemon.
pub fn answer_time(dir: &Path) -> (Duration, Duration) {
    init_studio(dir);
    let d = start_daemon(dir);
    // The baseline: one ordinary order.
    let order = "---\nto: chip\n---\n**Objective:** The baseline widget is polished.\n\n**Acceptance:**\n- it is polished\n- it builds\n- it is checked\n\n**Files:**\n- repos/app/src/base.rs\n\n**Branching:**\n- halt-with-note if it is gone\n";
    deliver(dir, "base.md", order);
    wait("the baseline order", || count(dir, "order.written") == 1);
    let bullets: Vec<String> = ["it is polished", "it builds", "it is checked"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let t = Instant::now();
    deliver(
        dir,
        "base-report.md",
        &report("0001", &bullets, "repos/app/src/base.rs"),
    );
    wait("the baseline done", || count(dir, "order.done") == 1);
    let single = t.elapsed();
    // The plan: every part out at once (no `after`, distinct Files).
    deliver(dir, "plan.md", &plan());
    wait("the parts", || count(dir, "order.written") == 1 + PARTS);
    let ids: Vec<String> = journal(dir)
        .into_iter()
        .find(|r| r["event"] == "plan.accepted")
        .expect("plan.accepted")["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let part_report = |i: usize| {
        let bullets = vec![
            format!("part p{i} works"),
            "the big plan holds".to_string(),
            "every part is checked".to_string(),
        ];
        report(&ids[i], &bullets, &format!("repos/app/src/f{i}.rs"))
    };
    for i in 0..PARTS - 1 {
        deliver(dir, &format!("r{i}.md"), &part_report(i));
    }
    wait("all but the last part done", || {
        count(dir, "order.done") == PARTS
    });
    let t = Instant::now();
    deliver(dir, "last.md", &part_report(PARTS - 1));
    wait("the answer", || count(dir, "plan.answered") == 1);
    let answer = t.elapsed();
    stop(d);
    (answer, single)
}
