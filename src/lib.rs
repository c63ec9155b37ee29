//! walt: a daemon that runs a studio of AI agents through plain folders.
//!
//! The crate is a pure coordinator (`coord`) inside an I/O shell. See ARCHITECTURE.md for the
//! map; `main.rs` is the only place that holds ambient authority over the filesystem.

pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod lint;
pub mod order;
pub mod parse;
pub mod studio;
