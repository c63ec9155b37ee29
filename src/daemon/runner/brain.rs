//! The brain command: `prompt` on its standard input, its answer from standard output, in the
//! same sandbox as a command agent's run but with no Files and no `repos/`: it may read the
//! system's folders and run its program, write only its own run folder, and reach nothing of
//! the studio (`repos/`, `state/`, `config/`, the inboxes). Ended, with everything it started,
//! at its `timeout`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{clear_env, confine, isolate, reach, run_folder, wait_or_kill};
use crate::format::config::BrainSettings;

/// Asks the brain; returns the answer or why there is none, and the last lines it wrote to
/// stderr. `studio` is where a relative program is found (e.g. `contrib/brain.sh`).
pub fn ask_brain(
    brain: &BrainSettings,
    prompt: &str,
    studio: &Path,
) -> (Result<String, String>, String) {
    let dir = match run_folder("walt-brain-") {
        Ok(d) => d,
        Err(e) => return (Err(e), String::new()),
    };
    ask_in(brain, prompt, studio, dir.path())
}

fn ask_in(
    brain: &BrainSettings,
    prompt: &str,
    studio: &Path,
    dir: &Path,
) -> (Result<String, String>, String) {
    let (command, timeout) = (&brain.command, brain.timeout);
    let (program, reach) = match reach(command, studio, &brain.profile, dir) {
        Ok(r) => r,
        Err(e) => return (Err(format!("the brain cannot be run: {e}")), String::new()),
    };
    let sandbox = confine::available().and_then(|()| confine::Sandbox::new(reach));
    let mut sandbox = match sandbox {
        Ok(s) => s,
        Err(e) => {
            return (
                Err(format!(
                    "the brain cannot be confined here ({e}); it is not run"
                )),
                String::new(),
            )
        }
    };
    let mut cmd: Command = match sandbox.command(&program, &command[1..], dir) {
        Ok(c) => c,
        Err(e) => return (Err(e), String::new()),
    };
    clear_env(&mut cmd, &brain.profile.env);
    cmd.env("TMPDIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    isolate(&mut cmd, sandbox.inherited());
    let started = Instant::now();
    let spawned = cmd.spawn();
    let inner = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(-1));
    if spawned.is_ok() {
        inner.store(0, std::sync::atomic::Ordering::SeqCst);
        sandbox.watch_inner(inner.clone());
    }
    drop(sandbox);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return (Err(format!("cannot start {command:?}: {e}")), String::new()),
    };
    let pgid = child.id() as i32;
    // Registered like a run, so a daemon that stops or pauses ends the brain's sandbox too.
    super::groups().insert(pgid, inner.clone());
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
        // Whatever follows is read and dropped, so the brain is not blocked writing it.
        let _ = std::io::copy(&mut out, &mut std::io::sink());
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = (&mut err).take(1 << 20).read_to_end(&mut b);
        let _ = std::io::copy(&mut err, &mut std::io::sink());
        b
    });
    let (status, timed_out) = wait_or_kill(&mut child, pgid, &inner, started, timeout);
    super::groups().remove(&pgid);
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
