//! `walt daemon`: the event loop around the pure coordinator.
//!
//! Start: read the config, take the lock and replay the journal (keeper), open the desk on
//! `inbox/`, install the watch, reconcile the journal against the folders (folders win), hand
//! Walt the orders in flight, then serve. Each turn of the loop: take deliveries (intake), notice
//! what others moved (claims, hand moves), let Walt route what waits, perform his effects phase
//! by phase, and commit the journal. A turn runs on any filesystem event, on a timer, and when a
//! hand-drop that was still settling is due.
//!
//! Errors come in three kinds. Per-order trouble (a bad file, a write that fails) is held or
//! retried and logged, and never stops the daemon. A full disk (`Fatal::DiskFull`) pauses it:
//! it waits for space, holding the lock, then starts over in process as a restart would. A
//! journal or folder that cannot be made durable (`Fatal::NotDurable`, an fsync error) stops it
//! rather than acknowledge what is not on disk.

pub mod agents;
pub mod brain;
pub mod commit;
pub mod observe;
pub mod par;
pub mod plans;
pub mod reconcile;
pub mod repos;
pub mod runner;
pub mod shell;
pub mod tokens;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use cap_std::fs::Dir;

use crate::coord::Walt;
use crate::daemon::tokens::Tiktoken;
use crate::format::config::{self, Config};
use crate::format::diagnostic;
use crate::inbox::desk::{self, Desk};
use crate::inbox::intake::Intake;
use crate::inbox::studio::CONFIG;
use crate::inbox::watch::{self, Wake};
use crate::model::order::{AgentName, OrderId};
use crate::model::record::{Level, Record};
use crate::model::state::Folder;
use crate::store::journal::Fatal;
use crate::store::keeper::{Keeper, KeeperError};
use agents::Agents;
use shell::Shell;

pub struct Options {
    /// The studio's path, used only to name folders to inotify (which takes paths); all file
    /// access goes through the `Dir` handles.
    pub root_path: PathBuf,
    /// Mirror the log to stderr.
    pub echo: bool,
    /// How long a hand-dropped file must stay unchanged before it is read.
    pub settle: Duration,
    /// How often every folder is read even without events.
    pub rescan: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            root_path: PathBuf::from("."),
            echo: true,
            settle: Duration::from_millis(200),
            rescan: Duration::from_secs(2),
        }
    }
}

/// Why the daemon cannot serve the studio, or stopped serving it. Every variant is a studio
/// that cannot be used (exit 3, mapped in `cmd::Error::exit_code`); per-order trouble never
/// reaches this type.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("no {CONFIG} here: this folder is not a studio; create one with `walt init DIR` or point --root at one")]
    NoConfig,
    #[error("cannot read {CONFIG}: {0}")]
    ReadConfig(#[source] std::io::Error),
    #[error("{rendered}{CONFIG} is invalid ({summary}); fix it and start again (`walt lint {CONFIG}` shows the same)")]
    BadConfig { rendered: String, summary: String },
    #[error("cannot open {what}: {source}; check the studio's permissions")]
    Open {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("inbox/{agent}: {source}")]
    Inbox {
        agent: AgentName,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {what}: {source}")]
    List {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    Keeper(#[from] KeeperError),
    #[error(transparent)]
    Fatal(#[from] Fatal),
}

/// A studio file's bytes as text, without a copy when they are UTF-8 (the parser reports the
/// bytes that are not; here they only must not stop the daemon).
pub(crate) fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Reads and validates `config/walt.toml` through the root handle.
pub fn load_config(root: &Dir) -> Result<Config, DaemonError> {
    load_config_text(root).map(|(cfg, _)| cfg)
}

fn load_config_text(root: &Dir) -> Result<(Config, String), DaemonError> {
    let text = match root.read(CONFIG) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DaemonError::NoConfig),
        Err(e) => return Err(DaemonError::ReadConfig(e)),
    };
    match config::parse(&text) {
        Ok(cfg) => Ok((cfg, text)),
        Err(d) => Err(DaemonError::BadConfig {
            rendered: diagnostic::render(CONFIG, &text, &d),
            summary: diagnostic::summary(&d),
        }),
    }
}

/// What the start-up check found: the agents that cannot run and why, the brain's trouble,
/// and what to log.
type Checked = (BTreeMap<String, String>, Option<String>, Vec<Record>);

/// The config checked against the world (SPEC §5): a profile path that reaches into the studio
/// stops the daemon like any config error; a program that cannot be run stops only that
/// agent (or the brain), said at start and in `walt status`. Returns the agents that cannot
/// run, the brain's trouble, and what to log.
fn check_config(
    cfg: &Config,
    text: &str,
    root_path: &std::path::Path,
) -> Result<Checked, DaemonError> {
    use runner::profile::{Kind, Who};
    let findings = runner::profile::check(cfg, root_path);
    let fatal: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == Kind::Grant)
        .map(|f| f.diagnostic.clone())
        .collect();
    if !fatal.is_empty() {
        return Err(DaemonError::BadConfig {
            rendered: diagnostic::render(CONFIG, text, &fatal),
            summary: diagnostic::summary(&fatal),
        });
    }
    let mut cannot = BTreeMap::new();
    let mut brain = None;
    let mut said = Vec::new();
    for d in &cfg.warnings {
        said.push(
            Record::new("daemon.started")
                .level(Level::Warn)
                .reason(format!("{CONFIG}:{}: {}", d.line, d.message)),
        );
    }
    for f in findings {
        match (f.kind, f.who) {
            (Kind::Program, Who::Agent(a)) => {
                cannot.insert(a, f.diagnostic.message);
            }
            (Kind::Program, Who::Brain) => {
                said.push(
                    Record::new("daemon.started")
                        .level(Level::Warn)
                        .reason(format!(
                            "the brain cannot run: {}; the rules route until it can",
                            f.diagnostic.message
                        )),
                );
                brain = Some(format!("cannot run: {}", f.diagnostic.message));
            }
            (_, _) => said.push(
                Record::new("daemon.started")
                    .level(Level::Warn)
                    .reason(format!(
                        "{CONFIG}:{}: {}",
                        f.diagnostic.line, f.diagnostic.message
                    )),
            ),
        }
    }
    Ok((cannot, brain, said))
}

fn studio_io(what: &'static str) -> impl FnOnce(std::io::Error) -> DaemonError {
    move |source| DaemonError::Open { what, source }
}

/// Runs the daemon until SIGTERM or SIGINT.
///
/// When the disk fills (a write refused with ENOSPC or EDQUOT), the daemon does not stop: it
/// ends its command agents' runs, logs `daemon.paused`, holds the lock and waits until there is
/// space, then starts over in this process exactly as a restart would (replay, reconcile,
/// resume), which the crash tests show loses nothing and takes nothing twice.
pub fn run(root: Dir, opts: Options) -> Result<(), DaemonError> {
    let (tx, rx) = sync_channel::<Wake>(64);
    let signals_tx = tx.clone();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(DaemonError::Signals)?;
    let signal_handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            // A blocking send: the stop must not be dropped even if the channel is full.
            let _ = signals_tx.send(Wake::Stop);
        }
    });
    let mut pauses: u32 = 0;
    let mut resumed = None;
    let result = loop {
        let began = Instant::now();
        let studio = root.try_clone().map_err(studio_io("the studio"))?;
        match run_once(studio, &opts, &tx, &rx, resumed.take()) {
            Err(DaemonError::Fatal(Fatal::DiskFull(e))) => {
                crate::daemon::runner::stop_all();
                // A run that got somewhere resets the wait; one that filled the disk again at
                // once waits longer each time.
                pauses = if began.elapsed() > Duration::from_secs(60) {
                    1
                } else {
                    pauses + 1
                };
                match wait_for_space(&root, &opts, &rx, &e, pauses)? {
                    Some(free) => resumed = Some(free),
                    None => break Ok(()),
                }
            }
            other => break other,
        }
    };
    signal_handle.close();
    result
}

/// While the disk is full: holds the lock, says so, and looks for free space every half
/// second (and at least `pauses` seconds, at most 30); `None` if stopped meanwhile, else the
/// free space found, in bytes.
fn wait_for_space(
    root: &Dir,
    opts: &Options,
    rx: &Receiver<Wake>,
    error: &std::io::Error,
    pauses: u32,
) -> Result<Option<u64>, DaemonError> {
    const ENOUGH: u64 = 1 << 20;
    let state = root.open_dir("state").map_err(studio_io("state/"))?;
    let mut paused = crate::store::keeper::Paused::hold(state, opts.echo)?;
    paused.log(
        &Record::new("daemon.paused")
            .level(Level::Error)
            .reason(format!(
                "the disk is full ({error}): nothing more is taken, and command agents' runs are stopped, until there is space; every acknowledged order is on disk, and the daemon starts over by itself when space is back"
            )),
    );
    let status = format!("STATUS=paused: the disk is full ({error}); waiting for space");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Custom(&status)]);
    let mut watchdog_usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut watchdog_usec);
    let since = Instant::now();
    let at_least = Duration::from_secs(u64::from(pauses.min(30)));
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(Wake::Stop) => {
                paused.log(&Record::new("daemon.stopped").reason(
                    "stopped by signal while paused for a full disk; every acknowledged order is on disk",
                ));
                return Ok(None);
            }
            Ok(Wake::Fs) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
        if watchdog {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
        let free = paused.free_bytes().unwrap_or(0);
        if free >= ENOUGH && since.elapsed() >= at_least {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Custom("STATUS=")]);
            return Ok(Some(free));
        }
    }
}

/// One life of the daemon: from taking the lock to a stop, or to a full disk.
fn run_once(
    root: Dir,
    opts: &Options,
    tx: &std::sync::mpsc::SyncSender<Wake>,
    rx: &Receiver<Wake>,
    resumed: Option<u64>,
) -> Result<(), DaemonError> {
    let (cfg, text) = load_config_text(&root)?;
    let (cannot, brain_cannot, config_said) = check_config(&cfg, &text, &opts.root_path)?;
    match root.create_dir("state") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(studio_io("state/")(e)),
    }
    let state = root.open_dir("state").map_err(studio_io("state/"))?;
    let began = Instant::now();
    let (keeper, ledger, replayed) = Keeper::open(state, opts.echo)?;
    let replay_ms = began.elapsed().as_millis() as u64;
    let inbox = desk::open_inbox(&root).map_err(studio_io("inbox/"))?;
    // From here on the daemon holds `state/` (keeper) and `inbox/` (desk); not the root.
    drop(root);
    let desk = Desk::new(inbox);
    let mut inboxes = vec![AgentName::walt(), AgentName::human()];
    inboxes.extend(cfg.agent_names());
    for a in &inboxes {
        desk.mailbox()
            .open_inbox(a)
            .map_err(|source| DaemonError::Inbox {
                agent: a.clone(),
                source,
            })?;
    }

    let mut watch_paths = Vec::new();
    for a in &inboxes {
        let base = opts.root_path.join("inbox").join(a.as_str());
        watch_paths.push(base.join(Folder::New.as_str()));
        watch_paths.push(base.join(Folder::Active.as_str()));
        watch_paths.push(base);
    }
    watch_paths.push(
        opts.root_path
            .join("state")
            .join(crate::store::keeper::DECISIONS),
    );
    let watch = watch::install(&watch_paths, tx.clone());

    let generation = ledger
        .walt
        .generation
        .max(desk.mailbox().last_handoff())
        .max(1);
    let walt = Walt::new(
        cfg.clone(),
        generation,
        Box::new(Tiktoken::new(cfg.walt.encoding)),
    );
    let (agents, mut said) = Agents::new(&cfg, &cannot, tx.clone());
    said.extend(config_said);
    let brain = brain::Brain::new(
        cfg.brain.clone(),
        brain_cannot,
        opts.root_path.clone(),
        tx.clone(),
    );
    let mut shell = Shell::new(
        cfg,
        inboxes,
        desk,
        keeper,
        ledger,
        walt,
        Intake::new(opts.settle),
        opts.root_path.clone(),
        agents,
        brain,
    );
    // What needs a person (an agent that cannot run) is journaled, as an attention item;
    // the rest is logged.
    let (refusals, said): (Vec<Record>, Vec<Record>) =
        said.into_iter().partition(|r| r.event == "agent.refused");
    for r in said {
        shell.log(r);
    }
    shell.commit(refusals)?;
    let repos = opts.root_path.join("repos");
    let ignore = shell.cfg.walt.ignore.clone();
    if let Err(e) = shell.repos.start(&repos, ignore, tx.clone()) {
        shell.log(
            Record::new("daemon.rescan")
                .level(Level::Warn)
                .reason(format!(
                    "cannot watch repos/ ({e}); changes nobody ordered will not be noticed"
                )),
        );
    }
    match &watch {
        Err(e) => shell.log(
            Record::new("daemon.rescan")
                .level(Level::Warn)
                .reason(format!(
                    "cannot watch the inboxes ({e}); falling back to reading them every {:?}",
                    opts.rescan
                )),
        ),
        Ok((_, failed)) if !failed.is_empty() => shell.log(
            Record::new("daemon.rescan")
                .level(Level::Warn)
                .reason(format!(
                    "cannot watch {}; those folders are read every {:?}",
                    failed.join("; "),
                    opts.rescan
                )),
        ),
        Ok(_) => {}
    }
    if replayed.torn_bytes > 0 {
        shell.log(Record::new("daemon.started").level(Level::Warn).reason(format!(
            "dropped a torn last journal record ({} bytes) left by a crash; it was never acknowledged",
            replayed.torn_bytes
        )));
    }
    let t = Instant::now();
    shell.reconcile()?;
    let reconcile_ms = t.elapsed().as_millis() as u64;
    let t = Instant::now();
    shell.resume()?;
    let resume_ms = t.elapsed().as_millis() as u64;
    shell.log(
        Record::new("daemon.started")
            .reason(format!(
                "{}serving {} inboxes; journal has {} records; next order id {}",
                resumed.map_or(String::new(), |free| format!(
                    "resumed after a full disk ({} KiB free now); ",
                    free / 1024
                )),
                shell.inboxes.len(),
                shell.keeper.journal_records(),
                OrderId(shell.next_id)
            ))
            .with("pid", std::process::id())
            .with("replay_ms", replay_ms)
            .with("reconcile_ms", reconcile_ms)
            .with("resume_ms", resume_ms)
            .with("startup_ms", began.elapsed().as_millis() as u64),
    );
    if let Some(free) = resumed {
        // The pause could only be logged (the disk was full); now it is on record, as what
        // needs a person (an attention item), until acknowledged.
        shell.commit(vec![Record::new("daemon.resumed")
            .level(Level::Warn)
            .reason(format!(
                "the disk was full: the daemon paused, and resumed by itself ({} KiB free now); find what filled it",
                free / 1024
            ))])?;
    }
    let result = serve(&mut shell, rx, opts);
    // Every run ends with the daemon: its sandbox is ended here rather than left to the
    // kernel's parent-death signal, which a run still being set up has not armed yet.
    runner::stop_all();
    if !matches!(result, Err(DaemonError::Fatal(Fatal::DiskFull(_)))) {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    }
    match &result {
        Ok(()) => shell.log(
            Record::new("daemon.stopped")
                .reason("stopped by signal; every acknowledged order is on disk"),
        ),
        // Logged by the pause, which also comes from a full disk met during start-up.
        Err(DaemonError::Fatal(Fatal::DiskFull(_))) => {}
        Err(e) => shell.log(
            Record::new("daemon.stopped")
                .level(Level::Error)
                .reason(e.to_string()),
        ),
    }
    shell.snapshot();
    drop(watch);
    result
}

fn serve(shell: &mut Shell, rx: &Receiver<Wake>, opts: &Options) -> Result<(), DaemonError> {
    let mut recheck = shell.turn()?;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut watchdog_usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut watchdog_usec);
    loop {
        let now = Instant::now();
        let deadline = recheck.map_or(opts.rescan, |t| {
            t.saturating_duration_since(now).min(opts.rescan)
        });
        match rx.recv_timeout(deadline) {
            Ok(Wake::Stop) => return Ok(()),
            Ok(Wake::Fs) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        // Coalesce: every queued wake is answered by the one turn below.
        while let Ok(w) = rx.try_recv() {
            if w == Wake::Stop {
                return Ok(());
            }
        }
        recheck = shell.turn()?;
        if watchdog {
            // Pinged from the loop that does the work, so a wedged loop is restarted.
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    }
}
