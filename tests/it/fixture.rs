//! A studio written by walt before where-an-order-is became one type (`model::state`): its
//! journal must read, write and replay exactly as it did, and a daemon must take it up.
//!
//! The fixture is `fixtures/studio-before-typed-state.tar.gz`, made by the script beside it
//! with the binary of that time: 171 records of 24 kinds (delivery, routing, claims, reviews
//! rejected and accepted, retries, a reassignment, escalations, parking and unparking,
//! cancels, a command agent's run, a stall, rotations, handoffs, backpressure, signals), and
//! the `state/ledger.json` that binary wrote when it stopped.

use std::process::Command;

use walt::model::ledger::Ledger;
use walt::model::record::Record;

use crate::common::*;

fn fixture_studio() -> Studio {
    let s = Studio::new();
    for e in std::fs::read_dir(s.path("")).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    let tar = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/fixtures/studio-before-typed-state.tar.gz"
    );
    let ok = Command::new("tar")
        .args(["xzf", tar, "-C"])
        .arg(s.path(""))
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar could not unpack the fixture");
    s
}

#[test]
fn a_journal_written_before_the_typed_state_reads_writes_and_replays_the_same() {
    let s = fixture_studio();
    let journal = s.read("state/journal.jsonl");
    let mut ledger = Ledger::default();
    let mut kinds = std::collections::BTreeSet::new();
    for (n, line) in journal.lines().enumerate() {
        let r: Record = serde_json::from_str(line).unwrap_or_every_line(n, line);
        assert_eq!(
            r.to_line(),
            line,
            "line {} does not write back byte for byte",
            n + 1
        );
        kinds.insert(r.event.clone());
        ledger.apply(&r);
    }
    assert!(
        kinds.len() >= 24,
        "the fixture covers {} kinds",
        kinds.len()
    );
    let old: serde_json::Value = serde_json::from_str(&s.read("state/ledger.json")).unwrap();
    assert_eq!(serde_json::json!(ledger.max_id), old["max_id"]);
    let replayed = serde_json::to_value(ledger.entries.values().collect::<Vec<_>>()).unwrap();
    assert_eq!(
        replayed, old["orders"],
        "replaying the old journal gives another ledger than the old binary had"
    );
}

/// `unwrap` that names the line a record failed on.
trait OrLine<T> {
    fn unwrap_or_every_line(self, n: usize, line: &str) -> T;
}

impl<T, E: std::fmt::Display> OrLine<T> for Result<T, E> {
    fn unwrap_or_every_line(self, n: usize, line: &str) -> T {
        self.unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1))
    }
}

#[test]
fn a_daemon_takes_up_a_studio_written_before_the_typed_state() {
    let s = fixture_studio();
    let before = s.read("state/journal.jsonl").lines().count();
    let d = Daemon::start(&s);
    s.deliver("walt", "later.md", &order("m-later", "to: chip\n"));
    wait_for("the new request routed under the next id", || {
        s.events("0033").contains(&"order.written".to_string())
    });
    assert_eq!(d.stop(), Some(0));
    let status: serde_json::Value =
        serde_json::from_slice(&s.walt(&["status", "--json"]).stdout).unwrap();
    let open: Vec<&str> = status["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert!(open.contains(&"0033"), "{open:?}");
    let journal = s.journal();
    assert!(journal.len() > before);
    assert!(
        journal.iter().all(|r| r["event"].is_string()),
        "the journal, old and new, reads as one"
    );
}
