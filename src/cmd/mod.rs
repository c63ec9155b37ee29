//! The command line: its grammar as plain data (`cli`), one file per command or view, and the
//! one typed error every command returns, mapped to its exit code in one place.
//!
//! This layer is the binary's edge and holds its ambient authority: it opens the studio root
//! named by `--root` (or `WALT_ROOT`, or the current directory) and the files named on the
//! command line; everything below works through the `Dir` handles it hands down.

pub mod alive;
pub mod cli;
pub mod decide;
pub mod deliver;
pub mod init;
pub mod lint;
pub mod logview;
pub mod manual;
pub mod mcp;
pub mod status;
pub mod top;
pub mod trace;

use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::coord::PersonDecision;
use crate::daemon::DaemonError;
use crate::format::config::Config;
use crate::model::order::{AgentName, OrderId, HUMAN};
use crate::store::journal::JournalError;
use cli::{exit, Cli, Command};

/// Why a command did not do what it was asked. Each variant has one exit code
/// (`exit_code`), so no command picks its own.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong: a bad id, an unknown agent or status (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The command ran and the answer is no: nothing to claim, an unknown order, a file that
    /// does not lint or cannot be read (exit 1).
    #[error("{0}")]
    No(String),
    /// The answer is no and the command already said why (lint's diagnostics) (exit 1).
    #[error("")]
    Said,
    /// The studio cannot be used: not a studio, unreadable folders, a bad config (exit 3).
    #[error("{0}")]
    Studio(String),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl Error {
    /// The exit code for this error (0 ok, 1 no, 2 usage, 3 studio unusable): the one place they are chosen.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::No(_) | Error::Said => exit::FAILED,
            Error::Studio(_) | Error::Daemon(_) | Error::Journal(_) => exit::STUDIO,
        }
    }
}

pub type Result<T = ()> = std::result::Result<T, Error>;

/// Runs one command.
pub fn run(cli: Cli) -> Result {
    let root = &cli.root;
    match cli.command {
        Command::Init { ref dir } => init::init(dir.clone().unwrap_or_else(|| root_path(root))),
        Command::Lint { ref files } => lint::command(root, files),
        Command::Daemon => daemon(root),
        Command::Submit { ref file, ref to } => deliver::submit(root, file, to.as_deref()),
        Command::Status { json } => status::command(root, json),
        Command::Trace { ref id, json } => trace::command(root, id, json),
        Command::Claim { ref agent } => manual::command(root, agent),
        Command::Log {
            follow,
            ref order,
            ref event,
        } => logview::command(root, follow, order.as_deref(), event.clone()),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "walt", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(|e| Error::No(format!("cannot write the man page: {e}")))
        }
        Command::Report {
            ref id,
            ref status,
            ref file,
        } => deliver::report(root, id, status, file.as_deref()),
        Command::Retry { ref id } => decide::decide(root, id, PersonDecision::Retry),
        Command::Cancel { ref id } => decide::decide(root, id, PersonDecision::Cancel),
        Command::Unblock { ref id } => decide::decide(root, id, PersonDecision::Unblock),
        Command::Ack { ref key, all } => decide::ack(root, key.as_deref(), all),
        Command::Mcp { ref agent } => mcp::command(root, agent),
        Command::Top => top::command(root),
    }
}

fn daemon(cli_root: &Option<PathBuf>) -> Result {
    let (path, root) = open_root(cli_root)?;
    let root_path = std::fs::canonicalize(&path).unwrap_or(path);
    let opts = crate::daemon::Options {
        root_path,
        ..Default::default()
    };
    Ok(crate::daemon::run(root, opts)?)
}

pub fn root_path(cli_root: &Option<PathBuf>) -> PathBuf {
    cli_root.clone().unwrap_or_else(|| PathBuf::from("."))
}

pub fn parse_id(id: &str) -> Result<OrderId> {
    OrderId::parse(id).ok_or_else(|| {
        Error::Usage(format!(
            "`{}` is not an order id (e.g. 0042)",
            id.escape_debug()
        ))
    })
}

fn agent_list(cfg: &Config) -> String {
    cfg.agent_names()
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The configured agent (or `human`) named on the command line, or a usage error listing them.
pub fn agent_arg(cfg: &Config, name: &str, flag: &str) -> Result<AgentName> {
    match AgentName::new(name) {
        Ok(a) if cfg.agent(a.as_str()).is_some() || a.as_str() == HUMAN => Ok(a),
        Ok(_) => Err(Error::Usage(format!(
            "{flag}`{}` is not an agent of this studio (the agents are {})",
            name.escape_debug(),
            agent_list(cfg)
        ))),
        Err(e) => Err(Error::Usage(format!("{flag}{e}"))),
    }
}

/// Opens the studio root: the one place ambient authority is used for it.
pub fn open_root(cli_root: &Option<PathBuf>) -> Result<(PathBuf, Dir)> {
    let path = root_path(cli_root);
    Dir::open_ambient_dir(&path, ambient_authority())
        .map(|d| (path.clone(), d))
        .map_err(|e| {
            Error::Studio(format!(
                "cannot open the studio {}: {e}; create one with `walt init {}` or pass --root",
                path.display(),
                path.display()
            ))
        })
}

/// Opens the studio and loads its config, or says why not.
pub fn open_studio(cli_root: &Option<PathBuf>) -> Result<(PathBuf, Dir, Config)> {
    let (path, root) = open_root(cli_root)?;
    match crate::daemon::load_config(&root) {
        Ok(cfg) => Ok((path, root, cfg)),
        Err(e) => Err(Error::Studio(format!("{}: {e}", path.display()))),
    }
}

pub fn open_state(root: &Dir, path: &Path) -> Result<Dir> {
    root.open_dir("state").map_err(|e| {
        Error::Studio(format!(
            "cannot open {}/state: {e}; is this a studio? (walt init DIR makes one)",
            path.display()
        ))
    })
}

pub fn open_inbox(root: &Dir, path: &Path) -> Result<Dir> {
    crate::inbox::desk::open_inbox(root)
        .map_err(|e| Error::Studio(format!("cannot open {}/inbox: {e}", path.display())))
}

/// Reads a file named on the command line, at most one byte past the size limit, so a huge or
/// endless file cannot exhaust memory and is still reported as too large.
pub fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    if f.metadata()?.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    let mut buf = Vec::new();
    f.take(crate::format::parse::MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// A path named on the command line, as messages show it (control characters escaped).
pub fn display(path: &Path) -> String {
    path.display().to_string().escape_debug().to_string()
}
