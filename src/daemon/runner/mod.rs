//! Command agents: the daemon runs a specialist's `command` in `repos/` with the order on
//! standard input, in a sandbox (`confine.rs`) that lets it write its order's Files
//! (`grants.rs`) and nothing else, ends it (and everything it started) at its `timeout`, and
//! turns what it leaves behind into a report (`report.rs`). The brain runs the same way
//! (`brain.rs`), with no Files and no `repos/`.
//!
//! The daemon never waits on a run: each has a thread that waits for it, and its pipes are
//! read on threads of their own, bounded (the profile's `log_limit` an attempt, both streams
//! together, into `<id>.log`, then one line saying how much was dropped). A run's program, and
//! its profile's paths, are resolved against the world by `profile.rs`.

pub mod brain;
pub mod confine;
pub mod grants;
pub mod profile;
pub mod report;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::format::config::Profile;
use crate::inbox::watch::Wake;
use crate::model::order::{AgentName, OrderId};

/// What the environment keeps, beyond the run's own `WALT_*` and `TMPDIR`.
const KEPT_ENV: [&str; 7] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "TERM", "TZ"];

/// The process groups of the runs in progress. A process that exits takes its runs with it
/// (PR_SET_PDEATHSIG, and the sandbox's `--die-with-parent`); a daemon that starts over without
/// exiting (after a full disk) ends them with `stop_all` first, or a run it then finds
/// interrupted would run twice at once.
static GROUPS: std::sync::Mutex<BTreeMap<i32, Inner>> = std::sync::Mutex::new(BTreeMap::new());

/// The pid of a sandbox's first process, as bubblewrap says it: 0 until known, -1 for none
/// (an unconfined run, or bubblewrap said nothing).
type Inner = Arc<AtomicI32>;

fn groups() -> std::sync::MutexGuard<'static, BTreeMap<i32, Inner>> {
    GROUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kills every run in progress, with its process group (and so its sandbox), and waits (up to
/// ten seconds) until each has been reaped.
pub fn stop_all() {
    let running: Vec<(i32, Inner)> = groups().iter().map(|(g, i)| (*g, i.clone())).collect();
    for (pgid, inner) in running {
        end(pgid, &inner);
    }
    let t = Instant::now();
    while !groups().is_empty() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ends a run now: its sandbox's namespace (by killing the namespace's first process, which
/// takes every process in it along) and its process group. Waits at most a second to learn the
/// namespace's pid from bubblewrap, when the run is that new.
fn end(pgid: i32, inner: &AtomicI32) {
    let t = Instant::now();
    while inner.load(Ordering::SeqCst) == 0 && t.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let first = inner.load(Ordering::SeqCst);
    // SAFETY: signalling processes this process started (the group it made, and the sandbox
    // bubblewrap made for it, whose pid it said).
    unsafe {
        if first > 0 {
            libc::kill(first, libc::SIGKILL);
        }
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Sets up a child between fork and exec: its own process group (so a timeout kills all of
/// it), death with the daemon, and no inherited descriptor but its three pipes and `keep`.
fn isolate(cmd: &mut Command, keep: Vec<i32>) {
    // Sorted here, into a fixed array: nothing may allocate between fork and exec in a
    // process with threads.
    let mut fds = [-1i32; 3];
    let mut keep = keep;
    keep.sort_unstable();
    for (slot, fd) in fds.iter_mut().zip(keep) {
        *slot = fd;
    }
    // SAFETY: the closure only makes system calls on the child's own state.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            close_inherited(&fds)
        });
    }
}

/// Marks every descriptor above stderr close-on-exec but those in `keep` (which are made
/// inheritable), so a child gets none of the daemon's. Marking rather than closing keeps std's
/// own exec-error pipe working.
fn close_inherited(keep: &[i32; 3]) -> std::io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    let cloexec = |from: u32, to: u32| -> std::io::Result<()> {
        if from > to {
            return Ok(());
        }
        // SAFETY: a plain system call on our own descriptor table, between fork and exec.
        let r = unsafe { libc::syscall(libc::SYS_close_range, from, to, CLOSE_RANGE_CLOEXEC) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    let mut from = 3u32;
    for &fd in keep.iter().filter(|fd| **fd >= 3) {
        cloexec(from, fd as u32 - 1)?;
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        from = fd as u32 + 1;
    }
    cloexec(from, u32::MAX)
}

/// The environment a run gets: the daemon's cleared to the names every program expects, its
/// locale (`LC_*`), the names the profile passes through, and what the caller adds.
fn clear_env(cmd: &mut Command, passed: &[String]) {
    cmd.env_clear();
    for (k, v) in std::env::vars_os() {
        let name = k.to_string_lossy();
        if KEPT_ENV.contains(&name.as_ref())
            || name.starts_with("LC_")
            || passed.iter().any(|p| *p == name)
        {
            cmd.env(k, v);
        }
    }
}

/// What a confined run may reach beyond its Files: its program (and the folder it may run
/// siblings from), its profile's paths, the network.
fn reach(
    command: &[String],
    studio: &Path,
    profile: &Profile,
    run_dir: &Path,
) -> Result<(PathBuf, confine::Reach), String> {
    let program = profile::program(&command[0], studio)?;
    let paths = profile::paths(profile, studio)?;
    let mut exec = paths.read;
    exec.extend(profile::program_folder(&program, studio));
    Ok((
        program.clone(),
        confine::Reach {
            read: Vec::new(),
            exec,
            write: paths.write,
            program: Some(program),
            grants: Vec::new(),
            run_dir: run_dir.to_path_buf(),
            read_only: Vec::new(),
            network: profile.network,
        },
    ))
}

/// Waits for a child until `timeout` from `started`, then kills its whole process group;
/// either way nothing it started outlives it. Returns its status and whether it timed out.
fn wait_or_kill(
    child: &mut std::process::Child,
    pgid: i32,
    inner: &AtomicI32,
    started: Instant,
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, bool) {
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() >= timeout => {
                timed_out = true;
                end(pgid, inner);
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    (status, timed_out)
}

/// What one run is given.
pub struct Job {
    pub id: OrderId,
    pub agent: AgentName,
    pub command: Vec<String>,
    pub timeout: Duration,
    pub unconfined: bool,
    pub profile: Profile,
    /// The studio's `repos/` (the command's working folder).
    pub repos: PathBuf,
    /// The order's Files, relative to the studio (`repos/...`).
    pub files: Vec<String>,
    /// The studio root, to resolve Files.
    pub studio: PathBuf,
    /// The order's text: on standard input, and in `WALT_ORDER_FILE` (a copy in the run's own
    /// folder, since the agent may not read the inbox).
    pub order_text: String,
    /// The log file beside the order, opened by the daemon.
    pub log: std::fs::File,
    /// When the run last wrote output (Unix milliseconds), for `walt status`.
    pub last_output: Arc<std::sync::atomic::AtomicU64>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub id: OrderId,
    pub agent: AgentName,
    /// The report it left (report file, else standard output if it parses as one), if any.
    pub report: Option<String>,
    pub exit: String,
    pub timed_out: bool,
    /// The last lines of its output, for a synthesized report.
    pub tail: String,
    pub elapsed: Duration,
    /// Why what it left was not read, or why it never ran (said in the failed report).
    pub refused: Option<String>,
    /// Why the agent's setup, not the order, is at fault (it could not start, or its program
    /// could not be run: exit 126 or 127): not an attempt (SPEC §10).
    pub setup: Option<String>,
}

/// A run's private folder: made fresh for each attempt (mode 0700, a name nobody can guess),
/// removed when it is dropped.
fn run_folder(prefix: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("cannot make a run folder: {e}"))
}

/// Reads a stream into the log while the attempt's budget (`room`, shared by its two streams,
/// `limit` at the start) lasts, then says how much was dropped; keeps the first `keep`
/// bytes and the last lines for the caller.
fn drain(
    mut from: impl Read,
    mut log: std::fs::File,
    keep: usize,
    room: &std::sync::atomic::AtomicU64,
    limit: u64,
    last_output: &std::sync::atomic::AtomicU64,
) -> (Vec<u8>, Vec<u8>) {
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut dropped: u64 = 0;
    let mut chunk = [0u8; 8192];
    loop {
        match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                last_output.store(now, Ordering::Relaxed);
                let bytes = &chunk[..n];
                // Take what the budget allows, atomically, so the two streams never pass it.
                let take = room
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                        Some(r.saturating_sub(n as u64))
                    })
                    .map_or(0, |before| before.min(n as u64) as usize);
                if take > 0 {
                    let _ = log.write_all(&bytes[..take]);
                }
                dropped += (n - take) as u64;
                if head.len() < keep {
                    head.extend_from_slice(&bytes[..n.min(keep - head.len())]);
                }
                tail.extend_from_slice(bytes);
                if tail.len() > 8192 {
                    tail.drain(..tail.len() - 4096);
                }
            }
        }
    }
    if dropped > 0 {
        let _ = writeln!(
            log,
            "\n[walt: {dropped} more bytes of this stream were dropped: at most {limit} bytes of output are kept an attempt (log_limit)]"
        );
    }
    (head, tail)
}

/// Ends a run now, with everything it started (its process group, and so its sandbox).
pub fn kill(pgid: i32) {
    let inner = groups().get(&pgid).cloned();
    if let Some(inner) = inner {
        end(pgid, &inner);
    }
}

/// Why a run did not start.
#[derive(Debug, Clone)]
pub enum NotStarted {
    /// The agent's setup is at fault, not the order: its program cannot be found or run, its
    /// profile cannot be granted, the sandbox cannot be made (SPEC §10: not an attempt).
    Setup(String),
    /// The order's Files cannot be granted (the attempt fails with the reason).
    Files(String),
}

/// Starts a run on its own thread; when it ends, `done` is called with how, and the loop is
/// woken. Returns the run's process group, or why nothing started.
pub fn start(
    job: Job,
    done: impl FnOnce(Finished) + Send + 'static,
    wake: SyncSender<Wake>,
) -> Result<i32, NotStarted> {
    let grants_failed = std::cell::Cell::new(false);
    start_inner(job, done, wake, &grants_failed).map_err(|why| {
        if grants_failed.get() {
            NotStarted::Files(why)
        } else {
            NotStarted::Setup(why)
        }
    })
}

fn start_inner(
    mut job: Job,
    done: impl FnOnce(Finished) + Send + 'static,
    wake: SyncSender<Wake>,
    grants_failed: &std::cell::Cell<bool>,
) -> Result<i32, String> {
    let run_dir = run_folder("walt-run-")?;
    let report_file = run_dir.path().join("report.md");
    let order_file = run_dir.path().join("order.md");
    report::write_new(&order_file, job.order_text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", order_file.display()))?;
    // What can fail without a trace is done before any File is granted (granting may make
    // placeholder files, which every later failure must remove again).
    let log_err = job.log.try_clone().map_err(|e| e.to_string())?;
    let log_out = job.log.try_clone().map_err(|e| e.to_string())?;
    let (mut cmd, keep, placeholders) = if job.unconfined {
        let program = profile::program(&job.command[0], &job.studio)?;
        let mut cmd = Command::new(program);
        cmd.args(&job.command[1..]).current_dir(&job.repos);
        (cmd, None, Vec::new())
    } else {
        confine::available()?;
        let (program, mut reach) = reach(&job.command, &job.studio, &job.profile, run_dir.path())?;
        let granted =
            grants::resolve(&job.studio, &job.files, confine::FS_ABI).inspect_err(|_| {
                grants_failed.set(true);
            })?;
        let placeholders = granted.placeholders.clone();
        reach.read.push(job.repos.clone());
        reach.grants = granted.rules;
        reach.read_only = granted.read_only;
        let sandbox = confine::Sandbox::new(reach);
        let sandbox = match sandbox {
            Ok(s) => s,
            Err(e) => {
                grants::remove_placeholders(&placeholders);
                return Err(e);
            }
        };
        let cmd = match sandbox.command(&program, &job.command[1..], &job.repos) {
            Ok(c) => c,
            Err(e) => {
                grants::remove_placeholders(&placeholders);
                return Err(e);
            }
        };
        let keep = sandbox.inherited();
        // The sandbox (and its descriptors) lives until the child has them.
        (cmd, Some((keep, sandbox)), placeholders)
    };
    clear_env(&mut cmd, &job.profile.env);
    cmd.env("WALT_ORDER_ID", job.id.to_string())
        .env("WALT_AGENT", job.agent.as_str())
        .env("WALT_ORDER_FILE", &order_file)
        .env("WALT_REPORT_FILE", &report_file)
        .env("TMPDIR", run_dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    isolate(
        &mut cmd,
        keep.as_ref()
            .map(|(fds, _)| fds.clone())
            .unwrap_or_default(),
    );
    let started = Instant::now();
    // Everything that can fail is done before the spawn: after it, the run is always waited
    // for (and its group unregistered), never left behind by an early return.
    let spawned = cmd.spawn();
    let inner: Inner = Arc::new(AtomicI32::new(-1));
    if let Some((_, mut sandbox)) = keep {
        if spawned.is_ok() {
            inner.store(0, Ordering::SeqCst);
            sandbox.watch_inner(inner.clone());
        }
    }
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            grants::remove_placeholders(&placeholders);
            return Err(format!("cannot start {:?}: {e}", job.command));
        }
    };
    let pgid = child.id() as i32;
    groups().insert(pgid, inner.clone());
    let mut stdin = child.stdin.take().expect("piped");
    let text = std::mem::take(&mut job.order_text);
    std::thread::spawn(move || {
        // An agent that does not read its order must not block the run.
        let _ = stdin.write_all(text.as_bytes());
    });
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let limit = job.profile.log_limit;
    let room = Arc::new(std::sync::atomic::AtomicU64::new(limit));
    let err_room = room.clone();
    let (out_seen, err_seen) = (job.last_output.clone(), job.last_output.clone());
    let err_thread =
        std::thread::spawn(move || drain(err, log_err, 0, &err_room, limit, &err_seen));
    let out_thread =
        std::thread::spawn(move || drain(out, log_out, 1 << 20, &room, limit, &out_seen));
    let timeout = job.timeout;
    let (id, agent) = (job.id, job.agent.clone());
    std::thread::spawn(move || {
        let (status, timed_out) = wait_or_kill(&mut child, pgid, &inner, started, timeout);
        groups().remove(&pgid);
        // The sandbox's namespace is gone with its first process, and with it every holder of
        // these pipes: they end now.
        let (stdout, out_tail) = out_thread.join().unwrap_or_default();
        let (_, err_tail) = err_thread.join().unwrap_or_default();
        let (report, refused) = match report::read_report_file(&report_file) {
            Ok(Some(r)) => (Some(r), None),
            Ok(None) => {
                let text = String::from_utf8_lossy(&stdout).into_owned();
                (
                    crate::format::parse::looks_like_report(&text).then_some(text),
                    None,
                )
            }
            Err(why) => (None, Some(why)),
        };
        let mut all = String::from_utf8_lossy(&out_tail).into_owned();
        all.push_str(&String::from_utf8_lossy(&err_tail));
        let tail: Vec<&str> = all.lines().rev().take(10).collect();
        let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        let exit = match status {
            Some(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(c), _) => format!("exit status {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                _ => "unknown exit".into(),
            },
            None => "could not be waited for".into(),
        };
        grants::remove_placeholders(&placeholders);
        let setup = match status.and_then(|s| s.code()) {
            Some(c @ (126 | 127)) if !timed_out => Some(format!(
                "its command exited {c} ({}): {}",
                if c == 127 {
                    "a program it runs was not found"
                } else {
                    "a program it runs could not be executed or confined"
                },
                crate::format::parse::one_line(&tail)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )),
            _ => None,
        };
        done(Finished {
            setup,
            id,
            agent,
            report,
            exit,
            timed_out,
            tail,
            elapsed: started.elapsed(),
            refused,
        });
        let _ = wake.send(Wake::Fs);
        // The run's folder is the runner's own, outside the studio: removed with `run_dir`.
        drop(run_dir);
    });
    Ok(pgid)
}

pub use brain::ask_brain;
pub use report::failed_report;

/// Whether confined runs can be had here (for refusing command agents up front).
pub fn landlock_available() -> Result<(), String> {
    confine::available()
}
