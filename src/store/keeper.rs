//! The keeper of `state/`: the single-instance lock, the journal, the structured log and the
//! ledger snapshot, through its own `Dir` on `state/` (Walt's desk never sees this handle).

use std::io::{Read, Seek, Write};

use cap_std::fs::{Dir, OpenOptions};

use crate::coord::PersonDecision;
use crate::model::ledger::Ledger;
use crate::model::order::OrderId;
use crate::model::record::Record;
use crate::store::journal::{Fatal, Journal, JournalError, Replayed};
use crate::store::log::{now_ts, EventLog};

pub const LOCK: &str = "walt.lock";
pub const LEDGER: &str = "ledger.json";
/// Where `walt retry|cancel|unblock` leave a person's decision for the daemon.
pub const DECISIONS: &str = "decisions";

/// A person's decision, as left in `state/decisions/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// `walt retry|cancel|unblock ID`, by whom.
    Order(OrderId, PersonDecision, String),
    /// `walt ack KEY` (`*` for all), by whom.
    Ack(String, String),
}

/// A person's decision as `walt retry|cancel|unblock|ack` writes it (`order` is the ack's key).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DecisionFile {
    pub decision: String,
    pub order: String,
    pub by: String,
    pub at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error("another walt daemon (pid {pid}) holds state/walt.lock; stop it first (kill {pid}), or run this one on another studio with --root")]
    LockHeld { pid: String },
    #[error("another walt daemon holds state/ (its state/walt.lock was moved aside or replaced); find it with `pgrep -a walt` and stop it first")]
    FolderLocked,
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("cannot use state/{what}: {source}; check that the studio is writable by this user")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

pub struct Keeper {
    state: Dir,
    journal: Journal,
    log: EventLog,
    _lock: Lock,
}

/// The single-instance lock: an exclusive `flock` on `state/walt.lock` (which names the pid
/// for people) and on the `state/` folder itself. The folder lock is what cannot be moved
/// aside: a lock file moved or deleted under a running daemon would let a second one start
/// on a fresh file, but the folder it would lock is the one the first holds.
pub struct Lock {
    _file: std::fs::File,
    _folder: std::os::fd::OwnedFd,
}

/// Takes the lock or says who holds it.
fn lock(state: &Dir) -> Result<Lock, KeeperError> {
    let io = |source| KeeperError::Io { what: LOCK, source };
    let folder = rustix::fs::openat(
        state,
        ".",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let mut file = state
        .open_with(LOCK, OpenOptions::new().read(true).write(true).create(true))
        .map_err(io)?
        .into_std();
    if let Err(e) = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        if e == rustix::io::Errno::WOULDBLOCK {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim().to_string();
            return Err(KeeperError::LockHeld {
                pid: if pid.is_empty() {
                    "unknown".into()
                } else {
                    pid
                },
            });
        }
        return Err(io(e.into()));
    }
    if let Err(e) = rustix::fs::flock(
        &folder,
        rustix::fs::FlockOperation::NonBlockingLockExclusive,
    ) {
        if e == rustix::io::Errno::WOULDBLOCK {
            // The lock file was moved aside or replaced: its pid line is not the holder's.
            return Err(KeeperError::FolderLocked);
        }
        return Err(io(e.into()));
    }
    // The pid is for people (and the "lock held" message); the flock is the lock. A daemon
    // that starts over in process (after a full disk) finds its own pid there already, and
    // rewriting it could fail for want of space after the truncation freed its block.
    let pid = format!("{}\n", std::process::id());
    let mut there = String::new();
    let _ = file.read_to_string(&mut there);
    if there != pid {
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        match file.write_all(pid.as_bytes()) {
            Ok(()) => {}
            Err(e) if crate::store::journal::is_disk_full(&e) => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(Lock {
        _file: file,
        _folder: folder,
    })
}

impl Keeper {
    /// Takes the lock, opens the log, and replays the journal into a ledger.
    pub fn open(state: Dir, echo: bool) -> Result<(Keeper, Ledger, Replayed), KeeperError> {
        let lock = lock(&state)?;
        state
            .create_dir_all(DECISIONS)
            .map_err(|source| KeeperError::Io {
                what: "decisions",
                source,
            })?;
        state
            .create_dir_all("logs")
            .map_err(|source| KeeperError::Io {
                what: "logs",
                source,
            })?;
        let logs = state.open_dir("logs").map_err(|source| KeeperError::Io {
            what: "logs",
            source,
        })?;
        let log = EventLog::open(logs, echo).map_err(|source| KeeperError::Io {
            what: "logs/walt.jsonl",
            source,
        })?;
        let mut ledger = Ledger::default();
        let (journal, replayed) = Journal::open(&state, |r| ledger.apply(&r))?;
        Ok((
            Keeper {
                state,
                journal,
                log,
                _lock: lock,
            },
            ledger,
            replayed,
        ))
    }

    /// Journals a batch durably (one fsync), then applies it to the ledger and logs it. Nothing
    /// a record describes may be acknowledged before this returns.
    pub fn commit(&mut self, records: Vec<Record>, ledger: &mut Ledger) -> Result<(), Fatal> {
        if records.is_empty() {
            return Ok(());
        }
        let ts = now_ts();
        let records: Vec<Record> = records
            .into_iter()
            .map(|mut r| {
                if r.ts.is_empty() {
                    r.ts = ts.clone();
                }
                r
            })
            .collect();
        self.journal.append(&records)?;
        for r in &records {
            ledger.apply(r);
            self.log.write(r);
        }
        Ok(())
    }

    /// Logs without journaling: events that change no order's state.
    pub fn log(&mut self, record: &Record) {
        self.log.write(record);
    }

    /// Rewrites `state/ledger.json` atomically (write aside, rename). Not fsynced: it is derived,
    /// and rebuilt from the journal and the folders if a crash leaves it stale.
    pub fn snapshot(&self, ledger: &Ledger, walt: serde_json::Value) -> std::io::Result<()> {
        /// Streamed straight to the file: no copy of the ledger as a JSON tree or a string
        /// (with 10,000 orders those copies were ~30 MB at every snapshot).
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            walt: serde_json::Value,
            max_id: u64,
            #[serde(serialize_with = "entries")]
            orders: &'a Ledger,
        }
        fn entries<S: serde::Serializer>(l: &&Ledger, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(l.entries.values())
        }
        let tmp = format!("{LEDGER}.tmp");
        let f = self.state.open_with(
            &tmp,
            OpenOptions::new().write(true).create(true).truncate(true),
        )?;
        let mut w = std::io::BufWriter::new(f);
        let doc = Doc {
            walt,
            max_id: ledger.max_id,
            orders: ledger,
        };
        serde_json::to_writer_pretty(&mut w, &doc)?;
        w.flush()?;
        drop(w);
        self.state.rename(&tmp, &self.state, LEDGER)
    }

    /// People's decisions waiting in `state/decisions/`, oldest first: (file name, the
    /// decision or why it cannot be read).
    #[allow(clippy::type_complexity)]
    pub fn decisions(&self) -> Vec<(String, Result<Decided, String>)> {
        let Ok(dir) = self.state.open_dir(DECISIONS) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .entries()
            .map(|it| {
                it.filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.ends_with(".json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let parsed = dir
                    .read(&n)
                    .map_err(|e| e.to_string())
                    .and_then(|b| {
                        serde_json::from_slice::<DecisionFile>(&b).map_err(|e| e.to_string())
                    })
                    .and_then(|d| {
                        if d.decision == "ack" {
                            return Ok(Decided::Ack(d.order, d.by));
                        }
                        let id = OrderId::parse(&d.order).ok_or("not an order id")?;
                        let kind = PersonDecision::parse(&d.decision)
                            .ok_or("not retry, cancel, unblock or ack")?;
                        Ok(Decided::Order(id, kind, d.by))
                    });
                (n, parsed.map_err(|e| e.to_string()))
            })
            .collect()
    }

    /// Sets a decision that was acted on aside (`state/decisions/done/`); nothing is deleted.
    pub fn file_decision(&self, name: &str) -> std::io::Result<()> {
        let dir = self.state.open_dir(DECISIONS)?;
        dir.create_dir_all("done")?;
        dir.rename(name, &dir, format!("done/{name}"))
    }

    pub fn journal_records(&self) -> u64 {
        self.journal.records()
    }
}

/// What holds the studio while the daemon waits for disk space: the lock (so no second daemon
/// starts meanwhile) and the log.
pub struct Paused {
    state: Dir,
    log: EventLog,
    _lock: Lock,
}

impl Paused {
    pub fn hold(state: Dir, echo: bool) -> Result<Paused, KeeperError> {
        let lock = lock(&state)?;
        let io = |source| KeeperError::Io {
            what: "logs/walt.jsonl",
            source,
        };
        let log = EventLog::open(state.open_dir("logs").map_err(io)?, echo).map_err(io)?;
        Ok(Paused {
            state,
            log,
            _lock: lock,
        })
    }

    pub fn log(&mut self, record: &Record) {
        self.log.write(record);
    }

    /// Bytes an unprivileged writer may still use on the studio's filesystem.
    pub fn free_bytes(&self) -> std::io::Result<u64> {
        let fd = rustix::fs::openat(
            &self.state,
            ".",
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let st = rustix::fs::fstatvfs(&fd)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }
}
