//! Filesystem events as hints: one non-recursive inotify watch per inbox folder that takes
//! deliveries; every event (an overflow's path-less `need_rescan` included, and errors) only
//! wakes the loop, which then reads the folders. The directory is the truth, so a lost event
//! costs latency (the periodic rescan catches it), never an order.

use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError};

/// Why the loop woke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Something changed in a watched folder (or the kernel dropped events).
    Fs,
    /// SIGTERM or SIGINT.
    Stop,
}

/// What wakes the loop for an inbox folder: a file arriving, changing, closing after a write,
/// being touched (a lease), moving or going. Not opens or reads: with notify's fixed mask
/// (which includes `IN_OPEN`) every file the daemon read woke the daemon again, and at
/// start-up 100,000 resumed orders meant 100,000 wasted events.
fn inbox_mask() -> inotify::WatchMask {
    use inotify::WatchMask as M;
    M::CREATE
        | M::MOVED_TO
        | M::MOVED_FROM
        | M::CLOSE_WRITE
        | M::MODIFY
        | M::ATTRIB
        | M::DELETE
        | M::DELETE_SELF
        | M::MOVE_SELF
        | M::DONT_FOLLOW
        | M::ONLYDIR
}

/// The inbox watch's reader thread. Dropping it removes the watches: the kernel then queues
/// `IN_IGNORED` for each, which wakes the reader to see it is done and close the instance.
/// (Not joined: were every watched folder already gone, no event would come to wake it.)
pub struct InboxWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    watches: inotify::Watches,
    added: Vec<inotify::WatchDescriptor>,
    _reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for InboxWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for wd in self.added.drain(..) {
            let _ = self.watches.remove(wd);
        }
    }
}

/// Watches each folder in `paths`, non-recursively and without following symlinks; returns
/// the folders that could not be watched (they are still read by the periodic rescan).
///
/// The reader never blocks on the loop: the channel is bounded, and when it is full a wake is
/// already queued and the loop will rescan everything anyway, so the extra wake is dropped.
/// Blocking here would let the kernel's inotify queue overflow; an overflow (`IN_Q_OVERFLOW`)
/// is one more event, and wakes the loop like any other.
pub fn install(
    paths: &[PathBuf],
    tx: SyncSender<Wake>,
) -> std::io::Result<(InboxWatch, Vec<String>)> {
    let mut inotify = inotify::Inotify::init()?;
    let mut watches = inotify.watches();
    // One folder that cannot be watched must not cost the others their events.
    let mut failed = Vec::new();
    let mut added = Vec::new();
    for p in paths {
        match watches.add(p, inbox_mask()) {
            Ok(wd) => added.push(wd),
            Err(e) => failed.push(format!("{}: {e}", p.display())),
        }
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = if added.is_empty() {
        None
    } else {
        let stop = stop.clone();
        Some(
            std::thread::Builder::new()
                .name("walt-inbox-watch".into())
                .spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let more = match inotify.read_events_blocking(&mut buf) {
                            Ok(_) => true,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            // The watch is gone; the periodic rescan still reads every folder.
                            Err(_) => false,
                        };
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        match tx.try_send(Wake::Fs) {
                            Ok(()) | Err(TrySendError::Full(_)) => {}
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                        if !more {
                            return;
                        }
                    }
                })?,
        )
    };
    Ok((
        InboxWatch {
            stop,
            watches,
            added,
            _reader: reader,
        },
        failed,
    ))
}
