//! The daemon's own state in `state/`: the lock, the journal, the structured log.

pub mod journal;
pub mod keeper;
pub mod log;
