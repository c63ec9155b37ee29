//! The append-only journal `state/journal.jsonl`: every state change, durable before the step
//! it records is acknowledged. Replay on start streams it (a million lines need not fit in
//! memory at once); a torn last record is dropped, a corrupt one in the middle stops the daemon.
//!
//! A failed fsync is fatal (fail-stop, as PostgreSQL does on fsync failure): after an fsync
//! error the kernel may have dropped the dirty pages, so retrying could report success for data
//! that is gone. The caller stops instead. A write refused for want of space (ENOSPC, EDQUOT)
//! is different: the journal is cut back to its last whole record (truncating needs no space),
//! nothing of the batch was acknowledged, and the daemon waits for space instead of stopping.

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};

use cap_std::fs::{Dir, OpenOptions};

use crate::model::record::Record;

pub const JOURNAL: &str = "journal.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("state/journal.jsonl:{line}: corrupt record in the middle of the journal ({message}); the history cannot be skipped: repair that line, or move the journal aside to rebuild state from the folders")]
    Corrupt { line: u64, message: String },
    #[error("cannot open or read state/journal.jsonl: {0}")]
    Io(#[from] std::io::Error),
}

/// A durable step that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// A write or sync failed: what was written may not be on disk. The daemon stops on it.
    #[error("the journal could not be made durable ({0}); stopping so nothing is acknowledged that is not on disk (fix the disk, then start again)")]
    NotDurable(std::io::Error),
    /// The disk (or the user's quota) is full: nothing of the write was kept. The daemon
    /// pauses until there is space, then starts over from what the folders and journal say.
    #[error("the disk is full ({0}); nothing more is taken until there is space")]
    DiskFull(std::io::Error),
}

impl Fatal {
    /// A failed write: `DiskFull` when it was refused for want of space.
    pub fn write(e: std::io::Error) -> Fatal {
        if is_disk_full(&e) {
            Fatal::DiskFull(e)
        } else {
            Fatal::NotDurable(e)
        }
    }
}

/// ENOSPC or EDQUOT.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    let full = [rustix::io::Errno::NOSPC, rustix::io::Errno::DQUOT];
    e.raw_os_error()
        .is_some_and(|n| full.iter().any(|f| f.raw_os_error() == n))
}

pub struct Journal {
    file: std::fs::File,
    records: u64,
    /// The length of the journal's whole records: where a failed append is cut back to.
    len: u64,
}

/// What replay found.
#[derive(Debug, Default)]
pub struct Replayed {
    pub records: u64,
    /// Bytes of a torn last record that were dropped.
    pub torn_bytes: u64,
}

impl Journal {
    /// Opens (creating) the journal in `state`, feeds every record to `apply` in order, and
    /// drops a torn tail.
    pub fn open(
        state: &Dir,
        mut apply: impl FnMut(Record),
    ) -> Result<(Journal, Replayed), JournalError> {
        let file = state
            .open_with(
                JOURNAL,
                OpenOptions::new().read(true).append(true).create(true),
            )?
            .into_std();
        let mut reader = BufReader::with_capacity(1 << 16, &file);
        let mut good_end: u64 = 0;
        let mut line_no: u64 = 0;
        let mut buf = Vec::new();
        let mut pending_error: Option<(u64, String, u64)> = None;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if let Some((line, message, _)) = pending_error.take() {
                // A bad record followed by more data is corruption, not a torn write.
                return Err(JournalError::Corrupt { line, message });
            }
            let complete = buf.last() == Some(&b'\n');
            let text = &buf[..if complete { n - 1 } else { n }];
            if text.iter().all(u8::is_ascii_whitespace) && complete {
                good_end += n as u64;
                continue;
            }
            match serde_json::from_slice::<Record>(text) {
                Ok(r) if complete => {
                    apply(r);
                    good_end += n as u64;
                }
                Ok(_) => pending_error = Some((line_no, "no newline at the end".into(), n as u64)),
                Err(e) => pending_error = Some((line_no, e.to_string(), n as u64)),
            }
        }
        let mut replayed = Replayed {
            records: 0,
            torn_bytes: 0,
        };
        if let Some((_, _, bytes)) = pending_error {
            // The last record was cut short by a crash before it was acknowledged: drop it.
            file.set_len(good_end)?;
            file.sync_all()?;
            replayed.torn_bytes = bytes;
        }
        drop(reader);
        let mut file = file;
        file.seek(SeekFrom::End(0))?;
        replayed.records = line_no - u64::from(replayed.torn_bytes > 0);
        Ok((
            Journal {
                file,
                records: replayed.records,
                len: good_end,
            },
            replayed,
        ))
    }

    /// Appends a batch and makes it durable with one fsync (group commit).
    pub fn append(&mut self, records: &[Record]) -> Result<(), Fatal> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * 200);
        for r in records {
            buf.extend_from_slice(r.to_line().as_bytes());
            buf.push(b'\n');
        }
        crate::crash_point!("journal.append.before_write");
        if let Err(e) = self.file.write_all(&buf) {
            // A record cut short would make the next ones unreadable: cut back to the last
            // whole record. If even that fails, the next start drops the torn tail.
            let _ = self.file.set_len(self.len);
            return Err(Fatal::write(e));
        }
        crate::crash_point!("journal.append.before_fsync");
        self.file.sync_data().map_err(Fatal::NotDurable)?;
        crate::crash_point!("journal.append.after_fsync");
        self.records += records.len() as u64;
        self.len += buf.len() as u64;
        Ok(())
    }

    pub fn records(&self) -> u64 {
        self.records
    }
}

/// Reads the journal without opening it for writing (for `walt status` and `walt trace` while
/// the daemon runs). A torn tail is skipped, not repaired; corruption in the middle is an error.
pub fn read(state: &Dir, mut apply: impl FnMut(u64, Record)) -> Result<(), JournalError> {
    let file = match state.open(JOURNAL) {
        Ok(f) => f.into_std(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut line_no = 0;
    let mut pending: Option<(u64, String)> = None;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        if let Some((line, message)) = pending.take() {
            return Err(JournalError::Corrupt { line, message });
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let complete = buf.last() == Some(&b'\n');
        match serde_json::from_slice::<Record>(&buf) {
            Ok(r) if complete => apply(line_no, r),
            Ok(_) => pending = Some((line_no, "no newline at the end".into())),
            Err(e) => pending = Some((line_no, e.to_string())),
        }
    }
    Ok(())
}
