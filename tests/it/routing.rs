//! Routing and the coordinator's effects, with plain values; and end to end
//! through the real daemon, with `walt trace` telling each decision's story.

use walt::coord::route::{route, Refusal, Rule};
use walt::coord::{meter::Counter, Effect, Event, Walt};
use walt::format::config::{self, Config};
use walt::format::parse::{self, Author, Context};
use walt::model::order::{AgentName, OrderId, WorkOrder};

use crate::common::*;

const CONFIG: &str = r#"
[agents.chip]
owns = ["repos/**/*.rs", "repos/**/*.sql"]
keywords = ["implement", "fix"]

[agents.rex]
owns = ["repos/audit/**"]
keywords = ["audit", "review"]

[agents.docs]
owns = ["repos/**/*.md", "repos/special/*.rs"]
keywords = ["document", "fix"]
"#;

fn cfg() -> Config {
    config::parse(CONFIG).unwrap()
}

fn order(files: &[&str], objective: &str, front: &str) -> WorkOrder {
    let text = format!(
        "---\n{front}---\n**Objective:** {objective}\n\n**Acceptance:**\n- a passes\n- b passes\n- c passes\n\n**Files:**\n{}\n**Branching:**\n- halt-with-note if gone\n",
        files.iter().map(|f| format!("- {f}\n")).collect::<String>()
    );
    let p = parse::parse_order(text.as_bytes(), Context::default());
    assert!(p.is_ok(), "{:?}", p.diagnostics);
    p.value
}

/// Counts words: plain values for the meter in pure tests.
pub struct Words;
impl Counter for Words {
    fn count(&self, text: &str) -> u32 {
        text.split_whitespace().count() as u32
    }
}

#[test]
fn to_wins_when_ownership_agrees_or_is_silent() {
    let d = route(
        &cfg(),
        &order(&["repos/x/a.py"], "The x is done.", "to: rex\n"),
    )
    .unwrap();
    assert_eq!((d.agent.as_str(), d.rule), ("rex", Rule::To));
    let d = route(
        &cfg(),
        &order(&["repos/x/a.rs"], "The x is done.", "to: chip\n"),
    )
    .unwrap();
    assert_eq!((d.agent.as_str(), d.rule), ("chip", Rule::To));
}

#[test]
fn a_to_against_ownership_needs_an_override() {
    let r = route(
        &cfg(),
        &order(&["repos/x/a.rs"], "The x is done.", "to: rex\n"),
    );
    assert!(
        matches!(r, Err(Refusal::OverrideNeeded { ref owner, .. }) if owner.as_str() == "chip"),
        "{r:?}"
    );
    assert_eq!(r.unwrap_err().signal(), Some("override"));
    let d = route(
        &cfg(),
        &order(
            &["repos/x/a.rs"],
            "The x is done.",
            "to: rex\noverride: rex must see this migration first\n",
        ),
    )
    .unwrap();
    assert_eq!((d.agent.as_str(), d.rule), ("rex", Rule::Override));
    assert!(
        d.reason.contains("rex must see this migration first"),
        "{}",
        d.reason
    );
}

#[test]
fn walt_never_takes_work_and_unknown_agents_are_refused() {
    assert_eq!(
        route(
            &cfg(),
            &order(&["repos/a.py"], "The x is done.", "to: walt\n")
        ),
        Err(Refusal::ToWalt)
    );
    assert!(matches!(
        route(
            &cfg(),
            &order(&["repos/a.py"], "The x is done.", "to: bob\n")
        ),
        Err(Refusal::UnknownAgent(_))
    ));
}

#[test]
fn ownership_counts_files_last_matching_rule_wins_ties_to_first_listed() {
    // repos/special/a.rs matches chip's *.rs and docs' special/*.rs: docs is listed later, so wins.
    let d = route(
        &cfg(),
        &order(&["repos/special/a.rs"], "The x is done.", ""),
    )
    .unwrap();
    assert_eq!((d.agent.as_str(), d.rule), ("docs", Rule::Owns));
    // Most files wins.
    let d = route(
        &cfg(),
        &order(
            &["repos/a/x.md", "repos/b/y.md", "repos/c/z.rs"],
            "The x is done.",
            "",
        ),
    )
    .unwrap();
    assert_eq!(d.agent.as_str(), "docs");
    assert!(d.reason.contains("owns 2 of 3"), "{}", d.reason);
    assert_eq!(d.candidates.len(), 2);
    // A tie goes to the agent listed first (chip before docs).
    let d = route(
        &cfg(),
        &order(&["repos/a/x.md", "repos/c/z.rs"], "The x is done.", ""),
    )
    .unwrap();
    assert_eq!(d.agent.as_str(), "chip");
    // `*` does not cross `/`: repos/special/deep/a.rs is not docs' but chip's (`**`).
    let d = route(
        &cfg(),
        &order(&["repos/special/deep/a.rs"], "The x is done.", ""),
    )
    .unwrap();
    assert_eq!(d.agent.as_str(), "chip");
}

#[test]
fn keywords_then_no_handler() {
    let d = route(
        &cfg(),
        &order(
            &["repos/x/a.py"],
            "The audit of the payments flow is written.",
            "",
        ),
    )
    .unwrap();
    assert_eq!((d.agent.as_str(), d.rule), ("rex", Rule::Keywords));
    // Whole words only: "fixture" is not "fix".
    let d = route(&cfg(), &order(&["repos/x/a.py"], "The fixture loads.", "")).unwrap();
    assert_eq!((d.agent.as_str(), d.rule), ("human", Rule::NoHandler));
    assert!(d.reason.starts_with("no handler"));
    // A keyword tie goes to the agent listed first.
    let d = route(&cfg(), &order(&["repos/x/a.py"], "The fix is in.", "")).unwrap();
    assert_eq!(d.agent.as_str(), "chip");
}

#[test]
fn walt_decides_before_he_writes_and_writes_before_the_request_moves() {
    let mut walt = Walt::new(cfg(), 1, Box::new(Words));
    let text = "---\nto: chip\n---\n**Objective:** The parser is fixed.\n\n**Acceptance:**\n- a passes\n- b passes\n- c passes\n\n**Files:**\n- repos/p/src/lib.rs\n\n**Branching:**\n- route-to-rex if an audit is needed\n";
    let effects = walt.handle(Event::Request {
        id: OrderId(7),
        name: "0007-x.md".into(),
        text: text.into(),
    });
    let phases: Vec<u8> = effects.iter().map(Effect::phase).collect();
    let mut sorted = phases.clone();
    sorted.sort();
    assert_eq!(phases, sorted, "effects come in phase order: {effects:#?}");
    let Some(Effect::Decide(decided)) = effects.first() else {
        panic!("{effects:#?}")
    };
    assert_eq!(decided.event, "route.decided");
    assert_eq!(decided.rule.as_deref(), Some("to"));
    let body = effects.iter().find_map(|e| match e {
        Effect::Write {
            agent, name, body, ..
        } => {
            assert_eq!(agent.as_str(), "chip");
            assert_eq!(name, "0007-the-parser-is-fixed.md");
            Some(body.clone())
        }
        _ => None,
    });
    let body = body.expect("an order is written");
    let agents = walt.config().agent_names();
    let p = parse::parse_order(
        body.as_bytes(),
        Context {
            agents: Some(&agents),
            author: Author::Walt,
        },
    );
    assert_eq!(p.diagnostics, vec![]);
    assert_eq!(p.value.header.id, Some(OrderId(7)));
    assert_eq!(p.value.header.from.as_deref(), Some("walt"));
    assert_eq!(p.value.header.attempt, Some(1));
    assert!(p
        .value
        .header
        .reason
        .as_deref()
        .unwrap()
        .contains("to: chip"));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::MoveRequest { .. })));
    assert_eq!(walt.flights().len(), 1);
}

#[test]
fn an_override_refusal_holds_the_request_with_the_signal() {
    let mut walt = Walt::new(cfg(), 1, Box::new(Words));
    let text = "---\nto: rex\n---\n**Objective:** The parser is fixed.\n\n**Acceptance:**\n- a passes\n- b passes\n- c passes\n\n**Files:**\n- repos/p/src/lib.rs\n\n**Branching:**\n- halt-with-note if gone\n";
    let effects = walt.handle(Event::Request {
        id: OrderId(3),
        name: "0003-x.md".into(),
        text: text.into(),
    });
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::HoldRequest { .. })));
    assert!(effects.iter().any(|e| matches!(e, Effect::Record(r) if r.event == "signal.override" && r.state == Some(walt::model::state::State::Held))));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Write { .. })));
    assert!(walt.flights().is_empty());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn path() -> impl Strategy<Value = String> {
        prop_oneof![
            "repos/[a-c]{1,2}/[a-z]{1,3}\\.(rs|sql|md|py)",
            "repos/special/[a-z]\\.rs",
            "repos/audit/[a-z]{1,3}/[a-z]\\.txt",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn routing_is_total_and_honest(
            files in proptest::collection::vec(path(), 1..6),
            to in proptest::option::of(prop_oneof![Just("chip"), Just("rex"), Just("docs"), Just("human")]),
            over in proptest::option::of(Just("a reason")),
            words in proptest::collection::vec(prop_oneof![Just("audit"), Just("fix"), Just("document"), Just("widget"), Just("is"), Just("done")], 1..6),
        ) {
            let c = cfg();
            let mut front = String::new();
            if let Some(t) = to { front.push_str(&format!("to: {t}\n")); }
            if let Some(o) = over { front.push_str(&format!("override: {o}\n")); }
            let mut files = files;
            files.sort();
            files.dedup();
            let file_refs: Vec<&str> = files.iter().map(String::as_str).collect();
            let o = order(&file_refs, &format!("The {}.", words.join(" ")), &front);
            match route(&c, &o) {
                Ok(d) => {
                    // The agent is configured, or a person.
                    prop_assert!(c.agent(d.agent.as_str()).is_some() || d.agent.as_str() == "human");
                    if let Some(t) = to { prop_assert_eq!(d.agent.as_str(), t); }
                    if d.rule == Rule::Owns {
                        // The winner owns at least as many files as anyone.
                        let count = |a: &AgentName| files.iter().filter(|f| walt::coord::route::owner_of(&c, f).map(|(n, _)| n) == Some(a)).count();
                        let best = count(&d.agent);
                        for a in &c.agents { prop_assert!(count(&a.name) <= best); }
                    }
                    prop_assert!(!d.reason.is_empty());
                }
                Err(Refusal::OverrideNeeded { .. }) => prop_assert!(to.is_some() && over.is_none()),
                Err(other) => prop_assert!(false, "unexpected refusal {:?}", other),
            }
        }
    }
}

// ---- end to end ------------------------------------------------------------------------

fn e2e_order(objective: &str, files: &[&str], front: &str) -> String {
    format!(
        "---\n{front}---\n**Objective:** {objective}\n\n**Acceptance:**\n- `cargo test` passes\n- the demo runs\n- the changelog says so\n\n**Files:**\n{}\n**Branching:**\n- route-to-rex if an audit is needed\n",
        files.iter().map(|f| format!("- {f}\n")).collect::<String>()
    )
}

fn last(s: &Studio, event: &str) -> serde_json::Value {
    s.log()
        .into_iter()
        .rev()
        .find(|r| r["event"] == event)
        .unwrap_or_else(|| panic!("no {event} in the log"))
}

#[test]
fn every_rule_end_to_end_with_reasons_on_record() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &e2e_order("The parser handles tabs.", &["repos/p/src/lib.rs"], ""),
    );
    // The order's file is written before its records are journaled: wait for both.
    wait_for("owns", || {
        s.ls("inbox/chip/new").len() == 1 && s.log_count("order.written") == 1
    });
    assert_eq!(last(&s, "route.decided")["rule"], "owns");
    s.deliver(
        "walt",
        "b.md",
        &e2e_order(
            "The audit of payments is written.",
            &["repos/p/notes.txt"],
            "",
        ),
    );
    wait_for("keywords", || {
        s.ls("inbox/rex/new").len() == 1 && s.log_count("order.written") == 2
    });
    assert_eq!(last(&s, "route.decided")["rule"], "keywords");
    s.deliver(
        "walt",
        "c.md",
        &e2e_order("The garden is watered.", &["repos/p/garden.txt"], ""),
    );
    wait_for("no handler", || {
        s.ls("inbox/human/new").len() == 1 && s.log_count("recovery.escalate") == 1
    });
    let esc = last(&s, "recovery.escalate");
    assert_eq!(esc["agent"], "human");
    assert!(esc["reason"].as_str().unwrap().starts_with("no handler"));
    s.deliver(
        "walt",
        "d.md",
        &e2e_order(
            "The parser is audited.",
            &["repos/p/src/parse.rs"],
            "to: rex\noverride: rex wrote this parser\n",
        ),
    );
    wait_for("override honored", || {
        s.ls("inbox/rex/new").len() == 2 && s.log_count("order.written") == 3
    });
    assert_eq!(last(&s, "route.decided")["rule"], "override");
    s.deliver(
        "walt",
        "e.md",
        &e2e_order(
            "The parser is audited again.",
            &["repos/p/src/lib.rs"],
            "to: rex\n",
        ),
    );
    wait_for("override refused", || s.log_count("signal.override") == 1);
    let held = s.ls("inbox/walt/held");
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        s.read(&format!("inbox/walt/held/{}", held[1]))
            .contains("override"),
        "the why note says why"
    );
    s.write(
        "inbox/walt/by-hand.md",
        &e2e_order("The lexer handles tabs.", &["repos/p/src/lex.rs"], ""),
    );
    wait_for("hand-dropped request", || s.ls("inbox/chip/new").len() == 2);
    d.stop();
    // Each written order lints clean as text Walt authored, and names id, from, attempt.
    for agent in ["chip", "rex", "human"] {
        for n in s.ls(&format!("inbox/{agent}/new")) {
            let p = s.path(&format!("inbox/{agent}/new/{n}"));
            let text = std::fs::read_to_string(&p).unwrap();
            let parsed = parse::parse_order(
                text.as_bytes(),
                Context {
                    agents: None,
                    author: Author::Walt,
                },
            );
            assert!(parsed.is_ok(), "{n}: {:?}", parsed.diagnostics);
            assert!(
                parsed.value.header.id.is_some()
                    && parsed.value.header.from.as_deref() == Some("walt")
                    && parsed.value.header.attempt == Some(1)
            );
            assert!(n.starts_with(&parsed.value.header.id.unwrap().to_string()));
        }
    }
    // The requests wait in walt/active while their orders are in flight.
    assert_eq!(s.ls("inbox/walt/active").len(), 5);
    // route.decided is journaled before order.written for every order.
    let j = s.journal();
    for id in ["0001", "0002", "0003", "0004", "0006"] {
        let decided = j
            .iter()
            .position(|r| r["event"] == "route.decided" && r["order"] == id)
            .unwrap();
        let written = j
            .iter()
            .position(|r| {
                (r["event"] == "order.written" || r["event"] == "recovery.escalate")
                    && r["order"] == id
            })
            .unwrap();
        assert!(decided < written, "{id}");
    }
}

#[test]
fn trace_tells_the_story_of_one_order_and_unknown_ids_exit_1() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "a.md",
        &e2e_order("The parser handles tabs.", &["repos/p/src/lib.rs"], ""),
    );
    wait_for("routing", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    let o = s.walt(&["trace", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let story = stdout(&o);
    // Times and paths vary; the story's shape does not.
    let stable: String = story
        .lines()
        .map(|l| {
            if l.len() > 24 && l.as_bytes()[4] == b'-' && l.as_bytes()[10] == b'T' {
                format!("[ts]{}", &l[l.find("Z ").map_or(0, |i| i + 1)..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(stable);
    let j = s.walt(&["trace", "0001", "--json"]);
    let records: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    let events: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        vec!["delivery.accepted", "route.decided", "order.written"]
    );
    let o = s.walt(&["trace", "0099"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no order 0099"));
    assert_eq!(s.walt(&["trace", "abc"]).status.code(), Some(2));
}

/// Found by the kill -9 soak: a crash between writing a held request's `.why.md` and moving
/// the request left the note behind, and every later attempt to hold it failed on it.
#[test]
fn a_why_note_left_by_a_crash_does_not_block_holding_the_request() {
    let s = Studio::new();
    s.write(
        "inbox/walt/new/0001-the-parser-is-audited.md",
        &e2e_order(
            "The parser is audited.",
            &["repos/p/src/parse.rs"],
            "to: rex\n",
        ),
    );
    s.write(
        "inbox/walt/held/0001-the-parser-is-audited.md.why.md",
        "# Held (from before the crash)\n",
    );
    let d = Daemon::start(&s);
    wait_for("held", || {
        s.ls("inbox/walt/held")
            .contains(&"0001-the-parser-is-audited.md".to_string())
    });
    d.stop();
    assert_eq!(s.log_count("signal.override"), 1);
}
