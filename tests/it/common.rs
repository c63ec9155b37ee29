//! A temporary studio and the real `walt` binary, for every end-to-end test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `walt` under test: this build's, or the one `WALT_BIN` names (to show that an attack
/// test fails on an older build).
pub static WALT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("WALT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_walt").to_string())
});

/// A studio in `studio/` of a temporary folder; the daemon's standard error goes beside it
/// (`daemon.err`), not in it, so a full studio does not lose it.
pub struct Studio {
    /// Unmounted before the folder is removed (fields drop in order).
    _mount: Option<Unmount>,
    root: PathBuf,
    dir: tempfile::TempDir,
}

impl Studio {
    /// `walt init` on a fresh temporary folder.
    pub fn new() -> Studio {
        Studio::make(None).expect("a studio")
    }

    /// A studio on a tmpfs of its own of `size` (to fill it, or make it read-only); `None`
    /// where mounting is not allowed (not root), which the caller reports as a skip.
    pub fn on_tmpfs(size: &str) -> Option<Studio> {
        Studio::make(Some(size))
    }

    fn make(tmpfs: Option<&str>) -> Option<Studio> {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("studio");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let mount = match tmpfs {
            None => None,
            Some(size) => {
                let mounted = Command::new("mount")
                    .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                    .arg(&root)
                    .status()
                    .is_ok_and(|s| s.success());
                if !mounted {
                    return None;
                }
                Some(Unmount(root.clone()))
            }
        };
        let out = Command::new(&*WALT)
            .arg("init")
            .arg(&root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Studio {
            _mount: mount,
            root,
            dir,
        })
    }

    /// `mount -o OPTIONS` again on a tmpfs studio (`remount,ro`, `remount,size=64m`, …).
    pub fn remount(&self, options: &str) {
        assert!(self._mount.is_some(), "only a tmpfs studio is remounted");
        let ok = Command::new("mount")
            .args(["-o", options])
            .arg(&self.root)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount -o {options} failed");
    }

    /// Where the daemons started by `Daemon` write their standard error.
    pub fn err_path(&self) -> PathBuf {
        self.dir.path().join("daemon.err")
    }

    pub fn daemon_err(&self) -> String {
        std::fs::read_to_string(self.err_path()).unwrap_or_default()
    }

    /// An executable shell script at `agents/NAME` in the studio; returns its path.
    pub fn script(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = self.write(&format!("agents/{name}"), &format!("#!/bin/sh\n{body}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// A studio whose config is the given text.
    pub fn with_config(config: &str) -> Studio {
        let s = Studio::new();
        s.write("config/walt.toml", config);
        s
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `HOME` every command and daemon of this studio runs with (beside the studio, so a
    /// profile's `~` is a folder of the test's own).
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Runs `walt --root <studio> args…`.
    pub fn walt(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&*WALT);
        c.arg("--root").arg(self.root()).args(args);
        c.env_remove("WALT_ROOT");
        c.env("HOME", self.home());
        c.stdin(Stdio::null());
        c
    }

    /// Everything the runs of order `id` wrote, attempt by attempt: each archived attempt's
    /// log in `done/` (`<stem>.aN.log`, then the accepted one's `<stem>.log`), then a run's in
    /// `active/` (`<id>.log`).
    pub fn run_log(&self, agent: &str, id: &str) -> String {
        let mut logs: Vec<(u32, String)> = self
            .ls(&format!("inbox/{agent}/done"))
            .into_iter()
            .filter(|n| n.starts_with(&format!("{id}-")) && n.ends_with(".log"))
            .map(|n| {
                let attempt = n
                    .trim_end_matches(".log")
                    .rsplit_once(".a")
                    .and_then(|(_, a)| a.parse().ok())
                    .unwrap_or(u32::MAX - 1);
                (attempt, format!("inbox/{agent}/done/{n}"))
            })
            .collect();
        logs.push((u32::MAX, format!("inbox/{agent}/active/{id}.log")));
        logs.sort();
        logs.iter()
            .filter_map(|(_, p)| std::fs::read_to_string(self.path(p)).ok())
            .collect()
    }

    /// File names in a studio folder, sorted.
    pub fn ls(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = match std::fs::read_dir(self.path(rel)) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Replaces the temporary studio path in output so snapshots are stable.
pub fn scrub(text: &str, studio: &Studio) -> String {
    text.replace(&studio.root().display().to_string(), "[studio]")
}

/// A running `walt daemon` on a studio; stopped with SIGTERM (or killed) on drop.
pub struct Daemon {
    pub child: std::process::Child,
}

impl Daemon {
    pub fn start(s: &Studio) -> Daemon {
        Daemon::start_with(s, &[])
    }

    /// Starts with more environment than a test's commands get (the PATH a CLI is on, an API
    /// key a profile passes through).
    pub fn start_with(s: &Studio, env: &[(&str, &str)]) -> Daemon {
        let started = s
            .log()
            .iter()
            .filter(|r| r["event"] == "daemon.started" && r["level"] == "info")
            .count();
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(s.err_path())
            .unwrap();
        let mut cmd = s.cmd(&["daemon"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.stdout(Stdio::null()).stderr(err).spawn().unwrap();
        let mut d = Daemon { child };
        wait_for("the daemon to start", || {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("daemon exited with {status}: {}", s.daemon_err());
            }
            s.log()
                .iter()
                .filter(|r| r["event"] == "daemon.started" && r["level"] == "info")
                .count()
                > started
        });
        d
    }

    /// Starts without waiting.
    pub fn spawn(s: &Studio) -> Daemon {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(s.err_path())
            .unwrap();
        let child = s
            .cmd(&["daemon"])
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        Daemon { child }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGTERM, then the exit code.
    pub fn stop(mut self) -> Option<i32> {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status.code()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(mut self) {
        unsafe { libc::kill(self.pid(), libc::SIGKILL) };
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Unmounts a tmpfs when the test ends, pass or fail.
pub struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Whether a process has ended (gone, or a zombie nobody has reaped yet).
pub fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| st.contains(") Z "))
}

/// Whether no process on this machine has `needle` in its command line: how a test sees that
/// a run's processes are gone (a pid a run prints is its sandbox's, meaningless out here).
pub fn none_running(needle: &str) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return true;
    };
    !rd.flatten().any(|e| {
        let pid = e.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            return false;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd: Vec<u8> = cmd.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
        String::from_utf8_lossy(&cmd).contains(needle)
    })
}

/// The `sleep` a slow agent for `marker` runs: a duration no other test's agent uses, so
/// `none_running(&format!("sleep {}", slow_sleep(..)))` finds its runs.
pub fn slow_sleep(marker: &str, secs: u32) -> String {
    let tag = marker.bytes().map(u32::from).sum::<u32>() % 9000 + 1000;
    format!("{secs}.{tag}")
}

/// A command agent's script body: says `start <pid>`, works `secs` seconds, appends a line to
/// the widget, then reports `done` with `order()`'s bullets ticked for `marker`.
pub fn slow_agent(marker: &str, secs: u32) -> String {
    format!(
        "echo \"start $$\"\nsleep {}\necho \"// run $$\" >> app/src/widget.rs\nprintf -- '---\\nre: %s\\nfrom: chip\\nstatus: done\\n---\\n**Outcome:** Polished.\\n\\n**Acceptance:**\\n- [x] `cargo test` passes\\n- [x] the widget shines in the demo\\n- [x] the changelog names {marker}\\n\\n**Touched:**\\n- repos/app/src/widget.rs\\n\\n**Note:** none\\n' \"$WALT_ORDER_ID\" > \"$WALT_REPORT_FILE\"\n",
        slow_sleep(marker, secs)
    )
}

/// Polls `cond` until it holds; fails the test with `what` after 30 s. Waiting is not a
/// timing assertion: a slow machine only makes the test slower.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl Studio {
    /// The structured log's records.
    pub fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path("state/logs/walt.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn log_count(&self, event: &str) -> usize {
        self.log().iter().filter(|r| r["event"] == event).count()
    }

    /// The journal's records.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path("state/journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("journal line is JSON"))
            .collect()
    }

    /// Delivers like a program: tmp/ then rename into new/.
    pub fn deliver(&self, agent: &str, name: &str, text: &str) {
        let tmp = self.path(&format!("inbox/{agent}/tmp/{name}"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.path(&format!("inbox/{agent}/new/{name}"))).unwrap();
    }

    /// Every file under inbox/ (relative paths), sorted.
    pub fn inbox_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let t = e.file_type().unwrap();
                if t.is_dir() {
                    walk(&e.path(), base, out);
                } else if t.is_file() && e.file_name() != ".gitkeep" {
                    out.push(
                        e.path()
                            .strip_prefix(base)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        walk(&self.path("inbox"), &self.path("inbox"), &mut out);
        out.sort();
        out
    }

    /// `walt status --json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        let o = self.walt(&["status", "--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

/// A clean work order whose objective carries `marker`, so tests can count it anywhere.
pub fn order(marker: &str, front: &str) -> String {
    format!(
        "---\n{front}---\n**Objective:** The widget {marker} is polished.\n\n**Acceptance:**\n- `cargo test` passes\n- the widget shines in the demo\n- the changelog names {marker}\n\n**Files:**\n- repos/app/src/widget.rs\n\n**Branching:**\n- halt-with-note if the widget is gone\n"
    )
}

/// A work order to chip over `files`, its objective naming `marker`.
pub fn order_for(marker: &str, files: &[&str]) -> String {
    format!(
        "---\nto: chip\n---\n**Objective:** The widget {marker} is polished.\n\n**Acceptance:**\n- `cargo test` passes\n- the widget shines in the demo\n- the changelog names {marker}\n\n**Files:**\n{}\n**Branching:**\n- halt-with-note if the widget is gone\n",
        files.iter().map(|f| format!("- {f}\n")).collect::<String>()
    )
}

/// `order()` over a File of its marker's own (`repos/app/src/<marker>.rs`): orders that must
/// be in flight together may not share a File (SPEC §9.3).
pub fn order_own(marker: &str, front: &str) -> String {
    order(marker, front).replace(
        "- repos/app/src/widget.rs\n",
        &format!("- repos/app/src/{marker}.rs\n"),
    )
}

/// The marker `order()` put in a file's objective.
pub fn marker_of(text: &str) -> String {
    text.split("**Objective:** The widget ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("")
        .to_string()
}

impl Studio {
    /// Replaces `from` with `to` in the studio's config (the sample `walt init` writes).
    pub fn edit_config(&self, from: &str, to: &str) {
        let cfg = self.read("config/walt.toml");
        assert!(cfg.contains(from), "the config has no {from:?}");
        self.write("config/walt.toml", &cfg.replacen(from, to, 1));
    }

    /// A small meter, so tests reach rotation, handoff and backpressure with few orders.
    pub fn small_meter(&self, rotate_at: u32, ceiling: u32) {
        self.edit_config("rotate_at = 6000", &format!("rotate_at = {rotate_at}"));
        self.edit_config("ceiling = 7000", &format!("ceiling = {ceiling}"));
    }

    /// Makes chip a command agent running `program`, with more agent keys in `extra`. Its
    /// wait after a failed run is short (`backoff = "100ms"`), so tests of retries stay quick;
    /// `tests/it/operating.rs` tests the real waits.
    pub fn chip_command(&self, program: &str, extra: &str) {
        let backoff = if extra.contains("backoff") {
            ""
        } else {
            "backoff = \"100ms\"\n"
        };
        self.edit_config(
            "# command = [\"contrib/chip-agent.sh\"]",
            &format!("command = [{program:?}]\n{backoff}{extra}\n#"),
        );
    }

    /// The journal's events for one order, oldest first.
    pub fn events(&self, id: &str) -> Vec<String> {
        self.journal()
            .iter()
            .filter(|r| r["order"] == id)
            .map(|r| r["event"].as_str().unwrap().to_string())
            .collect()
    }
}

/// A command agent's body that does its order: appends a line to each of its Files and
/// reports `done` with every Acceptance bullet ticked and the Files as Touched.
pub fn report_done_script() -> String {
    r#"files=$(awk '$0 == "**Files:**" {on=1; next} /^\*\*/ {on=0} on && /^- / {print substr($0, 3)}' "$WALT_ORDER_FILE")
for f in $files; do mkdir -p "$(dirname "${f#repos/}")"; echo "// order $WALT_ORDER_ID" >> "${f#repos/}"; done
{
printf -- '---\nre: %s\nfrom: %s\nstatus: done\n---\n**Outcome:** Done.\n\n**Acceptance:**\n' "$WALT_ORDER_ID" "$WALT_AGENT"
awk '$0 == "**Acceptance:**" {on=1; next} /^\*\*/ {on=0} on && /^- / {print "- [x] " substr($0, 3)}' "$WALT_ORDER_FILE"
printf '\n**Touched:**\n'
for f in $files; do printf -- '- %s\n' "$f"; done
printf '\n**Note:** none\n'
} > "$WALT_REPORT_FILE"
"#
    .to_string()
}
