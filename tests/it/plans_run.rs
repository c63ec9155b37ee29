//! Running plans (SPEC §9.2, §9.4) on the real daemon: parts go out as their `after` parts
//! finish, the answer is checked against the goal and across the parts, and a failed check
//! goes to a person with what does not hold.

use crate::common::*;

/// One part: name, key lines, Acceptance bullets, Files.
pub struct P<'a>(
    pub &'a str,
    pub &'a str,
    pub &'a [&'a str],
    pub &'a [&'a str],
);

/// A plan with `goal` bullets and `parts`; `front` is extra front matter.
pub fn plan(front: &str, goal: &[&str], parts: &[P]) -> String {
    let mut out = format!("---\npriority: normal\n{front}---\n**Goal:** The parts are done and checked.\n\n**Acceptance:**\n");
    for g in goal {
        out.push_str(&format!("- {g}\n"));
    }
    for P(name, keys, acc, files) in parts {
        out.push_str(&format!("\n## Part: {name}\n"));
        for k in keys.lines().filter(|l| !l.is_empty()) {
            out.push_str(&format!("{k}\n"));
        }
        out.push_str(&format!(
            "\n**Objective:** Part {name} of the plan is implemented.\n\n**Acceptance:**\n"
        ));
        for a in *acc {
            out.push_str(&format!("- {a}\n"));
        }
        // A part's Acceptance has 3 to 5 bullets (SPEC §2): filled up with its own.
        for n in acc.len()..3 {
            out.push_str(&format!("- the file of part {name} has line {n}\n"));
        }
        out.push_str("\n**Files:**\n");
        for f in *files {
            out.push_str(&format!("- {f}\n"));
        }
        out.push_str("\n**Branching:**\n- halt-with-note if the file cannot be written\n");
    }
    out
}

/// The journal's records of one event, in order.
pub fn records(s: &Studio, event: &str) -> Vec<serde_json::Value> {
    s.journal()
        .into_iter()
        .filter(|r| r["event"] == event)
        .collect()
}

/// The id the journal gave each part of the (only) accepted plan, by name.
pub fn part_ids(s: &Studio) -> Vec<(String, String)> {
    let accepted = records(s, "plan.accepted");
    accepted[0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn answer_in(s: &Studio, folder: &str) -> Option<String> {
    s.ls(folder)
        .into_iter()
        .find(|n| n.ends_with(".answer.md") || (folder.contains("human") && n.ends_with(".md")))
        .map(|n| s.read(&format!("{folder}/{n}")))
}

fn three_parts() -> String {
    plan(
        "",
        &[
            "part a works",
            "part b works",
            "the parts are in repos/app/",
        ],
        &[
            P(
                "a",
                "",
                &["part a works", "the parts are in repos/app/"],
                &["repos/app/a.rs"],
            ),
            P("b", "after: a", &["part b works"], &["repos/app/b.rs"]),
            P(
                "c",
                "after: a\noptional: true",
                &["part c works"],
                &["repos/app/c.rs"],
            ),
        ],
    )
}

#[test]
fn parts_go_out_as_their_after_parts_finish_and_the_answer_is_written_beside_the_plan() {
    let s = Studio::new();
    let agent = s.script("agent.sh", &report_done_script());
    s.chip_command(&agent, "");
    let d = Daemon::start(&s);
    s.deliver("walt", "plan.md", &three_parts());
    wait_for("the answer", || !records(&s, "plan.answered").is_empty());
    d.stop();
    let ids = part_ids(&s);
    assert_eq!(
        ids.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    let j = s.journal();
    let pos = |event: &str, id: &str| {
        j.iter()
            .position(|r| r["event"] == event && r["order"] == id)
            .unwrap_or_else(|| panic!("no {event} for {id}"))
    };
    let (a, b, c) = (&ids[0].1, &ids[1].1, &ids[2].1);
    // b and c are written only once a is done.
    assert!(pos("order.written", b) > pos("order.done", a));
    assert!(pos("order.written", c) > pos("order.done", a));
    // Each part's order says which plan and part it is.
    let plan_id = records(&s, "plan.accepted")[0]["order"]
        .as_str()
        .unwrap()
        .to_string();
    let written = s
        .ls("inbox/chip/done")
        .into_iter()
        .find(|n| n.starts_with(b.as_str()) && n.ends_with(".md") && !n.contains("report"))
        .unwrap();
    let text = s.read(&format!("inbox/chip/done/{written}"));
    assert!(
        text.contains(&format!("plan: {plan_id}\npart: b\n")),
        "{text}"
    );
    // The answer, beside the plan's request in inbox/walt/done/.
    let answer = answer_in(&s, "inbox/walt/done").expect("an answer");
    assert!(
        answer.contains(&format!("re: {plan_id}\nstatus: done")),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("- [x] part a works — a ({a})")),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("- b ({b}) chip, attempt 1, done")),
        "{answer}"
    );
    assert!(answer.contains("**Conflicts:** none"), "{answer}");
    assert!(s
        .ls("inbox/walt/done")
        .iter()
        .any(|n| n.starts_with(&plan_id) && n.ends_with("-the-parts-are-done-and-checked.md")));
    assert!(
        s.ls("inbox/walt/active").is_empty(),
        "{:?}",
        s.ls("inbox/walt/active")
    );
    assert!(s.ls("inbox/human/new").is_empty());
}

/// An agent that does its order unless its part is named in `fail` (then it reports failed,
/// nothing ticked), after `pre` (shell run first, with `$part` set).
fn agent(s: &Studio, pre: &str, fail: &[&str]) -> String {
    let fails = fail.join("|");
    let fail_case = if fail.is_empty() {
        String::new()
    } else {
        format!(
            r#"case "$part" in {fails})
{{
printf -- '---\nre: %s\nfrom: %s\nstatus: failed\n---\n**Outcome:** It failed.\n\n**Acceptance:**\n' "$WALT_ORDER_ID" "$WALT_AGENT"
awk '$0 == "**Acceptance:**" {{on=1; next}} /^\*\*/ {{on=0}} on && /^- / {{print "- [ ] " substr($0, 3)}}' "$WALT_ORDER_FILE"
printf '\n**Touched:**\n- none\n\n**Note:** it failed on purpose\n'
}} > "$WALT_REPORT_FILE"
exit 0;;
esac
"#
        )
    };
    let body = format!(
        "part=$(sed -n 's/^part: //p' \"$WALT_ORDER_FILE\")\n{pre}\n{fail_case}{}",
        report_done_script()
    );
    s.script("agent.sh", &body)
}

fn plan_id(s: &Studio) -> String {
    records(s, "plan.accepted")[0]["order"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn two_parts_that_change_one_file_are_a_conflict_given_to_a_person() {
    let s = Studio::new();
    s.chip_command(&agent(&s, "", &[]), "");
    let d = Daemon::start(&s);
    let text = plan(
        "",
        &[
            "part a works",
            "part b works",
            "the parts are in repos/app/",
        ],
        &[
            P(
                "a",
                "",
                &["part a works", "the parts are in repos/app/"],
                &["repos/app/x.rs"],
            ),
            P("b", "", &["part b works"], &["repos/app/x.rs"]),
        ],
    );
    s.deliver("walt", "plan.md", &text);
    wait_for("the escalation", || {
        !records(&s, "plan.escalated").is_empty()
    });
    d.stop();
    let ids = part_ids(&s);
    let (a, b) = (&ids[0].1, &ids[1].1);
    // Reservations: b was written only once a was done.
    let j = s.journal();
    let pos = |event: &str, id: &str| {
        j.iter()
            .position(|r| r["event"] == event && r["order"] == id)
            .unwrap()
    };
    assert!(pos("order.written", b) > pos("order.done", a));
    let conflict = &records(&s, "signal.conflict")[0];
    let why = conflict["reason"].as_str().unwrap();
    assert!(
        why.contains(&format!("parts a ({a}) and b ({b}) both changed repos/app/x.rs; b ({b}) changed it after a ({a}) was accepted")),
        "{why}"
    );
    let answer = answer_in(&s, "inbox/human/new").expect("an answer for a person");
    assert!(answer.contains("status: conflicted"), "{answer}");
    assert!(
        answer.contains("- repos/app/x.rs: changed by a"),
        "{answer}"
    );
    assert!(s
        .ls("inbox/walt/done")
        .iter()
        .all(|n| !n.ends_with(".answer.md")));
    assert_eq!(records(&s, "plan.escalated")[0]["agent"], "human");
}

#[test]
fn a_report_changed_after_it_was_accepted_fails_the_answer() {
    let s = Studio::new();
    // Part b waits a moment, so the test can change a's filed report before the answer.
    s.chip_command(&agent(&s, "[ \"$part\" = b ] && sleep 2", &[]), "");
    let d = Daemon::start(&s);
    let text = three_parts();
    s.deliver("walt", "plan.md", &text);
    wait_for("a done", || !records(&s, "order.done").is_empty());
    let a = part_ids(&s)[0].1.clone();
    let report = s
        .ls("inbox/chip/done")
        .into_iter()
        .find(|n| n.starts_with(&a) && n.ends_with(".report.md"))
        .unwrap();
    let path = format!("inbox/chip/done/{report}");
    s.write(
        &path,
        &s.read(&path)
            .replace("**Note:** none", "**Note:** edited later"),
    );
    wait_for("the escalation", || {
        !records(&s, "plan.escalated").is_empty()
    });
    d.stop();
    let answer = answer_in(&s, "inbox/human/new").expect("an answer for a person");
    assert!(answer.contains("status: incomplete"), "{answer}");
    assert!(
        answer.contains(&format!("a ({a}): its report is not the one Walt accepted")),
        "{answer}"
    );
}

#[test]
fn an_optional_part_with_nothing_left_is_dropped_and_the_plan_goes_on() {
    let s = Studio::new();
    s.chip_command(&agent(&s, "", &["c"]), "");
    let d = Daemon::start(&s);
    s.deliver("walt", "plan.md", &three_parts());
    wait_for("the answer", || !records(&s, "plan.answered").is_empty());
    d.stop();
    let c = part_ids(&s)[2].1.clone();
    let dropped = records(&s, "plan.part-dropped");
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0]["order"], c.as_str());
    assert_eq!(dropped[0]["part"], "c");
    // The decision carries the plan's facts.
    let decided: Vec<_> = records(&s, "route.decided")
        .into_iter()
        .filter(|r| r["order"] == c.as_str() && r["rule"] == "drop")
        .collect();
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["optional"], true);
    assert_eq!(decided[0]["plan"], plan_id(&s).as_str());
    let answer = answer_in(&s, "inbox/walt/done").unwrap();
    assert!(answer.contains("status: done"), "{answer}");
    assert!(
        answer.contains(&format!("- c ({c}) dropped (optional)")),
        "{answer}"
    );
}

#[test]
fn a_required_part_that_fails_escalates_and_what_comes_after_it_waits_until_a_person_cancels() {
    let s = Studio::new();
    s.chip_command(&agent(&s, "", &["a"]), "");
    let d = Daemon::start(&s);
    s.deliver("walt", "plan.md", &three_parts());
    wait_for("the escalation", || {
        !records(&s, "recovery.escalate").is_empty()
    });
    let id = plan_id(&s);
    let ids = part_ids(&s);
    wait_for("status", || {
        s.status()["plans"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    });
    let st = s.status();
    let p = &st["plans"][0];
    assert_eq!(p["id"], id.as_str());
    assert_eq!(
        (p["done"].as_u64(), p["total"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(p["parts"][1]["state"], "waiting");
    assert_eq!(p["parts"][1]["after"][0], "a");
    let text = stdout(&s.walt(&["status"]));
    assert!(
        text.contains(&format!("plan {id}: 0/3 parts done")),
        "{text}"
    );
    assert!(
        text.contains(&format!("  b ({}) waiting: waits on a", ids[1].1)),
        "{text}"
    );
    // Nothing after a was written.
    assert!(records(&s, "order.written")
        .iter()
        .all(|r| r["order"] == ids[0].1.as_str()));
    let out = s.walt(&["cancel", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for("the plan cancelled", || {
        !records(&s, "plan.cancelled").is_empty()
    });
    d.stop();
    assert!(s.events(&ids[0].1).contains(&"order.cancelled".to_string()));
    assert!(records(&s, "order.written")
        .iter()
        .all(|r| r["order"] == ids[0].1.as_str()));
    assert!(s.ls("inbox/walt/active").is_empty());
    assert!(records(&s, "plan.answered").is_empty() && records(&s, "plan.escalated").is_empty());
}

#[test]
fn past_the_deadline_a_failed_part_is_not_retried() {
    let s = Studio::new();
    // attempts = 2: a failed first attempt would be retried, but the deadline has passed.
    s.chip_command(&agent(&s, "sleep 2", &["a"]), "");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "plan.md",
        &three_parts().replace("priority: normal\n", "priority: normal\ndeadline: 1s\n"),
    );
    wait_for("the escalation", || {
        !records(&s, "recovery.escalate").is_empty()
    });
    d.stop();
    let a = part_ids(&s)[0].1.clone();
    assert!(records(&s, "recovery.retry").is_empty());
    let decided: Vec<_> = records(&s, "route.decided")
        .into_iter()
        .filter(|r| r["order"] == a.as_str() && r["rule"] == "escalate")
        .collect();
    let why = decided[0]["reason"].as_str().unwrap();
    assert!(
        why.contains("past its deadline: nothing is retried or reassigned"),
        "{why}"
    );
    assert!(decided[0]["time_left"].as_i64().unwrap() <= 0);
    assert_eq!(decided[0]["optional"], false);
}

#[test]
fn past_the_budget_no_part_is_written_and_the_answer_says_what_was_not() {
    let s = Studio::new();
    let script = agent(&s, "", &[]).replace("status: done\\n", "status: done\\nspent: 500\\n");
    let body = std::fs::read_to_string(&script)
        .unwrap()
        .replace("status: done\\n", "status: done\\nspent: 500\\n");
    std::fs::write(&script, body).unwrap();
    s.chip_command(&script, "");
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "plan.md",
        &three_parts().replace("priority: normal\n", "priority: normal\nbudget: 100\n"),
    );
    wait_for("the escalation", || {
        !records(&s, "plan.escalated").is_empty()
    });
    d.stop();
    let ids = part_ids(&s);
    let exceeded = records(&s, "budget.exceeded");
    assert_eq!(exceeded.len(), 1);
    let why = exceeded[0]["reason"].as_str().unwrap();
    assert!(
        why.contains("spent 500 tokens of its budget of 100"),
        "{why}"
    );
    assert!(why.contains(&format!("b ({})", ids[1].1)), "{why}");
    assert_eq!(records(&s, "order.written").len(), 1);
    let answer = answer_in(&s, "inbox/human/new").unwrap();
    assert!(
        answer.contains("status: incomplete\nspent: 500"),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("not done: b ({}) skipped", ids[1].1)),
        "{answer}"
    );
}

#[test]
fn a_plan_in_a_specialists_inbox_or_one_that_does_not_lint_is_held_saying_why() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    s.deliver("chip", "plan.md", &three_parts());
    s.deliver(
        "walt",
        "bad.md",
        &three_parts().replace("after: a\n", "after: z\n"),
    );
    wait_for("both held", || {
        s.ls("inbox/chip/held").len() == 2 && s.ls("inbox/walt/held").len() == 2
    });
    d.stop();
    let why = |f: &str| {
        let n = s
            .ls(f)
            .into_iter()
            .find(|n| n.ends_with(".why.md"))
            .unwrap();
        s.read(&format!("{f}/{n}"))
    };
    assert!(why("inbox/chip/held").contains("a plan belongs in inbox/walt/"));
    let w = why("inbox/walt/held");
    assert!(
        w.contains("it is a plan that does not lint") && w.contains("names no part"),
        "{w}"
    );
}

#[test]
fn a_kill_9_mid_plan_loses_duplicates_and_resends_nothing() {
    let s = Studio::new();
    // Part b runs long enough for the daemon to be killed while it is out.
    s.chip_command(&agent(&s, "[ \"$part\" = b ] && sleep 2", &[]), "");
    let d = Daemon::start(&s);
    s.deliver("walt", "plan.md", &three_parts());
    wait_for("b out", || records(&s, "order.written").len() >= 2);
    d.kill9();
    let d = Daemon::start(&s);
    wait_for("the answer", || !records(&s, "plan.answered").is_empty());
    d.stop();
    assert_eq!(records(&s, "plan.accepted").len(), 1);
    for (name, id) in part_ids(&s) {
        let written = records(&s, "order.written")
            .iter()
            .filter(|r| r["order"] == id.as_str())
            .count();
        assert_eq!(written, 1, "part {name} written {written} times");
        let done = records(&s, "order.done")
            .iter()
            .filter(|r| r["order"] == id.as_str())
            .count();
        assert_eq!(done, 1, "part {name} done {done} times");
    }
    assert_eq!(records(&s, "plan.answered").len(), 1);
    let answer = answer_in(&s, "inbox/walt/done").unwrap();
    assert!(answer.contains("status: done"), "{answer}");
}

#[test]
fn trace_tells_a_plans_story() {
    let s = Studio::new();
    s.chip_command(&agent(&s, "", &[]), "");
    let d = Daemon::start(&s);
    // One part after another, so the story has one order.
    s.deliver(
        "walt",
        "plan.md",
        &three_parts().replace("after: a\noptional", "after: b\noptional"),
    );
    wait_for("the answer", || !records(&s, "plan.answered").is_empty());
    d.stop();
    let out = s.walt(&["trace", &plan_id(&s)]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    // Timestamps and the studio's path vary; the story does not.
    let ts = regex_lite_ts(&text);
    insta::assert_snapshot!(scrub(&ts, &s));
}

/// Replaces RFC 3339 timestamps with `<ts>`.
fn regex_lite_ts(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("Z  ") {
            Some(i) if l.starts_with("20") => format!("<ts>{}", &l[i + 1..]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn follow_ups_become_linked_requests_for_a_person_and_never_widen_the_order() {
    let s = Studio::new();
    let body = format!(
        "{}printf '\\n**Follow-ups:**\\n- The cache is invalidated on every deploy.\\n' >> \"$WALT_REPORT_FILE\"\n",
        report_done_script()
    );
    s.chip_command(&s.script("agent.sh", &body), "");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order_for("m-follow", &["repos/app/a.rs"]));
    wait_for("the follow-up", || {
        !records(&s, "followup.filed").is_empty()
    });
    wait_for("done", || !records(&s, "order.done").is_empty());
    let st = s.status();
    d.stop();
    let filed = &records(&s, "followup.filed")[0];
    assert_eq!(filed["follows"], "0001");
    assert_eq!(filed["from"], "chip");
    let name = filed["path"].as_str().unwrap();
    let text = s.read(&format!("inbox/human/new/{name}"));
    assert!(text.starts_with("---\nfollows: 0001\n"), "{text}");
    assert!(
        text.contains("**Objective:** The cache is invalidated on every deploy."),
        "{text}"
    );
    // Not a request yet: it lints only once a person has scoped it.
    let f = s.write("scoped.md", &text);
    assert_eq!(
        s.walt(&["lint", &f.to_string_lossy()]).status.code(),
        Some(1)
    );
    // The order it came from was reviewed against its own Files only, and is done.
    assert!(records(&s, "signal.scope-creep").is_empty());
    let items = st["attention"]["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["key"] == format!("follow-up:{}", filed["order"].as_str().unwrap())),
        "{items:?}"
    );
}

#[test]
fn a_retry_on_a_plan_sends_its_escalated_parts_back_and_the_plan_goes_on() {
    let s = Studio::new();
    // Part a fails its first two attempts (chip's both), then works.
    let script = agent(&s, "", &["a"]);
    let body = std::fs::read_to_string(&script).unwrap().replace(
        "case \"$part\" in a)",
        "case \"$part$(sed -n 's/^attempt: //p' \"$WALT_ORDER_FILE\")\" in a1|a2)",
    );
    std::fs::write(&script, body).unwrap();
    s.chip_command(&script, "");
    let d = Daemon::start(&s);
    s.deliver("walt", "plan.md", &three_parts());
    wait_for("the escalation", || {
        !records(&s, "recovery.escalate").is_empty()
    });
    let id = plan_id(&s);
    let out = s.walt(&["retry", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for("the answer", || !records(&s, "plan.answered").is_empty());
    d.stop();
    let a = part_ids(&s)[0].1.clone();
    let retried: Vec<_> = records(&s, "recovery.retry")
        .into_iter()
        .filter(|r| r["order"] == a.as_str() && r["rule"] == "person")
        .collect();
    assert_eq!(retried.len(), 1);
    assert!(answer_in(&s, "inbox/walt/done")
        .unwrap()
        .contains("status: done"));
}

#[test]
fn a_plan_whose_request_was_changed_by_hand_is_said_not_taken_up_and_its_part_in_flight_stays() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    s.deliver(
        "walt",
        "plan.md",
        &crate::plans::PLAN.replace("to: rex\n", "to: chip\n"),
    );
    wait_for("the first part", || {
        s.ls("inbox/chip/new").len() == 1 && s.ls("inbox/walt/active").len() == 1
    });
    d.stop();
    let name = s.ls("inbox/walt/active")[0].clone();
    let path = format!("inbox/walt/active/{name}");
    s.write(
        &path,
        &s.read(&path).replace("## Part: audit", "## Part: review"),
    );
    let d = Daemon::start(&s);
    wait_for("plan.lost", || !records(&s, "plan.lost").is_empty());
    let st = s.status();
    d.stop();
    let why = records(&s, "plan.lost")[0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("no longer has the parts the journal gave ids (index, audit)"),
        "{why}"
    );
    assert_eq!(s.ls("inbox/chip/new").len(), 1, "the part in flight stays");
    let items = st["attention"]["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["key"] == "plan:0001"), "{items:?}");
}

#[test]
fn a_part_the_rules_refuse_holds_the_whole_plan_naming_the_part_and_its_line() {
    let s = Studio::new();
    let d = Daemon::start(&s);
    // audit's Files are chip's (`*.sql`): `to: rex` without `override:` is refused.
    let text = crate::plans::PLAN.replace(
        "- repos/pipeline/AUDIT.md",
        "- repos/pipeline/migrations/0042_audit.sql",
    );
    s.deliver("walt", "plan.md", &text);
    wait_for("held", || s.ls("inbox/walt/held").len() == 2);
    d.stop();
    let held = records(&s, "signal.override");
    assert_eq!(held.len(), 1);
    let line = text.lines().position(|l| l == "## Part: audit").unwrap() + 1;
    let why = held[0]["reason"].as_str().unwrap();
    assert!(
        why.starts_with(&format!("part audit (line {line}): ")),
        "{why}"
    );
    assert!(records(&s, "plan.accepted").is_empty());
    assert!(s.ls("inbox/chip/new").is_empty() && s.ls("inbox/rex/new").is_empty());
}

/// A hostile agent replaces a done part's filed report with a link (to a report that still
/// reads as accepted) or a hard link to a copy kept elsewhere: the answer reads neither, and
/// goes to a person instead of answering from what the link points at.
#[test]
fn a_filed_report_replaced_by_a_link_or_a_hard_link_is_not_read_for_the_answer() {
    for how in ["symlink", "hardlink"] {
        let s = Studio::new();
        s.chip_command(&agent(&s, "[ \"$part\" = b ] && sleep 2", &[]), "");
        let d = Daemon::start(&s);
        s.deliver("walt", "plan.md", &three_parts());
        wait_for("a done", || !records(&s, "order.done").is_empty());
        let a = part_ids(&s)[0].1.clone();
        let report = s
            .ls("inbox/chip/done")
            .into_iter()
            .find(|n| n.starts_with(&a) && n.ends_with(".report.md"))
            .unwrap();
        let path = s.path(&format!("inbox/chip/done/{report}"));
        let elsewhere = s.path("../kept-report.md");
        std::fs::copy(&path, &elsewhere).unwrap();
        std::fs::remove_file(&path).unwrap();
        match how {
            "symlink" => std::os::unix::fs::symlink(&elsewhere, &path).unwrap(),
            _ => std::fs::hard_link(&elsewhere, &path).unwrap(),
        }
        wait_for("the escalation", || {
            !records(&s, "plan.escalated").is_empty()
        });
        d.stop();
        let answer = answer_in(&s, "inbox/human/new").expect("an answer for a person");
        assert!(
            answer.contains(&format!("a ({a}): its accepted report cannot be read")),
            "{how}: {answer}"
        );
        assert!(records(&s, "plan.answered").is_empty(), "{how}");
    }
}
