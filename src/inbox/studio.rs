//! The studio's folder layout, and `walt init`, which creates it.
//!
//! Everything here works through a `cap_std::fs::Dir` for the studio root handed down from
//! `main`; nothing resolves an ambient path.

use std::io::Write;

use cap_std::fs::{Dir, OpenOptions};

use crate::format::config::SAMPLE;
use crate::model::order::{AgentName, HUMAN, WALT};

pub const CONFIG: &str = "config/walt.toml";
/// The folders of every inbox. `tmp/` is staging for atomic writers and never read as mail.
pub const INBOX_FOLDERS: [&str; 5] = ["tmp", "new", "active", "done", "held"];
/// Walt's handoff briefs live beside its inbox folders.
pub const HANDOFF: &str = "inbox/walt/handoff";

/// The studio's top-level folders.
pub const TOP: [&str; 5] = ["config", "inbox", "repos", "state", "state/logs"];

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "{0} already exists; walt init never overwrites a config (edit it, or init another folder)"
    )]
    ConfigExists(&'static str),
    #[error("cannot create {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let path = path.into();
    move |source| InitError::Io { path, source }
}

/// Creates an inbox's folders for one agent (idempotent).
pub fn ensure_inbox(root: &Dir, agent: &AgentName) -> std::io::Result<()> {
    for f in INBOX_FOLDERS {
        root.create_dir_all(format!("inbox/{agent}/{f}"))?;
    }
    if agent.as_str() == WALT {
        root.create_dir_all(HANDOFF)?;
    }
    Ok(())
}

/// Creates the studio's folders with the sample config. Refuses when a config exists.
pub fn init(root: &Dir) -> Result<(), InitError> {
    if root.exists(CONFIG) {
        return Err(InitError::ConfigExists(CONFIG));
    }
    for t in TOP {
        root.create_dir_all(t).map_err(io(t))?;
    }
    let agents = [WALT, HUMAN, "chip", "rex"];
    for a in agents {
        let name = AgentName::new(a).expect("built-in names are valid");
        ensure_inbox(root, &name).map_err(io(format!("inbox/{a}")))?;
    }
    let mut f = root
        .open_with(CONFIG, OpenOptions::new().write(true).create_new(true))
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                InitError::ConfigExists(CONFIG)
            } else {
                io(CONFIG)(e)
            }
        })?;
    f.write_all(SAMPLE.as_bytes()).map_err(io(CONFIG))?;
    f.sync_all().map_err(io(CONFIG))?;
    Ok(())
}
