//! The command line: its grammar as plain data and one file per command or view.

pub mod cli;
pub mod lint;
pub mod logview;
pub mod manual;
pub mod status;
pub mod trace;
