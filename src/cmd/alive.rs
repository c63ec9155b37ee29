//! Whether a daemon serves the studio, read without touching its lock: the kernel's table of
//! locks (`/proc/locks`) says which process holds the flock on `state/walt.lock` or on
//! `state/` itself; the log says since when it serves, or when it was last seen.

use std::io::BufRead;

use cap_std::fs::Dir;
use serde::Serialize;

/// What `walt status` says of the daemon (`--json`: `daemon`).
#[derive(Debug, Serialize, Default, Clone)]
pub struct DaemonStatus {
    pub running: bool,
    /// The holder of the lock when running; else the pid the lock file last named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When the running daemon started (its last `daemon.started`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The time of the log's last record: when a daemon was last seen at work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// The `maj:min:ino` the kernel's lock table names a file by.
fn lock_key(state: &Dir, name: &str) -> Option<String> {
    let st = rustix::fs::statat(state, name, rustix::fs::AtFlags::empty()).ok()?;
    let dev = st.st_dev;
    Some(format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        st.st_ino
    ))
}

/// The pid holding an exclusive flock on any of `keys`, from `/proc/locks`.
fn holder(keys: &[String]) -> Option<u32> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"
        (f.len() >= 6 && f[1] == "FLOCK" && f[3] == "WRITE" && keys.iter().any(|k| k == f[5]))
            .then(|| f[4].parse().ok())
            .flatten()
    })
}

/// The pid of the daemon serving the studio, if one is: cheap (no log is read).
pub fn running(state: &Dir) -> Option<u32> {
    let keys: Vec<String> = [crate::store::keeper::LOCK, "."]
        .iter()
        .filter_map(|n| lock_key(state, n))
        .collect();
    holder(&keys)
}

/// Whether a daemon runs, its pid, since when, and when one was last seen (reads the log).
pub fn daemon(state: &Dir) -> DaemonStatus {
    let holder = running(state);
    let named = state
        .read_to_string(crate::store::keeper::LOCK)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let (mut since, mut last_seen) = (None, None);
    if let Ok(log) = state.open("logs/walt.jsonl") {
        for line in std::io::BufReader::new(log.into_std()).lines() {
            let Ok(line) = line else { break };
            let ts = line
                .strip_prefix("{\"ts\":\"")
                .and_then(|r| r.split('"').next())
                .map(str::to_string);
            if line.contains("\"event\":\"daemon.started\"") && line.contains("\"level\":\"info\"")
            {
                since = ts.clone();
            }
            if ts.is_some() {
                last_seen = ts;
            }
        }
    }
    DaemonStatus {
        running: holder.is_some(),
        pid: holder.or(named),
        since: since.filter(|_| holder.is_some()),
        last_seen,
    }
}

/// The status's first line.
pub fn render(d: &DaemonStatus, now: jiff::Timestamp) -> String {
    if d.running {
        let up = d
            .since
            .as_deref()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| now.duration_since(t).as_secs().max(0) as u64)
            .map(|s| format!(", up {}", super::status::age(s)))
            .unwrap_or_default();
        format!(
            "daemon: running (pid {}{up})\n",
            d.pid.map_or("?".into(), |p| p.to_string())
        )
    } else {
        format!(
            "daemon: NOT RUNNING (last seen {}{}); start it with `walt daemon`, or as a service\n",
            d.last_seen.as_deref().unwrap_or("never"),
            d.pid
                .map(|p| format!("; the lock named pid {p}"))
                .unwrap_or_default()
        )
    }
}
