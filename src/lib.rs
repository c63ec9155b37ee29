//! walt: a daemon that runs a studio of AI agents through plain folders.
//!
//! The crate is a pure coordinator (`coord`) inside an I/O shell. See ARCHITECTURE.md for the
//! map; `main.rs` is the only place that holds ambient authority over the filesystem.

pub mod cli;
pub mod config;
pub mod coord;
pub mod daemon;
pub mod desk;
pub mod diagnostic;
pub mod intake;
pub mod journal;
pub mod keeper;
pub mod ledger;
pub mod lint;
pub mod log;
pub mod logview;
pub mod mailbox;
pub mod manual;
pub mod order;
pub mod parse;
pub mod record;
pub mod runner;
pub mod status;
pub mod studio;
pub mod submit;
pub mod tokens;
pub mod trace;
pub mod watch;
