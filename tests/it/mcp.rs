//! `walt mcp` driven by a client no one here wrote: the official Python MCP SDK (`mcp` on
//! PyPI, in `target/mcp-venv`, which `.ci/run` makes and this test makes if it is missing).
//! List the tools, claim, keep the lease, lint a bad report (diagnostics back, nothing
//! delivered), report, submit a follow-up request; the daemon then reviews and finishes the
//! order, and routes the follow-up.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The Python with the MCP SDK: made once, if it is not there yet.
fn python() -> PathBuf {
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        let venv = PathBuf::from(ROOT).join("target/mcp-venv");
        let py = venv.join("bin/python");
        let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        if !ok(Command::new(&py).args(["-c", "import mcp"])) {
            assert!(
                ok(Command::new("python3").arg("-m").arg("venv").arg(&venv)),
                "cannot make {}",
                venv.display()
            );
            assert!(
                ok(Command::new(&py).args(["-m", "pip", "install", "-q", "mcp"])),
                "cannot install the MCP SDK (pip install mcp) into {}",
                venv.display()
            );
        }
        py
    })
    .clone()
}

/// Runs the SDK client over `walt mcp --agent chip` with `script`; one JSON value a step.
fn client(s: &Studio, script: serde_json::Value) -> Vec<serde_json::Value> {
    let out = Command::new(python())
        .arg(format!("{ROOT}/tests/mcp/client.py"))
        .arg(&*WALT)
        .arg(s.root())
        .arg("chip")
        .arg(script.to_string())
        .env("HOME", s.home())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn report(id: &str, tick: &str) -> String {
    format!(
        "---\nre: {id}\nfrom: chip\nstatus: done\n---\n**Outcome:** The widget is polished.\n\n**Acceptance:**\n- [x] `cargo test` passes\n- {tick} the widget shines in the demo\n- [x] the changelog names m-mcp\n\n**Touched:**\n- repos/app/src/widget.rs\n\n**Note:** none\n"
    )
}

#[test]
fn the_python_mcp_sdk_works_an_order_through_walt_mcp() {
    let s = Studio::new();
    // No daemon yet: the server starts, and takes no lock.
    let steps = client(&s, serde_json::json!([["list_tools"], ["status", {}]]));
    assert_eq!(steps[0]["server"], "walt");
    let mut names: Vec<String> = steps[1]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "keepalive",
            "lint",
            "my_orders",
            "next_order",
            "report",
            "status",
            "submit"
        ]
    );
    let report_tool = steps[1]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "report")
        .unwrap();
    assert_eq!(
        report_tool["schema"]["required"],
        serde_json::json!(["id", "status", "text"])
    );
    assert_eq!(steps[2]["structured"]["queued"], serde_json::json!([]));

    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-mcp", "to: chip\n"));
    wait_for("the order written", || s.ls("inbox/chip/new").len() == 1);
    let followup = order_own("m-followup", "");
    let bad = report("0001", "[x]").replace("**Outcome:** The widget is polished.\n\n", "");
    let steps = client(
        &s,
        serde_json::json!([
            ["next_order", {}],
            ["keepalive", {"id": "0001"}],
            ["my_orders", {}],
            ["lint", {"text": bad, "kind": "report"}],
            ["report", {"id": "0001", "status": "done", "text": bad}],
            ["keepalive", {"id": "0999"}],
        ]),
    );
    let claimed = &steps[1];
    assert_eq!(claimed["structured"]["id"], "0001", "{claimed}");
    assert!(claimed["structured"]["text"]
        .as_str()
        .unwrap()
        .contains("m-mcp"));
    assert!(s
        .ls("inbox/chip/active")
        .iter()
        .any(|n| n.starts_with("0001-")));
    assert_eq!(steps[2]["structured"]["kept"], true, "{}", steps[2]);
    assert_eq!(steps[3]["structured"]["orders"][0]["id"], "0001");
    let lint = &steps[4];
    assert!(
        lint["structured"]["errors"].as_u64().unwrap() >= 1,
        "{lint}"
    );
    assert!(lint["text"].as_str().unwrap().contains("Outcome"), "{lint}");
    let refused = &steps[5];
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        refused["text"].as_str().unwrap().contains("not delivered"),
        "{refused}"
    );
    assert_eq!(s.log_count("report.received"), 0, "nothing was delivered");
    let unknown = &steps[6];
    assert_eq!(unknown["isError"], true);
    assert!(
        unknown["text"].as_str().unwrap().contains("is not active"),
        "{unknown}"
    );

    let steps = client(
        &s,
        serde_json::json!([
            ["report", {"id": "0001", "status": "done", "text": report("0001", "[x]")}],
            ["submit", {"text": followup}],
        ]),
    );
    assert_eq!(steps[1]["isError"], false, "{}", steps[1]);
    assert!(steps[1]["structured"]["delivered"]
        .as_str()
        .unwrap()
        .contains("inbox/walt/new/report-0001"));
    assert_eq!(steps[2]["isError"], false, "{}", steps[2]);
    wait_for("the order done by the daemon", || {
        s.log_count("order.done") == 1
    });
    wait_for("the follow-up routed", || s.log_count("order.written") == 2);
    d.stop();
    assert!(s
        .ls("inbox/chip/done")
        .iter()
        .any(|n| n.starts_with("0001-") && n.ends_with(".report.md")));
}
