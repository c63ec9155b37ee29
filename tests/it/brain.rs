//! Walt's brain as a command: metered, confined, and unable to do the work.
//! Scripted brains stand in for a language model: one that routes, one that answers with SQL,
//! one that overrides without a reason, one that hangs, and one that probes its sandbox.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/brain.sh");

/// Makes the studio's brain the given command, with a short timeout.
fn use_brain(s: &Studio, command: &str) {
    s.edit_config("brain = \"rules\"", "brain = \"command\"");
    s.edit_config(
        "command = [\"contrib/brain.sh\"]",
        &format!("command = [{command:?}]"),
    );
    s.edit_config("timeout = \"60s\"", "timeout = \"2s\"");
}

fn studio_with_brain(command: &str) -> Studio {
    let s = Studio::new();
    use_brain(&s, command);
    s
}

fn brain(s: &Studio, name: &str, body: &str) -> String {
    let p = s.write(&format!("brains/{name}"), &format!("#!/bin/sh\n{body}"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_string_lossy().into_owned()
}

fn answered(s: &Studio) -> Vec<serde_json::Value> {
    s.log()
        .into_iter()
        .filter(|r| r["event"] == "brain.answered")
        .collect()
}

#[test]
fn a_good_brain_routes_and_its_tokens_are_logged() {
    let s = studio_with_brain(EXAMPLE);
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-brain", ""));
    wait_for("routing", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    let decided = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "route.decided")
        .unwrap();
    assert_eq!(decided["rule"], "brain");
    assert!(decided["reason"]
        .as_str()
        .unwrap()
        .contains("the request asks for chip"));
    let a = &answered(&s)[0];
    assert!(
        a["tokens_in"].as_u64().unwrap() > 100 && a["tokens_out"].as_u64().unwrap() > 20,
        "{a}"
    );
    let written = s.read(&format!("inbox/chip/new/{}", s.ls("inbox/chip/new")[0]));
    assert!(written.contains("(rule brain)") && written.contains("from: walt"));
}

#[test]
fn a_brain_that_answers_with_sql_is_refused_and_the_order_is_still_routed() {
    let s = Studio::new();
    let sql = brain(&s, "sql.sh", "cat >/dev/null\nprintf -- '---\\nto: chip\\nreason: quicker to do it myself\\n---\\n**Objective:** The index exists.\\n\\n**Acceptance:**\\n- CREATE INDEX idx ON pipeline_items (used_force_route);\\n- SELECT id FROM pipeline_items WHERE used_force_route = TRUE;\\n- it runs\\n\\n**Files:**\\n- repos/app/src/widget.rs\\n\\n**Branching:**\\n- halt-with-note if gone\\n'\n");
    use_brain(&s, &sql);
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-sql", ""));
    wait_for("routing by the rules", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    assert_eq!(
        s.log_count("signal.artifact"),
        2,
        "refused, retried once with the refusal quoted, refused again"
    );
    assert_eq!(s.log_count("brain.fallback"), 1);
    let decided = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "route.decided")
        .unwrap();
    assert_eq!(decided["rule"], "owns");
    assert!(decided["reason"]
        .as_str()
        .unwrap()
        .contains("the rules decided"));
    let written = s.read(&format!("inbox/chip/new/{}", s.ls("inbox/chip/new")[0]));
    assert!(!written.contains("SELECT"), "{written}");
}

#[test]
fn a_brain_that_overrides_without_a_reason_is_refused() {
    let s = Studio::new();
    let over = brain(&s, "over.sh", "cat >/dev/null\nprintf -- '---\\nto: rex\\nreason: rex is idle\\n---\\n**Objective:** The widget is polished.\\n\\n**Acceptance:**\\n- a passes\\n- b passes\\n- c passes\\n\\n**Files:**\\n- repos/app/src/widget.rs\\n\\n**Branching:**\\n- halt-with-note if gone\\n'\n");
    use_brain(&s, &over);
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-over", ""));
    wait_for("routing by the rules", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    assert_eq!(s.log_count("signal.override"), 2);
    assert!(s.ls("inbox/rex/new").is_empty());
}

#[test]
fn a_brain_that_hangs_is_killed_at_its_timeout() {
    let s = Studio::new();
    let hang = brain(&s, "hang.sh", "sleep 60\n");
    use_brain(&s, &hang);
    s.edit_config("timeout = \"2s\"", "timeout = \"500ms\"");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-hang", ""));
    wait_for("routing by the rules", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    let a = answered(&s);
    assert_eq!(a.len(), 2);
    assert!(
        a.iter()
            .all(|r| r["reason"].as_str().unwrap().contains("no answer within")),
        "{a:?}"
    );
}

#[test]
fn the_brain_is_confined_away_from_the_studio_and_its_descriptors() {
    let s = Studio::new();
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    s.write("state/ledger.json", "{}\n");
    let root = s.root().display().to_string();
    let probe = format!(
        r#"
try() {{ if sh -c "$2" >/dev/null 2>&1; then echo "ALLOWED $1" >&2; else echo "DENIED $1" >&2; fi; }}
try read-repos 'cat {root}/repos/app/src/widget.rs'
try read-state 'cat {root}/state/ledger.json'
try read-config 'cat {root}/config/walt.toml'
try read-inbox 'ls {root}/inbox/walt/new'
try write-repos 'echo x > {root}/repos/app/src/evil.rs'
try write-tmp-outside 'echo x > /tmp/walt-brain-escape'
try write-own-tmp 'echo x > "$TMPDIR/scratch"'
echo "FDS $(ls /proc/self/fd | wc -l)" >&2
exec {EXAMPLE}
"#
    );
    let path = brain(&s, "probe.sh", &probe);
    use_brain(&s, &path);
    s.edit_config("timeout = \"2s\"", "timeout = \"60s\"");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-probe", ""));
    wait_for("routing", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    let stderr: String = s
        .log()
        .into_iter()
        .filter(|r| r["event"] == "brain.stderr")
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    for denied in [
        "read-repos",
        "read-state",
        "read-config",
        "read-inbox",
        "write-repos",
        "write-tmp-outside",
    ] {
        assert!(
            stderr.contains(&format!("DENIED {denied}")),
            "{denied} not denied: {stderr}"
        );
    }
    assert!(stderr.contains("ALLOWED write-own-tmp"), "{stderr}");
    let fds: u32 = stderr
        .split("FDS ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // stdin, stdout, stderr, and ls's own handle on /proc/self/fd: nothing inherited.
    assert!(fds <= 4, "the brain inherited descriptors: {fds} open");
    assert!(!s.path("repos/app/src/evil.rs").exists());
    assert_eq!(s.read("repos/app/src/widget.rs"), "fn widget() {}\n");
}

#[test]
fn forty_requests_under_a_small_ceiling_keep_every_prompt_under_it() {
    let s = studio_with_brain(EXAMPLE);
    s.small_meter(600, 700);
    let d = Daemon::start(&s);
    for i in 0..40 {
        s.deliver(
            "walt",
            &format!("r{i:02}.md"),
            &order_own(&format!("q{i:02}"), "to: chip\n"),
        );
    }
    wait_for("all forty accepted, and walt done deciding", || {
        s.log_count("delivery.accepted") == 40
            && s.ls("inbox/walt/new").len() + s.ls("inbox/chip/new").len() == 40
            && (s.ls("inbox/chip/new").len() == 40 || s.log_count("meter.backpressure") > 0)
    });
    d.stop();
    let prompts = answered(&s);
    assert!(!prompts.is_empty());
    for p in &prompts {
        assert!(
            p["tokens_in"].as_u64().unwrap() <= 700,
            "a prompt passed the ceiling: {p}"
        );
    }
    assert!(
        s.log_count("meter.handoff") + s.log_count("meter.rotated") > 0,
        "the meter shaped the prompts"
    );
}

/// Regression: a brain could answer with Files under `state/` for a request whose Files are
/// under `repos/`, unflagged. Its answer may narrow the request's Files, never widen them.
#[test]
fn a_brain_that_widens_the_requests_files_is_refused_and_the_rules_decide() {
    let s = Studio::new();
    let widen = brain(
        &s,
        "widen.sh",
        "cat >/dev/null\nprintf -- '---\\nto: chip\\nreason: chip writes code\\n---\\n**Objective:** The widget m-widen is polished.\\n\\n**Acceptance:**\\n- `cargo test` passes\\n- the widget shines in the demo\\n- the changelog names m-widen\\n\\n**Files:**\\n- repos/app/src/widget.rs\\n- state/notes.json\\n\\n**Branching:**\\n- halt-with-note if the widget is gone\\n'\n",
    );
    use_brain(&s, &widen);
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-widen", ""));
    wait_for("the rules decide", || s.log_count("brain.fallback") == 1);
    wait_for("the order written", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    let refusals: Vec<String> = s
        .journal()
        .iter()
        .filter(|r| r["event"] == "brain.refused")
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals[0].contains("reach beyond the request's"),
        "{refusals:?}"
    );
    let written = s.read(&format!("inbox/chip/new/{}", s.ls("inbox/chip/new")[0]));
    let files = written
        .split("**Files:**")
        .nth(1)
        .unwrap()
        .split("**Branching:**")
        .next()
        .unwrap();
    assert_eq!(files.trim(), "- repos/app/src/widget.rs", "{written}");
}

/// Regression: the loop waited on each brain call, so a slow brain left the studio unserved
/// (no intake, no reviews, SIGTERM answered only after it). Now a question runs on its own.
#[test]
fn the_daemon_serves_the_studio_while_a_slow_brain_thinks() {
    let s = Studio::new();
    let slow = brain(&s, "slow.sh", "cat >/dev/null\nsleep 20.777\n");
    use_brain(&s, &slow);
    s.edit_config("timeout = \"2s\"", "timeout = \"60s\"");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-think", ""));
    wait_for("the brain asked", || !none_running("sleep 20.777"));
    // While it thinks: a hand-dropped order into chip's inbox is taken, and a person's claim
    // and report are reviewed.
    s.write("inbox/chip/by-hand.md", &order("m-hand", ""));
    wait_for("intake while the brain thinks", || {
        s.log_count("delivery.accepted") == 2
    });
    let claimed = s.walt(&["claim", "chip"]);
    assert_eq!(claimed.status.code(), Some(0), "{}", stderr(&claimed));
    assert_eq!(
        s.log_count("brain.answered"),
        0,
        "the brain answered already"
    );
    // SIGTERM is answered at once, not after the brain: it stops before the brain answers.
    assert_eq!(d.stop(), Some(0));
    assert_eq!(
        s.log_count("brain.answered"),
        0,
        "the stop waited for the brain"
    );
    wait_for("the brain's run gone with the daemon", || {
        none_running("sleep 20.777")
    });
}

/// A brain that answers a loose request with a plan of two parts (the second after the
/// first), its Files within the request's unless `wide`.
fn plan_brain(s: &Studio, wide: bool) -> String {
    let b_file = if wide {
        "repos/other/b.rs"
    } else {
        "repos/app/b.rs"
    };
    brain(
        s,
        "plan.sh",
        &format!(
            "input=$(cat)\ncase \"$input\" in *\"Write the answer's Note\"*) echo 'Both parts landed; look at repos/app/b.rs first.'; exit 0;; esac\ncat <<'PLAN'\n---\npriority: normal\n---\n**Goal:** The widget and its gadget are polished.\n\n**Acceptance:**\n- the widget is polished\n- the gadget is polished\n- both build\n\n## Part: widget\nto: chip\n\n**Objective:** The widget is polished.\n\n**Acceptance:**\n- the widget is polished\n- both build\n- the widget has a line\n\n**Files:**\n- repos/app/a.rs\n\n**Branching:**\n- halt-with-note if the widget is gone\n\n## Part: gadget\nafter: widget\nto: chip\n\n**Objective:** The gadget is polished.\n\n**Acceptance:**\n- the gadget is polished\n- both build\n- the gadget has a line\n\n**Files:**\n- {b_file}\n\n**Branching:**\n- halt-with-note if the gadget is gone\nPLAN\n"
        ),
    )
}

fn loose_request() -> String {
    "**Objective:** The widget and its gadget are polished.\n\n**Acceptance:**\n- the widget is polished\n- the gadget is polished\n- both build\n\n**Files:**\n- repos/app/a.rs\n- repos/app/b.rs\n\n**Branching:**\n- halt-with-note if either is gone\n".to_string()
}

#[test]
fn the_brain_may_answer_a_loose_request_with_a_plan_and_the_checks_stay_the_daemons() {
    let s = Studio::new();
    let command = plan_brain(&s, false);
    use_brain(&s, &command);
    let agent = s.script("agent.sh", &report_done_script());
    s.chip_command(&agent, "");
    let d = Daemon::start(&s);
    s.deliver("walt", "loose.md", &loose_request());
    wait_for("the answer", || {
        s.events("0001").contains(&"plan.answered".to_string())
    });
    d.stop();
    let accepted = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "plan.accepted")
        .unwrap();
    assert_eq!(accepted["rule"], "brain");
    assert_eq!(accepted["parts"].as_array().unwrap().len(), 2);
    let answer = s
        .ls("inbox/walt/done")
        .into_iter()
        .find(|n| n.ends_with(".answer.md"))
        .map(|n| s.read(&format!("inbox/walt/done/{n}")))
        .unwrap();
    assert!(answer.contains("status: done"), "{answer}");
    assert!(
        answer.contains("- [x] the gadget is polished — gadget (0003)"),
        "{answer}"
    );
    // The brain wrote the Note; the checks stayed the daemon's.
    assert!(
        answer.contains("**Note:** Both parts landed; look at repos/app/b.rs first."),
        "{answer}"
    );
}

#[test]
fn a_brains_plan_whose_part_widens_the_requests_files_is_refused() {
    let s = Studio::new();
    let command = plan_brain(&s, true);
    use_brain(&s, &command);
    let d = Daemon::start(&s);
    s.deliver("walt", "loose.md", &loose_request());
    wait_for("the rules decide", || {
        s.journal().iter().any(|r| r["event"] == "brain.fallback")
    });
    d.stop();
    let refused = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "brain.refused")
        .unwrap();
    let why = refused["reason"].as_str().unwrap();
    assert!(
        why.contains("part gadget's Files reach beyond the request's"),
        "{why}"
    );
    assert!(s.journal().iter().all(|r| r["event"] != "plan.accepted"));
}
