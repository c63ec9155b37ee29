//! `walt submit`: deliver a work order to Walt the way programs must: write it to
//! `inbox/walt/tmp/` under a unique name, fsync it, rename it into `inbox/walt/new/` (never
//! replacing), fsync the folder. Until the rename the daemon cannot see it; after the fsync it
//! survives a crash.

use std::ffi::OsStr;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::Dir;

use crate::inbox::mailbox::{Folder, Mailbox};
use crate::model::order::AgentName;

/// Sets `to:` in a work order's front matter (adding front matter if there is none).
pub fn set_to(bytes: &[u8], to: &AgentName) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---") {
            let front: Vec<&str> = rest[..end]
                .lines()
                .filter(|l| !l.trim_start().to_ascii_lowercase().starts_with("to:"))
                .collect();
            let mut out = format!("---\nto: {to}\n");
            for l in front {
                out.push_str(l);
                out.push('\n');
            }
            out.push_str(&rest[end + 1..]);
            return out.into_bytes();
        }
    }
    format!("---\nto: {to}\n---\n{text}").into_bytes()
}

/// Delivers `bytes` into `inbox/walt/new/` atomically and durably; returns the file name.
pub fn deliver(inbox: Dir, bytes: &[u8]) -> std::io::Result<String> {
    deliver_as(inbox, bytes, "submit")
}

/// The same, with a name prefix saying what it is (`submit-…`, `report-0042-…`).
pub fn deliver_as(inbox: Dir, bytes: &[u8], prefix: &str) -> std::io::Result<String> {
    let mb = Mailbox::new(inbox);
    let walt = AgentName::walt();
    mb.open_inbox(&walt)?;
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!(
        "{prefix}-{}.{:09}.{}.md",
        t.as_secs(),
        t.subsec_nanos(),
        std::process::id()
    );
    mb.write_new(&walt, Folder::New, OsStr::new(&name), bytes, true)?;
    mb.sync(&walt, Folder::New)?;
    Ok(name)
}
