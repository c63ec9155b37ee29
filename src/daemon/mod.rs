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

pub mod par;
pub mod runner;
pub mod tokens;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cap_std::fs::Dir;

use crate::coord::{Effect, Event, Walt};
use crate::daemon::tokens::Tiktoken;
use crate::format::config::{self, Config};
use crate::format::diagnostic;
use crate::format::parse::MAX_BYTES;
use crate::inbox::desk::{self, Desk};
use crate::inbox::intake::Intake;
use crate::inbox::mailbox::{EntryKind, Folder, Mailbox};
use crate::inbox::studio::CONFIG;
use crate::inbox::watch::{self, Wake};
use crate::model::ledger::{Kind, Ledger};
use crate::model::order::{AgentName, OrderId, WALT};
use crate::model::record::{Level, Record};
use crate::store::journal::Fatal;
use crate::store::keeper::{Keeper, KeeperError};

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

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The studio cannot be used (exit 3): no config, bad config, unreadable folders.
    #[error("{0}")]
    Studio(String),
    #[error(transparent)]
    Keeper(#[from] KeeperError),
    #[error(transparent)]
    Fatal(#[from] Fatal),
}

/// A studio file's bytes as text, without a copy when they are UTF-8 (the parser reports the
/// bytes that are not; here they only must not stop the daemon).
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Reads and validates `config/walt.toml` through the root handle.
pub fn load_config(root: &Dir) -> Result<Config, DaemonError> {
    let text = match root.read(CONFIG) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DaemonError::Studio(format!(
                "no {CONFIG} here: this folder is not a studio; create one with `walt init DIR` or point --root at one"
            )))
        }
        Err(e) => return Err(DaemonError::Studio(format!("cannot read {CONFIG}: {e}"))),
    };
    config::parse(&text).map_err(|d| {
        DaemonError::Studio(format!(
            "{}{CONFIG} is invalid ({}); fix it and start again (`walt lint {CONFIG}` shows the same)",
            diagnostic::render(CONFIG, &text, &d),
            diagnostic::summary(&d)
        ))
    })
}

fn studio_io(what: &str) -> impl FnOnce(std::io::Error) -> DaemonError + '_ {
    move |e| {
        DaemonError::Studio(format!(
            "cannot open {what}: {e}; check the studio's permissions"
        ))
    }
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
    .map_err(|e| DaemonError::Studio(format!("cannot install signal handlers: {e}")))?;
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
    let cfg = load_config(&root)?;
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
            .map_err(|e| DaemonError::Studio(format!("inbox/{a}: {e}")))?;
    }

    let mut watch_paths = Vec::new();
    for a in &inboxes {
        let base = opts.root_path.join("inbox").join(a.as_str());
        watch_paths.push(base.join("new"));
        watch_paths.push(base.join("active"));
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
    let next_id = ledger.max_id + 1;
    let mut shell = Shell {
        agents: cfg.agent_names(),
        cfg,
        desk,
        keeper,
        ledger,
        walt,
        intake: Intake::new(opts.settle),
        inboxes,
        next_id,
        last_snapshot: None,
        reported: HashSet::new(),
        root_path: opts.root_path.clone(),
        wake: tx.clone(),
        running: BTreeMap::new(),
        finished: Default::default(),
        refused: BTreeMap::new(),
        repos_rx: None,
        repos_lost: Default::default(),
        observed: BTreeMap::new(),
        alerted: Default::default(),
    };
    shell.start_repos_watch(tx.clone());
    shell.check_confinement();
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
    let result = serve(&mut shell, rx, opts);
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

struct Shell {
    cfg: Config,
    agents: Vec<AgentName>,
    desk: Desk,
    keeper: Keeper,
    ledger: Ledger,
    walt: Walt,
    intake: Intake,
    inboxes: Vec<AgentName>,
    next_id: u64,
    last_snapshot: Option<Instant>,
    /// Errors already logged, so a persistent one is reported once, not every turn.
    reported: HashSet<String>,
    /// The studio's path (for the runner's Landlock rules and working folder).
    root_path: PathBuf,
    wake: std::sync::mpsc::SyncSender<Wake>,
    /// Command agents' runs in progress, and runs that ended (filled by the runner's threads;
    /// a std Mutex: it is held for a push or a drain, never across I/O).
    running: BTreeMap<OrderId, AgentName>,
    finished: std::sync::Arc<std::sync::Mutex<Vec<crate::daemon::runner::Finished>>>,
    /// Why each command agent that cannot run is refused (Landlock unavailable).
    refused: BTreeMap<String, String>,
    /// Paths changed under `repos/`, from the recursive watch.
    repos_rx: Option<Receiver<PathBuf>>,
    repos_lost: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// What changed under `repos/` while each order was active (for review).
    observed: BTreeMap<OrderId, BTreeSet<String>>,
    /// Last silent-execution alert per path: repeats within a window make one alert.
    alerted: std::collections::HashMap<String, Instant>,
}

impl Shell {
    fn log(&mut self, r: Record) {
        let r = if r.generation.is_none() {
            self.walt.stamp(r)
        } else {
            r
        };
        self.keeper.log(&r);
    }

    /// Journals records durably; a record Walt did not stamp gets his generation and hot
    /// tokens now (every record carries them).
    fn commit(&mut self, records: Vec<Record>) -> Result<(), Fatal> {
        let records = records
            .into_iter()
            .map(|r| {
                if r.generation.is_none() {
                    self.walt.stamp(r)
                } else {
                    r
                }
            })
            .collect();
        self.keeper.commit(records, &mut self.ledger)
    }

    fn report_error(&mut self, what: String) {
        if self.reported.insert(what.clone()) {
            self.log(
                Record::new("daemon.rescan")
                    .level(Level::Error)
                    .reason(what),
            );
        }
    }

    /// One turn: take deliveries, notice moves, route, commit. Returns when to look again at
    /// hand-drops still settling.
    fn turn(&mut self) -> Result<Option<Instant>, DaemonError> {
        self.collect_runs()?;
        self.watch_repos()?;
        // Take everything that is there before routing any of it: a burst still arriving is
        // taken in a few large batches (one journal fsync each) instead of many small turns,
        // and what is taken is acknowledged sooner. Bounded, so routing is never starved.
        let mut recheck = None;
        for _ in 0..8 {
            let batch = self.intake.scan(
                self.desk.mailbox(),
                &self.inboxes,
                &self.ledger,
                &self.agents,
                &mut self.next_id,
                Instant::now(),
            );
            for e in batch.errors {
                self.report_error(e);
            }
            for (agent, folder) in &batch.dirty {
                self.desk
                    .mailbox()
                    .sync(agent, *folder)
                    .map_err(Fatal::NotDurable)?;
            }
            recheck = batch.recheck_at;
            let taken = batch.records.len();
            let by_hand: Vec<OrderId> = batch
                .records
                .iter()
                .filter(|r| r.rule.as_deref() == Some(crate::inbox::intake::BY_HAND))
                .filter_map(|r| r.order)
                .collect();
            self.commit(batch.records)?;
            self.take_up(by_hand);
            if taken == 0 {
                break;
            }
        }
        self.observe()?;
        self.route()?;
        self.dispatch()?;
        self.snapshot_soon();
        Ok(recheck)
    }

    /// Orders delivered by hand into a specialist's inbox are in flight from now on: Walt takes
    /// them up as he does at start-up, so their reports are reviewed like any other.
    fn take_up(&mut self, ids: Vec<OrderId>) {
        if ids.is_empty() {
            return;
        }
        let mb = self.desk.mailbox();
        let results: Vec<_> = ids
            .iter()
            .filter_map(|id| self.ledger.entries.get(id))
            .filter_map(|e| resumable(mb, e))
            .collect();
        let mut taken = Vec::new();
        for r in results {
            match r {
                Ok(r) => taken.push(r),
                Err(e) => self.report_error(e),
            }
        }
        self.walt.handle(Event::Resume(taken));
    }

    /// Hands Walt every order in flight, as the ledger (corrected by the folders) has it.
    fn resume(&mut self) -> Result<(), DaemonError> {
        // A command agent's run dies with the daemon (PR_SET_PDEATHSIG): an order still in its
        // active/ was interrupted. Put it back in new/ so it runs again, once.
        let interrupted: Vec<(OrderId, String, String)> = self
            .ledger
            .open()
            .filter(|e| e.kind == Kind::Order && e.state == "active")
            .filter(|e| {
                self.cfg
                    .agent(&e.agent)
                    .is_some_and(|a| a.command.is_some())
            })
            .map(|e| (e.id, e.agent.clone(), e.name.clone()))
            .collect();
        let mut records = Vec::new();
        for (id, agent, name) in interrupted {
            let Ok(a) = AgentName::new(&agent) else {
                continue;
            };
            match self.desk.mailbox().rename(
                &a,
                Folder::Active,
                OsStr::new(&name),
                Folder::New,
                OsStr::new(&name),
            ) {
                Ok(()) => {
                    self.desk
                        .mailbox()
                        .sync(&a, Folder::Active)
                        .map_err(Fatal::NotDurable)?;
                    self.desk
                        .mailbox()
                        .sync(&a, Folder::New)
                        .map_err(Fatal::NotDurable)?;
                    records.push(
                        Record::new("order.reconciled")
                            .level(Level::Warn)
                            .order(id)
                            .agent(&agent)
                            .state("new")
                            .path(name)
                            .reason(
                                "its run was interrupted when the daemon stopped; it runs again",
                            ),
                    );
                }
                Err(e) => self.report_error(format!("cannot requeue interrupted order {id}: {e}")),
            }
        }
        self.commit(records)?;
        // Each order's file is read and parsed on its own, so the files are shared out over
        // the cores; Walt then takes them up in one event.
        let mb = self.desk.mailbox();
        let open: Vec<&crate::model::ledger::Entry> = self
            .ledger
            .open()
            .filter(|e| e.kind == Kind::Order)
            .collect();
        let results = crate::daemon::par::map(&open, |e| resumable(mb, e));
        drop(open);
        let mut resumed = Vec::with_capacity(results.len());
        for r in results.into_iter().flatten() {
            match r {
                Ok(r) => resumed.push(r),
                Err(e) => self.report_error(e),
            }
        }
        self.walt.handle(Event::Resume(resumed));
        // Resumed from a long run, Walt's context may start above rotate_at: hand off to a
        // fresh generation at once rather than carry it past the ceiling.
        let effects = self.walt.settle();
        self.perform(effects)?;
        Ok(())
    }

    /// Reads every folder and makes the ledger say what the folders say (folders win).
    fn reconcile(&mut self) -> Result<(), DaemonError> {
        let mut seen: BTreeMap<OrderId, Vec<(AgentName, Folder, String)>> = BTreeMap::new();
        let mut max_seen = 0;
        for inbox in &self.inboxes {
            for folder in [Folder::New, Folder::Active, Folder::Done, Folder::Held] {
                let entries = match self.desk.mailbox().list(inbox, folder) {
                    Ok(e) => e,
                    Err(e) => {
                        return Err(DaemonError::Studio(format!(
                            "cannot read {}: {e}",
                            folder.display(inbox, "")
                        )))
                    }
                };
                for e in entries {
                    let Some(name) = e.name.to_str() else {
                        continue;
                    };
                    let Some(id) = name
                        .split_once('-')
                        .and_then(|(h, _)| (h.len() >= 4).then(|| OrderId::parse(h)).flatten())
                    else {
                        continue;
                    };
                    max_seen = max_seen.max(id.0);
                    if e.kind != EntryKind::File
                        || name.ends_with(".why.md")
                        || crate::inbox::mailbox::is_archive(name)
                        || OrderId::from_file_name(name).is_none()
                    {
                        continue;
                    }
                    seen.entry(id)
                        .or_default()
                        .push((inbox.clone(), folder, name.to_string()));
                }
            }
        }
        self.next_id = self.next_id.max(max_seen + 1).max(self.ledger.max_id + 1);
        let mut records = Vec::new();
        let mut fix_requests = Vec::new();
        let mut done_requests = Vec::new();
        for (id, places) in &seen {
            let request = places.iter().find(|(a, _, _)| a.as_str() == WALT);
            let orders: Vec<_> = places
                .iter()
                .filter(|(a, _, _)| a.as_str() != WALT)
                .collect();
            if orders.len() > 1 {
                records.push(
                    Record::new("daemon.rescan")
                        .level(Level::Error)
                        .order(*id)
                        .reason(format!(
                            "order {id} is in {} inboxes: {}; a person should keep one",
                            orders.len(),
                            orders
                                .iter()
                                .map(|(a, f, n)| f.display(a, n))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                );
            }
            let (agent, folder, name) = orders
                .first()
                .copied()
                .or(request)
                .expect("seen has a place");
            let entry = self.ledger.entries.get(id);
            let said = entry
                .map(|e| format!("{} in inbox/{}/{}", e.name, e.agent, e.state))
                .unwrap_or_else(|| "nothing".into());
            let state = folder.as_str();
            let request_state = request.map(|(_, f, _)| f.as_str().to_string());
            let differs = match entry {
                None => true,
                Some(e) => {
                    e.agent != agent.as_str()
                        || e.state != state
                        || e.name != *name
                        || (request.is_some() && e.request != request_state)
                }
            };
            // A request still in new/ whose order is already written: a crash came between
            // writing the order and moving the request. Finish the move; never route it twice.
            let finish_move =
                request.is_some_and(|(_, f, _)| *f == Folder::New) && !orders.is_empty();
            if finish_move {
                fix_requests.push((*id, request.expect("checked").2.clone()));
            }
            // A request still in active/ whose order is done: a crash came between the order's
            // move to done/ and the request's. Finish that move too.
            let finish_done = request.is_some_and(|(_, f, _)| *f == Folder::Active)
                && orders.first().is_some_and(|(_, f, _)| *f == Folder::Done);
            if finish_done {
                done_requests.push((*id, request.expect("checked").2.clone()));
            }
            if differs || finish_move || finish_done {
                let kind = if !orders.is_empty() {
                    "order"
                } else {
                    match entry.map(|e| e.kind) {
                        Some(Kind::Report) => "report",
                        Some(_) => "request",
                        // Accepted, then a crash before its record: what it is, its text says.
                        None => {
                            let text = self
                                .desk
                                .mailbox()
                                .read_file(agent, *folder, OsStr::new(name), MAX_BYTES + 1)
                                .ok()
                                .and_then(Result::ok)
                                .map(text)
                                .unwrap_or_default();
                            if crate::format::parse::looks_like_report(&text) {
                                "report"
                            } else {
                                "request"
                            }
                        }
                    }
                };
                let mut r = Record::new("order.reconciled")
                    .order(*id)
                    .agent(agent)
                    .state(state)
                    .path(name.clone())
                    .with("kind", kind)
                    .reason(format!(
                        "the journal said {said}; the folders say {}",
                        folder.display(agent, name)
                    ));
                if let Some((_, f, n)) = request {
                    let f = if finish_move {
                        "active"
                    } else if finish_done {
                        "done"
                    } else {
                        f.as_str()
                    };
                    r = r.with("request", f).with("request_path", n.clone());
                }
                records.push(r);
            }
        }
        let mut requeue = Vec::new();
        for e in self.ledger.entries.values() {
            // Folders were listed one at a time while agents may be claiming: before calling
            // an order gone (and sending its request round again), look for its file afresh
            // (found by the kill -9 soak: a claim between two listings made a duplicate).
            let still_there = || {
                let Ok(a) = AgentName::new(&e.agent) else {
                    return false;
                };
                [Folder::New, Folder::Active, Folder::Done, Folder::Held]
                    .into_iter()
                    .any(|f| {
                        self.desk
                            .mailbox()
                            .exists(&a, f, OsStr::new(&e.name))
                            .unwrap_or(false)
                    })
            };
            if e.is_open() && e.state != "parked" && !seen.contains_key(&e.id) && !still_there() {
                // A crash between archiving an attempt and writing the next leaves the request
                // with no order: send the request round again rather than lose it.
                if e.kind == Kind::Order && e.request.as_deref() == Some("active") {
                    if let Some(req) = &e.request_name {
                        requeue.push((e.id, req.clone()));
                    }
                }
                records.push(
                    Record::new("order.reconciled")
                        .level(Level::Warn)
                        .order(e.id)
                        .agent(&e.agent)
                        .state("missing")
                        .path(e.name.clone())
                        .reason(format!(
                            "its file inbox/{}/{}/{} is gone from every folder; folders win",
                            e.agent, e.state, e.name
                        )),
                );
            }
        }
        for (id, name) in requeue {
            match self
                .desk
                .move_request(&name, crate::coord::Tray::Active, crate::coord::Tray::New)
            {
                Ok(()) => records.push(
                    Record::new("order.reconciled")
                        .level(Level::Warn)
                        .order(id)
                        .agent("walt")
                        .state("new")
                        .path(name.clone())
                        .with("kind", "request")
                        .with("request", "new")
                        .with("request_path", name)
                        .reason("its order is gone; the request goes round again"),
                ),
                Err(e) => self.report_error(format!("cannot requeue request {id}: {e}")),
            }
        }
        for (id, name) in fix_requests {
            match self
                .desk
                .move_request(&name, crate::coord::Tray::New, crate::coord::Tray::Active)
            {
                Ok(()) => {}
                Err(e) => self.report_error(format!(
                    "cannot move request {id} to inbox/walt/active/: {e}"
                )),
            }
        }
        for (id, name) in done_requests {
            if let Err(e) =
                self.desk
                    .move_request(&name, crate::coord::Tray::Active, crate::coord::Tray::Done)
            {
                self.report_error(format!("cannot move request {id} to inbox/walt/done/: {e}"));
            }
        }
        self.desk.sync().map_err(Fatal::NotDurable)?;
        self.commit(records)?;
        Ok(())
    }

    /// Notices orders that others moved (a manual agent claiming one, a person moving one by
    /// hand) and records where they are now.
    fn observe(&mut self) -> Result<(), DaemonError> {
        let mut listed: BTreeMap<(String, Folder), BTreeSet<String>> = BTreeMap::new();
        let mut records = Vec::new();
        let mut stalled: Vec<(OrderId, String)> = Vec::new();
        let open: Vec<(OrderId, String, String, String)> = self
            .ledger
            .open()
            .filter(|e| e.kind == Kind::Order && (e.state == "new" || e.state == "active"))
            .map(|e| (e.id, e.agent.clone(), e.state.clone(), e.name.clone()))
            .collect();
        for (id, agent, state, name) in open {
            let Ok(agent_name) = AgentName::new(&agent) else {
                continue;
            };
            let here = if state == "new" {
                Folder::New
            } else {
                Folder::Active
            };
            let mut find = |folder: Folder, mb: &crate::inbox::mailbox::Mailbox| -> bool {
                let names = listed.entry((agent.clone(), folder)).or_insert_with(|| {
                    mb.list(&agent_name, folder)
                        .map(|v| {
                            v.into_iter()
                                .filter_map(|e| e.name.into_string().ok())
                                .collect()
                        })
                        .unwrap_or_default()
                });
                names.contains(&name)
            };
            if find(here, self.desk.mailbox()) {
                // A manual agent keeps its lease by touching the file now and then.
                let lease = self
                    .cfg
                    .agent(&agent)
                    .filter(|a| a.command.is_none())
                    .map(|a| a.lease);
                if let (Folder::Active, Some(lease)) = (here, lease) {
                    // Claimed by `mv` keeps an old mtime: the lease runs from the later of the
                    // file's last touch and the moment the claim was seen.
                    let since = self
                        .ledger
                        .entries
                        .get(&id)
                        .and_then(|e| e.since.parse::<jiff::Timestamp>().ok())
                        .map_or(0, |t| t.as_nanosecond());
                    if let Ok(mtime) = self
                        .desk
                        .mailbox()
                        .mtime_ns(&agent_name, Folder::Active, OsStr::new(&name))
                        .map(|m| m.max(since))
                    {
                        let now = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_nanos() as i128;
                        let idle = Duration::from_nanos((now - mtime).max(0) as u64);
                        if idle > lease {
                            stalled.push((
                                id,
                                format!(
                                    "{agent} left it in active/ untouched for {} (lease {})",
                                    humantime::format_duration(Duration::from_secs(idle.as_secs())),
                                    humantime::format_duration(lease)
                                ),
                            ));
                        }
                    }
                }
                continue;
            }
            // The listings above were taken one folder at a time, and a claim may have moved
            // the file between two of them: confirm where it is with fresh looks, in the order
            // files move, before concluding anything (found by the kill -9 soak, where a
            // claim between two listings made an order look gone).
            let mb = self.desk.mailbox();
            let now_in = [
                here,
                Folder::Active,
                Folder::Done,
                Folder::Held,
                Folder::New,
            ]
            .into_iter()
            .find(|f| {
                mb.exists(&agent_name, *f, OsStr::new(&name))
                    .unwrap_or(false)
            });
            if now_in == Some(here) {
                continue;
            }
            let (event, new_state, reason) = match now_in {
                Some(Folder::Active) => (
                    "order.claimed",
                    "active",
                    format!("{agent} moved it to active/"),
                ),
                Some(Folder::New) => (
                    "order.reconciled",
                    "new",
                    "moved back to new/ by hand".to_string(),
                ),
                Some(f) => (
                    "order.reconciled",
                    f.as_str(),
                    format!("moved to {}/ by hand", f.as_str()),
                ),
                None => (
                    "order.reconciled",
                    "missing",
                    format!("its file inbox/{agent}/{state}/{name} is gone; folders win"),
                ),
            };
            records.push(
                Record::new(event)
                    .level(if new_state == "missing" {
                        Level::Warn
                    } else {
                        Level::Info
                    })
                    .order(id)
                    .agent(&agent)
                    .state(new_state)
                    .path(name.clone())
                    .reason(reason),
            );
            self.walt.handle(Event::Moved {
                id,
                agent: agent_name,
                state: new_state.to_string(),
            });
        }
        self.commit(records)?;
        let mut effects = Vec::new();
        for (id, why) in stalled {
            effects.push(Effect::Record(
                self.walt.stamp(
                    Record::new("order.stalled")
                        .level(Level::Warn)
                        .order(id)
                        .reason(why.clone()),
                ),
            ));
            effects.extend(self.walt.handle(Event::Failed {
                id,
                failure: crate::coord::recovery::Failure::LeaseLost(why),
            }));
        }
        self.perform(effects)?;
        self.decisions()
    }

    /// Acts on people's decisions (`walt retry|cancel|unblock`), left in `state/decisions/`.
    fn decisions(&mut self) -> Result<(), DaemonError> {
        for (name, decision) in self.keeper.decisions() {
            let effects = match decision {
                Ok((id, kind, by)) => self.walt.handle(Event::Decision { id, kind, by }),
                Err(why) => {
                    self.report_error(format!(
                        "state/decisions/{name}: {why}; it is set aside in state/decisions/done/"
                    ));
                    Vec::new()
                }
            };
            self.perform(effects)?;
            if let Err(e) = self.keeper.file_decision(&name) {
                self.report_error(format!("cannot move state/decisions/{name} to done/: {e}"));
            }
        }
        Ok(())
    }

    /// Lets Walt route every request waiting in `inbox/walt/new/`, oldest first, and performs
    /// what he decides.
    fn route(&mut self) -> Result<(), DaemonError> {
        // Reports first: they finish orders, which makes room for requests under the meter.
        for kind in [Kind::Report, Kind::Request] {
            let waiting: Vec<(OrderId, String)> = self
                .ledger
                .entries
                .values()
                .filter(|e| e.agent == WALT && e.state == "new" && e.kind == kind)
                .map(|e| (e.id, e.name.clone()))
                .collect();
            let mut effects = Vec::new();
            let walt = AgentName::walt();
            for (id, name) in waiting {
                let text = match self.desk.mailbox().read_file(
                    &walt,
                    Folder::New,
                    OsStr::new(&name),
                    MAX_BYTES + 1,
                ) {
                    Ok(Ok(bytes)) => text(bytes),
                    // Moved away meanwhile; the next turn sees where.
                    Ok(Err(_)) | Err(_) => continue,
                };
                let out = match kind {
                    Kind::Report => {
                        // What changed under repos/ during the attempt goes to review with it.
                        let re = crate::format::parse::parse_report(
                            text.as_bytes(),
                            crate::format::parse::Context::default(),
                        )
                        .value
                        .header
                        .re;
                        let changed = re
                            .and_then(|re| self.observed.remove(&re))
                            .map(|s| s.into_iter().collect())
                            .unwrap_or_default();
                        let accepted = self
                            .ledger
                            .entries
                            .get(&id)
                            .and_then(|e| e.filed_as.clone())
                            .and_then(|(agent, name)| Some((AgentName::new(&agent).ok()?, name)));
                        self.walt.handle(Event::Report {
                            id,
                            name,
                            text,
                            changed,
                            accepted,
                        })
                    }
                    _ => self.walt.handle(Event::Request { id, name, text }),
                };
                let out = self.consult_brain(out);
                let wait = out.iter().any(|e| matches!(e, Effect::Wait { .. }));
                effects.extend(out);
                if wait {
                    break;
                }
                // Bounded batches: progress is committed every few hundred orders, so a daemon
                // killed mid-backlog keeps what it did (the soak showed livelock otherwise).
                if effects.len() >= 1024 {
                    self.perform(std::mem::take(&mut effects))?;
                }
            }
            self.perform(effects)?;
        }
        Ok(())
    }

    /// Performs a batch of Walt's effects phase by phase (see `Effect::phase`), with one
    /// journal commit per phase and one sync of the inbox per phase.
    fn perform(&mut self, mut effects: Vec<Effect>) -> Result<(), DaemonError> {
        if effects.is_empty() {
            return Ok(());
        }
        effects.sort_by_key(Effect::phase);
        // An order whose step fails is skipped for the rest of the batch, and Walt is told it
        // left flight; the next turn finds it where the folders say.
        let mut failed: BTreeSet<OrderId> = BTreeSet::new();
        let decisions: Vec<Record> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Decide(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        self.commit(decisions)?;
        for phase in 1..=3 {
            for e in effects.iter().filter(|e| e.phase() == phase) {
                if e.order().is_some_and(|id| failed.contains(&id)) {
                    continue;
                }
                let result = match e {
                    Effect::Archive {
                        agent,
                        from,
                        name,
                        to_name,
                        ..
                    } => self.desk.archive(agent, *from, name, to_name),
                    Effect::Write {
                        agent, name, body, ..
                    } => self.desk.write_order(agent, name, body),
                    Effect::Handoff { name, body, .. } => self.desk.write_handoff(name, body),
                    Effect::MoveRequest { name, from, to, .. } => {
                        self.desk.move_request(name, *from, *to)
                    }
                    Effect::HoldRequest { name, why, .. } => self.desk.hold_request(name, why),
                    Effect::FileReport {
                        name,
                        agent,
                        to_name,
                        ..
                    } => self.desk.file_report(name, agent, to_name),
                    _ => Ok(()),
                };
                if let Err(err) = result {
                    if crate::store::journal::is_disk_full(&err) {
                        // Not this order's trouble: pause, and start over when there is space
                        // (what was decided is journaled; the folders say the rest).
                        return Err(Fatal::DiskFull(err).into());
                    }
                    if let Some(id) = e.order() {
                        failed.insert(id);
                    }
                    self.report_error(
                        format!("{e:?} failed: {err}; it is tried again from what the folders say")
                            .chars()
                            .take(400)
                            .collect(),
                    );
                }
            }
            self.desk.sync().map_err(Fatal::NotDurable)?;
        }
        let mut records = Vec::new();
        for e in effects {
            match e {
                Effect::Record(r) if !r.order.is_some_and(|id| failed.contains(&id)) => {
                    records.push(r)
                }
                Effect::Log(r) => self.log(r),
                _ => {}
            }
        }
        for id in &failed {
            self.walt.handle(Event::Moved {
                id: *id,
                agent: AgentName::walt(),
                state: "missing".into(),
            });
        }
        self.commit(records)?;
        Ok(())
    }

    /// Answers Walt's `Consult`s by running the brain command (confined, with its timeout),
    /// until he has decided. The loop waits for it: a brain decides one request at a time.
    fn consult_brain(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        let mut rounds = 0;
        while let Some(pos) = effects
            .iter()
            .position(|e| matches!(e, Effect::Consult { .. }))
        {
            let Effect::Consult { id, prompt } = effects.remove(pos) else {
                unreachable!()
            };
            rounds += 1;
            let answer = if rounds > 4 {
                Err("asked too often".to_string())
            } else {
                let (answer, stderr) = crate::daemon::runner::ask_brain(
                    &self.cfg.walt.brain_command,
                    &prompt,
                    self.cfg.walt.brain_timeout,
                    &self.root_path,
                );
                if !stderr.is_empty() {
                    self.log(
                        Record::new("brain.stderr").order(id).reason(
                            stderr
                                .lines()
                                .map(crate::format::parse::one_line)
                                .collect::<Vec<_>>()
                                .join(" / "),
                        ),
                    );
                }
                answer
            };
            effects.extend(self.walt.handle(Event::BrainAnswer { id, answer }));
        }
        effects
    }

    // ---- command agents and the repos watch -----------------------------------------------

    fn start_repos_watch(&mut self, wake: std::sync::mpsc::SyncSender<Wake>) {
        let repos = self.root_path.join("repos");
        if !repos.is_dir() {
            return;
        }
        let (tx, rx) = sync_channel::<PathBuf>(4096);
        match watch::install_repos(
            &repos,
            self.cfg.walt.ignore.clone(),
            tx,
            self.repos_lost.clone(),
            wake,
        ) {
            Ok(w) => {
                self.repos_rx = Some(rx);
                // The watcher lives as long as the daemon.
                std::mem::forget(w);
            }
            Err(e) => self.log(
                Record::new("daemon.rescan")
                    .level(Level::Warn)
                    .reason(format!(
                        "cannot watch repos/ ({e}); changes nobody ordered will not be noticed"
                    )),
            ),
        }
    }

    /// Refuses, up front and once, every command agent that could not be confined.
    fn check_confinement(&mut self) {
        let landlock = crate::daemon::runner::landlock_available();
        for a in &self.cfg.agents {
            if a.command.is_none() || a.unconfined {
                if a.command.is_some() {
                    self.keeper.log(&self.walt.stamp(Record::new("daemon.started").level(Level::Warn).agent(&a.name).reason(format!(
                        "{} runs UNCONFINED (`unconfined = true`): it can read and write anything this user can",
                        a.name
                    ))));
                }
                continue;
            }
            if let Err(why) = &landlock {
                let why = format!("refusing to run command agent {}: {why}; set `unconfined = true` for it to run anyway", a.name);
                self.refused.insert(a.name.to_string(), why.clone());
                self.keeper.log(
                    &self.walt.stamp(
                        Record::new("daemon.started")
                            .level(Level::Error)
                            .agent(&a.name)
                            .reason(why),
                    ),
                );
            }
        }
    }

    /// Takes what the repos watch saw: attributes each change to the orders active now, and
    /// alerts a person to changes no active order's Files cover (signal *silent-execution*).
    fn watch_repos(&mut self) -> Result<(), DaemonError> {
        let Some(rx) = &self.repos_rx else {
            return Ok(());
        };
        let mut paths = BTreeSet::new();
        while let Ok(p) = rx.try_recv() {
            // A folder created in one go (mkdir -p, then files) can fill before the recursive
            // watch reaches it: list what is in it now (links not followed, bounded).
            let mut found = vec![p.clone()];
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                found = walk_files(&p, &self.cfg.walt.ignore, 1000);
            }
            for f in found {
                if let Ok(rel) = f.strip_prefix(&self.root_path) {
                    paths.insert(rel.to_string_lossy().into_owned());
                }
            }
        }
        let lost = self
            .repos_lost
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        if lost > 0 {
            self.log(Record::new("signal.silent-execution").level(Level::Warn).reason(format!(
                "{lost} changes under repos/ came faster than they could be looked at; some may not be attributed"
            )));
        }
        if paths.is_empty() {
            return Ok(());
        }
        let active: Vec<(OrderId, Vec<String>)> = self
            .walt
            .flights()
            .iter()
            .filter(|(_, f)| f.state == "active")
            .map(|(id, f)| (*id, f.order.files.clone()))
            .collect();
        let mut records = Vec::new();
        for p in paths {
            let owners: Vec<OrderId> = active
                .iter()
                .filter(|(_, files)| crate::coord::review::within(files, &p))
                .map(|(id, _)| *id)
                .collect();
            for (id, _) in &active {
                // A change inside another active order's Files is that order's business.
                if owners.is_empty() || owners.contains(id) {
                    self.observed.entry(*id).or_default().insert(p.clone());
                }
            }
            if owners.is_empty() {
                let recent = self
                    .alerted
                    .get(&p)
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(60));
                if recent {
                    continue;
                }
                self.alerted.insert(p.clone(), Instant::now());
                let why = if active.is_empty() {
                    "no order is active".to_string()
                } else {
                    format!(
                        "no active order's Files cover it (active: {})",
                        active
                            .iter()
                            .map(|(id, _)| id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                records.push(
                    Record::new("signal.silent-execution")
                        .level(Level::Warn)
                        .path(p.clone())
                        .reason(format!("{p} changed and {why}")),
                );
                let note = format!(
                    "# Silent execution: {p}\n\n`{p}` changed under repos/ and {why}. Every change should come from an order; find out who made it (`walt log --event signal.`), and turn it into an order or undo it.\n"
                );
                let name = format!(
                    "{}-silent-execution.md",
                    jiff::Timestamp::now().as_nanosecond()
                );
                if let Err(e) = self
                    .desk
                    .mailbox()
                    .write_note(OsStr::new(&name), note.as_bytes())
                {
                    self.report_error(format!("cannot write inbox/human/notes/{name}: {e}"));
                }
            }
        }
        self.commit(records)?;
        Ok(())
    }

    /// Starts every command agent's queued order (one run at a time per agent).
    fn dispatch(&mut self) -> Result<(), DaemonError> {
        let queued: Vec<(OrderId, AgentName, String, Vec<String>)> = self
            .walt
            .flights()
            .iter()
            .filter(|(id, f)| f.state == "new" && !self.running.contains_key(id))
            .filter(|(_, f)| {
                self.cfg
                    .agent(f.agent.as_str())
                    .is_some_and(|a| a.command.is_some())
            })
            .map(|(id, f)| {
                (
                    *id,
                    f.agent.clone(),
                    self.walt.flights()[id].name.clone(),
                    f.order.files.clone(),
                )
            })
            .collect();
        for (id, agent, name, files) in queued {
            if self.running.values().any(|a| *a == agent)
                || self.refused.contains_key(agent.as_str())
            {
                continue;
            }
            let a = self.cfg.agent(agent.as_str()).expect("filtered").clone();
            let mb = self.desk.mailbox();
            let text = match mb.read_file(&agent, Folder::New, OsStr::new(&name), MAX_BYTES + 1) {
                Ok(Ok(b)) => text(b),
                _ => continue,
            };
            if let Err(e) = mb.rename(
                &agent,
                Folder::New,
                OsStr::new(&name),
                Folder::Active,
                OsStr::new(&name),
            ) {
                self.report_error(format!("cannot claim {id} for command agent {agent}: {e}"));
                continue;
            }
            mb.sync(&agent, Folder::New).map_err(Fatal::NotDurable)?;
            mb.sync(&agent, Folder::Active).map_err(Fatal::NotDurable)?;
            let log_name = format!("{id}.log");
            let log = match mb.append_log(&agent, Folder::Active, OsStr::new(&log_name)) {
                Ok(f) => f,
                Err(e) => {
                    self.report_error(format!("cannot open inbox/{agent}/active/{log_name}: {e}"));
                    continue;
                }
            };
            self.commit(vec![Record::new("order.claimed")
                .order(id)
                .agent(&agent)
                .state("active")
                .path(name.clone())
                .rule("command agent")
                .reason(format!(
                    "the daemon runs {:?} for {agent}",
                    a.command.as_ref().expect("command")
                ))])?;
            self.walt.handle(Event::Moved {
                id,
                agent: agent.clone(),
                state: "active".into(),
            });
            let job = crate::daemon::runner::Job {
                id,
                agent: agent.clone(),
                command: a.command.clone().expect("command"),
                timeout: a.timeout,
                unconfined: a.unconfined,
                repos: self.root_path.join("repos"),
                files,
                studio: self.root_path.clone(),
                order_text: text,
                log,
            };
            let sink = self.finished.clone();
            match crate::daemon::runner::start(
                job,
                move |f| sink.lock().expect("finished lock").push(f),
                self.wake.clone(),
            ) {
                Ok(()) => {
                    self.running.insert(id, agent);
                }
                Err(e) => {
                    // It never started: answer it like a run that failed at once.
                    self.finished.lock().expect("finished lock").push(
                        crate::daemon::runner::Finished {
                            id,
                            agent: agent.clone(),
                            report: None,
                            exit: format!("could not start: {e}"),
                            timed_out: false,
                            tail: e,
                            elapsed: Duration::ZERO,
                        },
                    );
                    self.running.insert(id, agent);
                }
            }
        }
        Ok(())
    }

    /// Files a report into `inbox/walt/new/` for every run that ended; the next scan takes it
    /// and Walt reviews it like any other.
    fn collect_runs(&mut self) -> Result<(), DaemonError> {
        let done: Vec<crate::daemon::runner::Finished> =
            std::mem::take(&mut *self.finished.lock().expect("finished lock"));
        for f in done {
            self.running.remove(&f.id);
            let acceptance = self
                .walt
                .flights()
                .get(&f.id)
                .map(|fl| fl.order.acceptance.clone())
                .unwrap_or_default();
            let report = match (&f.report, f.timed_out) {
                (Some(r), false) => r.clone(),
                _ => crate::daemon::runner::failed_report(&f, &f.agent, &acceptance),
            };
            let name = format!(
                "report-{}-run-{}.md",
                f.id,
                jiff::Timestamp::now().as_nanosecond()
            );
            let walt = AgentName::walt();
            self.desk
                .mailbox()
                .write_new(
                    &walt,
                    Folder::New,
                    OsStr::new(&name),
                    report.as_bytes(),
                    true,
                )
                .map_err(Fatal::NotDurable)?;
            self.desk
                .mailbox()
                .sync(&walt, Folder::New)
                .map_err(Fatal::NotDurable)?;
            self.log(
                Record::new("order.ran")
                    .level(if f.timed_out {
                        Level::Warn
                    } else {
                        Level::Info
                    })
                    .order(f.id)
                    .agent(&f.agent)
                    .path(name)
                    .reason(format!(
                        "{} after {:.1}s{}; {}",
                        f.exit,
                        f.elapsed.as_secs_f64(),
                        if f.timed_out {
                            " (timed out: killed with its process group)"
                        } else {
                            ""
                        },
                        if f.report.is_some() && !f.timed_out {
                            "its report goes to review"
                        } else {
                            "the daemon files a failed report"
                        }
                    )),
            );
        }
        Ok(())
    }

    fn snapshot_soon(&mut self) {
        if self
            .last_snapshot
            .is_some_and(|t| t.elapsed() < Duration::from_millis(500))
        {
            return;
        }
        self.snapshot();
    }

    fn snapshot(&mut self) {
        self.last_snapshot = Some(Instant::now());
        let walt = serde_json::json!({
            "generation": self.walt.generation(),
            "hot_tokens": self.walt.hot_tokens(),
            "rotate_at": self.cfg.walt.rotate_at,
            "ceiling": self.walt.ceiling(),
            "band": crate::coord::meter::band(self.walt.hot_tokens()),
            "refused": self.refused,
            "running": self.running.keys().map(|id| id.to_string()).collect::<Vec<_>>(),
        });
        if let Err(e) = self.keeper.snapshot(&self.ledger, walt) {
            self.report_error(format!("cannot write state/ledger.json: {e}"));
        }
    }
}

/// An order in flight as Walt takes it up: its ledger entry and its file, read and parsed
/// (`None` for an entry naming no valid agent; an error saying why when the file cannot be read).
fn resumable(
    mb: &Mailbox,
    e: &crate::model::ledger::Entry,
) -> Option<Result<crate::coord::Resume, String>> {
    let agent = AgentName::new(&e.agent).ok()?;
    let folder = match e.folder() {
        "active" => Folder::Active,
        "done" => Folder::Done,
        _ => Folder::New,
    };
    // A manual agent may claim it while the daemon starts: look where it moves next.
    let mut state = e.state.clone();
    let mut found = mb.read_file(&agent, folder, OsStr::new(&e.name), MAX_BYTES + 1);
    if folder == Folder::New && !matches!(found, Ok(Ok(_))) {
        found = mb.read_file(&agent, Folder::Active, OsStr::new(&e.name), MAX_BYTES + 1);
        state = "active".into();
    }
    let Ok(Ok(bytes)) = found else {
        return Some(Err(format!(
            "cannot read order {} at {}; it stays as the folders have it",
            e.id,
            folder.display(&agent, &e.name)
        )));
    };
    let order =
        crate::format::parse::parse_order(&bytes, crate::format::parse::Context::default()).value;
    Some(Ok(crate::coord::Resume {
        id: e.id,
        agent,
        state,
        attempt: e.attempt,
        agent_attempt: e.agent_attempt,
        hops: e.hops,
        name: e.name.clone(),
        request_name: e
            .request_name
            .clone()
            .filter(|_| e.request.as_deref() == Some("active")),
        order,
        blocker: e.blocker.clone(),
    }))
}

/// The files under a folder (symlinks not followed, ignored names skipped), at most `limit`.
fn walk_files(dir: &std::path::Path, ignore: &[String], limit: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if ignore.iter().any(|i| e.file_name() == i.as_str()) {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
            if out.len() >= limit {
                return out;
            }
        }
    }
    out
}
