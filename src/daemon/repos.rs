//! The repos watch: what changed under `repos/`, held for review with the order active when it
//! changed, and a note to a person for a change nobody ordered (signal *silent-execution*).
//! Whose a change is, and when it is said, is `coord::silent`'s to decide; this file installs
//! the recursive watch and performs what that decides.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use notify::{RecursiveMode, Watcher};

use crate::coord::silent::{self, Throttle};
use crate::inbox::watch::Wake;
use crate::model::order::OrderId;
use crate::model::record::{Level, Record};
use crate::model::state::State;

use super::shell::Shell;
use super::DaemonError;

/// The watch's side of the daemon: the changes it queued, those it had to drop, what each
/// active order was seen to change, and when each unordered change was last said.
pub struct ReposWatch {
    rx: Option<Receiver<PathBuf>>,
    lost: Arc<AtomicU64>,
    /// What the watch could not do since the last turn (a folder it could not add: out of
    /// inotify watches, or no permission), filled by its handler.
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    /// Set once a part of `repos/` cannot be watched: why, and the files as last seen, which a
    /// rescan on a timer compares with what is there now.
    pub degraded: Option<String>,
    seen: std::collections::HashMap<PathBuf, (i128, u64)>,
    last_rescan: Option<Instant>,
    observed: BTreeMap<OrderId, BTreeSet<String>>,
    throttle: Throttle,
    /// The throttle's clock starts here (it takes monotonic time as a duration).
    epoch: Instant,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Default for ReposWatch {
    fn default() -> Self {
        ReposWatch {
            rx: None,
            lost: Arc::default(),
            failures: Arc::default(),
            degraded: None,
            seen: std::collections::HashMap::new(),
            last_rescan: None,
            observed: BTreeMap::new(),
            throttle: Throttle::default(),
            epoch: Instant::now(),
            _watcher: None,
        }
    }
}

impl ReposWatch {
    /// What changed under `repos/` while `id` was active, for its review (taken once).
    pub fn take_observed(&mut self, id: OrderId) -> Vec<String> {
        self.observed
            .remove(&id)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default()
    }

    /// Watches `repos/` recursively (symlinks not followed) and queues each changed path,
    /// minus ignored folders, for the loop. The channel is bounded (4096): when it is full the
    /// change is counted in `lost` instead and the loop says so (the watch is an alarm, not the
    /// truth). Returns why it cannot watch, if it cannot.
    pub fn start(
        &mut self,
        repos: &Path,
        ignore: Vec<String>,
        wake: SyncSender<Wake>,
    ) -> Result<(), String> {
        if !repos.is_dir() {
            return Ok(());
        }
        let (tx, rx) = sync_channel::<PathBuf>(4096);
        let lost = self.lost.clone();
        let failures = self.failures.clone();
        let handler = move |event: notify::Result<notify::Event>| {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    // A folder the watch could not add (out of watches, no permission): said,
                    // and that part of repos/ is rescanned on a timer instead.
                    let mut f = failures.lock().unwrap_or_else(|p| p.into_inner());
                    if f.len() < 16 {
                        f.push(e.to_string());
                    }
                    let _ = wake.try_send(Wake::Fs);
                    return;
                }
            };
            use notify::EventKind;
            if !matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            ) {
                return;
            }
            for p in event.paths {
                if p.components()
                    .any(|c| ignore.iter().any(|i| c.as_os_str() == i.as_str()))
                {
                    continue;
                }
                if tx.try_send(p).is_err() {
                    lost.fetch_add(1, Ordering::Relaxed);
                }
            }
            let _ = wake.try_send(Wake::Fs);
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        let mut watcher =
            notify::RecommendedWatcher::new(handler, config).map_err(|e| e.to_string())?;
        watcher
            .watch(repos, RecursiveMode::Recursive)
            .map_err(|e| e.to_string())?;
        self.rx = Some(rx);
        self._watcher = Some(watcher);
        Ok(())
    }
}

impl Shell {
    /// Takes what the repos watch saw: attributes each change to the orders active now, and
    /// alerts a person to changes no active order's Files cover (signal *silent-execution*).
    pub fn watch_repos(&mut self) -> Result<(), DaemonError> {
        if self.repos.rx.is_none() {
            return Ok(());
        }
        let failed: Vec<String> = std::mem::take(
            &mut *self
                .repos
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        let mut paths = BTreeSet::new();
        if !failed.is_empty() && self.repos.degraded.is_none() {
            let why = format!(
                "part of repos/ cannot be watched ({}); repos/ is rescanned every {}s instead, and changes there are seen that late",
                failed.join("; "),
                RESCAN.as_secs()
            );
            self.log(
                Record::new("daemon.rescan")
                    .level(Level::Warn)
                    .reason(why.clone()),
            );
            self.repos.degraded = Some(why);
            self.repos.seen = listing(&self.root_path.join("repos"), &self.cfg.walt.ignore);
            self.repos.last_rescan = Some(Instant::now());
        }
        if self.repos.degraded.is_some()
            && self.repos.last_rescan.is_none_or(|t| t.elapsed() >= RESCAN)
        {
            let now = listing(&self.root_path.join("repos"), &self.cfg.walt.ignore);
            for (p, v) in &now {
                if self.repos.seen.get(p) != Some(v) {
                    if let Ok(rel) = p.strip_prefix(&self.root_path) {
                        paths.insert(rel.to_string_lossy().into_owned());
                    }
                }
            }
            for p in self.repos.seen.keys() {
                if !now.contains_key(p) {
                    if let Ok(rel) = p.strip_prefix(&self.root_path) {
                        paths.insert(rel.to_string_lossy().into_owned());
                    }
                }
            }
            self.repos.seen = now;
            self.repos.last_rescan = Some(Instant::now());
        }
        let rx = self.repos.rx.as_ref().expect("checked");
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
        let lost = self.repos.lost.swap(0, Ordering::Relaxed);
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
            .filter(|(_, f)| f.state == State::Active)
            .map(|(id, f)| (*id, f.order.files.clone()))
            .collect();
        let now = self.repos.epoch.elapsed();
        let seen = silent::attribute(paths, &active, &mut self.repos.throttle, now);
        for (id, p) in seen.observed {
            self.repos.observed.entry(id).or_default().insert(p);
        }
        let mut records = Vec::new();
        for (p, why) in seen.alerts {
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
        self.commit(records)?;
        Ok(())
    }
}

/// How often `repos/` is rescanned while part of it cannot be watched.
const RESCAN: std::time::Duration = std::time::Duration::from_secs(2);

/// Every file under `repos/` with its mtime and size (links not followed, ignored folders
/// skipped, at most 200,000): what a rescan compares.
fn listing(repos: &Path, ignore: &[String]) -> std::collections::HashMap<PathBuf, (i128, u64)> {
    use std::os::unix::fs::MetadataExt;
    walk_files(repos, ignore, 200_000)
        .into_iter()
        .filter_map(|p| {
            let m = std::fs::symlink_metadata(&p).ok()?;
            let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
            Some((p, (mtime, m.len())))
        })
        .collect()
}

/// The files under a folder (symlinks not followed, ignored names skipped), at most `limit`.
fn walk_files(dir: &Path, ignore: &[String], limit: usize) -> Vec<PathBuf> {
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
