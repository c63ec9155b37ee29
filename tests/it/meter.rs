//! Walt's token meter: the invariants of the meter under random sequences of requests,
//! claims and finishes (plain values), and end to end with the real daemon and a small ceiling.

use std::collections::{BTreeSet, VecDeque};

use proptest::prelude::*;
use walt::coord::meter::{band, Counter};
use walt::coord::{Effect, Event, Walt};
use walt::format::config;
use walt::model::order::{AgentName, OrderId};

use crate::common::*;

struct Words;
impl Counter for Words {
    fn count(&self, text: &str) -> u32 {
        text.split_whitespace().count() as u32
    }
}

fn request(id: u64, words: usize) -> String {
    let pad = vec!["word"; words].join(" ");
    format!(
        "---\nto: chip\n---\n**Objective:** The widget w{id} is polished.\n\n**Acceptance:**\n- it passes {pad}\n- b passes\n- c passes\n\n**Files:**\n- repos/app/src/w{id}.rs\n\n**Branching:**\n- halt-with-note if gone\n"
    )
}

#[derive(Debug, Clone)]
enum Op {
    Request(usize),
    Claim(usize),
    Finish(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..60).prop_map(Op::Request),
        1 => any::<usize>().prop_map(Op::Claim),
        2 => any::<usize>().prop_map(Op::Finish),
    ]
}

/// The shell's part in miniature: waiting requests are offered again first, oldest first, and
/// a pass stops at the first that must wait.
struct Model {
    walt: Walt,
    queue: VecDeque<(OrderId, String)>,
    in_flight: BTreeSet<OrderId>,
    taken: BTreeSet<OrderId>,
    next: u64,
    rotated: usize,
    handoffs: usize,
    waits: usize,
}

impl Model {
    fn new(rotate_at: u32, ceiling: u32) -> Model {
        let cfg = config::parse(&format!(
            "[walt]\nrotate_at = {rotate_at}\nceiling = {ceiling}\n[agents.chip]\nowns = [\"repos/**/*.rs\"]\n"
        ))
        .unwrap();
        Model {
            walt: Walt::new(cfg, 1, Box::new(Words)),
            queue: VecDeque::new(),
            in_flight: BTreeSet::new(),
            taken: BTreeSet::new(),
            next: 1,
            rotated: 0,
            handoffs: 0,
            waits: 0,
        }
    }

    fn pump(&mut self) {
        while let Some((id, text)) = self.queue.front().cloned() {
            let before: BTreeSet<OrderId> = self.walt.flights().keys().copied().collect();
            let effects = self.walt.handle(Event::Request {
                id,
                name: format!("{id}-w.md"),
                text,
            });
            if effects.iter().any(|e| matches!(e, Effect::Wait { .. })) {
                self.waits += 1;
                assert_eq!(
                    self.walt.flights().keys().copied().collect::<BTreeSet<_>>(),
                    before,
                    "a wait changes nothing in flight"
                );
                return;
            }
            self.queue.pop_front();
            for e in &effects {
                match e {
                    Effect::Write { id, .. } => assert!(self.taken.insert(*id), "{id} taken twice"),
                    Effect::Record(r) if r.event == "meter.rotated" => self.rotated += 1,
                    Effect::Record(r) if r.event == "meter.handoff" => self.handoffs += 1,
                    _ => {}
                }
            }
            // Every order in flight before a rotation or handoff is in flight after it.
            let after: BTreeSet<OrderId> = self.walt.flights().keys().copied().collect();
            assert!(
                before.is_subset(&after),
                "lost {:?}",
                before.difference(&after).collect::<Vec<_>>()
            );
            self.in_flight.insert(id);
        }
    }

    fn check(&self) {
        let ceiling = self.walt.ceiling();
        assert!(
            self.walt.hot_tokens() <= ceiling,
            "hot {} > ceiling {ceiling}",
            self.walt.hot_tokens()
        );
        assert!(
            self.walt.peak() <= ceiling,
            "peak {} > ceiling {ceiling}",
            self.walt.peak()
        );
        let flights: BTreeSet<OrderId> = self.walt.flights().keys().copied().collect();
        assert_eq!(flights, self.in_flight);
        let metered: BTreeSet<OrderId> = self.walt.meter().in_flight().into_iter().collect();
        assert_eq!(
            metered, self.in_flight,
            "the meter lost track of an order in flight"
        );
        // The prompt is exactly what the meter counts.
        assert_eq!(Words.count(&self.walt.prompt(None)), self.walt.hot_tokens());
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Request(words) => {
                let id = OrderId(self.next);
                self.next += 1;
                self.queue.push_back((id, request(id.0, *words)));
            }
            Op::Claim(i) | Op::Finish(i) if !self.in_flight.is_empty() => {
                let id = *self.in_flight.iter().nth(i % self.in_flight.len()).unwrap();
                let state = if matches!(op, Op::Claim(_)) {
                    "active"
                } else {
                    "done"
                };
                self.walt.handle(Event::Moved {
                    id,
                    agent: AgentName::new("chip").unwrap(),
                    state: walt::model::state::State::parse(state).unwrap(),
                });
                if state == "done" {
                    self.in_flight.remove(&id);
                }
            }
            _ => {}
        }
        self.pump();
        self.check();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn the_meter_never_passes_the_ceiling_and_loses_nothing(ops in proptest::collection::vec(op(), 1..120)) {
        let mut m = Model::new(300, 400);
        for op in &ops {
            m.apply(op);
        }
        // Once everything in flight finishes, every waiting request is taken, each once.
        let mut rounds = 0;
        while !m.queue.is_empty() {
            let ids: Vec<OrderId> = m.in_flight.iter().copied().collect();
            for id in ids {
                m.walt.handle(Event::Moved { id, agent: AgentName::new("chip").unwrap(), state: walt::model::state::State::Done });
                m.in_flight.remove(&id);
            }
            m.pump();
            m.check();
            rounds += 1;
            prop_assert!(rounds < 1000, "a waiting request is never taken");
        }
        prop_assert_eq!(m.taken.len() as u64, m.next - 1);
    }
}

#[test]
fn rotation_then_handoff_then_backpressure_in_that_order() {
    let mut m = Model::new(300, 400);
    for _ in 0..4 {
        m.apply(&Op::Request(10));
    }
    m.apply(&Op::Finish(0));
    let mut i = 0;
    while m.rotated == 0 && i < 50 {
        m.apply(&Op::Request(10));
        i += 1;
    }
    assert!(m.rotated > 0, "finished lines are dropped first");
    while m.handoffs == 0 && i < 200 {
        m.apply(&Op::Request(10));
        i += 1;
    }
    assert!(m.handoffs > 0, "then a fresh generation");
    assert!(m.walt.generation() > 1);
    while m.waits == 0 && i < 400 {
        m.apply(&Op::Request(10));
        i += 1;
    }
    assert!(m.waits > 0, "then new requests wait");
}

#[test]
fn bands_follow_the_seeds_table() {
    assert_eq!(band(0), "pure routing");
    assert_eq!(band(2000), "pure routing");
    assert_eq!(band(2001), "mixed routing and light review");
    assert_eq!(band(7000), "mixed routing and light review");
    assert_eq!(band(7001), "drift toward execution");
    assert_eq!(band(15001), "full executor mode");
}

/// Forty requests to an agent nobody serves, with a small ceiling: Walt rotates or hands off,
/// then holds requests back; all forty are accounted for, none twice; and when orders finish,
/// the waiting ones are taken.
#[test]
fn forty_requests_under_a_small_ceiling_end_to_end() {
    let s = Studio::new();
    s.small_meter(350, 400);
    let d = Daemon::start(&s);
    for i in 0..40 {
        s.deliver(
            "walt",
            &format!("r{i:02}.md"),
            &order_own(&format!("q{i:02}"), "to: chip\n"),
        );
    }
    wait_for("all forty accepted and walt held back", || {
        s.log_count("delivery.accepted") == 40 && s.log_count("meter.backpressure") > 0
    });
    let routed = s.ls("inbox/chip/new").len();
    assert!(routed > 0 && routed < 40, "routed {routed}");
    assert!(s.log_count("meter.handoff") + s.log_count("meter.rotated") > 0);
    for r in s.log() {
        assert!(r["hot_tokens"].as_u64().unwrap() <= 400, "{r}");
    }
    let handoffs = s.ls("inbox/walt/handoff");
    assert!(!handoffs.is_empty());
    let brief = s.read(&format!("inbox/walt/handoff/{}", handoffs.last().unwrap()));
    assert!(brief.contains(" chip new\n"), "{brief}");
    let st = s.status();
    assert!(st["walt"]["generation"].as_u64().unwrap() > 1);
    assert!(st["walt"]["hot_tokens"].as_u64().unwrap() <= 400);
    // chip finishes work (moved to done/ by hand here): room appears, the rest is taken.
    let mut done = 0;
    wait_for("every request routed", || {
        for n in s.ls("inbox/chip/new") {
            let _ = std::fs::rename(
                s.path(&format!("inbox/chip/new/{n}")),
                s.path(&format!("inbox/chip/done/{n}")),
            );
            done += 1;
        }
        s.ls("inbox/walt/new").is_empty()
            && s.ls("inbox/chip/new").is_empty()
            && s.ls("inbox/chip/done").len() == 40
    });
    d.stop();
    let mut markers: Vec<String> = s
        .ls("inbox/chip/done")
        .iter()
        .map(|n| marker_of(&s.read(&format!("inbox/chip/done/{n}"))))
        .collect();
    markers.sort();
    markers.dedup();
    assert_eq!(markers.len(), 40);
    assert!(done >= 40);
}

/// Found by the kill -9 soak: a daemon restarted with many orders in flight resumed one full
/// line per order and started far past its ceiling. It now hands off at once.
#[test]
fn a_restart_with_much_in_flight_starts_under_the_ceiling() {
    let s = Studio::new();
    s.small_meter(350, 400);
    let d = Daemon::start(&s);
    for i in 0..30 {
        s.deliver(
            "walt",
            &format!("r{i:02}.md"),
            &order_own(&format!("q{i:02}"), "to: chip\n"),
        );
    }
    wait_for("walt to take what fits", || {
        s.log_count("delivery.accepted") == 30 && s.log_count("meter.backpressure") > 0
    });
    d.stop();
    let before = s.log().len();
    let d = Daemon::start(&s);
    s.deliver("walt", "late.md", &order_own("q-late", "to: chip\n"));
    wait_for("the late request seen", || {
        s.log()
            .iter()
            .skip(before)
            .any(|r| r["event"] == "delivery.accepted")
    });
    d.stop();
    assert!(
        s.log()
            .iter()
            .skip(before)
            .any(|r| r["event"] == "meter.handoff"),
        "it handed off on start"
    );
    for r in s.log().iter().skip(before) {
        assert!(
            r["hot_tokens"].as_u64().unwrap() <= 400,
            "past the ceiling after a restart: {r}"
        );
    }
}

/// Found by the kill -9 soak: a handoff brief written just before a crash (its record never
/// journaled) made every later handoff of that generation fail on the existing file.
#[test]
fn a_handoff_brief_left_by_a_crash_is_not_overwritten_or_tripped_over() {
    let s = Studio::new();
    s.small_meter(350, 400);
    s.write(
        "inbox/walt/handoff/gen-0002.md",
        "# from before the crash\n",
    );
    let d = Daemon::start(&s);
    for i in 0..20 {
        s.deliver(
            "walt",
            &format!("r{i:02}.md"),
            &order_own(&format!("q{i:02}"), "to: chip\n"),
        );
    }
    wait_for("a handoff", || s.log_count("meter.handoff") > 0);
    d.stop();
    assert_eq!(
        s.read("inbox/walt/handoff/gen-0002.md"),
        "# from before the crash\n"
    );
    assert!(s
        .ls("inbox/walt/handoff")
        .iter()
        .any(|n| n.as_str() > "gen-0002.md"));
    assert!(
        !s.log().iter().any(|r| r["level"] == "error"),
        "{:?}",
        s.log()
            .iter()
            .filter(|r| r["level"] == "error")
            .collect::<Vec<_>>()
    );
}

/// A start-up handoff is logged, not journaled: `walt status` still shows the generation it
/// began and its hot tokens (from the daemon's snapshot, newer than the journal's last record).
#[test]
fn status_shows_the_meter_after_a_handoff_on_start() {
    // Enough that their full lines pass the small rotate_at set below, few enough that the
    // handoff brief listing them fits under its ceiling.
    const N_IN_FLIGHT: usize = 20;
    let s = Studio::new();
    let d = Daemon::start(&s);
    for i in 0..N_IN_FLIGHT {
        s.deliver(
            "walt",
            &format!("r{i:02}.md"),
            &order_own(&format!("q{i:02}"), "to: chip\n"),
        );
    }
    wait_for("every request routed", || {
        s.ls("inbox/chip/new").len() == N_IN_FLIGHT
    });
    d.stop();
    // A smaller meter from now on: the orders in flight no longer fit under rotate_at.
    s.small_meter(350, 400);
    let before = s.log().len();
    let d = Daemon::start(&s);
    wait_for("the handoff on start", || {
        s.log()
            .iter()
            .skip(before)
            .any(|r| r["event"] == "meter.handoff")
    });
    let handoff = s
        .log()
        .into_iter()
        .skip(before)
        .find(|r| r["event"] == "meter.handoff")
        .unwrap();
    wait_for("status to show the new generation", || {
        let st = s.status();
        st["walt"]["generation"] == handoff["generation"]
            && st["walt"]["hot_tokens"] == handoff["hot_tokens"]
    });
    d.stop();
}

/// More orders in flight than the ceiling can list even compactly (the ceiling lowered under
/// them): the daemon starts with all of them in Walt's context, says it is past the ceiling and
/// why, and takes no new request until enough finish.
#[test]
fn a_restart_past_the_ceiling_says_so_and_takes_nothing_new() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    for i in 0..60 {
        s.deliver(
            "walt",
            &format!("r{i:02}.md"),
            &order_own(&format!("q{i:02}"), "to: chip\n"),
        );
    }
    wait_for("every request routed", || {
        s.ls("inbox/chip/new").len() == 60
    });
    d.stop();
    s.small_meter(350, 400);
    let before = s.log().len();
    let d = Daemon::start(&s);
    s.deliver("walt", "late.md", &order_own("q-late", "to: chip\n"));
    wait_for("the late request taken into new/", || {
        s.log()
            .iter()
            .skip(before)
            .any(|r| r["event"] == "delivery.accepted")
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.stop();
    let log = s.log();
    let past = log
        .iter()
        .skip(before)
        .find(|r| {
            r["event"] == "meter.backpressure"
                && r["reason"]
                    .as_str()
                    .unwrap()
                    .contains("past the ceiling 400")
        })
        .expect("it says it started past the ceiling");
    assert_eq!(past["level"], "warn");
    assert_eq!(past["in_flight"], 60);
    assert_eq!(s.ls("inbox/chip/new").len(), 60, "nothing new was routed");
    assert_eq!(s.ls("inbox/walt/new").len(), 1, "the late request waits");
}
