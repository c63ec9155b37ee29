//! Walt's plan ledger with plain values: random 20-part plans (random `after`, random shared
//! Files) driven to their answer. Every part is written exactly once and only after its
//! `after` parts are done; no two orders over one file are ever in flight together; nothing
//! waits for ever; and Walt's hot context stays under the default ceiling throughout (one
//! compact line for the plan plus its parts in flight).

use std::collections::BTreeSet;

use proptest::prelude::*;
use walt::coord::{Effect, Event, Walt};
use walt::daemon::tokens::Tiktoken;
use walt::format::config::{self, Encoding};
use walt::model::order::{AgentName, OrderId};
use walt::model::state::State;

/// A plan of `n` parts; part i comes after the parts in `after[i]` (all earlier) and writes
/// file `files[i]` (a small set, so parts share files).
fn plan_text(after: &[Vec<usize>], files: &[usize]) -> String {
    let mut out = String::from("---\npriority: normal\n---\n**Goal:** Every part of the big plan is done.\n\n**Acceptance:**\n- part p0 works\n- the big plan holds\n- every part is checked\n");
    for (i, deps) in after.iter().enumerate() {
        out.push_str(&format!("\n## Part: p{i}\n"));
        if !deps.is_empty() {
            let names: Vec<String> = deps.iter().map(|d| format!("p{d}")).collect();
            out.push_str(&format!("after: {}\n", names.join(", ")));
        }
        out.push_str(&format!(
            "\n**Objective:** Part p{i} of the big plan is implemented.\n\n**Acceptance:**\n- part p{i} works\n- the big plan holds\n- every part is checked\n\n**Files:**\n- repos/app/src/f{}.rs\n\n**Branching:**\n- halt-with-note if the file cannot be written\n",
            files[i]
        ));
    }
    out
}

fn arb_plan() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<usize>)> {
    (2usize..=20)
        .prop_flat_map(|n| {
            let after = (0..n)
                .map(|i| proptest::collection::btree_set(0..i.max(1), 0..=i.min(3)))
                .collect::<Vec<_>>();
            (after, proptest::collection::vec(0usize..6, n))
        })
        .prop_map(|(after, files)| {
            let after = after
                .into_iter()
                .enumerate()
                .map(|(i, s)| s.into_iter().filter(|d| *d < i).collect())
                .collect();
            (after, files)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn a_plan_of_up_to_20_parts_is_answered_under_the_ceiling_with_no_overlap_in_flight(
        (after, files) in arb_plan(),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 40),
    ) {
        let cfg = config::parse("[agents.chip]\nowns = [\"repos/**/*.rs\"]\n").unwrap();
        let ceiling = cfg.walt.ceiling;
        let mut walt = Walt::new(cfg, 1, Box::new(Tiktoken::new(Encoding::O200kBase)));
        walt.set_clock(1_000_000, 1);
        let plan = OrderId(1);
        let mut effects = walt.handle(Event::Request { id: plan, name: "0001-big.md".into(), text: plan_text(&after, &files) });
        let mut written: Vec<OrderId> = Vec::new();
        let mut done: BTreeSet<OrderId> = BTreeSet::new();
        let mut answered = false;
        let mut ids: Vec<OrderId> = Vec::new();
        for step in 0..200 {
            for e in &effects {
                match e {
                    Effect::Decide(r) if r.event == "plan.accepted" => {
                        ids = r.extra["parts"].as_array().unwrap().iter()
                            .map(|p| OrderId::parse(p["id"].as_str().unwrap()).unwrap()).collect();
                    }
                    Effect::Write { id, .. } => {
                        prop_assert!(!written.contains(id), "{id} written twice");
                        let i = ids.iter().position(|p| p == id).unwrap();
                        for d in &after[i] {
                            prop_assert!(done.contains(&ids[*d]), "p{i} written before p{d} was done");
                        }
                        written.push(*id);
                    }
                    Effect::Gather { .. } => {
                        let out = walt.handle(Event::Gathered { plan, parts: Vec::new() });
                        prop_assert!(out.iter().any(|e| matches!(e, Effect::Record(r) if r.event == "plan.escalated")));
                        answered = true;
                    }
                    _ => {}
                }
            }
            prop_assert!(walt.hot_tokens() <= ceiling, "hot {} > ceiling {ceiling}", walt.hot_tokens());
            prop_assert!(walt.peak() <= ceiling, "peak {} > ceiling {ceiling}", walt.peak());
            // No two orders in flight over one file.
            let flying: Vec<&String> = walt.flights().values().flat_map(|f| &f.order.files).collect();
            let unique: BTreeSet<&String> = flying.iter().copied().collect();
            prop_assert_eq!(flying.len(), unique.len(), "two orders over one file in flight");
            if answered {
                break;
            }
            // One order in flight finishes (which one: the test's choice), then a tick.
            let open: Vec<OrderId> = walt.flights().keys().copied().collect();
            effects = Vec::new();
            if !open.is_empty() {
                let id = open[order[step % order.len()].index(open.len())];
                done.insert(id);
                effects.extend(walt.handle(Event::Moved { id, agent: AgentName::new("chip").unwrap(), state: State::Done }));
            }
            effects.extend(walt.handle(Event::Tick));
        }
        prop_assert!(answered, "the plan was never answered: written {written:?}");
        prop_assert_eq!(written.len(), after.len());
        prop_assert!(walt.plans().is_empty());
    }
}

mod checks {
    use walt::coord::answer::{check, digest};
    use walt::coord::plans::{PartRun, PartState, PlanRun};
    use walt::coord::Evidence;
    use walt::format::parse::{self, Context};
    use walt::model::order::OrderId;

    fn run() -> PlanRun {
        let text = crate::plans::PLAN.replace("to: rex\n", "");
        let plan = parse::parse_plan(text.as_bytes(), Context::default()).value;
        PlanRun {
            id: OrderId(40),
            name: "0040-x.md".into(),
            parts: vec![
                PartRun {
                    name: "index".into(),
                    id: OrderId(41),
                    state: PartState::Done,
                    spent: 0,
                },
                PartRun {
                    name: "audit".into(),
                    id: OrderId(42),
                    state: PartState::Done,
                    spent: 0,
                },
            ],
            plan,
            accepted_at: 0,
            started: true,
            budget_said: false,
            answering: true,
        }
    }

    fn report(id: u64, ticks: &[&str], touched: &str) -> String {
        let mut out =
            format!("---\nre: {id:04}\nstatus: done\n---\n**Outcome:** Done.\n\n**Acceptance:**\n");
        for t in ticks {
            out.push_str(&format!("- [x] {t}\n"));
        }
        out.push_str(&format!("\n**Touched:**\n- {touched}\n\n**Note:** none\n"));
        out
    }

    fn evidence(id: u64, text: &str, commits: Vec<(String, bool)>) -> Evidence {
        Evidence {
            id: OrderId(id),
            agent: "chip".into(),
            attempt: 1,
            report: Some(text.to_string()),
            digest: Some(digest(text)),
            changes: Vec::new(),
            commits,
        }
    }

    fn good() -> Vec<Evidence> {
        let a = report(
            41,
            &[
                "migration 0042 applies cleanly on an empty database",
                "EXPLAIN for the force-route query shows an index scan",
                "`cargo test -p pipeline` passes",
            ],
            "repos/pipeline/migrations/0042_force_route_index.sql",
        );
        let b = report(
            42,
            &[
                "the audit of migration 0042 finds no lock held longer than a second",
                "the audit names every statement it timed",
                "the audit's notes are in repos/pipeline/AUDIT.md",
            ],
            "repos/pipeline/AUDIT.md",
        );
        vec![
            evidence(41, &a, vec![("repos/pipeline 3f2a9c1aaaa".into(), true)]),
            evidence(42, &b, Vec::new()),
        ]
    }

    #[test]
    fn all_three_checks_pass_on_good_evidence() {
        let c = check(&run(), &good());
        assert_eq!(c.status(), "done", "{:?}", c.failures());
        assert!(c.goal.iter().all(|(_, by)| by.is_some()));
    }

    #[test]
    fn a_commit_gone_from_history_fails_the_third_check() {
        let mut ev = good();
        ev[0].commits[0].1 = false;
        let c = check(&run(), &ev);
        assert_eq!(c.status(), "incomplete");
        assert!(c.failures().iter().any(|f| f.contains("index (0041): its commit 3f2a9c1aaaa in repos/pipeline is no longer in that repository's history")), "{:?}", c.failures());
    }

    #[test]
    fn a_goal_bullet_no_report_ticks_fails_the_first_check_and_dropped_parts_count_for_nothing() {
        let mut r = run();
        r.parts[1].state = PartState::Dropped;
        let c = check(&r, &good());
        assert_eq!(c.status(), "incomplete");
        assert!(
            c.failures()[0]
                .contains("no accepted report of a done part ticks: the audit of migration 0042"),
            "{:?}",
            c.failures()
        );
    }

    #[test]
    fn two_parts_touching_one_file_fail_the_second_check_in_the_order_they_were_accepted() {
        let mut ev = good();
        ev[1].changes = vec!["repos/pipeline/migrations/0042_force_route_index.sql".into()];
        let c = check(&run(), &ev);
        assert_eq!(c.status(), "conflicted");
        assert_eq!(c.conflicts[0].earlier, "index (0041)");
        assert_eq!(c.conflicts[0].later, "audit (0042)");
    }

    #[test]
    fn a_done_part_with_no_evidence_or_a_changed_report_fails_the_third_check() {
        let mut ev = good();
        ev[1].report = Some(ev[1].report.clone().unwrap().replace("none", "edited"));
        let c = check(&run(), &ev);
        assert!(c
            .failures()
            .iter()
            .any(|f| f.contains("audit (0042): its report is not the one Walt accepted")));
        let c = check(&run(), &good()[..1]);
        assert!(
            c.failures()
                .iter()
                .any(|f| f.contains("audit (0042): Walt holds it as done")),
            "{:?}",
            c.failures()
        );
    }
}

#[test]
fn a_handoff_brief_carries_every_open_plan() {
    let cfg = config::parse(
        "[walt]\nrotate_at = 700\nceiling = 2000\n[agents.chip]\nowns = [\"repos/**/*.rs\"]\n",
    )
    .unwrap();
    let mut walt = Walt::new(cfg, 1, Box::new(Tiktoken::new(Encoding::O200kBase)));
    walt.set_clock(1_000_000, 1);
    let after: Vec<Vec<usize>> = (0..20).map(|_| Vec::new()).collect();
    let files: Vec<usize> = (0..20).collect();
    let mut briefs = Vec::new();
    let effects = walt.handle(Event::Request {
        id: OrderId(1),
        name: "0001-big.md".into(),
        text: plan_text(&after, &files),
    });
    let mut all = effects;
    for _ in 0..30 {
        let open: Vec<OrderId> = walt.flights().keys().copied().collect();
        if let Some(id) = open.first() {
            all.extend(walt.handle(Event::Moved {
                id: *id,
                agent: AgentName::new("chip").unwrap(),
                state: State::Done,
            }));
        }
        all.extend(walt.handle(Event::Tick));
        assert!(walt.hot_tokens() <= 2000);
    }
    for e in &all {
        if let Effect::Handoff { body, .. } = e {
            briefs.push(body.clone());
        }
    }
    assert!(!briefs.is_empty(), "no handoff under rotate_at 700");
    for b in &briefs {
        assert!(b.contains("## Open plans\n- plan 0001 "), "{b}");
    }
}

#[test]
fn the_brains_note_is_prose_or_it_is_refused() {
    use walt::coord::answer::check_note;
    assert_eq!(
        check_note("  Both parts landed.\nLook at b first. ").unwrap(),
        "Both parts landed. Look at b first."
    );
    assert!(check_note("```sql\nDROP TABLE x;\n```").is_err());
    assert!(check_note("---\nre: 0001\n---").is_err());
    assert!(check_note("ok\n**Acceptance:**\n- [x] mine").is_err());
    assert!(check_note("   ").is_err());
}

mod recovery_with_plan_facts {
    use walt::coord::recovery::{decide, reroute, Decision, Facts, Failure, PlanFacts};
    use walt::model::order::{AgentName, OrderId, Priority};

    fn facts(budget_left: Option<i64>, time_left: Option<i64>) -> Facts {
        let a = |n: &str| AgentName::new(n).unwrap();
        Facts {
            agent: a("chip"),
            attempt: 1,
            attempts: 3,
            fallbacks: vec![a("rex")],
            tried: vec![a("chip")],
            priority: Priority::Normal,
            hops: 0,
            max_hops: 3,
            plan: Some(PlanFacts {
                plan: OrderId(40),
                part: "index".into(),
                optional: false,
                budget_left,
                time_left,
            }),
        }
    }

    #[test]
    fn with_budget_and_time_left_a_part_is_retried_as_any_order() {
        let f = Failure::Failed("tests fail".into());
        assert!(matches!(
            decide(&f, &facts(Some(10), Some(60))),
            Decision::Retry { .. }
        ));
        let to = AgentName::new("rex").unwrap();
        assert!(matches!(
            reroute(&to, &facts(None, None)),
            Decision::Reassign { .. }
        ));
    }

    #[test]
    fn past_the_deadline_or_the_budget_nothing_is_retried_or_reassigned() {
        let f = Failure::Failed("tests fail".into());
        let to = AgentName::new("rex").unwrap();
        for (b, t, says) in [
            (Some(10), Some(0), "past its deadline"),
            (Some(0), Some(60), "has spent its budget"),
            (Some(-5), None, "has spent its budget (5 tokens over)"),
        ] {
            match decide(&f, &facts(b, t)) {
                Decision::Escalate { why } => assert!(why.contains(says), "{why}"),
                other => panic!("{other:?}"),
            }
            match reroute(&to, &facts(b, t)) {
                Decision::Escalate { why } => {
                    assert!(why.contains("nothing is reassigned"), "{why}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
