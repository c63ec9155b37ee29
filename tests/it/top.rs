//! `walt top` (SPEC §12): a rendered frame of a fixed studio (ratatui's test backend, a
//! snapshot), and the real program in a real terminal (tmux at 80×24) against a live daemon:
//! new orders appear within 2 s, an acknowledged item leaves the list, `q` exits 0 and the
//! terminal is restored.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use walt::cmd::alive::DaemonStatus;
use walt::cmd::status::{Attention, OrderStatus, RunStatus, Status, WaltStatus};
use walt::cmd::top::{draw, View};
use walt::coord::attention::Item;
use walt::model::state::State;

use crate::common::*;

#[test]
fn snapshot_of_a_frame_at_80_by_24() {
    let status = Status {
        daemon: DaemonStatus::default(),
        walt: WaltStatus {
            generation: 3,
            hot_tokens: 2450,
            ceiling: 7000,
            band: "pure routing",
        },
        runs: vec![RunStatus {
            order: "0007".into(),
            agent: "chip".into(),
            pid: Some(4242),
            elapsed_s: 125,
            quiet_s: 400,
            quiet: true,
        }],
        backoff: BTreeMap::new(),
        waiting: BTreeMap::new(),
        plans: vec![walt::coord::plans::PlanView {
            id: "0040".into(),
            goal: "The force-route query uses an index, and the change is audited.".into(),
            done: 2,
            total: 5,
            spent: 1200,
            budget: Some(400000),
            time_left_s: Some(3600),
            parts: Vec::new(),
        }],
        orders: vec![
            OrderStatus {
                id: "0007".into(),
                agent: "chip".into(),
                state: State::Active,
                age_s: 130,
                attempt: 1,
                objective: Some("The widget is polished.".into()),
            },
            OrderStatus {
                id: "0008".into(),
                agent: "rex".into(),
                state: State::New,
                age_s: 5,
                attempt: 2,
                objective: Some("The payments flow is audited.".into()),
            },
        ],
        inboxes: BTreeMap::new(),
        attention: Attention {
            items: vec![Item {
                key: "setup:chip".into(),
                kind: "setup".into(),
                what: "chip cannot run: `claude` is not on PATH".into(),
                first: "2026-12-01T00:00:00Z".into(),
                last: "2026-12-01T00:01:00Z".into(),
                count: 2,
            }],
            ..Attention::default()
        },
    };
    let view = View {
        status,
        hour: (0..60).map(|m| (m * 40) as u64).collect(),
        selected: 1,
        popup: None,
        message: None,
    };
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| draw(f, &view)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let text: String = (0..24)
        .map(|y| {
            let line: String = (0..80)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect();
            format!("{}\n", line.trim_end())
        })
        .collect();
    insta::assert_snapshot!(text);
}

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux").args(args).output().unwrap()
}

#[test]
fn walt_top_in_a_real_terminal_shows_new_orders_acks_and_quits_cleanly() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is needed (Debian: apt-get install tmux; .ci/run installs it)");
    }
    let s = Studio::new();
    let d = Daemon::start(&s);
    // Something that needs a person: a file that is no work order.
    s.deliver("walt", "junk.md", "not a work order\n");
    wait_for("the held item", || {
        s.status()["attention"]["items"]
            .as_array()
            .is_some_and(|i| i.len() == 1)
    });
    let session = format!("walt-top-{}", std::process::id());
    let socket = s.home().join("tmux.sock");
    let sock = socket.to_string_lossy().into_owned();
    let cmd = format!(
        "HOME={} {} --root {} top; echo \"top exited $?\"; sleep 60",
        s.home().display(),
        &*WALT,
        s.root().display()
    );
    let t = |args: &[&str]| {
        let mut all = vec!["-S", sock.as_str()];
        all.extend_from_slice(args);
        tmux(&all)
    };
    let out = t(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shot =
        || String::from_utf8_lossy(&t(&["capture-pane", "-p", "-t", &session]).stdout).into_owned();
    wait_for("top drawn", || {
        shot().contains("walt top") && shot().contains("1 need a person")
    });
    // New orders appear within 2 s of being routed.
    s.deliver("walt", "a.md", &order_own("m-top1", ""));
    s.deliver("walt", "b.md", &order_own("m-top2", ""));
    wait_for("routed", || s.ls("inbox/chip/new").len() == 2);
    let routed = Instant::now();
    loop {
        let text = shot();
        if text.contains("m-top1") && text.contains("m-top2") {
            break;
        }
        assert!(
            routed.elapsed() < Duration::from_secs(2),
            "not shown within 2 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The held item is selected first: `a` acknowledges it, and it leaves the list.
    assert!(shot().contains("> ! held:walt/"), "{}", shot());
    t(&["send-keys", "-t", &session, "a"]);
    wait_for("the item gone", || shot().contains("0 need a person"));
    assert!(s.journal().iter().any(|r| r["event"] == "attention.ack"));
    // Enter on an order shows its trace; any key closes it.
    t(&["send-keys", "-t", &session, "Enter"]);
    wait_for("the trace", || shot().contains("trace 0002"));
    t(&["send-keys", "-t", &session, "x"]);
    wait_for("the trace closed", || !shot().contains("trace 0002"));
    // `q` exits 0 and restores the terminal: the alternate screen is gone.
    t(&["send-keys", "-t", &session, "q"]);
    wait_for("top to exit", || shot().contains("top exited"));
    let text = shot();
    assert!(text.contains("top exited 0"), "{text}");
    assert!(
        !text.contains("walt top"),
        "the terminal was not restored:\n{text}"
    );
    t(&["kill-server"]);
    d.stop();
}
