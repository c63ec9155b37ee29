//! walt: a daemon that runs a studio of AI agents through plain folders.
//!
//! The crate is a pure coordinator (`coord`) inside an I/O shell, grouped by layer: `model` and
//! `format` (plain data and text), `coord` (Walt, pure), `store` (`state/`), `inbox` (the
//! folders and their mail), `daemon` (the loop and its runs), `cmd` (the command line, which
//! alone opens the studio with ambient authority). See ARCHITECTURE.md for the map.

/// Every crash point (`fail` crate, compiled in only with the `failpoints` feature): one before
/// and after each durable step. `FAILPOINTS=<name>=return` makes the daemon abort there, as a
/// power cut would (no unwinding, no flushing).
pub const FAILPOINTS: &[&str] = &[
    "mailbox.rename.before",
    "mailbox.rename.after",
    "mailbox.write.before_rename",
    "mailbox.sync.before",
    "journal.append.before_write",
    "journal.append.before_fsync",
    "journal.append.after_fsync",
    "desk.sync.before",
];

/// Aborts the process at a crash point when the `failpoints` feature and `FAILPOINTS` say so.
#[macro_export]
macro_rules! crash_point {
    ($name:expr) => {
        fail::fail_point!($name, |_| {
            std::process::abort();
        })
    };
}
pub mod cmd;
pub mod coord;
pub mod daemon;
pub mod format;
pub mod inbox;
pub mod model;
pub mod store;
