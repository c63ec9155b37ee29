//! Text to values and back: the one parser of orders and reports, `walt.toml`, diagnostics.

pub mod config;
pub mod diagnostic;
pub mod parse;
