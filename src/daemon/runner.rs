//! Command agents: the daemon runs a specialist's `command` in `repos/` with the order
//! on standard input, confined by Landlock, killed with its whole process group at `timeout`,
//! and turns what it leaves behind into a report.
//!
//! Confinement is all or nothing: the ruleset is built before the fork with every filesystem
//! right of ABI 5 handled as a hard requirement, and `restrict_self` runs in the child between
//! fork and exec; if the kernel cannot enforce it fully, the child fails before the command
//! starts. What the process may do: read and execute the system's folders, read `repos/`, write
//! (and truncate) the order's Files that exist, create files in the folder of a File that does
//! not exist yet (Landlock rules name existing objects; anything else it creates there is caught
//! as scope creep by the repos watch), and write its report file and private temp folder. It
//! cannot open `state/`, `config/` or any inbox, and cannot link or rename across those limits.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use landlock::{
    Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, ABI,
};

use crate::inbox::watch::Wake;
use crate::model::order::{AgentName, OrderId};

/// Sets up a child between fork and exec: its own process group (so a timeout kills all it
/// started), death with the daemon, Landlock fully enforced (or the child fails before it
/// runs), and no inherited descriptors.
fn isolate(cmd: &mut Command, ruleset: Option<RulesetCreated>) {
    let mut ruleset = ruleset;
    // SAFETY: the closure only makes system calls on the child's own state.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(rs) = ruleset.take() {
                match rs.restrict_self() {
                    Ok(s) if s.ruleset == landlock::RulesetStatus::FullyEnforced => {}
                    _ => {
                        return Err(std::io::Error::other(
                            "Landlock could not be fully enforced",
                        ))
                    }
                }
            }
            close_inherited()
        });
    }
}

/// Waits for a child until `timeout` from `started`, then kills its whole process group;
/// either way nothing it started outlives it. Returns its status and whether it timed out.
/// The process groups of the runs in progress. A process that exits takes its runs with it
/// (PR_SET_PDEATHSIG); a daemon that starts over without exiting (after a full disk) ends them
/// with `stop_all` first, or a run it then finds interrupted would run twice at once.
static GROUPS: std::sync::Mutex<BTreeSet<i32>> = std::sync::Mutex::new(BTreeSet::new());

fn groups() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    GROUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kills every run in progress, with its process group, and waits (up to ten seconds) until
/// each has been reaped.
pub fn stop_all() {
    let running: Vec<i32> = groups().iter().copied().collect();
    for pgid in running {
        // SAFETY: signalling a process group this process created.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let t = Instant::now();
    while !groups().is_empty() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_or_kill(
    child: &mut std::process::Child,
    pgid: i32,
    started: Instant,
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, bool) {
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() >= timeout => {
                timed_out = true;
                // SAFETY: signalling the process group we created.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
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

/// Marks every descriptor above stderr close-on-exec, so a child gets none of the daemon's
/// (nor any its parent leaked to it): only its three pipes survive the exec. Marking rather
/// than closing keeps std's own exec-error pipe working.
fn close_inherited() -> std::io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: a plain system call on our own descriptor table, between fork and exec.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The ABI whose rights are handled (ABI 5: files, truncate, ioctl on devices); the kernels this
/// runs on offer up to 7.
const LANDLOCK_ABI: ABI = ABI::V5;

/// Folders every program needs to read (and run things from).
const SYSTEM_READ: [&str; 10] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc", "/opt", "/proc", "/sys",
];

/// What one run is given.
pub struct Job {
    pub id: OrderId,
    pub agent: AgentName,
    pub command: Vec<String>,
    pub timeout: Duration,
    pub unconfined: bool,
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
}

/// Whether this kernel can enforce the ruleset fully. Checked once at start so the daemon can
/// refuse confined command agents up front (and say so) instead of failing each run.
pub fn landlock_available() -> Result<(), String> {
    let probe = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(LANDLOCK_ABI))
        .and_then(|r| r.create());
    match probe {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "Landlock ABI {} cannot be enforced here: {e}",
            LANDLOCK_ABI as i32
        )),
    }
}

fn rule(path: &Path, access: landlock::BitFlags<AccessFs>) -> Option<PathBeneath<PathFd>> {
    PathFd::new(path)
        .ok()
        .map(|fd| PathBeneath::new(fd, access))
}

/// The ruleset for one run, built in the parent.
fn ruleset(job: &Job, run_dir: &Path) -> Result<RulesetCreated, String> {
    let abi = LANDLOCK_ABI;
    let read = AccessFs::from_read(abi);
    let write_file = AccessFs::WriteFile | AccessFs::ReadFile | AccessFs::Truncate;
    let create_here = write_file | AccessFs::MakeReg | AccessFs::ReadDir;
    let mut rules: Vec<PathBeneath<PathFd>> = Vec::new();
    for p in SYSTEM_READ {
        rules.extend(rule(Path::new(p), read));
    }
    // /dev/null and friends: read and write, nothing else in /dev.
    for p in [
        "/dev/null",
        "/dev/zero",
        "/dev/urandom",
        "/dev/random",
        "/dev/tty",
    ] {
        rules.extend(rule(Path::new(p), write_file));
    }
    rules.extend(rule(&job.repos, read));
    // The program itself, when named by path (relative to repos/, where it runs).
    if job.command[0].contains('/') {
        let program = job.repos.join(&job.command[0]);
        rules.extend(rule(&program, AccessFs::Execute | AccessFs::ReadFile));
    }
    for f in &job.files {
        let path = job.studio.join(f);
        if f.ends_with('/') {
            if path.is_dir() {
                rules.extend(rule(&path, AccessFs::from_all(abi) & !AccessFs::Execute));
            } else if let Some(parent) = nearest_dir(&path) {
                rules.extend(rule(&parent, create_here | AccessFs::MakeDir));
            }
        } else if path.is_file() {
            rules.extend(rule(&path, write_file));
        } else if let Some(parent) = nearest_dir(&path) {
            rules.extend(rule(&parent, create_here | AccessFs::MakeDir));
        }
    }
    rules.extend(rule(run_dir, AccessFs::from_all(abi) & !AccessFs::Execute));
    let mut created = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.create())
        .map_err(|e| e.to_string())?;
    for r in rules {
        created = created.add_rule(r).map_err(|e| e.to_string())?;
    }
    Ok(created)
}

/// The nearest existing folder at or above `path`, never above the studio's `repos/`.
fn nearest_dir(path: &Path) -> Option<PathBuf> {
    let mut p = path.parent()?;
    loop {
        if p.is_dir() {
            return Some(p.to_path_buf());
        }
        p = p.parent()?;
    }
}

/// Starts a run on its own thread; when it ends, `done` is called with how, and the loop is
/// woken. Returns an error (nothing started) when it cannot even begin.
pub fn start(
    mut job: Job,
    done: impl FnOnce(Finished) + Send + 'static,
    wake: SyncSender<Wake>,
) -> Result<(), String> {
    let run_dir = std::env::temp_dir().join(format!("walt-run-{}-{}", std::process::id(), job.id));
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
    let report_file = run_dir.join("report.md");
    let order_file = run_dir.join("order.md");
    std::fs::write(&order_file, &job.order_text)
        .map_err(|e| format!("cannot write {}: {e}", order_file.display()))?;
    let confine = if job.unconfined {
        None
    } else {
        Some(ruleset(&job, &run_dir)?)
    };
    let mut cmd = Command::new(&job.command[0]);
    cmd.args(&job.command[1..])
        .current_dir(&job.repos)
        .env("WALT_ORDER_ID", job.id.to_string())
        .env("WALT_AGENT", job.agent.as_str())
        .env("WALT_ORDER_FILE", &order_file)
        .env("WALT_REPORT_FILE", &report_file)
        .env("TMPDIR", &run_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    isolate(&mut cmd, confine);
    let started = Instant::now();
    // Everything that can fail is done before the spawn: after it, the run is always waited
    // for (and its group unregistered), never left behind by an early return.
    let mut log_err = job.log.try_clone().map_err(|e| e.to_string())?;
    let mut log_out = job.log.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", job.command))?;
    let pgid = child.id() as i32;
    groups().insert(pgid);
    let mut stdin = child.stdin.take().expect("piped");
    let text = std::mem::take(&mut job.order_text);
    std::thread::spawn(move || {
        // An agent that does not read its order must not block the run.
        let _ = stdin.write_all(text.as_bytes());
    });
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        let _ = log_err.write_all(&buf);
        buf
    });
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match out.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = log_out.write_all(&chunk[..n]);
                    if buf.len() < 1 << 20 {
                        buf.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
        buf
    });
    let timeout = job.timeout;
    let (id, agent) = (job.id, job.agent.clone());
    std::thread::spawn(move || {
        let (status, timed_out) = wait_or_kill(&mut child, pgid, started, timeout);
        groups().remove(&pgid);
        let stdout = out_thread.join().unwrap_or_default();
        let stderr = err_thread.join().unwrap_or_default();
        let report = std::fs::read_to_string(&report_file)
            .ok()
            .filter(|r| !r.trim().is_empty())
            .or_else(|| {
                let text = String::from_utf8_lossy(&stdout).into_owned();
                crate::format::parse::looks_like_report(&text).then_some(text)
            });
        let mut all = String::from_utf8_lossy(&stdout).into_owned();
        all.push_str(&String::from_utf8_lossy(&stderr));
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
        done(Finished {
            id,
            agent,
            report,
            exit,
            timed_out,
            tail,
            elapsed: started.elapsed(),
        });
        let _ = wake.send(Wake::Fs);
        // The run's scratch folder is the runner's own, outside the studio: cleaned up.
        let _ = std::fs::remove_dir_all(&run_dir);
    });
    Ok(())
}

/// The report the daemon files for a run that left none, or that timed out.
pub fn failed_report(f: &Finished, agent: &AgentName, acceptance: &[String]) -> String {
    let why = if f.timed_out {
        format!(
            "timed out after {:?} and was killed with its process group",
            f.elapsed
        )
    } else {
        format!("the command left no report ({})", f.exit)
    };
    let mut out = format!("---\nre: {}\nfrom: {agent}\nstatus: failed\n---\n**Outcome:** The command agent did not finish the order.\n\n**Acceptance:**\n", f.id);
    for a in acceptance {
        out.push_str(&format!("- [ ] {}\n", crate::format::parse::one_line(a)));
    }
    if acceptance.is_empty() {
        out.push_str("- [ ] the order is done\n");
    }
    let tail: String = f
        .tail
        .lines()
        .map(|l| format!(" / {}", crate::format::parse::one_line(l)))
        .collect();
    out.push_str(&format!(
        "\n**Touched:**\n- none\n\n**Note:** {why}; last output:{}\n",
        if tail.is_empty() {
            " (none)".into()
        } else {
            tail
        }
    ));
    out
}

/// Asks the brain command: `prompt` on its standard input, its answer from standard output,
/// killed with its process group at `timeout`. Confined harder than a specialist: it may read
/// the system's folders and execute its program, write only its own temporary folder, and
/// reach nothing of the studio (`repos/`, `state/`, `config/`, the inboxes). It inherits no
/// file descriptor of the daemon's beyond its three pipes (everything else is close-on-exec).
/// Returns the answer, or why there is none; and the last lines it wrote to stderr.
pub fn ask_brain(
    command: &[String],
    prompt: &str,
    timeout: Duration,
    cwd: &Path,
) -> (Result<String, String>, String) {
    let dir = std::env::temp_dir().join(format!(
        "walt-brain-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return (
            Err(format!("cannot create {}: {e}", dir.display())),
            String::new(),
        );
    }
    let result = ask_in(command, prompt, timeout, cwd, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn ask_in(
    command: &[String],
    prompt: &str,
    timeout: Duration,
    cwd: &Path,
    dir: &Path,
) -> (Result<String, String>, String) {
    let abi = LANDLOCK_ABI;
    let build = || -> Result<RulesetCreated, String> {
        let mut created = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))
            .and_then(|r| r.create())
            .map_err(|e| e.to_string())?;
        let mut rules: Vec<PathBeneath<PathFd>> = Vec::new();
        for p in SYSTEM_READ {
            rules.extend(rule(Path::new(p), AccessFs::from_read(abi)));
        }
        for p in ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"] {
            rules.extend(rule(Path::new(p), AccessFs::WriteFile | AccessFs::ReadFile));
        }
        if command[0].contains('/') {
            rules.extend(rule(
                &cwd.join(&command[0]),
                AccessFs::Execute | AccessFs::ReadFile,
            ));
        }
        rules.extend(rule(dir, AccessFs::from_all(abi)));
        for r in rules {
            created = created.add_rule(r).map_err(|e| e.to_string())?;
        }
        Ok(created)
    };
    let mut confine = match build() {
        Ok(r) => Some(r),
        Err(e) => {
            return (
                Err(format!(
                    "the brain cannot be confined here ({e}); it is not run"
                )),
                String::new(),
            )
        }
    };
    // A relative program is the studio's (e.g. `contrib/brain.sh`); the brain runs elsewhere.
    let program = if command[0].contains('/') {
        cwd.join(&command[0])
    } else {
        PathBuf::from(&command[0])
    };
    let mut cmd = Command::new(program);
    cmd.args(&command[1..])
        .current_dir(dir)
        .env("TMPDIR", dir)
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    isolate(&mut cmd, confine.take());
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (Err(format!("cannot start {command:?}: {e}")), String::new()),
    };
    let pgid = child.id() as i32;
    let mut stdin = child.stdin.take().expect("piped");
    let prompt = prompt.to_string();
    std::thread::spawn(move || {
        let _ = stdin.write_all(prompt.as_bytes());
    });
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = (&mut out)
            .take(crate::format::parse::MAX_BYTES as u64 * 2)
            .read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = (&mut err).take(1 << 20).read_to_end(&mut b);
        b
    });
    let (status, timed_out) = wait_or_kill(&mut child, pgid, started, timeout);
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    if timed_out {
        return (Err(format!("no answer within {timeout:?}: killed")), tail);
    }
    match status {
        Some(s) if s.success() && !stdout.trim().is_empty() => (Ok(stdout), tail),
        Some(s) => (
            Err(format!(
                "the brain exited with {s} and {} bytes of answer",
                stdout.len()
            )),
            tail,
        ),
        None => (Err("the brain could not be waited for".into()), tail),
    }
}
