//! Run profiles (SPEC §5, §6.2): what a command agent's run may reach beyond its Files, each
//! right tried by the run itself; command paths from the studio root; grants that reach into
//! the studio refused with their line; a brain that cannot run said in status.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

/// Runs one order whose run is `script` (its output lands in `repos/app/out.txt`, its File),
/// for chip with the profile keys in `profile`; returns what it wrote.
fn probe(s: &Studio, script: &str, profile: &str, env: &[(&str, &str)]) -> String {
    s.write("repos/app/out.txt", "");
    let path = s.script("probe.sh", &format!("cd app\n{script}"));
    s.chip_command(&path, profile);
    let d = Daemon::start_with(s, env);
    s.deliver(
        "walt",
        "a.md",
        &order_for("m-probe", &["repos/app/out.txt"]),
    );
    wait_for("the run to end", || s.log_count("order.ran") >= 1);
    d.stop();
    s.read("repos/app/out.txt")
}

const NET_PROBE: &str = r#"python3 - "$PORT" >> out.txt 2>&1 <<'PY'
import socket, sys
port = int(sys.argv[1])
try:
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    print("connect: ok")
except OSError as e:
    print("connect: refused", e.errno)
try:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    print("bind: ok")
except OSError as e:
    print("bind: refused", e.errno)
PY
"#;

#[test]
fn network_false_stops_tcp_connect_and_bind_and_network_true_does_not() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let script = NET_PROBE.replace("$PORT", &port);
    let s = Studio::new();
    let out = probe(&s, &script, "network = false", &[]);
    assert!(out.contains("connect: refused 13"), "{out}");
    assert!(out.contains("bind: refused 13"), "{out}");
    // The same run with the network allowed reaches the listener.
    let s = Studio::new();
    let out = probe(&s, &script, "network = true", &[]);
    assert!(
        out.contains("connect: ok") && out.contains("bind: ok"),
        "{out}"
    );
}

#[test]
fn a_profile_grants_its_read_and_write_paths_its_env_and_nothing_else() {
    let s = Studio::new();
    let home = s.home();
    std::fs::create_dir_all(home.join(".tool")).unwrap();
    std::fs::write(home.join(".tool/credentials.json"), "{\"token\":\"t0k\"}\n").unwrap();
    std::fs::create_dir_all(home.join(".state")).unwrap();
    std::fs::write(home.join("secret.txt"), "private\n").unwrap();
    let script = r#"
cat ~/.tool/credentials.json >> out.txt
(echo made > ~/.state/made) 2>/dev/null && echo "state: written" >> out.txt || echo "state: denied" >> out.txt
(cat ~/secret.txt) 2>/dev/null && echo "secret: read" >> out.txt || echo "secret: denied" >> out.txt
(echo x > ~/.tool/planted) 2>/dev/null && echo "tool: written" >> out.txt || echo "tool: denied" >> out.txt
(echo x > ~/planted) 2>/dev/null && echo "home: written" >> out.txt || echo "home: denied" >> out.txt
echo "token=${TOOL_TOKEN:-unset} other=${OTHER_SECRET:-unset} home=$HOME" >> out.txt
"#;
    let out = probe(
        &s,
        script,
        "read = [\"~/.tool\"]\nwrite = [\"~/.state\"]\nenv = [\"TOOL_TOKEN\"]",
        &[("TOOL_TOKEN", "abc"), ("OTHER_SECRET", "zzz")],
    );
    assert!(out.contains("{\"token\":\"t0k\"}"), "{out}");
    assert!(out.contains("state: written"), "{out}");
    assert!(out.contains("secret: denied"), "{out}");
    assert!(out.contains("tool: denied"), "{out}");
    assert!(out.contains("home: denied"), "{out}");
    assert!(
        out.contains(&format!("token=abc other=unset home={}", home.display())),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".state/made")).unwrap(),
        "made\n"
    );
    assert!(!home.join(".tool/planted").exists() && !home.join("planted").exists());
}

#[test]
fn the_log_limit_of_a_profile_caps_each_attempts_output() {
    let s = Studio::new();
    probe(
        &s,
        "head -c 200000 /dev/zero | tr '\\0' 'x'\necho done >> out.txt",
        "log_limit = \"4KiB\"",
        &[],
    );
    let log = s.run_log("chip", "0001");
    let attempts = log.matches("==> walt: order 0001, attempt").count();
    assert!(attempts >= 1);
    // Only the run's own output: the header names the command, whose path (a temporary
    // folder with a random name) may hold an x of its own.
    let output: usize = log
        .lines()
        .filter(|l| !l.starts_with("==> walt:") && !l.starts_with("[walt:"))
        .map(|l| l.matches('x').count())
        .sum();
    assert_eq!(output, 4096 * attempts, "{}", log.len());
    assert!(
        log.contains("more bytes of this stream were dropped"),
        "{log}"
    );
}

fn chmod_x(p: &std::path::Path) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_program_runs_its_siblings_from_its_own_folder_but_never_from_the_studio_root() {
    let s = Studio::new();
    s.write(
        "contrib/agents/wrapper.sh",
        "#!/bin/sh\n\"$(dirname \"$0\")/helper.sh\" >> app/out.txt 2>&1 || echo \"helper: denied\" >> app/out.txt\n",
    );
    s.write("contrib/agents/helper.sh", "#!/bin/sh\necho helper: ran\n");
    chmod_x(&s.path("contrib/agents/wrapper.sh"));
    chmod_x(&s.path("contrib/agents/helper.sh"));
    s.write("repos/app/out.txt", "");
    s.chip_command("contrib/agents/wrapper.sh", "");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order_for("m-own", &["repos/app/out.txt"]));
    wait_for("the run to end", || s.log_count("order.ran") >= 1);
    d.stop();
    // (The wrapper leaves no report, so the order is tried twice: each time the same.)
    let out = s.read("repos/app/out.txt");
    assert!(
        !out.is_empty() && out.lines().all(|l| l == "helper: ran"),
        "{out}"
    );

    // At the studio root, the program alone may run: not what lies beside it.
    let s = Studio::new();
    s.write(
        "wrapper.sh",
        "#!/bin/sh\n\"$(dirname \"$0\")/helper.sh\" >> app/out.txt 2>&1 || echo \"helper: denied\" >> app/out.txt\n",
    );
    s.write("helper.sh", "#!/bin/sh\necho helper: ran\n");
    chmod_x(&s.path("wrapper.sh"));
    chmod_x(&s.path("helper.sh"));
    s.write("repos/app/out.txt", "");
    s.chip_command("./wrapper.sh", "");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order_for("m-root", &["repos/app/out.txt"]));
    wait_for("the run to end", || s.log_count("order.ran") >= 1);
    d.stop();
    let out = s.read("repos/app/out.txt");
    assert!(
        out.contains("helper: denied") && !out.contains("helper: ran"),
        "{out}"
    );
}

#[test]
fn lint_and_the_daemon_say_where_a_program_was_looked_for_and_an_agent_waits_until_it_is_there() {
    let s = Studio::new();
    s.chip_command("contrib/agents/missing.sh", "");
    let out = s.walt(&["lint", &s.path("config/walt.toml").to_string_lossy()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "`contrib/agents/missing.sh` does not exist: looked at {}/contrib/agents/missing.sh",
            s.root().display()
        )),
        "{text}"
    );
    // The daemon starts, serves, and says chip cannot run; chip's order waits.
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order_for("m-wait", &["repos/app/out.txt"]));
    wait_for("routing", || s.ls("inbox/chip/new").len() == 1);
    wait_for("status to say chip cannot run", || {
        stdout(&s.walt(&["status"])).contains(
            "chip cannot run: [agents.chip] command: `contrib/agents/missing.sh` does not exist",
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(s.ls("inbox/chip/new").len(), 1, "nothing ran");
    assert_eq!(s.log_count("order.ran"), 0);
    // Once it is there, chip's order runs.
    s.write(
        "contrib/agents/missing.sh",
        "#!/bin/sh\necho fixed >> app/out.txt\n",
    );
    chmod_x(&s.path("contrib/agents/missing.sh"));
    s.deliver(
        "walt",
        "b.md",
        &order_for("m-nudge", &["repos/app/other.txt"]),
    );
    wait_for("the run", || s.log_count("order.ran") >= 1);
    d.stop();
    assert!(s.log_count("agent.ready") == 1);

    // A bare name is looked up on PATH, a file without x is said as such.
    let s = Studio::new();
    s.chip_command("no-such-agent-cli", "");
    let text = stdout(&s.walt(&["lint", &s.path("config/walt.toml").to_string_lossy()]));
    assert!(
        text.contains("`no-such-agent-cli` is not on PATH: looked in "),
        "{text}"
    );
    let s = Studio::new();
    s.write("contrib/agents/plain.sh", "#!/bin/sh\n");
    s.chip_command("contrib/agents/plain.sh", "");
    let text = stdout(&s.walt(&["lint", &s.path("config/walt.toml").to_string_lossy()]));
    assert!(
        text.contains("is not executable (mode 644; chmod +x it)"),
        "{text}"
    );
}

#[test]
fn a_grant_that_reaches_into_the_studio_is_a_config_error_naming_its_line() {
    let cases = |s: &Studio| {
        let root = s.root().display().to_string();
        let link = s.home().join("link-to-studio");
        std::os::unix::fs::symlink(s.root(), &link).unwrap();
        vec![
            (
                format!("write = [\"{root}/state\"]"),
                "is inside the studio",
            ),
            (
                "read = [\"~/link-to-studio\"]".to_string(),
                "is inside the studio",
            ),
            (
                format!("read = [\"{}\"]", s.root().parent().unwrap().display()),
                "holds the studio",
            ),
        ]
    };
    let probe = Studio::new();
    for (i, (line, needle)) in cases(&probe).into_iter().enumerate() {
        let s = Studio::new();
        let _ = cases(&s);
        let line = line.replace(
            &probe.root().display().to_string(),
            &s.root().display().to_string(),
        );
        let line = line.replace(
            &probe.root().parent().unwrap().display().to_string(),
            &s.root().parent().unwrap().display().to_string(),
        );
        s.chip_command("/bin/true", &line);
        let cfg = s.read("config/walt.toml");
        let at = cfg.lines().position(|l| l == line).unwrap() + 1;
        let out = s.walt(&["lint", &s.path("config/walt.toml").to_string_lossy()]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "case {i}: {text}");
        assert!(
            text.contains(&format!("walt.toml:{at}:")) && text.contains(needle),
            "case {i}: {text}"
        );
        // The daemon refuses the config, exit 3, and says the same.
        let out = s.walt(&["daemon"]);
        assert_eq!(out.status.code(), Some(3), "case {i}");
        assert!(stderr(&out).contains(needle), "case {i}: {}", stderr(&out));
    }
}

#[test]
fn a_brain_that_cannot_run_or_times_out_is_said_at_warn_and_in_status() {
    let s = Studio::new();
    s.edit_config("brain = \"rules\"", "brain = \"command\"");
    s.edit_config(
        "command = [\"contrib/brain.sh\"]",
        "command = [\"contrib/agents/no-brain.sh\"]",
    );
    let d = Daemon::start(&s);
    let warned = s.log().into_iter().any(|r| {
        r["level"] == "warn"
            && r["reason"]
                .as_str()
                .unwrap_or("")
                .contains("the brain cannot run")
    });
    assert!(warned);
    s.deliver("walt", "a.md", &order("m-rules", ""));
    wait_for("routing by the rules", || s.ls("inbox/chip/new").len() == 1);
    wait_for("status to say so", || {
        let text = stdout(&s.walt(&["status"]));
        text.contains("needs a person:")
            && text.contains("the brain is failing")
            && text.contains("no-brain.sh` does not exist")
    });
    assert!(s.status()["attention"]["brain"]
        .as_str()
        .unwrap()
        .contains("cannot run"));
    d.stop();

    // A brain that never answers in time.
    let s = Studio::new();
    s.write("contrib/agents/slow.sh", "#!/bin/sh\nsleep 30\n");
    chmod_x(&s.path("contrib/agents/slow.sh"));
    s.edit_config("brain = \"rules\"", "brain = \"command\"");
    s.edit_config(
        "command = [\"contrib/brain.sh\"]",
        "command = [\"contrib/agents/slow.sh\"]",
    );
    s.edit_config("timeout = \"60s\"", "timeout = \"1s\"");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-slow", ""));
    wait_for("routing by the rules", || s.ls("inbox/chip/new").len() == 1);
    wait_for("status to say the brain timed out", || {
        stdout(&s.walt(&["status"])).contains("no answer within")
    });
    let fallback = s
        .log()
        .into_iter()
        .find(|r| r["event"] == "brain.fallback")
        .unwrap();
    assert_eq!(fallback["level"], "warn");
    d.stop();
}

#[test]
fn the_earlier_brain_keys_lint_with_a_warning_naming_the_brain_table() {
    let s = Studio::new();
    let cfg = s.read("config/walt.toml");
    s.write(
        "config/walt.toml",
        &cfg.replace(
            "commit = true ",
            "brain_command = [\"contrib/brain.sh\"]\nbrain_timeout = \"9s\"\ncommit = true ",
        )
        .replace(
            "[brain]\ncommand = [\"contrib/brain.sh\"]\ntimeout = \"60s\"\n",
            "",
        ),
    );
    let out = s.walt(&["lint", &s.path("config/walt.toml").to_string_lossy()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warning: [walt] brain_command is the earlier form of [brain] command"),
        "{text}"
    );
    assert!(
        text.contains("warning: [walt] brain_timeout is the earlier form"),
        "{text}"
    );
    // And the daemon loads it, saying so.
    let d = Daemon::start(&s);
    d.stop();
    assert!(s.log().iter().any(|r| r["level"] == "warn"
        && r["reason"]
            .as_str()
            .unwrap_or("")
            .contains("brain_command is the earlier form")));
}

#[test]
fn a_run_cannot_reach_the_studio_through_links_it_makes_in_its_write_path() {
    // The attack: the run may write ~/.tool; it plants a symbolic link and tries a hard link
    // there to the journal, a FIFO, a helper that outlives it, and writes through each.
    let s = Studio::new();
    std::fs::create_dir_all(s.home().join(".tool")).unwrap();
    let root = s.root().display().to_string();
    let script = format!(
        r#"
ln -s {root}/config/walt.toml ~/.tool/cfg 2>/dev/null
(echo planted >> ~/.tool/cfg) 2>/dev/null && echo "symlink: written" >> out.txt || echo "symlink: denied" >> out.txt
(ln {root}/config/walt.toml ~/.tool/hard) 2>/dev/null && echo "hardlink: made" >> out.txt || echo "hardlink: denied" >> out.txt
(mkfifo ~/.tool/fifo) 2>/dev/null && echo "fifo: made" >> out.txt || echo "fifo: denied" >> out.txt
setsid sh -c 'sleep 2; echo late >> {root}/config/walt.toml' </dev/null >/dev/null 2>&1 &
"#
    );
    let out = probe(&s, &script, "write = [\"~/.tool\"]", &[]);
    // (The config as the test left it, chip's command in it: the run ends before its helper
    // would write.)
    let before = s.read("config/walt.toml");
    assert!(out.contains("symlink: denied"), "{out}");
    assert!(out.contains("hardlink: denied"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        s.read("config/walt.toml"),
        before,
        "the studio's config changed"
    );
    assert!(!s.home().join(".tool/hard").exists());
    // A link left there does not widen the next run's grant: the profile is resolved again and
    // still lies outside the studio.
    let out2 = s.walt(&["lint", &s.path("config/walt.toml").to_string_lossy()]);
    assert!(out2.status.success(), "{}", stdout(&out2));
}
