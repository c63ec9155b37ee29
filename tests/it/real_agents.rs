//! The shipped wrappers (`contrib/agents/`) with the README's config blocks, run confined
//! against stand-ins of each CLI (`tests/standins/`) installed where the real ones install:
//! the order claimed, its File edited, the report accepted with `spent:`, the order done and
//! committed as the specialist; the CLI's credentials read and its state written where the
//! real one keeps them; and a model CLI as Walt's brain routing with `rule: brain`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

const README: &str = include_str!("../../README.md");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The README's config block for `name` (after `<!-- agent:NAME -->`).
fn block(name: &str) -> String {
    let marker = format!("<!-- agent:{name} -->\n```toml\n");
    let start = README
        .find(&marker)
        .unwrap_or_else(|| panic!("README has no {marker:?}"))
        + marker.len();
    let len = README[start..].find("```").unwrap();
    README[start..start + len].to_string()
}

fn sh(dir: &Path, cmd: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A studio with the shipped wrappers in `contrib/agents/`, a repository at `repos/app`, and
/// the stand-in CLI installed in the studio's HOME.
fn studio(cli: &str) -> Studio {
    let s = Studio::new();
    sh(
        s.root(),
        &format!("mkdir -p contrib && cp -r {ROOT}/contrib/agents contrib/"),
    );
    let app = s.path("repos/app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(app.join("src/lib.rs"), "pub fn widget() {}\n").unwrap();
    std::fs::write(app.join("README.md"), "# app\n").unwrap();
    sh(
        &app,
        "git init -q -b main && git add . && git -c user.name=Pat -c user.email=pat@example.com commit -qm start",
    );
    sh(
        Path::new(ROOT),
        &format!("tests/standins/install.sh {} {cli}", s.home().display()),
    );
    s
}

fn env_path(s: &Studio) -> String {
    format!(
        "{}:{}",
        s.home().join(".local/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn order_to(agent: &str) -> String {
    format!(
        "---\nto: {agent}\n---\n**Objective:** The widget is documented.\n\n**Acceptance:**\n- the widget has a doc comment\n- `cargo doc` builds\n- nothing else changes\n\n**Files:**\n- repos/app/README.md\n\n**Branching:**\n- halt-with-note if the widget is gone\n"
    )
}

/// Runs one order through `agent`, whose block the README gives; returns the daemon's
/// journal's `order.done` and the accepted report.
fn run_one(s: &Studio, agent: &str, env: &[(&str, &str)]) -> (serde_json::Value, String) {
    let cfg = s.read("config/walt.toml");
    s.write("config/walt.toml", &format!("{cfg}\n{}", block(agent)));
    let lint = s.walt(&["lint", &s.path("config/walt.toml").to_string_lossy()]);
    assert!(lint.status.success(), "{}", stdout(&lint));
    let path = env_path(s);
    let mut env = env.to_vec();
    env.push(("PATH", &path));
    let d = Daemon::start_with(s, &env);
    s.deliver("walt", "a.md", &order_to(agent));
    wait_for("the order done", || {
        s.log_count("order.done") == 1 || s.log_count("recovery.escalate") > 0
    });
    d.stop();
    let journal = s.journal();
    let done = journal
        .iter()
        .find(|r| r["event"] == "order.done")
        .unwrap_or_else(|| panic!("not done: {:?}\n{}", s.events("0001"), run_log(s, agent)))
        .clone();
    assert_eq!(done["agent"], agent);
    let report_name = s
        .ls(&format!("inbox/{agent}/done"))
        .into_iter()
        .find(|n| n.ends_with(".report.md"))
        .unwrap();
    let report = s.read(&format!("inbox/{agent}/done/{report_name}"));
    // Confined, not unconfined: the daemon said nothing of running it unconfined.
    assert!(!s.daemon_err().contains("UNCONFINED"));
    (done, report)
}

fn checks(s: &Studio, agent: &str, done: &serde_json::Value, report: &str, needle: &str) {
    let spent: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("spent: "))
        .unwrap_or_else(|| panic!("no spent in {report}"))
        .parse()
        .unwrap();
    assert!(spent > 100, "{report}");
    assert_eq!(
        done["spent"], spent,
        "the order's spent is its report's: {done}"
    );
    let lib = s.read("repos/app/README.md");
    assert!(
        lib.contains(&format!(
            "// The widget is documented. ({agent}, order 0001)"
        )),
        "{lib}"
    );
    let app = s.path("repos/app");
    let log = Command::new("git")
        .args([
            "log",
            "-1",
            "--format=%an|%s|%(trailers:key=Walt-Agent,valueonly)",
        ])
        .current_dir(&app)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&log.stdout).trim(),
        format!("{agent}|The widget is documented.|{agent}")
    );
    assert!(done["commit"][0]
        .as_str()
        .unwrap()
        .starts_with("repos/app "));
    // The run's output, the CLI's own, is kept beside the order.
    let log = run_log(s, agent);
    assert!(log.contains(needle), "{needle:?} not in {log}");
}

/// The order's run log, wherever it is now.
fn run_log(s: &Studio, agent: &str) -> String {
    for folder in ["done", "active"] {
        let dir = format!("inbox/{agent}/{folder}");
        if let Some(n) = s.ls(&dir).into_iter().find(|n| n.ends_with(".log")) {
            return s.read(&format!("{dir}/{n}"));
        }
    }
    panic!("no run log for {agent}");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn claude_code_runs_confined_through_its_wrapper() {
    let s = studio("claude");
    let home = s.home();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(
        home.join(".claude/.credentials.json"),
        r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-test","refreshToken":"sk-ant-ort01-test","expiresAt":4102444800000,"scopes":["user:inference"],"subscriptionType":"max"}}"#,
    )
    .unwrap();
    let (done, report) = run_one(&s, "claude", &[]);
    checks(&s, "claude", &done, &report, "\"type\":\"result\"");
    // Its state where the real one keeps it: the transcript of the run's working folder, and
    // the global state file (in ~/.claude, as the wrapper's CLAUDE_CONFIG_DIR puts it).
    let slug: String = s
        .path("repos")
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let transcripts = files_under(&home.join(".claude/projects").join(&slug));
    assert_eq!(transcripts.len(), 1, "{transcripts:?}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".claude/.claude.json")).unwrap())
            .unwrap();
    assert_eq!(state["numStartups"], 1);
    assert!(!home.join(".claude.json").exists());
}

#[test]
fn a_claude_run_without_a_login_fails_saying_so_and_is_not_done() {
    let s = studio("claude");
    let cfg = s.read("config/walt.toml");
    s.write(
        "config/walt.toml",
        &format!("{cfg}\n{}attempts = 1\n", block("claude")),
    );
    let path = env_path(&s);
    let d = Daemon::start_with(&s, &[("PATH", &path)]);
    s.deliver("walt", "a.md", &order_to("claude"));
    wait_for("the escalation", || s.log_count("recovery.escalate") == 1);
    d.stop();
    let escalated = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "recovery.escalate")
        .unwrap();
    assert!(
        escalated["reason"]
            .as_str()
            .unwrap()
            .contains("exit status 1"),
        "{escalated}"
    );
    let log = run_log(&s, "claude");
    assert!(log.contains("Invalid API key · Please run /login"), "{log}");
}

#[test]
fn codex_runs_confined_through_its_wrapper() {
    let s = studio("codex");
    let home = s.home();
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::write(
        home.join(".codex/auth.json"),
        r#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-test"}"#,
    )
    .unwrap();
    let (done, report) = run_one(&s, "codex", &[]);
    checks(&s, "codex", &done, &report, "\"type\":\"turn.completed\"");
    let rollouts: Vec<PathBuf> = files_under(&home.join(".codex/sessions"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("rollout-")
        })
        .collect();
    assert_eq!(rollouts.len(), 1, "{rollouts:?}");
    let first = std::fs::read_to_string(&rollouts[0]).unwrap();
    assert!(first.contains("\"originator\":\"codex_exec\""), "{first}");
}

#[test]
fn gemini_cli_runs_confined_through_its_wrapper() {
    let s = studio("gemini");
    let home = s.home();
    std::fs::create_dir_all(home.join(".gemini")).unwrap();
    std::fs::write(
        home.join(".gemini/settings.json"),
        r#"{"security":{"auth":{"selectedType":"oauth-personal"}}}"#,
    )
    .unwrap();
    std::fs::write(
        home.join(".gemini/oauth_creds.json"),
        r#"{"access_token":"ya29.test","refresh_token":"1//test","token_type":"Bearer","expiry_date":4102444800000}"#,
    )
    .unwrap();
    let (done, report) = run_one(&s, "gemini", &[]);
    checks(&s, "gemini", &done, &report, "\"stats\": {");
    let projects: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".gemini/projects.json")).unwrap())
            .unwrap();
    let repos = s.path("repos").to_string_lossy().into_owned();
    assert_eq!(projects["projects"][&repos], "repos");
    assert_eq!(
        std::fs::read_to_string(home.join(".gemini/tmp/repos/.project_root")).unwrap(),
        repos
    );
    assert!(home.join(".gemini/installation_id").exists());
}

#[test]
fn aider_runs_confined_through_its_wrapper() {
    let s = studio("aider");
    // What aider's installation and first run leave in HOME.
    for d in [".aider/caches", ".cache"] {
        std::fs::create_dir_all(s.home().join(d)).unwrap();
    }
    let (done, report) = run_one(&s, "aider", &[("ANTHROPIC_API_KEY", "sk-ant-test")]);
    checks(&s, "aider", &done, &report, "Aider v0.86.2");
    let analytics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.home().join(".aider/analytics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(analytics["permanently_disable"], true);
    // Nothing of aider's in the repository: no history, no .gitignore line, no commit of its own.
    let app = s.path("repos/app");
    assert!(!app.join(".gitignore").exists());
    assert!(!app.join(".aider.chat.history.md").exists());
    let authors = Command::new("git")
        .args(["log", "--format=%an"])
        .current_dir(&app)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&authors.stdout), "aider\nPat\n");
}

#[test]
fn a_model_cli_as_the_brain_routes_with_rule_brain() {
    let s = studio("claude");
    let home = s.home();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(
        home.join(".claude/.credentials.json"),
        r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-test"}}"#,
    )
    .unwrap();
    s.edit_config("brain = \"rules\"", "brain = \"command\"");
    s.edit_config(
        "[brain]\ncommand = [\"contrib/brain.sh\"]\ntimeout = \"60s\"\n",
        &block("brain"),
    );
    let lint = s.walt(&["lint", &s.path("config/walt.toml").to_string_lossy()]);
    assert!(lint.status.success(), "{}", stdout(&lint));
    let path = env_path(&s);
    let d = Daemon::start_with(&s, &[("PATH", &path)]);
    s.deliver(
        "walt",
        "a.md",
        &order_to("chip").replace("---\nto: chip\n---\n", ""),
    );
    wait_for("routing", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
    let decided = s
        .journal()
        .into_iter()
        .find(|r| r["event"] == "route.decided")
        .unwrap();
    assert_eq!(decided["rule"], "brain", "{decided}");
    assert!(
        decided["reason"]
            .as_str()
            .unwrap()
            .contains("chip's kind of work"),
        "{decided}"
    );
    // The brain's transcript is in its own state: its working folder is its run folder.
    assert_eq!(files_under(&home.join(".claude/projects")).len(), 1);
}
