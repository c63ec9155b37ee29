//! What a run leaves behind, read as the daemon must read anything a run could have planted:
//! the report file opened without following links, checked regular with one link, at most
//! 64 KiB; and the report the daemon writes itself when a run leaves none, which always lints
//! (the output it quotes is cut to fit), so every run ends in a decision.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::format::parse::{one_line, MAX_BYTES};
use crate::model::order::AgentName;

use super::Finished;

/// Creates a file that must not exist yet (no link followed) with `bytes`.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    f.write_all(bytes)
}

/// The report a run left in its report file: `Ok(None)` when there is none (or it is empty);
/// `Err(why)` when what is there is not a file the daemon reads (a link, a FIFO, a hard link,
/// more than 64 KiB).
pub fn read_report_file(path: &Path) -> Result<Option<String>, String> {
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(
                "its report file is a symbolic link, which the daemon never reads through".into(),
            )
        }
        Err(e) => return Err(format!("its report file cannot be read: {e}")),
    };
    let m = f
        .metadata()
        .map_err(|e| format!("its report file cannot be read: {e}"))?;
    if !m.is_file() {
        return Err("its report file is not a regular file".into());
    }
    if m.nlink() != 1 {
        return Err(format!(
            "its report file is a hard link ({} names for one file), which the daemon never reads",
            m.nlink()
        ));
    }
    let mut buf = Vec::new();
    f.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("its report file cannot be read: {e}"))?;
    if buf.len() > MAX_BYTES {
        return Err(format!(
            "its report file is larger than {} KiB",
            MAX_BYTES / 1024
        ));
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok((!text.trim().is_empty()).then_some(text))
}

/// How much of a run's last output a synthesized report quotes: short lines, and not many.
const TAIL_LINE: usize = 200;
const TAIL_ALL: usize = 2000;

/// The report the daemon files for a run that left none (or timed out, or left one it would
/// not read). It always lints: the output it quotes is one line, cut to fit.
pub fn failed_report(f: &Finished, agent: &AgentName, acceptance: &[String]) -> String {
    let why = if f.timed_out {
        format!(
            "timed out after {:?} and was killed with everything it started",
            f.elapsed
        )
    } else if let Some(refused) = &f.refused {
        format!("{refused} ({})", f.exit)
    } else {
        format!("the command left no report ({})", f.exit)
    };
    let mut out = format!("---\nre: {}\nfrom: {agent}\nstatus: failed\n---\n**Outcome:** The command agent did not finish the order.\n\n**Acceptance:**\n", f.id);
    for a in acceptance {
        out.push_str(&format!("- [ ] {}\n", one_line(a)));
    }
    if acceptance.is_empty() {
        out.push_str("- [ ] the order is done\n");
    }
    let mut tail = String::new();
    for l in f.tail.lines() {
        let l: String = one_line(l).chars().take(TAIL_LINE).collect();
        if tail.len() + l.len() > TAIL_ALL {
            tail.push_str(" / …");
            break;
        }
        tail.push_str(" / ");
        tail.push_str(&l);
    }
    out.push_str(&format!(
        "\n**Touched:**\n- none\n\n**Note:** {}; last output:{}\n",
        one_line(&why),
        if tail.is_empty() {
            " (none)".into()
        } else {
            tail
        }
    ));
    out
}
