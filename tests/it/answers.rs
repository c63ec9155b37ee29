//! Specialists answer: claim, report, review, and what a failure means.
//! The review and recovery rules as tables of plain values, then every path end to end.

use walt::coord::recovery::{decide, reroute, Decision, Facts, Failure};
use walt::coord::review::review;
use walt::format::parse::{self, Context};
use walt::model::order::{AgentName, Priority};

use crate::common::*;

fn a(n: &str) -> AgentName {
    AgentName::new(n).unwrap()
}

const ORDER: &str = "---\nto: chip\n---\n**Objective:** The widget is polished.\n\n**Acceptance:**\n- `cargo test` passes\n- the widget shines\n- the changelog says so\n\n**Files:**\n- repos/app/src/widget.rs\n- repos/app/docs/\n\n**Branching:**\n- route-to-rex if an audit is needed\n";

/// An order over Files of its own (`repos/<name>/…`), so it may be in flight beside others.
fn own(order: &str, name: &str) -> String {
    order
        .replace(
            "repos/app/src/widget.rs",
            &format!("repos/{name}/src/widget.rs"),
        )
        .replace("repos/app/docs/", &format!("repos/{name}/docs/"))
}

fn report(
    status: &str,
    ticks: &[(&str, bool)],
    touched: &[&str],
    note: &str,
    front: &str,
) -> String {
    let mut t = format!("---\nre: 0001\nfrom: chip\nstatus: {status}\n{front}---\n**Outcome:** The widget is polished.\n\n**Acceptance:**\n");
    for (b, ticked) in ticks {
        t.push_str(&format!("- [{}] {b}\n", if *ticked { "x" } else { " " }));
    }
    t.push_str("\n**Touched:**\n");
    if touched.is_empty() {
        t.push_str("- none\n");
    }
    for p in touched {
        t.push_str(&format!("- {p}\n"));
    }
    t.push_str(&format!("\n**Note:** {note}\n"));
    t
}

const ALL: [(&str, bool); 3] = [
    ("`cargo test` passes", true),
    ("the widget shines", true),
    ("the changelog says so", true),
];

fn reviewed(text: &str) -> Result<(), walt::coord::review::Rejection> {
    let order = parse::parse_order(ORDER.as_bytes(), Context::default()).value;
    let r = parse::parse_report(text.as_bytes(), Context::default()).value;
    review(&order, "chip", &r, &[])
}

#[test]
fn review_table() {
    assert_eq!(
        reviewed(&report(
            "done",
            &ALL,
            &["repos/app/src/widget.rs", "repos/app/docs/x.md"],
            "none",
            ""
        )),
        Ok(())
    );
    let cases: Vec<(String, &str)> = vec![
        (
            report("done", &ALL[..2], &[], "none", ""),
            "\"the changelog says so\" is missing",
        ),
        (
            report(
                "done",
                &[ALL[0], ALL[1], ("the changelog mentions it", true)],
                &[],
                "none",
                "",
            ),
            "is missing",
        ),
        (
            report("done", &ALL, &["repos/app/src/other.rs"], "none", ""),
            "Touched repos/app/src/other.rs is outside",
        ),
        (
            report("rerouted", &ALL[..1], &[], "docs", "route-to: docs\n"),
            "does not name route-to-docs",
        ),
        (
            report("failed", &ALL, &[], "x", ""),
            "every bullet is ticked",
        ),
        (
            report("done", &ALL, &[], "none", "").replace("from: chip", "from: rex"),
            "the report is from rex",
        ),
    ];
    for (text, needle) in cases {
        let r = reviewed(&text).expect_err(needle);
        assert!(
            r.reasons.iter().any(|x| x.contains(needle)),
            "{needle}: {:?}",
            r.reasons
        );
    }
    let creep = reviewed(&report(
        "done",
        &ALL,
        &["repos/app/src/other.rs"],
        "none",
        "",
    ))
    .unwrap_err();
    assert_eq!(
        creep.scope_creep,
        vec!["repos/app/src/other.rs".to_string()]
    );
    let order = parse::parse_order(ORDER.as_bytes(), Context::default()).value;
    let ok = parse::parse_report(
        report("done", &ALL, &[], "none", "").as_bytes(),
        Context::default(),
    )
    .value;
    let observed = review(&order, "chip", &ok, &["repos/app/src/secret.rs".into()]).unwrap_err();
    assert_eq!(
        observed.scope_creep,
        vec!["repos/app/src/secret.rs".to_string()],
        "observed changes count even when the report is silent"
    );
}

fn facts(attempt: u32, attempts: u32, fallbacks: &[&str], tried: &[&str], hops: u32) -> Facts {
    Facts {
        agent: a("chip"),
        attempt,
        attempts,
        fallbacks: fallbacks.iter().map(|f| a(f)).collect(),
        tried: tried.iter().map(|f| a(f)).collect(),
        priority: Priority::Normal,
        hops,
        max_hops: 3,
        plan: None,
    }
}

#[test]
fn recovery_table() {
    let fail = Failure::Failed("tests time out".into());
    assert!(
        matches!(decide(&fail, &facts(1, 2, &[], &["chip"], 0)), Decision::Retry { ref agent, attempt: 2, .. } if agent.as_str() == "chip")
    );
    assert!(
        matches!(decide(&fail, &facts(2, 2, &["rex", "docs"], &["chip"], 0)), Decision::Reassign { ref agent, .. } if agent.as_str() == "rex")
    );
    assert!(
        matches!(decide(&fail, &facts(2, 2, &["rex", "docs"], &["chip", "rex"], 0)), Decision::Reassign { ref agent, .. } if agent.as_str() == "docs")
    );
    let Decision::Escalate { why } = decide(&fail, &facts(2, 2, &["rex"], &["chip", "rex"], 0))
    else {
        panic!()
    };
    assert!(
        why.contains("every fallback was tried") && why.contains("tests time out"),
        "{why}"
    );
    let Decision::Escalate { why } = decide(
        &Failure::LeaseLost("untouched".into()),
        &facts(1, 1, &[], &["chip"], 0),
    ) else {
        panic!()
    };
    assert!(
        why.contains("no fallback") && why.contains("lease lost"),
        "{why}"
    );
    assert!(matches!(
        reroute(&a("rex"), &facts(1, 2, &[], &["chip"], 2)),
        Decision::Reassign { .. }
    ));
    assert!(matches!(
        reroute(&a("rex"), &facts(1, 2, &[], &["chip"], 3)),
        Decision::Escalate { .. }
    ));
    let human = Facts {
        agent: AgentName::human(),
        ..facts(1, 5, &[], &[], 0)
    };
    assert!(
        matches!(decide(&fail, &human), Decision::Escalate { .. }),
        "a person's order is never retried by Walt"
    );
}

// ---- end to end ------------------------------------------------------------------------

const CFG_EXTRA: &str = "\n[agents.docs]\nrole = \"Writes docs.\"\nkeywords = [\"document\"]\n";

fn studio(chip: &str) -> Studio {
    let s = Studio::new();
    let cfg = s.read("config/walt.toml");
    let cfg = cfg.replace(
        "attempts = 2               # tries before reassigning or escalating\nfallback = []",
        chip,
    );
    s.write("config/walt.toml", &format!("{cfg}{CFG_EXTRA}"));
    s
}

fn submit(s: &Studio, text: &str) -> String {
    let f = s.write("req.md", text);
    // Counted before the submit: the daemon may write the order before `walt submit` returns.
    let n = s.log_count("order.written") + s.log_count("recovery.escalate");
    let o = s.walt(&["submit", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    wait_for("the order to be written", || {
        s.log_count("order.written") + s.log_count("recovery.escalate") > n
    });
    format!(
        "{:04}",
        s.log()
            .iter()
            .rev()
            .find(|r| r["event"] == "order.written")
            .unwrap()["order"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
    )
}

fn send(s: &Studio, id: &str, status: &str, text: &str) -> std::process::Output {
    let f = s.write(
        &format!("r-{id}-{status}.md"),
        &text.replace("re: 0001", &format!("re: {id}")),
    );
    s.walt(&["report", id, "--status", status, f.to_str().unwrap()])
}

#[test]
fn claim_report_skeleton_and_a_done_report_close_the_order() {
    let s = studio("attempts = 2\nfallback = []");
    let d = Daemon::start(&s);
    let id = submit(&s, ORDER);
    let o = s.walt(&["claim", "chip"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .trim()
            .ends_with(&format!("inbox/chip/active/{id}-the-widget-is-polished.md")),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        s.walt(&["claim", "chip"]).status.code(),
        Some(1),
        "nothing left to claim"
    );
    wait_for("the claim to be journaled", || {
        s.events(&id).contains(&"order.claimed".to_string())
    });
    // The skeleton carries the order's Acceptance bullets, unticked, for the agent to edit.
    let sk = s
        .cmd(&["report", &id, "--status", "done"])
        .current_dir(s.root())
        .output()
        .unwrap();
    assert_eq!(sk.status.code(), Some(0), "{}", stderr(&sk));
    let skeleton = s.read(&format!("report-{id}.md"));
    assert!(
        skeleton.contains("- [ ] `cargo test` passes")
            && skeleton.contains("- [ ] the changelog says so"),
        "{skeleton}"
    );
    // An unticked done report lints with a warning (review would reject it, SPEC §3).
    let unedited = s.walt(&["lint", s.path(&format!("report-{id}.md")).to_str().unwrap()]);
    assert_eq!(unedited.status.code(), Some(0));
    assert!(
        stdout(&unedited).contains("warning: status `done` but"),
        "{}",
        stdout(&unedited)
    );
    std::fs::write(
        s.path(&format!("report-{id}.md")),
        skeleton.replace("[ ]", "[x]"),
    )
    .unwrap();
    let sent = s.walt(&[
        "report",
        &id,
        "--status",
        "done",
        s.path(&format!("report-{id}.md")).to_str().unwrap(),
    ]);
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    wait_for("order.done", || {
        s.events(&id).contains(&"order.done".to_string())
    });
    d.stop();
    assert_eq!(
        s.ls("inbox/chip/done"),
        vec![
            format!("{id}-the-widget-is-polished.md"),
            format!("{id}-the-widget-is-polished.report.md")
        ]
    );
    assert_eq!(
        s.ls("inbox/walt/done"),
        vec![format!("{id}-the-widget-is-polished.md")]
    );
    assert!(s.ls("inbox/walt/new").is_empty() && s.ls("inbox/walt/active").is_empty());
    let ev = s.events(&id);
    for e in [
        "delivery.accepted",
        "route.decided",
        "order.written",
        "order.claimed",
        "report.received",
        "review.accepted",
        "order.done",
    ] {
        assert!(ev.contains(&e.to_string()), "{e} missing from {ev:?}");
    }
    assert!(s.status()["orders"].as_array().unwrap().is_empty());
}

#[test]
fn a_rejected_report_is_retried_with_the_rejection_quoted_then_escalated_with_the_history() {
    let s = studio("attempts = 2\nfallback = []");
    let d = Daemon::start(&s);
    let id = submit(&s, ORDER);
    let partial = report("done", &ALL[..2], &[], "none", "");
    assert_eq!(send(&s, &id, "done", &partial).status.code(), Some(0));
    wait_for("a retry", || {
        s.events(&id).contains(&"recovery.retry".to_string())
    });
    let retry = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "recovery.retry")
        .unwrap();
    assert_eq!(retry["attempt"], 2);
    let brief = s.read(&format!("inbox/chip/new/{id}-the-widget-is-polished.md"));
    assert!(
        brief.contains("attempt: 2")
            && brief.contains("rejected at review")
            && brief.contains("the changelog says so"),
        "{brief}"
    );
    assert!(s
        .log()
        .iter()
        .any(|r| r["event"] == "review.rejected"
            && r["reason"].as_str().unwrap().contains("is missing")));
    assert_eq!(send(&s, &id, "done", &partial).status.code(), Some(0));
    wait_for("an escalation", || {
        s.events(&id).contains(&"recovery.escalate".to_string())
    });
    d.stop();
    let esc = s.read(&format!("inbox/human/new/{id}-the-widget-is-polished.md"));
    assert!(
        esc.contains("attempt 1 (chip)") && esc.contains("attempt 2 (chip)"),
        "the whole history goes to the person: {esc}"
    );
    let done = s.ls("inbox/chip/done");
    for f in ["a1.md", "a1.report.md", "a2.md", "a2.report.md"] {
        assert!(done.iter().any(|n| n.ends_with(f)), "{f} not in {done:?}");
    }
    let escalate = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "recovery.escalate")
        .unwrap();
    for k in ["attempts", "fallbacks", "priority", "hops", "agent_attempt"] {
        assert!(escalate.get(k).is_some(), "decision input {k} not logged");
    }
}

#[test]
fn a_failure_past_its_attempts_is_reassigned_to_a_fallback() {
    let s = studio("attempts = 1\nfallback = [\"docs\"]");
    let d = Daemon::start(&s);
    let id = submit(&s, ORDER);
    let failed = report(
        "failed",
        &[ALL[0], ("the widget shines", false), ALL[2]],
        &[],
        "the widget will not shine",
        "",
    );
    assert_eq!(send(&s, &id, "failed", &failed).status.code(), Some(0));
    wait_for("a reassignment", || s.ls("inbox/docs/new").len() == 1);
    d.stop();
    let r = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "recovery.reassign")
        .unwrap();
    assert_eq!(r["agent"], "docs");
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("the widget will not shine"));
}

#[test]
fn halted_escalates_with_its_note_and_rerouted_goes_where_branching_allows() {
    let s = studio("attempts = 2\nfallback = []");
    let d = Daemon::start(&s);
    let a_id = submit(&s, ORDER);
    let halted = report(
        "halted",
        &[("`cargo test` passes", false)],
        &[],
        "the widget was removed last week",
        "",
    );
    assert_eq!(send(&s, &a_id, "halted", &halted).status.code(), Some(0));
    // The file is written before its record is journaled: wait for both, or the next
    // submit could take this escalation for its own order's.
    wait_for("escalation", || {
        s.ls("inbox/human/new").len() == 1 && s.log_count("recovery.escalate") == 1
    });
    assert!(s
        .read(&format!("inbox/human/new/{}", s.ls("inbox/human/new")[0]))
        .contains("the widget was removed last week"));
    let b_id = submit(
        &s,
        &own(&ORDER.replace("is polished", "is sanded"), "sanded"),
    );
    let rerouted = report(
        "rerouted",
        &[("`cargo test` passes", false)],
        &[],
        "rex should audit first",
        "route-to: rex\n",
    );
    assert_eq!(
        send(&s, &b_id, "rerouted", &rerouted).status.code(),
        Some(0)
    );
    wait_for("reroute", || s.ls("inbox/rex/new").len() == 1);
    let c_id = submit(
        &s,
        &own(&ORDER.replace("is polished", "is painted"), "painted"),
    );
    let wrong = report(
        "rerouted",
        &[("`cargo test` passes", false)],
        &[],
        "docs should do it",
        "route-to: docs\n",
    );
    assert_eq!(send(&s, &c_id, "rerouted", &wrong).status.code(), Some(0));
    wait_for("rejection", || {
        s.events(&c_id).contains(&"review.rejected".to_string())
    });
    d.stop();
    assert!(
        s.ls("inbox/docs/new").is_empty(),
        "a reroute the Branching does not name is refused"
    );
    assert!(s.events(&c_id).contains(&"recovery.retry".to_string()));
}

#[test]
fn blocked_parks_until_the_blocker_is_done_or_a_person_unblocks() {
    let s = studio("attempts = 2\nfallback = []");
    let d = Daemon::start(&s);
    let first = submit(&s, ORDER);
    let second = submit(
        &s,
        &own(&ORDER.replace("is polished", "is varnished"), "varnished"),
    );
    let third = submit(&s, &own(&ORDER.replace("is polished", "is waxed"), "waxed"));
    let blocked = |by: &str| {
        report(
            "blocked",
            &[("`cargo test` passes", false)],
            &[],
            "waits",
            &format!("blocker: {by}\n"),
        )
    };
    assert_eq!(
        send(&s, &second, "blocked", &blocked(&first)).status.code(),
        Some(0)
    );
    assert_eq!(
        send(&s, &third, "blocked", &blocked("the design review"))
            .status
            .code(),
        Some(0)
    );
    wait_for("two parked", || s.log_count("order.parked") == 2);
    assert_eq!(
        s.ls("inbox/chip/new").len(),
        1,
        "only the first is still queued"
    );
    assert_eq!(
        s.walt(&["unblock", &first]).status.code(),
        Some(1),
        "only a parked order can be unblocked"
    );
    assert_eq!(
        send(&s, &first, "done", &report("done", &ALL, &[], "none", ""))
            .status
            .code(),
        Some(0)
    );
    wait_for("the second unparked", || {
        s.events(&second).contains(&"order.unparked".to_string())
    });
    let o = s.walt(&["unblock", &third]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    wait_for("the third unparked", || {
        s.events(&third).contains(&"order.unparked".to_string())
    });
    d.stop();
    assert_eq!(s.ls("inbox/chip/new").len(), 2);
    assert!(s
        .ls("state/decisions/done")
        .iter()
        .any(|n| n.ends_with("-unblock.json")));
}

#[test]
fn reports_for_unknown_or_finished_orders_and_misplaced_reports_are_held() {
    let s = studio("attempts = 2\nfallback = []");
    let d = Daemon::start(&s);
    let id = submit(&s, ORDER);
    assert_eq!(
        send(&s, &id, "done", &report("done", &ALL, &[], "none", ""))
            .status
            .code(),
        Some(0)
    );
    wait_for("done", || s.events(&id).contains(&"order.done".to_string()));
    assert_eq!(
        send(&s, &id, "done", &report("done", &ALL, &[], "none", ""))
            .status
            .code(),
        Some(0)
    );
    s.write(
        "inbox/walt/hand-report.md",
        &report("done", &ALL, &[], "none", "").replace("re: 0001", "re: 0077"),
    );
    s.write(
        "inbox/chip/misplaced.md",
        &report("done", &ALL, &[], "none", ""),
    );
    wait_for("three held", || {
        s.ls("inbox/walt/held")
            .iter()
            .filter(|n| !n.ends_with(".why.md"))
            .count()
            == 2
            && s.ls("inbox/chip/held").len() == 2
    });
    d.stop();
    let notes: String = s
        .ls("inbox/walt/held")
        .iter()
        .filter(|n| n.ends_with(".why.md"))
        .map(|n| s.read(&format!("inbox/walt/held/{n}")))
        .collect();
    assert!(
        notes.contains("which is done already") || notes.contains("has no record of"),
        "{notes}"
    );
    assert!(notes.contains("taken as a report"), "{notes}");
    assert!(s
        .read(&format!(
            "inbox/chip/held/{}",
            s.ls("inbox/chip/held")
                .iter()
                .find(|n| n.ends_with(".why.md"))
                .unwrap()
        ))
        .contains("belongs in inbox/walt/"));
}

#[test]
fn scope_creep_is_signalled_and_rejected() {
    let s = studio("attempts = 2\nfallback = []");
    let d = Daemon::start(&s);
    let id = submit(&s, ORDER);
    let creep = report(
        "done",
        &ALL,
        &["repos/app/src/widget.rs", "repos/billing/src/charge.rs"],
        "none",
        "",
    );
    assert_eq!(send(&s, &id, "done", &creep).status.code(), Some(0));
    wait_for("scope creep", || s.log_count("signal.scope-creep") == 1);
    d.stop();
    let sig = s
        .log()
        .into_iter()
        .find(|r| r["event"] == "signal.scope-creep")
        .unwrap();
    assert!(sig["reason"]
        .as_str()
        .unwrap()
        .contains("repos/billing/src/charge.rs"));
    assert!(s.events(&id).contains(&"review.rejected".to_string()));
}

#[test]
fn a_persons_retry_and_cancel_are_journaled_and_traced() {
    let s = studio("attempts = 1\nfallback = []");
    let d = Daemon::start(&s);
    let id = submit(&s, ORDER);
    let failed = report(
        "failed",
        &[("`cargo test` passes", false)],
        &[],
        "broken",
        "",
    );
    assert_eq!(send(&s, &id, "failed", &failed).status.code(), Some(0));
    wait_for("escalation", || s.ls("inbox/human/new").len() == 1);
    let o = s.walt(&["retry", &id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    wait_for("back with chip", || s.ls("inbox/chip/new").len() == 1);
    let o = s.walt(&["cancel", &id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    wait_for("cancelled", || {
        s.events(&id).contains(&"order.cancelled".to_string())
    });
    d.stop();
    assert_eq!(
        s.walt(&["cancel", &id]).status.code(),
        Some(1),
        "a finished order cannot be cancelled"
    );
    assert_eq!(s.walt(&["retry", "0099"]).status.code(), Some(1));
    let story = stdout(&s.walt(&["trace", &id]));
    assert!(
        story.contains("recovery.retry")
            && story.contains("rule person")
            && story.contains("order.cancelled"),
        "{story}"
    );
    assert!(s.ls("inbox/chip/new").is_empty() && s.ls("inbox/walt/done").len() == 1);
}

#[test]
fn a_claimed_order_left_untouched_past_its_lease_is_retried() {
    let s = studio("attempts = 2\nfallback = []");
    s.edit_config("lease = \"30m\"", "lease = \"1s\"");
    let d = Daemon::start(&s);
    let id = submit(&s, ORDER);
    assert_eq!(s.walt(&["claim", "chip"]).status.code(), Some(0));
    wait_for("the lease to run out", || s.log_count("order.stalled") == 1);
    wait_for("a retry", || {
        s.events(&id).contains(&"recovery.retry".to_string())
    });
    d.stop();
    assert!(s
        .log()
        .iter()
        .any(|r| r["event"] == "recovery.retry"
            && r["reason"].as_str().unwrap().contains("lease lost")));
    assert_eq!(s.ls("inbox/chip/new").len(), 1);
    assert!(s.ls("inbox/chip/active").is_empty());
}

/// Found by the kill -9 soak: a daemon killed after an accepted order moved to `done/` but
/// before its report was filed beside it held that report at restart as "a report for a
/// finished order". The acceptance is now journaled before anything moves, and a restart
/// finishes the filing. This puts the studio in exactly that state: the journal cut right after
/// `review.accepted`, the order in `done/`, its report and request where they were.
#[test]
fn a_report_accepted_before_a_crash_is_filed_beside_its_order_not_held() {
    let s = studio("attempts = 2\nfallback = []");
    let d = Daemon::start(&s);
    let id = submit(&s, ORDER);
    let sent = send(&s, &id, "done", &report("done", &ALL, &[], "none", ""));
    assert_eq!(sent.status.code(), Some(0));
    wait_for("done", || s.events(&id).contains(&"order.done".to_string()));
    d.stop();
    let journal = s.read("state/journal.jsonl");
    let lines: Vec<&str> = journal.lines().collect();
    let accepted = lines
        .iter()
        .position(|l| l.contains("\"review.accepted\""))
        .unwrap();
    let received: serde_json::Value = serde_json::from_str(
        lines
            .iter()
            .find(|l| l.contains("\"report.received\""))
            .unwrap(),
    )
    .unwrap();
    assert!(
        lines[..accepted]
            .iter()
            .any(|l| l.contains("\"report.received\"")),
        "received and accepted are journaled before the moves: {journal}"
    );
    let report_name = received["path"].as_str().unwrap().to_string();
    let stem = format!("{id}-the-widget-is-polished");
    // Undo what came after the acceptance except the order's own move to done/.
    s.write(
        "state/journal.jsonl",
        &format!("{}\n", lines[..=accepted].join("\n")),
    );
    std::fs::remove_file(s.path("state/ledger.json")).unwrap();
    std::fs::rename(
        s.path(&format!("inbox/chip/done/{stem}.report.md")),
        s.path(&format!("inbox/walt/new/{report_name}")),
    )
    .unwrap();
    std::fs::rename(
        s.path(&format!("inbox/walt/done/{stem}.md")),
        s.path(&format!("inbox/walt/active/{stem}.md")),
    )
    .unwrap();
    let d = Daemon::start(&s);
    wait_for("the report filed beside its order", || {
        s.ls("inbox/chip/done")
            .contains(&format!("{stem}.report.md"))
    });
    wait_for("the request finished", || {
        s.ls("inbox/walt/done").contains(&format!("{stem}.md"))
    });
    d.stop();
    assert!(
        s.ls("inbox/walt/held").is_empty(),
        "held: {:?}",
        s.ls("inbox/walt/held")
    );
    assert!(s.ls("inbox/walt/new").is_empty() && s.ls("inbox/walt/active").is_empty());
    assert!(s.status()["orders"].as_array().unwrap().is_empty());
}

/// An order dropped by hand straight into a specialist's inbox was accepted, but Walt only took
/// it up at the next restart: its report, sent before, was held as "for an unknown order". He
/// now takes it up when it is accepted, and its report is reviewed like any other.
#[test]
fn an_order_dropped_into_a_specialists_inbox_is_reviewed_when_reported() {
    let s = studio("attempts = 2\nfallback = []");
    let d = Daemon::start(&s);
    s.write("inbox/chip/by-hand.md", ORDER);
    wait_for("the order accepted", || s.ls("inbox/chip/new").len() == 1);
    let claimed = s.walt(&["claim", "chip"]);
    assert_eq!(claimed.status.code(), Some(0), "{}", stderr(&claimed));
    let id = s.ls("inbox/chip/active")[0][..4].to_string();
    assert_eq!(
        send(&s, &id, "done", &report("done", &ALL, &[], "none", ""))
            .status
            .code(),
        Some(0)
    );
    wait_for("order.done", || {
        s.events(&id).contains(&"order.done".to_string())
    });
    d.stop();
    assert!(
        s.ls("inbox/walt/held").is_empty(),
        "{:?}",
        s.ls("inbox/walt/held")
    );
    assert_eq!(
        s.ls("inbox/chip/done"),
        vec![
            format!("{id}-the-widget-is-polished.md"),
            format!("{id}-the-widget-is-polished.report.md")
        ]
    );
}
