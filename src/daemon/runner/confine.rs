//! The sandbox a run (a command agent's, or the brain's) is started in.
//!
//! Two layers, each doing what it is made for:
//! - **bubblewrap** (`bwrap`) gives the run its own PID namespace (`--unshare-pid`: when the
//!   command exits, or the run is killed, every process it started dies with the namespace,
//!   `setsid` helpers and holders of its pipes included; nothing outside is visible to it, so
//!   nothing outside can be signalled, traced or frozen), a fresh `/proc` showing only the run,
//!   its own session (no terminal injection), no capabilities even under a root daemon
//!   (`--cap-drop ALL`, so no `mknod`, no raising of rights; no_new_privs, so no setuid), death
//!   with the daemon (`--die-with-parent`), and `.git` re-bound read-only under every folder
//!   grant (Landlock cannot take a subfolder back out of a grant: the lesson of Codex's sandbox).
//! - **Landlock** (ABI 5 rights, fully enforced, and ABI 6 scopes) decides what the run may
//!   open: read the system's folders, `repos/`, its run folder and its program; write its grants
//!   (`grants.rs`) and its run folder; and it scopes signals and abstract unix sockets to the
//!   run. The ruleset is built by the daemon on objects it resolved itself, and enforced by
//!   `walt`'s own small helper inside the namespace (`enter`), after bubblewrap has made its
//!   mounts (a Landlock-restricted process may not mount) and before the command is executed.
//!
//! All of it, or the run does not start: `available` probes both once, and a command agent the
//! daemon cannot confine is refused unless it has `unconfined = true`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope, ABI,
};

/// The ABI whose filesystem rights are handled (files, truncate, ioctl on devices).
pub const FS_ABI: ABI = ABI::V5;
/// The ABI whose scopes are handled (signals, abstract unix sockets).
const SCOPE_ABI: ABI = ABI::V6;
/// The ABI whose network rights are handled when a profile says `network = false` (TCP bind
/// and connect; with no rule allowing any port, neither can be done).
const NET_ABI: ABI = ABI::V4;

/// The hidden first argument that makes `walt` the sandbox's helper.
pub const HELPER: &str = "__sandbox";

/// Folders every program needs to read and run things from. `/proc` is not here: the run
/// gets a fresh one, which the helper grants from inside.
const SYSTEM_READ: [&str; 9] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc", "/opt", "/sys",
];

/// Devices a run may read and write; nothing else in `/dev`.
const DEVICES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/dev/tty",
];

/// The daemon's lifeline: a pipe whose write end only the daemon holds (close-on-exec, so no
/// child inherits it). Every sandbox inherits the read end, and the helper looks at it before
/// it runs the command: a hang-up means the daemon is gone, and a run whose sandbox was still
/// being set up when the daemon died (before bubblewrap armed its parent-death signal) ends
/// there instead of running on its own.
fn lifeline() -> Option<i32> {
    static LIFELINE: OnceLock<Option<(OwnedFd, OwnedFd)>> = OnceLock::new();
    LIFELINE
        .get_or_init(|| rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok())
        .as_ref()
        .map(|(read, _write)| read.as_raw_fd())
}

/// Whether runs can be confined here, probed once: Landlock with every right and scope
/// enforceable, and bubblewrap present and able to make a PID namespace.
pub fn available() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            new_ruleset(true).map_err(|e| {
                format!("Landlock cannot be enforced here (ABI 5 rights and ABI 6 scopes needed): {e}")
            })?;
            let out = Command::new("bwrap")
                .args(bwrap_base())
                .args(["--", "/bin/true"])
                .output()
                .map_err(|e| {
                    format!("bubblewrap (bwrap) cannot be run ({e}); install it (Debian: apt-get install bubblewrap)")
                })?;
            if !out.status.success() {
                return Err(format!(
                    "bubblewrap cannot make a sandbox here ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(())
        })
        .clone()
}

fn new_ruleset(network: bool) -> Result<landlock::RulesetCreated, String> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(FS_ABI))
        .map_err(|e| e.to_string())?;
    if !network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(NET_ABI))
            .map_err(|e| e.to_string())?;
    }
    ruleset
        .scope(Scope::from_all(SCOPE_ABI))
        .and_then(|r| r.create())
        .map_err(|e| e.to_string())
}

/// What one run may reach, beyond the system's folders and devices.
pub struct Reach {
    /// Read beneath these (not run programs from them).
    pub read: Vec<PathBuf>,
    /// Read and run programs beneath these: the profile's `read` paths, the program's folder.
    pub exec: Vec<PathBuf>,
    /// Read and write beneath these: the profile's `write` paths.
    pub write: Vec<PathBuf>,
    /// Read and run: the command's program.
    pub program: Option<PathBuf>,
    /// Resolved grants: an object and the rights beneath it.
    pub grants: Vec<(OwnedFd, BitFlags<AccessFs>)>,
    /// The run's private folder: everything but running programs.
    pub run_dir: PathBuf,
    /// Re-bound read-only inside the sandbox.
    pub read_only: Vec<PathBuf>,
    /// `false`: no TCP connect or bind.
    pub network: bool,
}

/// A ruleset ready to be enforced by the helper, the sandbox's mounts, and the pipe on which
/// bubblewrap says the pid of the namespace's first process (`--info-fd`): killing that one
/// ends the namespace and everything in it, which the daemon does itself rather than trust
/// `--die-with-parent` alone (its child sets that up after it starts; a parent killed before
/// then leaves the namespace running).
pub struct Sandbox {
    ruleset: OwnedFd,
    read_only: Vec<PathBuf>,
    info_read: Option<OwnedFd>,
    info_write: OwnedFd,
}

fn rule(path: &Path, access: BitFlags<AccessFs>) -> Option<PathBeneath<PathFd>> {
    // A file can only be given a file's rights (the kernel refuses the rest on one).
    let access = if std::fs::metadata(path).is_ok_and(|m| !m.is_dir()) {
        access & AccessFs::from_file(FS_ABI)
    } else {
        access
    };
    PathFd::new(path)
        .ok()
        .map(|fd| PathBeneath::new(fd, access))
}

impl Sandbox {
    /// Builds the ruleset for a run (in the daemon, on objects resolved there).
    pub fn new(reach: Reach) -> Result<Sandbox, String> {
        let read = AccessFs::from_read(FS_ABI);
        let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate;
        let mut created = new_ruleset(reach.network)?;
        let add = |r: Result<landlock::RulesetCreated, landlock::RulesetError>| {
            r.map_err(|e| e.to_string())
        };
        for p in SYSTEM_READ {
            if let Some(r) = rule(Path::new(p), read) {
                created = add(created.add_rule(r))?;
            }
        }
        for p in DEVICES {
            if let Some(r) = rule(Path::new(p), device) {
                created = add(created.add_rule(r))?;
            }
        }
        for p in &reach.read {
            if let Some(r) = rule(p, read & !AccessFs::Execute) {
                created = add(created.add_rule(r))?;
            }
        }
        for p in &reach.exec {
            if let Some(r) = rule(p, read) {
                created = add(created.add_rule(r))?;
            }
        }
        for p in &reach.write {
            if let Some(r) = rule(p, super::grants::folder_rights(FS_ABI)) {
                created = add(created.add_rule(r))?;
            }
        }
        if let Some(p) = &reach.program {
            if let Some(r) = rule(p, AccessFs::Execute | AccessFs::ReadFile) {
                created = add(created.add_rule(r))?;
            }
        }
        for (fd, access) in reach.grants {
            created = add(created.add_rule(PathBeneath::new(fd, access)))?;
        }
        let run_dir = super::grants::folder_rights(FS_ABI);
        match rule(&reach.run_dir, run_dir) {
            Some(r) => created = add(created.add_rule(r))?,
            None => {
                return Err(format!(
                    "cannot open the run folder {}",
                    reach.run_dir.display()
                ))
            }
        }
        let fd: Option<OwnedFd> = created.into();
        let ruleset = fd.ok_or("Landlock gave no ruleset")?;
        let (info_read, info_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("cannot make the sandbox's info pipe: {e}"))?;
        Ok(Sandbox {
            ruleset,
            read_only: reach.read_only,
            info_read: Some(info_read),
            info_write,
        })
    }

    /// The command that runs `program args…` in `cwd` inside the sandbox. The ruleset's
    /// descriptor is the only one the child inherits beyond its three pipes.
    pub fn command(&self, program: &Path, args: &[String], cwd: &Path) -> Result<Command, String> {
        let helper = std::env::current_exe()
            .map_err(|e| format!("cannot find walt's own program for the sandbox: {e}"))?;
        let mut cmd = Command::new("bwrap");
        cmd.args(bwrap_base());
        for p in &self.read_only {
            cmd.arg("--ro-bind").arg(p).arg(p);
        }
        cmd.arg("--info-fd")
            .arg(self.info_write.as_raw_fd().to_string())
            .arg("--chdir")
            .arg(cwd)
            .arg("--")
            .arg(helper)
            .arg(HELPER)
            .arg(self.ruleset.as_raw_fd().to_string())
            .arg(lifeline().unwrap_or(-1).to_string())
            .arg(program)
            .args(args);
        Ok(cmd)
    }

    /// The descriptors the child must inherit: the ruleset, bubblewrap's info pipe, and the
    /// daemon's lifeline.
    pub fn inherited(&self) -> Vec<i32> {
        let mut fds = vec![self.ruleset.as_raw_fd(), self.info_write.as_raw_fd()];
        fds.extend(lifeline());
        fds
    }

    /// After the spawn: learns the namespace's first pid from bubblewrap, on a thread of its
    /// own, into `inner` (0 until known, -1 if bubblewrap never says).
    pub fn watch_inner(&mut self, inner: std::sync::Arc<std::sync::atomic::AtomicI32>) {
        use std::io::Read;
        use std::sync::atomic::Ordering;
        let Some(fd) = self.info_read.take() else {
            return;
        };
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(fd);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 512];
            // Until the JSON object is whole: the namespace may keep the pipe open.
            while !buf.contains(&b'}') && buf.len() < 4096 {
                match f.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let pid = serde_json::from_slice::<serde_json::Value>(&buf)
                .ok()
                .and_then(|v| v["child-pid"].as_i64())
                .map_or(-1, |p| p as i32);
            inner.store(pid, Ordering::SeqCst);
        });
    }
}

/// bubblewrap's part, the same for every run and for the probe.
fn bwrap_base() -> [&'static str; 15] {
    [
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--bind",
        "/",
        "/",
        "--dev-bind",
        "/dev",
        "/dev",
        "--proc",
        "/proc",
        "--cap-drop",
        "ALL",
        "--unshare-uts",
    ]
}

/// The helper, inside the sandbox: checks the daemon's lifeline (descriptor `args[1]`), grants
/// the fresh `/proc` for reading, enforces the ruleset the daemon built (descriptor `args[0]`),
/// and executes the command (`args[2..]`). Returns only if it could not; the caller exits with 126 (cannot confine)
/// or 127 (cannot run the program), as a shell would.
pub fn enter(args: &[std::ffi::OsString]) -> (i32, String) {
    let Some(fd) = args
        .first()
        .and_then(|a| a.to_str())
        .and_then(|a| a.parse::<i32>().ok())
    else {
        return (126, "walt __sandbox: no ruleset descriptor".into());
    };
    let lifeline = args
        .get(1)
        .and_then(|a| a.to_str())
        .and_then(|a| a.parse::<i32>().ok())
        .unwrap_or(-1);
    let Some(program) = args.get(2) else {
        return (126, "walt __sandbox: no program".into());
    };
    if lifeline >= 0 {
        let mut poll = libc::pollfd {
            fd: lifeline,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polling a descriptor this process inherited, without waiting.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        if ready > 0 && poll.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return (
                126,
                "walt __sandbox: the daemon is gone; the run does not start".into(),
            );
        }
        // SAFETY: closing an inherited descriptor the command must not have.
        unsafe { libc::close(lifeline) };
    }
    // SAFETY: plain system calls on this process's own state.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return (
                126,
                format!(
                    "walt __sandbox: no_new_privs: {}",
                    std::io::Error::last_os_error()
                ),
            );
        }
        if let Err(e) = grant_proc(fd) {
            return (126, format!("walt __sandbox: cannot grant /proc: {e}"));
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) != 0 {
            return (
                126,
                format!(
                    "walt __sandbox: Landlock could not be enforced: {}",
                    std::io::Error::last_os_error()
                ),
            );
        }
        libc::close(fd);
    }
    use std::os::unix::process::CommandExt;
    let e = Command::new(program).args(&args[3..]).exec();
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    (
        code,
        format!("cannot run {}: {e}", program.to_string_lossy()),
    )
}

/// Adds a read rule for this namespace's `/proc` to the ruleset `fd` (raw: the ruleset came
/// across an exec, where the crate's types do not).
unsafe fn grant_proc(ruleset: i32) -> std::io::Result<()> {
    #[repr(C, packed)]
    struct PathBeneathAttr {
        allowed_access: u64,
        parent_fd: i32,
    }
    const RULE_PATH_BENEATH: libc::c_int = 1;
    let proc = std::fs::File::open("/proc")?;
    let attr = PathBeneathAttr {
        allowed_access: (AccessFs::ReadFile | AccessFs::ReadDir).bits(),
        parent_fd: proc.as_raw_fd(),
    };
    let r = libc::syscall(
        libc::SYS_landlock_add_rule,
        ruleset,
        RULE_PATH_BENEATH,
        &attr as *const PathBeneathAttr,
        0,
    );
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
