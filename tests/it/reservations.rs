//! Reservations (SPEC §9.3), property-tested on Walt himself: over random streams of requests
//! (Files drawn from a few paths and folders that overlap) and finished orders, no two orders
//! in flight ever overlap, and once the holders finish nothing is left waiting. End to end:
//! three orders for one file go out one at a time, in order.

use proptest::prelude::*;
use walt::coord::{Effect, Event, Walt};
use walt::format::config;
use walt::model::order::OrderId;

use crate::common::*;
use crate::routing::Words;

const FILES: [&str; 5] = [
    "repos/a/x.rs",
    "repos/a/y.rs",
    "repos/a/",
    "repos/b/z.rs",
    "repos/b/w.rs",
];

fn request(n: u64, files: &[&str]) -> String {
    format!(
        "---\nto: chip\n---\n**Objective:** The part p{n} is done.\n\n**Acceptance:**\n- a passes\n- b passes\n- c passes\n\n**Files:**\n{}\n**Branching:**\n- halt-with-note if gone\n",
        files.iter().map(|f| format!("- {f}\n")).collect::<String>()
    )
}

fn report(id: OrderId, files: &[String]) -> String {
    format!(
        "---\nre: {id}\nfrom: chip\nstatus: done\n---\n**Outcome:** Done.\n\n**Acceptance:**\n- [x] a passes\n- [x] b passes\n- [x] c passes\n\n**Touched:**\n{}\n**Note:** none\n",
        files
            .iter()
            .filter(|f| !f.ends_with('/'))
            .map(|f| format!("- {f}\n"))
            .collect::<String>()
    )
}

fn overlap(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| {
        b.iter().any(|y| {
            x == y
                || (x.ends_with('/') && y.starts_with(x.as_str()))
                || (y.ends_with('/') && x.starts_with(y.as_str()))
        })
    })
}

#[derive(Debug, Clone)]
enum Step {
    Request(Vec<usize>),
    Finish(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(0..FILES.len(), 1..3).prop_map(Step::Request),
            (0usize..8).prop_map(Step::Finish),
        ],
        1..40,
    )
}

struct Sim {
    walt: Walt,
    next: u64,
    /// Requests in `inbox/walt/new/`, oldest first: (id, text).
    pending: Vec<(OrderId, String)>,
}

impl Sim {
    fn offer(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (id, text) in pending {
            let effects = self.walt.handle(Event::Request {
                id,
                name: format!("{id}-r.md"),
                text: text.clone(),
            });
            if !effects.iter().any(|e| matches!(e, Effect::Write { .. })) {
                self.pending.push((id, text));
            }
            self.check();
        }
    }

    fn finish(&mut self, k: usize) {
        let ids: Vec<OrderId> = self.walt.flights().keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        let id = ids[k % ids.len()];
        let files = self.walt.flights()[&id].order.files.clone();
        self.next += 1;
        self.walt.handle(Event::Report {
            id: OrderId(self.next),
            name: format!("{}-report.md", self.next),
            text: report(id, &files),
            changed: Vec::new(),
            accepted: None,
            closed: None,
        });
        assert!(
            !self.walt.flights().contains_key(&id),
            "a done report finishes {id}"
        );
        self.offer();
    }

    fn check(&self) {
        let flights: Vec<(&OrderId, &Vec<String>)> = self
            .walt
            .flights()
            .iter()
            .map(|(id, f)| (id, &f.order.files))
            .collect();
        for (i, (a, fa)) in flights.iter().enumerate() {
            for (b, fb) in &flights[i + 1..] {
                assert!(
                    !overlap(fa, fb),
                    "{a} and {b} are in flight over one file: {fa:?} {fb:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn no_overlap_is_ever_in_flight_and_nothing_waits_for_ever(steps in steps()) {
        let cfg = config::parse("[agents.chip]\nowns = [\"repos/**\"]\nattempts = 2\n").unwrap();
        let mut sim = Sim { walt: Walt::new(cfg, 1, Box::new(Words)), next: 0, pending: Vec::new() };
        for step in steps {
            match step {
                Step::Request(idx) => {
                    sim.next += 1;
                    let files: Vec<&str> = idx.iter().map(|i| FILES[*i]).collect();
                    sim.pending.push((OrderId(sim.next), request(sim.next, &files)));
                    sim.offer();
                }
                Step::Finish(k) => sim.finish(k),
            }
        }
        // The holders finish: everything that waited goes out, and finishes too.
        for _ in 0..200 {
            if sim.walt.flights().is_empty() && sim.pending.is_empty() {
                break;
            }
            sim.finish(0);
        }
        prop_assert!(sim.pending.is_empty(), "waiting for ever: {:?}", sim.pending.iter().map(|p| p.0).collect::<Vec<_>>());
        prop_assert!(sim.walt.flights().is_empty());
    }
}

#[test]
fn three_orders_for_one_file_go_out_one_at_a_time_in_order() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    for m in ["m-first", "m-second", "m-third"] {
        s.deliver("walt", &format!("{m}.md"), &order(m, ""));
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    wait_for("the first written, the others waiting", || {
        s.ls("inbox/chip/new").len() == 1 && s.log_count("order.waiting") == 2
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        s.ls("inbox/chip/new").len(),
        1,
        "only one in flight over the file"
    );
    let waiting: Vec<serde_json::Value> = s
        .journal()
        .into_iter()
        .filter(|r| r["event"] == "order.waiting")
        .collect();
    assert!(waiting.iter().all(|r| r["holder"] == "0001"), "{waiting:?}");
    // Status says what waits on what.
    wait_for("status to say what waits", || {
        let st = s.status();
        st["waiting"]["0002"] == "0001" && st["waiting"]["0003"] == "0001"
    });
    let text = stdout(&s.walt(&["status"]));
    assert!(
        text.contains("waiting: request 0002 for order 0001, which holds one of its Files"),
        "{text}"
    );
    // Each finishes, and the next goes out: in order.
    for (n, id) in ["0001", "0002", "0003"].iter().enumerate() {
        wait_for("the next written", || s.ls("inbox/chip/new").len() == 1);
        let name = s.ls("inbox/chip/new")[0].clone();
        assert!(name.starts_with(id), "{name} should be {id}");
        assert!(s.walt(&["claim", "chip"]).status.success());
        s.deliver(
            "walt",
            &format!("r{n}.md"),
            &format!(
                "---\nre: {id}\nfrom: chip\nstatus: done\n---\n**Outcome:** Done.\n\n**Acceptance:**\n- [x] `cargo test` passes\n- [x] the widget shines in the demo\n- [x] the changelog names {}\n\n**Touched:**\n- repos/app/src/widget.rs\n\n**Note:** none\n",
                ["m-first", "m-second", "m-third"][n]
            ),
        );
        wait_for("done", || s.log_count("order.done") == n + 1);
    }
    d.stop();
}
