//! Durable moves of mail between an inbox's folders, through a handle on `inbox/` alone.
//!
//! `Mailbox` holds a `cap_std::fs::Dir` for `inbox/` and, per agent, handles on that agent's
//! folders opened without following symlinks. Every operation names a folder and one plain file
//! name (no `/`, not `.` or `..`) and is an `*at` system call on a held folder handle, so no
//! path it is given can reach outside `inbox/`: not by `..`, not by an absolute path, not
//! through a symlink planted or swapped in (files are opened `O_NOFOLLOW`, renames never follow),
//! and a hard link that already exists is refused by its link count. Renames never replace:
//! `RENAME_NOREPLACE`, so no order can overwrite another.
//!
//! Durability is the caller's to batch: a move is a rename; `sync` fsyncs a folder; `sync_all`
//! flushes the whole filesystem once for a batch of new files (group commit).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_fs_ext::DirExt;
use cap_std::fs::Dir;
use rustix::fs::{FileType, Mode, OFlags, RenameFlags};

use crate::inbox::studio::INBOX_FOLDERS;
use crate::model::order::AgentName;
pub use crate::model::state::Folder;

/// What an entry in a folder is, from `readdir` without following anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: OsString,
    pub kind: EntryKind,
}

/// A file opened for reading, known to be a regular file with one link.
pub struct Mail {
    pub fd: OwnedFd,
    pub size: u64,
    pub ino: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

/// Why something in an inbox is not mail that may be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotMail {
    Symlink,
    Directory,
    HardLink(u64),
    Fifo,
    Socket,
    Device,
    Gone,
}

impl NotMail {
    pub fn describe(&self) -> String {
        match self {
            NotMail::Symlink => "a symbolic link: walt never opens through one".into(),
            NotMail::Directory => "a directory, not a file".into(),
            NotMail::HardLink(n) => format!("a hard link ({n} names for one file): walt never opens a file that has another name"),
            NotMail::Fifo => "a FIFO, not a file".into(),
            NotMail::Socket => "a socket, not a file".into(),
            NotMail::Device => "a device, not a file".into(),
            NotMail::Gone => "gone before it could be read".into(),
        }
    }
}

/// Why a durable move failed: the rename (nothing moved), or the sync after it (the move may
/// not survive a crash).
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("{0}")]
    Rename(io::Error),
    #[error("cannot make the move durable: {0}")]
    Sync(io::Error),
}

/// Why a run's log could not be opened: something planted at its name (never written
/// through), or an ordinary failure.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{}", .0.describe())]
    Planted(NotMail),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Files in `done/` that are finished attempts or reports (`<stem>.a2.md`,
/// `<stem>.report.md`, `<stem>.a1.cancelled.md`, a dropped part's `<stem>.a1.dropped.md`), or
/// a plan's answer (`<stem>.answer.md`), not an order's current file.
pub fn is_archive(name: &str) -> bool {
    let stem = name.strip_suffix(".md").unwrap_or(name);
    stem.ends_with(".report")
        || stem.ends_with(".cancelled")
        || stem.ends_with(".dropped")
        || stem.ends_with(".answer")
        || stem
            .rsplit_once(".a")
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks that a name is one plain path component we may pass to an `*at` call.
pub fn check_name(name: &OsStr) -> io::Result<()> {
    let b = name.as_bytes();
    if b.is_empty()
        || b == b"."
        || b == b".."
        || b.contains(&b'/')
        || b.contains(&0)
        || b.len() > 255
    {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{:?} is not a plain file name", name),
        ));
    }
    Ok(())
}

struct Folders {
    dirs: Vec<Dir>,
    /// (dev, ino) of each folder when opened, to notice a folder replaced behind our back.
    ids: Vec<(u64, u64)>,
}

/// The handle on `inbox/` and nothing else.
pub struct Mailbox {
    inbox: Dir,
    folders: std::sync::Mutex<HashMap<AgentName, std::sync::Arc<Folders>>>,
    counter: AtomicU64,
}

/// fsyncs a folder. cap-std may hold directories as `O_PATH` handles, which cannot be
/// fsynced, so the folder is reopened (as `.`, relative to itself) for reading first.
pub fn fsync_dir(d: &impl AsFd) -> io::Result<()> {
    rustix::fs::fsync(reopen(d)?)?;
    Ok(())
}

/// A folder reopened for reading (as `.`, relative to itself), whatever its handle's mode.
fn reopen(d: &impl AsFd) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        d,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn dir_id(d: &Dir) -> io::Result<(u64, u64)> {
    let st = rustix::fs::fstat(d)?;
    Ok((st.st_dev, st.st_ino))
}

impl Mailbox {
    /// Takes the handle on `inbox/`. This is the only authority a `Mailbox` ever has.
    pub fn new(inbox: Dir) -> Mailbox {
        Mailbox {
            inbox,
            folders: std::sync::Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
        }
    }

    /// Creates (if missing) and opens an agent's inbox folders, never following a symlink.
    pub fn open_inbox(&self, agent: &AgentName) -> io::Result<()> {
        let f = self.open_folders(agent)?;
        self.folders
            .lock()
            .expect("folders lock")
            .insert(agent.clone(), std::sync::Arc::new(f));
        Ok(())
    }

    fn open_folders(&self, agent: &AgentName) -> io::Result<Folders> {
        match self.inbox.create_dir(agent.as_str()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let root = self.inbox.open_dir_nofollow(agent.as_str()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("inbox/{agent} cannot be opened as a folder (is it a symlink?): {e}"),
            )
        })?;
        let mut dirs = Vec::new();
        let mut ids = Vec::new();
        ids.push(dir_id(&root)?);
        for sub in INBOX_FOLDERS {
            match root.create_dir(sub) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            let d = root.open_dir_nofollow(sub).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "inbox/{agent}/{sub} cannot be opened as a folder (is it a symlink?): {e}"
                    ),
                )
            })?;
            ids.push(dir_id(&d)?);
            dirs.push(d);
        }
        dirs.insert(0, root);
        Ok(Folders { dirs, ids })
    }

    fn folders(&self, agent: &AgentName) -> io::Result<std::sync::Arc<Folders>> {
        if let Some(f) = self.folders.lock().expect("folders lock").get(agent) {
            return Ok(f.clone());
        }
        self.open_inbox(agent)?;
        Ok(self.folders.lock().expect("folders lock")[agent].clone())
    }

    fn dir(
        &self,
        agent: &AgentName,
        folder: Folder,
    ) -> io::Result<(std::sync::Arc<Folders>, usize)> {
        Ok((self.folders(agent)?, (folder as usize)))
    }

    /// Reopens an agent's folders if one was removed or replaced since it was opened, so a
    /// folder recreated by hand is the one written to. Returns whether anything changed.
    pub fn refresh(&self, agent: &AgentName) -> io::Result<bool> {
        let current = self.folders(agent)?;
        let mut stale = false;
        let root_now = self
            .inbox
            .open_dir_nofollow(agent.as_str())
            .and_then(|d| dir_id(&d));
        if root_now.ok() != Some(current.ids[0]) {
            stale = true;
        } else {
            for (i, sub) in INBOX_FOLDERS.iter().enumerate() {
                let now = current.dirs[0]
                    .open_dir_nofollow(sub)
                    .and_then(|d| dir_id(&d));
                if now.ok() != Some(current.ids[i + 1]) {
                    stale = true;
                    break;
                }
            }
        }
        if stale {
            self.open_inbox(agent)?;
        }
        Ok(stale)
    }

    /// The entries of a folder, classified without following anything.
    pub fn list(&self, agent: &AgentName, folder: Folder) -> io::Result<Vec<Entry>> {
        let (f, i) = self.dir(agent, folder)?;
        let mut out = Vec::new();
        for e in f.dirs[i].entries()? {
            let e = e?;
            let kind = match e.file_type() {
                Ok(t) if t.is_symlink() => EntryKind::Symlink,
                Ok(t) if t.is_dir() => EntryKind::Dir,
                Ok(t) if t.is_file() => EntryKind::File,
                Ok(_) => EntryKind::Other,
                Err(_) => continue,
            };
            out.push(Entry {
                name: e.file_name(),
                kind,
            });
        }
        Ok(out)
    }

    /// Opens a file for reading if and only if it is a regular file with exactly one link,
    /// without following a symlink and without blocking on a FIFO.
    pub fn open_mail(
        &self,
        agent: &AgentName,
        folder: Folder,
        name: &OsStr,
    ) -> io::Result<Result<Mail, NotMail>> {
        check_name(name)?;
        let (f, i) = self.dir(agent, folder)?;
        let fd = match rustix::fs::openat(
            &f.dirs[i],
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => return Ok(Err(NotMail::Symlink)),
            Err(rustix::io::Errno::NOENT) => return Ok(Err(NotMail::Gone)),
            Err(rustix::io::Errno::NXIO) => return Ok(Err(NotMail::Socket)),
            Err(e) => return Err(e.into()),
        };
        let st = rustix::fs::fstat(&fd)?;
        let kind = FileType::from_raw_mode(st.st_mode);
        let not = match kind {
            FileType::RegularFile if st.st_nlink == 1 => None,
            FileType::RegularFile => Some(NotMail::HardLink(st.st_nlink as u64)),
            FileType::Directory => Some(NotMail::Directory),
            FileType::Fifo => Some(NotMail::Fifo),
            FileType::Socket => Some(NotMail::Socket),
            FileType::Symlink => Some(NotMail::Symlink),
            _ => Some(NotMail::Device),
        };
        if let Some(n) = not {
            return Ok(Err(n));
        }
        Ok(Ok(Mail {
            fd,
            size: st.st_size as u64,
            ino: st.st_ino as u64,
            mtime_ns: st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128,
            ctime_ns: st.st_ctime as i128 * 1_000_000_000 + st.st_ctime_nsec as i128,
        }))
    }

    /// Renames `from/name` to `to/new_name`, never replacing anything.
    pub fn rename(
        &self,
        agent: &AgentName,
        from: Folder,
        name: &OsStr,
        to: Folder,
        new_name: &OsStr,
    ) -> io::Result<()> {
        self.rename_between(agent, from, name, agent, to, new_name)
    }

    /// Moves a file between two folders of one inbox under its own name and makes the move
    /// durable (both folders fsynced). A failed rename changed nothing; a failed sync may have
    /// lost the move, which the caller must treat as not durable.
    pub fn move_synced(
        &self,
        agent: &AgentName,
        from: Folder,
        to: Folder,
        name: &OsStr,
    ) -> Result<(), MoveError> {
        self.rename(agent, from, name, to, name)
            .map_err(MoveError::Rename)?;
        self.sync(agent, from).map_err(MoveError::Sync)?;
        self.sync(agent, to).map_err(MoveError::Sync)
    }

    /// Renames between two inboxes (an order moving from one agent to another).
    pub fn rename_between(
        &self,
        from_agent: &AgentName,
        from: Folder,
        name: &OsStr,
        to_agent: &AgentName,
        to: Folder,
        new_name: &OsStr,
    ) -> io::Result<()> {
        check_name(name)?;
        check_name(new_name)?;
        let (a, i) = self.dir(from_agent, from)?;
        let (b, j) = self.dir(to_agent, to)?;
        crate::crash_point!("mailbox.rename.before");
        rustix::fs::renameat_with(
            &a.dirs[i],
            name,
            &b.dirs[j],
            new_name,
            RenameFlags::NOREPLACE,
        )?;
        crate::crash_point!("mailbox.rename.after");
        Ok(())
    }

    /// Writes a new file into `to/name` atomically: staged in `tmp/` under a unique name, then
    /// renamed (never replacing). With `sync`, the file's data is fsynced before the rename;
    /// without, the caller promises a `sync_all` before relying on it (group commit).
    pub fn write_new(
        &self,
        agent: &AgentName,
        to: Folder,
        name: &OsStr,
        bytes: &[u8],
        sync: bool,
    ) -> io::Result<()> {
        check_name(name)?;
        let (f, _) = self.dir(agent, Folder::Tmp)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp_name = format!(".walt-{}-{n}.tmp", std::process::id());
        let fd = rustix::fs::openat(
            &f.dirs[Folder::Tmp as usize],
            tmp_name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        if sync {
            file.sync_data()?;
        }
        drop(file);
        crate::crash_point!("mailbox.write.before_rename");
        // On failure the staged copy stays in tmp/ (never read as mail); nothing is deleted.
        self.rename(agent, Folder::Tmp, OsStr::new(&tmp_name), to, name)
    }

    /// Writes `inbox/walt/handoff/<name>` durably (staged in `inbox/walt/tmp/`).
    pub fn write_handoff(&self, name: &OsStr, bytes: &[u8]) -> io::Result<()> {
        check_name(name)?;
        let walt = AgentName::walt();
        let f = self.folders(&walt)?;
        let handoff = subfolder(&f.dirs[0], "handoff")?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp_name = format!(".walt-{}-{n}.tmp", std::process::id());
        let tmp = &f.dirs[Folder::Tmp as usize];
        let fd = rustix::fs::openat(
            tmp,
            tmp_name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        file.sync_data()?;
        drop(file);
        rustix::fs::renameat_with(
            tmp,
            tmp_name.as_str(),
            &handoff,
            name,
            RenameFlags::NOREPLACE,
        )?;
        fsync_dir(&handoff)?;
        Ok(())
    }

    /// The highest generation among the handoff briefs in `inbox/walt/handoff/` (0 if none):
    /// a brief written just before a crash may be ahead of the journal.
    pub fn last_handoff(&self) -> u32 {
        let Ok(f) = self.folders(&AgentName::walt()) else {
            return 0;
        };
        let Ok(dir) = f.dirs[0].open_dir_nofollow("handoff") else {
            return 0;
        };
        let Ok(entries) = dir.entries() else { return 0 };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| {
                n.strip_prefix("gen-")?
                    .strip_suffix(".md")?
                    .parse::<u32>()
                    .ok()
            })
            .max()
            .unwrap_or(0)
    }

    /// Flushes one file's data (opened without following a link).
    pub fn sync_file(&self, agent: &AgentName, folder: Folder, name: &OsStr) -> io::Result<()> {
        check_name(name)?;
        let (f, i) = self.dir(agent, folder)?;
        let fd = rustix::fs::openat(
            &f.dirs[i],
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        rustix::fs::fdatasync(&fd)?;
        Ok(())
    }

    /// Opens (creating) a log file for appending in a folder, never through a link.
    pub fn append_log(
        &self,
        agent: &AgentName,
        folder: Folder,
        name: &OsStr,
    ) -> Result<std::fs::File, LogError> {
        check_name(name)?;
        let (f, i) = self.dir(agent, folder)?;
        // Not blocking (a FIFO planted here must not stop the daemon), not following a link,
        // and refused unless a regular file with one link: the daemon appends a run's output
        // here, and must never append it into a file that has another name.
        let fd = match rustix::fs::openat(
            &f.dirs[i],
            name,
            OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::APPEND
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => return Err(LogError::Planted(NotMail::Symlink)),
            Err(rustix::io::Errno::NXIO) => return Err(LogError::Planted(NotMail::Fifo)),
            Err(rustix::io::Errno::ISDIR) => return Err(LogError::Planted(NotMail::Directory)),
            Err(e) => return Err(LogError::Io(e.into())),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| LogError::Io(e.into()))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile if st.st_nlink == 1 => {}
            FileType::RegularFile => {
                return Err(LogError::Planted(NotMail::HardLink(st.st_nlink as u64)))
            }
            FileType::Fifo => return Err(LogError::Planted(NotMail::Fifo)),
            FileType::Socket => return Err(LogError::Planted(NotMail::Socket)),
            _ => return Err(LogError::Planted(NotMail::Device)),
        }
        Ok(std::fs::File::from(fd))
    }

    /// Writes a note for a person into `inbox/human/notes/` (not a delivery: never taken).
    pub fn write_note(&self, name: &OsStr, bytes: &[u8]) -> io::Result<()> {
        check_name(name)?;
        let human = AgentName::human();
        let f = self.folders(&human)?;
        let notes = subfolder(&f.dirs[0], "notes")?;
        let fd = rustix::fs::openat(
            &notes,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        file.sync_data()?;
        fsync_dir(&notes)
    }

    /// Reads at most `limit` bytes of an open mail file.
    pub fn read(mail: &Mail, limit: usize) -> io::Result<Vec<u8>> {
        // Straight from the descriptor, into a buffer sized from the stat taken at open plus
        // one byte: a regular file's read comes back short only at its end, so a file that has
        // not grown is one read(2). Syscalls are the cost here: start-up reads every order in
        // flight.
        let mut buf = Vec::with_capacity((mail.size as usize).saturating_add(1).min(limit));
        while buf.len() < limit {
            if buf.len() == buf.capacity() {
                buf.reserve(buf.len().max(4096).min(limit - buf.len()));
            }
            let want = (buf.capacity() - buf.len()).min(limit - buf.len());
            let start = buf.len();
            let n = match rustix::io::read(&mail.fd, &mut buf.spare_capacity_mut()[..want]) {
                Ok((filled, _)) => filled.len(),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            // SAFETY: `read` initialized the first `n` bytes of the spare capacity.
            unsafe { buf.set_len(start + n) };
            if n < want {
                break;
            }
        }
        Ok(buf)
    }

    /// Reads a whole file (at most `limit` bytes) if it is mail.
    pub fn read_file(
        &self,
        agent: &AgentName,
        folder: Folder,
        name: &OsStr,
        limit: usize,
    ) -> io::Result<Result<Vec<u8>, NotMail>> {
        Ok(match self.open_mail(agent, folder, name)? {
            Ok(m) => Ok(Mailbox::read(&m, limit)?),
            Err(n) => Err(n),
        })
    }

    /// Flushes an open file's data (a hand-dropped file was likely never fsynced by its writer).
    pub fn sync_mail(mail: &Mail) -> io::Result<()> {
        rustix::fs::fdatasync(&mail.fd)?;
        Ok(())
    }

    /// Makes the renames in one folder durable.
    pub fn sync(&self, agent: &AgentName, folder: Folder) -> io::Result<()> {
        crate::crash_point!("mailbox.sync.before");
        let (f, i) = self.dir(agent, folder)?;
        fsync_dir(&f.dirs[i])
    }

    /// Flushes everything written on the inbox's filesystem: one call for a batch of new files.
    pub fn sync_all(&self) -> io::Result<()> {
        rustix::fs::syncfs(reopen(&self.inbox)?)?;
        Ok(())
    }

    /// Whether a name exists in a folder (a symlink counts; nothing is followed).
    pub fn exists(&self, agent: &AgentName, folder: Folder, name: &OsStr) -> io::Result<bool> {
        check_name(name)?;
        let (f, i) = self.dir(agent, folder)?;
        match rustix::fs::statat(&f.dirs[i], name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a file's times to now (a claim starts the lease), not following symlinks.
    pub fn touch(&self, agent: &AgentName, folder: Folder, name: &OsStr) -> io::Result<()> {
        check_name(name)?;
        let (f, i) = self.dir(agent, folder)?;
        let now = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
        };
        rustix::fs::utimensat(
            &f.dirs[i],
            name,
            &now,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }

    /// Modification time (ns since the epoch) of an entry, not following symlinks.
    pub fn mtime_ns(&self, agent: &AgentName, folder: Folder, name: &OsStr) -> io::Result<i128> {
        check_name(name)?;
        let (f, i) = self.dir(agent, folder)?;
        let st = rustix::fs::statat(&f.dirs[i], name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128)
    }
}

/// Whether another process has a file open for writing: a read lease can be taken only when
/// none has. `None` when the kernel will not say (not the file's owner, or a filesystem without
/// leases); the caller then relies on the file being unchanged for a while.
pub fn open_for_writing(mail: &Mail) -> Option<bool> {
    use std::os::fd::AsRawFd;
    let fd = mail.fd.as_raw_fd();
    // SAFETY: fcntl on an fd we own; F_SETLEASE takes an int argument.
    let r = unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) };
    if r == 0 {
        // SAFETY: as above; we release the lease at once.
        unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK) };
        return Some(false);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => Some(true),
        _ => None,
    }
}

/// A folder of Walt's own inside an inbox (`handoff/`, `notes/`), created if missing, opened
/// without following a link planted in its place.
fn subfolder(inbox: &Dir, name: &str) -> io::Result<Dir> {
    match inbox.create_dir(name) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    inbox.open_dir_nofollow(name)
}
