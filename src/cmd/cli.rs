//! The command line as plain data (clap derive). Turning it into a validated `Config` and a
//! studio handle is a separate step, each command's own (`cmd::open_studio`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit codes, named once.
pub mod exit {
    pub const OK: i32 = 0;
    /// Lint errors, nothing to claim, an unknown id: the command ran and the answer is "no".
    pub const FAILED: i32 = 1;
    /// A usage error.
    pub const USAGE: i32 = 2;
    /// The studio cannot be used: no config, bad config, lock held, journal corrupt.
    pub const STUDIO: i32 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "walt",
    version,
    about = "Runs a studio of AI agents through plain folders; Walt only routes."
)]
pub struct Cli {
    /// The studio folder (default: the current directory).
    #[arg(long, global = true, env = "WALT_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a studio: folders, inboxes for walt, human, chip and rex, a commented config.
    Init {
        /// Where to create it (default: --root, or the current directory).
        dir: Option<PathBuf>,
    },
    /// Check work orders, reports (and walt.toml); print compiler-style diagnostics.
    Lint {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the daemon in the foreground until SIGTERM or SIGINT (systemd Type=notify).
    Daemon,
    /// Lint a work order, then deliver it atomically to Walt (inbox/walt/new/); print where.
    Submit {
        /// The work order (markdown).
        file: PathBuf,
        /// Ask for this agent (sets `to:` in the front matter).
        #[arg(long, value_name = "AGENT")]
        to: Option<String>,
    },
    /// Every open order, the inboxes' depths, and Walt's generation and hot tokens.
    Status {
        /// One JSON object for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Move the oldest order in AGENT's new/ to active/ and print its path (a manual agent's claim).
    Claim {
        /// The agent claiming.
        agent: String,
    },
    /// Deliver a report on order ID to Walt (from FILE, or write a skeleton to edit).
    Report {
        /// The order id.
        id: String,
        /// done, failed, halted, rerouted or blocked.
        #[arg(long)]
        status: String,
        /// The report (markdown). Without it, a skeleton `report-<id>.md` is written here.
        file: Option<PathBuf>,
    },
    /// A person's decision: send order ID out again as a fresh attempt.
    Retry {
        /// The order id.
        id: String,
    },
    /// A person's decision: cancel order ID.
    Cancel {
        /// The order id.
        id: String,
    },
    /// A person's decision: release order ID parked behind a blocker.
    Unblock {
        /// The order id.
        id: String,
    },
    /// Serve MCP over standard input/output for one manual agent: its orders, lint, report
    /// and submit as tools (a coding agent's MCP client works the studio without a shell).
    Mcp {
        /// The agent whose inbox the tools work.
        #[arg(long)]
        agent: String,
    },
    /// The studio live in the terminal: the daemon, Walt's meter, runs, orders and what
    /// needs a person; up/down select, Enter traces an order, `a` acknowledges, `q` quits.
    Top,
    /// Acknowledge what needs a person: close the attention item KEY (as `walt status` lists
    /// it), or every open item with --all. A condition that comes back opens its item again.
    Ack {
        /// The item's key, e.g. `stalled:0007`, `setup:chip`, `brain`.
        #[arg(required_unless_present = "all")]
        key: Option<String>,
        /// Every open item.
        #[arg(long, conflicts_with = "key")]
        all: bool,
    },
    /// The structured log, readable: time, level, event, order, agent, reason.
    Log {
        /// Keep printing as the log grows (across daily rotation).
        #[arg(long, short)]
        follow: bool,
        /// Only this order's events.
        #[arg(long, value_name = "ID")]
        order: Option<String>,
        /// Only events starting with this (e.g. `signal.` or `recovery`).
        #[arg(long, value_name = "PREFIX")]
        event: Option<String>,
    },
    /// Print shell completions for SHELL (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) generated from this command line.
    Man,
    /// One order's whole history from the journal: each step, who, why, and the state then.
    Trace {
        /// The order id (e.g. 0042).
        id: String,
        /// The journal records of that order, oldest first, as a JSON array.
        #[arg(long)]
        json: bool,
    },
}
