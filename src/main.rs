//! The `walt` binary: argument dispatch, exit codes, and the only ambient authority.
//!
//! `main` resolves the studio root (and the files `lint` and `submit` are given) with
//! `cap_std::ambient_authority()`; everything below it works through the `Dir` handles it
//! hands down.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use clap::Parser;

use walt::cmd::cli::{exit, Cli, Command};
use walt::cmd::lint;
use walt::coord::PersonDecision;
use walt::format::{config, diagnostic};
use walt::inbox::studio;
use walt::model::order::AgentName;

fn main() -> ExitCode {
    // With the `failpoints` feature, FAILPOINTS=<name>=return arms a crash point (tests only).
    let _scenario = fail::FailScenario::setup();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    if !matches!(cli.command, Command::Daemon) {
        // A command whose output is piped into `head` should end quietly when the pipe closes,
        // as Unix tools do, not panic on a write error.
        // SAFETY: setting a signal disposition to its default before any thread is started.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let code = run(cli);
    ExitCode::from(code as u8)
}

fn root_path(cli_root: &Option<PathBuf>) -> PathBuf {
    cli_root.clone().unwrap_or_else(|| PathBuf::from("."))
}

fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Init { ref dir } => init(dir.clone().unwrap_or_else(|| root_path(&cli.root))),
        Command::Lint { ref files } => lint_files(&cli.root, files),
        Command::Daemon => daemon(&cli.root),
        Command::Submit { ref file, ref to } => submit(&cli.root, file, to.as_deref()),
        Command::Status { json } => status(&cli.root, json),
        Command::Trace { ref id, json } => trace(&cli.root, id, json),
        Command::Claim { ref agent } => claim(&cli.root, agent),
        Command::Log {
            follow,
            ref order,
            ref event,
        } => log(&cli.root, follow, order.as_deref(), event.clone()),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "walt", &mut std::io::stdout());
            exit::OK
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                Ok(()) => exit::OK,
                Err(e) => {
                    eprintln!("walt: cannot write the man page: {e}");
                    exit::FAILED
                }
            }
        }
        Command::Report {
            ref id,
            ref status,
            ref file,
        } => report(&cli.root, id, status, file.as_deref()),
        Command::Retry { ref id } => decide(&cli.root, id, PersonDecision::Retry),
        Command::Cancel { ref id } => decide(&cli.root, id, PersonDecision::Cancel),
        Command::Unblock { ref id } => decide(&cli.root, id, PersonDecision::Unblock),
    }
}

fn parse_id(id: &str) -> Result<walt::model::order::OrderId, i32> {
    walt::model::order::OrderId::parse(id).ok_or_else(|| {
        eprintln!(
            "walt: `{}` is not an order id (e.g. 0042)",
            id.escape_debug()
        );
        exit::USAGE
    })
}

/// The configured agent named on the command line, or a usage error listing them.
fn agent_arg(cfg: &config::Config, name: &str) -> Result<AgentName, i32> {
    match AgentName::new(name) {
        Ok(a) if cfg.agent(a.as_str()).is_some() || a.as_str() == walt::model::order::HUMAN => {
            Ok(a)
        }
        _ => {
            eprintln!(
                "walt: `{}` is not an agent of this studio (the agents are {})",
                name.escape_debug(),
                cfg.agent_names()
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Err(exit::USAGE)
        }
    }
}

fn claim(cli_root: &Option<PathBuf>, agent: &str) -> i32 {
    let (path, root, cfg) = match open_studio(cli_root) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let agent = match agent_arg(&cfg, agent) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let inbox = match walt::inbox::desk::open_inbox(&root) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("walt: cannot open {}/inbox: {e}", path.display());
            return exit::STUDIO;
        }
    };
    match walt::cmd::manual::claim(inbox, &agent) {
        Ok(Some(name)) => {
            println!(
                "{}",
                path.join("inbox")
                    .join(agent.as_str())
                    .join("active")
                    .join(name)
                    .display()
            );
            exit::OK
        }
        Ok(None) => {
            eprintln!("walt: nothing queued in inbox/{agent}/new/");
            exit::FAILED
        }
        Err(e) => {
            eprintln!("walt: cannot claim for {agent}: {e}");
            exit::FAILED
        }
    }
}

fn report(cli_root: &Option<PathBuf>, id: &str, status: &str, file: Option<&Path>) -> i32 {
    let id = match parse_id(id) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let Some(status) = walt::model::order::Status::parse(status) else {
        eprintln!(
            "walt: --status {}: use done, failed, halted, rerouted or blocked",
            status.escape_debug()
        );
        return exit::USAGE;
    };
    let (path, root, cfg) = match open_studio(cli_root) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let open = || walt::inbox::desk::open_inbox(&root);
    let Some(file) = file else {
        let mut agents = cfg.agent_names();
        agents.push(AgentName::human());
        let found = match open().and_then(|inbox| walt::cmd::manual::find(inbox, &agents, id)) {
            Ok(Some(f)) => f,
            Ok(None) => {
                eprintln!("walt: order {id} is not queued or active in any inbox; `walt status` lists the open ones");
                return exit::FAILED;
            }
            Err(e) => {
                eprintln!("walt: cannot read {}/inbox: {e}", path.display());
                return exit::STUDIO;
            }
        };
        let out = PathBuf::from(format!("report-{id}.md"));
        let text = walt::cmd::manual::skeleton(id, &found.agent, status, &found.text);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&out)
        {
            Ok(mut f) => {
                use std::io::Write;
                if let Err(e) = f.write_all(text.as_bytes()) {
                    eprintln!("walt: cannot write {}: {e}", out.display());
                    return exit::FAILED;
                }
            }
            Err(e) => {
                eprintln!(
                    "walt: cannot write {}: {e} (an earlier skeleton? send it, or move it away)",
                    out.display()
                );
                return exit::FAILED;
            }
        }
        println!("{}", out.display());
        eprintln!("walt: wrote a skeleton report for {id} ({}, from {}): tick what holds, fill in Touched and the Note, then:\n  walt report {id} --status {} {}", found.name, found.agent, status.as_str(), out.display());
        return exit::OK;
    };
    let name = display(file);
    let bytes = match read_limited(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("walt: cannot read {name}: {e}");
            return exit::FAILED;
        }
    };
    let bytes = match walt::cmd::manual::with_header(&bytes, id, status) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("walt: {name}: {e}");
            return exit::USAGE;
        }
    };
    let agents = cfg.agent_names();
    let linted = lint::lint(&name, &bytes, Some(&agents));
    if !linted.diagnostics.is_empty() {
        eprint!("{}", lint::render(&name, &linted));
    }
    if linted.kind != lint::Kind::Report {
        eprintln!("walt: {name} is not a report (it has no `**Outcome:**`); `walt report {id} --status {}` writes a skeleton", status.as_str());
        return exit::FAILED;
    }
    if diagnostic::has_errors(&linted.diagnostics) {
        eprintln!("walt: not sent: fix the errors above and send it again");
        return exit::FAILED;
    }
    let inbox = match open() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("walt: cannot open {}/inbox: {e}", path.display());
            return exit::STUDIO;
        }
    };
    match walt::inbox::submit::deliver_as(inbox, &bytes, &format!("report-{id}")) {
        Ok(delivered) => {
            println!("{}", path.join("inbox/walt/new").join(delivered).display());
            exit::OK
        }
        Err(e) => {
            eprintln!("walt: could not deliver {name}: {e}");
            exit::FAILED
        }
    }
}

fn log(
    cli_root: &Option<PathBuf>,
    follow: bool,
    order: Option<&str>,
    event: Option<String>,
) -> i32 {
    let order = match order.map(parse_id).transpose() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (path, root) = match open_root(cli_root) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let logs = match root.open_dir("state/logs") {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "walt: cannot open {}/state/logs: {e}; has the daemon run here? (walt daemon)",
                path.display()
            );
            return exit::STUDIO;
        }
    };
    let filter = walt::cmd::logview::Filter { order, event };
    let mut out = |l: &str| println!("{l}");
    match walt::cmd::logview::show(&logs, &filter, follow, &mut out) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "walt: no log yet in {}/state/logs/walt.jsonl; start the daemon (walt daemon)",
                path.display()
            );
            exit::STUDIO
        }
        Err(e) => {
            eprintln!("walt: cannot read the log: {e}");
            exit::FAILED
        }
    }
}

/// Leaves a person's decision in `state/decisions/` for the daemon, after checking it applies.
fn decide(cli_root: &Option<PathBuf>, id: &str, kind: PersonDecision) -> i32 {
    let id = match parse_id(id) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let (path, root, _cfg) = match open_studio(cli_root) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let state = match open_state(&root, &path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut ledger = walt::model::ledger::Ledger::default();
    if let Err(e) = walt::store::journal::read(&state, |_, r| ledger.apply(&r)) {
        eprintln!("walt: {e}");
        return exit::STUDIO;
    }
    let Some(entry) = ledger.entries.get(&id) else {
        eprintln!("walt: no order {id} in this studio; `walt status` lists the open ones");
        return exit::FAILED;
    };
    let applies = match kind {
        PersonDecision::Unblock => entry.state == walt::model::state::State::Parked,
        _ => entry.is_open() && entry.kind == walt::model::ledger::Kind::Order,
    };
    if !applies {
        eprintln!(
            "walt: cannot {} order {id}: it is {} in inbox/{}/ ({})",
            kind.as_str(),
            entry.state,
            entry.agent,
            match kind {
                PersonDecision::Unblock => "only a parked order can be unblocked",
                _ => "only an order in flight can be retried or cancelled",
            }
        );
        return exit::FAILED;
    }
    let by = std::env::var("USER").unwrap_or_else(|_| "a person".into());
    let at = jiff::Timestamp::now();
    let doc = walt::store::keeper::DecisionFile {
        decision: kind.as_str().into(),
        order: id.to_string(),
        by: walt::format::parse::one_line(&by),
        at: at.to_string(),
    };
    let name = format!("{}-{id}-{}.json", at.as_nanosecond(), kind.as_str());
    let result = state
        .create_dir_all(walt::store::keeper::DECISIONS)
        .and_then(|()| {
            let tmp = format!("{}/.{name}.tmp", walt::store::keeper::DECISIONS);
            state.write(&tmp, serde_json::to_vec(&doc).expect("decision serializes"))?;
            state.rename(
                &tmp,
                &state,
                format!("{}/{name}", walt::store::keeper::DECISIONS),
            )
        });
    match result {
        Ok(()) => {
            println!("{} {id}: recorded in state/decisions/{name}; the daemon acts on it and journals it", kind.as_str());
            exit::OK
        }
        Err(e) => {
            eprintln!(
                "walt: cannot record the decision in {}/state/decisions: {e}",
                path.display()
            );
            exit::STUDIO
        }
    }
}

/// Opens the studio root: the one place ambient authority is used for it.
fn open_root(cli_root: &Option<PathBuf>) -> Result<(PathBuf, Dir), i32> {
    let path = root_path(cli_root);
    match Dir::open_ambient_dir(&path, ambient_authority()) {
        Ok(d) => Ok((path, d)),
        Err(e) => {
            eprintln!(
                "walt: cannot open the studio {}: {e}; create one with `walt init {}` or pass --root",
                path.display(),
                path.display()
            );
            Err(exit::STUDIO)
        }
    }
}

/// Opens the studio and loads its config, or says why not (exit 3).
fn open_studio(cli_root: &Option<PathBuf>) -> Result<(PathBuf, Dir, config::Config), i32> {
    let (path, root) = open_root(cli_root)?;
    match walt::daemon::load_config(&root) {
        Ok(cfg) => Ok((path, root, cfg)),
        Err(e) => {
            eprintln!("walt: {}: {e}", path.display());
            Err(exit::STUDIO)
        }
    }
}

fn daemon(cli_root: &Option<PathBuf>) -> i32 {
    let (path, root) = match open_root(cli_root) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let root_path = std::fs::canonicalize(&path).unwrap_or(path);
    let opts = walt::daemon::Options {
        root_path,
        ..Default::default()
    };
    match walt::daemon::run(root, opts) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("walt: {e}");
            exit::STUDIO
        }
    }
}

fn submit(cli_root: &Option<PathBuf>, file: &Path, to: Option<&str>) -> i32 {
    let (path, root, cfg) = match open_studio(cli_root) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let name = display(file);
    let bytes = match read_limited(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("walt: cannot read {name}: {e}");
            return exit::FAILED;
        }
    };
    let bytes = match to {
        None => bytes,
        Some(agent) => match AgentName::new(agent) {
            Ok(a) if cfg.agent(a.as_str()).is_some() || a.as_str() == walt::model::order::HUMAN => {
                walt::inbox::submit::set_to(&bytes, &a)
            }
            Ok(a) => {
                eprintln!(
                    "walt: --to {a}: not an agent of this studio (the agents are {})",
                    cfg.agent_names()
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return exit::USAGE;
            }
            Err(e) => {
                eprintln!("walt: --to: {e}");
                return exit::USAGE;
            }
        },
    };
    let agents = cfg.agent_names();
    let linted = lint::lint(&name, &bytes, Some(&agents));
    if !linted.diagnostics.is_empty() {
        eprint!("{}", lint::render(&name, &linted));
    }
    if diagnostic::has_errors(&linted.diagnostics) {
        eprintln!("walt: not submitted: fix the errors above and submit again");
        return exit::FAILED;
    }
    if linted.kind != lint::Kind::Order {
        eprintln!(
            "walt: {name} is a {}, not a work order; send reports with `walt report`",
            linted.kind.as_str()
        );
        return exit::USAGE;
    }
    let inbox = match walt::inbox::desk::open_inbox(&root) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("walt: cannot open {}/inbox: {e}", path.display());
            return exit::STUDIO;
        }
    };
    match walt::inbox::submit::deliver(inbox, &bytes) {
        Ok(delivered) => {
            println!("{}", path.join("inbox/walt/new").join(delivered).display());
            exit::OK
        }
        Err(e) => {
            eprintln!("walt: could not deliver {name}: {e}; nothing was delivered");
            exit::FAILED
        }
    }
}

fn open_state(root: &Dir, path: &Path) -> Result<Dir, i32> {
    root.open_dir("state").map_err(|e| {
        eprintln!(
            "walt: cannot open {}/state: {e}; is this a studio? (walt init DIR makes one)",
            path.display()
        );
        exit::STUDIO
    })
}

fn status(cli_root: &Option<PathBuf>, json: bool) -> i32 {
    let (path, root, cfg) = match open_studio(cli_root) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let state = match open_state(&root, &path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let inbox = match walt::inbox::desk::open_inbox(&root) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("walt: cannot open {}/inbox: {e}", path.display());
            return exit::STUDIO;
        }
    };
    match walt::cmd::status::gather(&cfg, &state, inbox, jiff::Timestamp::now()) {
        Ok(s) => {
            if json {
                println!("{}", serde_json::to_string(&s).expect("status serializes"));
            } else {
                print!("{}", walt::cmd::status::render(&s));
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("walt: {e}");
            exit::STUDIO
        }
    }
}

fn trace(cli_root: &Option<PathBuf>, id: &str, json: bool) -> i32 {
    let Some(order) = walt::model::order::OrderId::parse(id) else {
        eprintln!(
            "walt: `{}` is not an order id (e.g. 0042)",
            id.escape_debug()
        );
        return exit::USAGE;
    };
    let (path, root) = match open_root(cli_root) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let state = match open_state(&root, &path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match walt::cmd::trace::records(&state, order) {
        Ok(records) if records.is_empty() => {
            eprintln!("walt: no order {order} in this studio's journal; `walt status` lists the open ones");
            exit::FAILED
        }
        Ok(records) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&records).expect("records serialize")
                );
            } else {
                print!("{}", walt::cmd::trace::render(order, &records));
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("walt: {e}");
            exit::STUDIO
        }
    }
}

fn init(dir: PathBuf) -> i32 {
    if let Err(e) = Dir::create_ambient_dir_all(&dir, ambient_authority()) {
        eprintln!("walt: cannot create {}: {e}", dir.display());
        return exit::FAILED;
    }
    let root = match Dir::open_ambient_dir(&dir, ambient_authority()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("walt: cannot open {}: {e}", dir.display());
            return exit::FAILED;
        }
    };
    match studio::init(&root) {
        Ok(()) => {
            println!("created a studio in {}", dir.display());
            println!("  config:  {}/{}", dir.display(), studio::CONFIG);
            println!(
                "  inboxes: walt, human, chip, rex under {}/inbox/",
                dir.display()
            );
            println!("next: walt --root {} daemon", dir.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("walt: {e}");
            exit::FAILED
        }
    }
}

/// Loads the studio config for commands that can do without one (lint): `Ok(None)` when the
/// root has no config and none was asked for explicitly.
fn optional_config(cli_root: &Option<PathBuf>) -> Result<Option<config::Config>, i32> {
    let path = root_path(cli_root).join(studio::CONFIG);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            match config::parse(&text) {
                Ok(c) => Ok(Some(c)),
                Err(d) => {
                    eprint!(
                        "{}",
                        diagnostic::render(&path.display().to_string(), &text, &d)
                    );
                    eprintln!(
                        "walt: the studio config is invalid; fix it (walt lint {} shows the same)",
                        path.display()
                    );
                    Err(exit::STUDIO)
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && cli_root.is_none() => Ok(None),
        Err(e) => {
            eprintln!(
                "walt: cannot read {}: {e}; is --root a studio? (walt init DIR makes one)",
                path.display()
            );
            Err(exit::STUDIO)
        }
    }
}

fn lint_files(cli_root: &Option<PathBuf>, files: &[PathBuf]) -> i32 {
    let cfg = match optional_config(cli_root) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let agents: Option<Vec<AgentName>> = cfg.map(|c| c.agent_names());
    let mut failed = false;
    for file in files {
        let name = display(file);
        let bytes = match read_limited(file) {
            Ok(b) => b,
            Err(e) => {
                println!("{name}: error: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        let linted = lint::lint(&name, &bytes, agents.as_deref());
        failed |= diagnostic::has_errors(&linted.diagnostics);
        print!("{}", lint::render(&name, &linted));
    }
    if failed {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// Reads at most one byte past the size limit, so a huge or endless file cannot exhaust memory
/// and is still reported as too large.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    if f.metadata()?.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    let mut buf = Vec::new();
    f.take(walt::format::parse::MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

fn display(path: &Path) -> String {
    path.display().to_string().escape_debug().to_string()
}
