//! What an order's Files grant a run, resolved before it starts.
//!
//! Each File is resolved beneath the studio with no symbolic link anywhere in its path
//! (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), so a link planted by an earlier
//! order cannot turn a grant into one on another folder. Landlock rules name existing objects
//! and cover everything beneath them, so:
//! - a File that exists is granted as that one file (read, write, truncate), and only if it is a
//!   regular file with one link (a hard link would grant another name's inode);
//! - a File that does not exist yet is created empty by the daemon (its missing parent folders
//!   too, beneath `repos/` only) and granted as that file; if the run leaves it empty it is
//!   removed again, so a File the agent chose not to write does not appear;
//! - a File ending in `/` grants that folder and everything under it, except each `.git`
//!   found beneath, which the sandbox re-binds read-only (no hook, config or index can be
//!   planted);
//! - a File naming a folder without the `/`, anything inside a `.git`, or the daemon's own
//!   state is refused, and the attempt fails with the reason before anything runs.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{AccessFs, BitFlags};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

/// The rights one run is given on the studio.
#[derive(Debug, Default)]
pub struct Grants {
    /// Each granted object, opened without following links, with what may be done beneath it.
    pub rules: Vec<(OwnedFd, BitFlags<AccessFs>)>,
    /// Files the daemon created empty for the run: removed after it if still empty.
    pub placeholders: Vec<PathBuf>,
    /// `.git` folders beneath a granted folder: re-bound read-only in the sandbox.
    pub read_only: Vec<PathBuf>,
}

/// The daemon's own files under `state/`, never granted whatever the order says.
const OWN_STATE: [&str; 5] = [
    "journal.jsonl",
    "ledger.json",
    "walt.lock",
    "logs",
    "decisions",
];

/// Rights on one granted file.
pub fn file_rights() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate
}

/// Rights on a granted folder and everything beneath it: all but running programs from it
/// and making device nodes.
pub fn folder_rights(abi: landlock::ABI) -> BitFlags<AccessFs> {
    use landlock::Access;
    AccessFs::from_all(abi) & !(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock)
}

fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

/// Opens `name` in `dir` as a handle (no link followed, not beneath).
fn open_path(dir: &OwnedFd, name: &str, directory: bool) -> std::io::Result<OwnedFd> {
    let mut flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if directory {
        flags |= OFlags::DIRECTORY;
    }
    Ok(rustix::fs::openat2(
        dir,
        name,
        flags,
        Mode::empty(),
        beneath(),
    )?)
}

/// Resolves every File of an order against the studio at `studio`.
pub fn resolve(studio: &Path, files: &[String], abi: landlock::ABI) -> Result<Grants, String> {
    let root: OwnedFd = rustix::fs::open(
        studio,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("cannot open the studio {}: {e}", studio.display()))?;
    let mut grants = Grants::default();
    for f in files {
        if let Err(why) = grant(&root, studio, f, abi, &mut grants) {
            // Nothing runs: undo the placeholders made so far.
            remove_placeholders(&grants.placeholders);
            return Err(format!("File `{}` {why}", f.escape_debug()));
        }
    }
    Ok(grants)
}

fn grant(
    root: &OwnedFd,
    studio: &Path,
    file: &str,
    abi: landlock::ABI,
    grants: &mut Grants,
) -> Result<(), String> {
    let folder = file.ends_with('/');
    let parts: Vec<&str> = file.trim_end_matches('/').split('/').collect();
    let (top, rest) = parts.split_first().ok_or("is empty")?;
    if rest.is_empty()
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err("is not a plain path under repos/ or state/".into());
    }
    if parts.contains(&".git") {
        return Err("is inside a repository's .git, which no run may write".into());
    }
    match *top {
        "repos" => {}
        "state" => {
            if folder || rest.len() != 1 {
                return Err(
                    "is not a plain file directly under state/ (only those may be granted there)"
                        .into(),
                );
            }
            if OWN_STATE.contains(&rest[0]) || rest[0].ends_with(".tmp") {
                return Err("is the daemon's own state, never granted".into());
            }
        }
        _ => return Err("is not under repos/ or state/".into()),
    }
    // Walk the folders down from the studio, making the missing ones beneath repos/.
    let mut dir =
        open_path(root, top, true).map_err(|e| format!("cannot be resolved: {top}/: {e}"))?;
    let (last, folders) = rest.split_last().expect("not empty");
    let mut walked = PathBuf::from(top);
    for name in folders {
        walked.push(name);
        dir = match open_path(&dir, name, true) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && *top == "repos" => {
                rustix::fs::mkdirat(&dir, *name, Mode::from_raw_mode(0o755))
                    .map_err(|e| format!("cannot make {}: {e}", walked.display()))?;
                open_path(&dir, name, true)
                    .map_err(|e| format!("cannot open {}: {e}", walked.display()))?
            }
            Err(e) => return Err(crossing(&dir, name, &walked, e)),
        };
    }
    walked.push(last);
    if folder {
        let d = match open_path(&dir, last, true) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                rustix::fs::mkdirat(&dir, *last, Mode::from_raw_mode(0o755))
                    .map_err(|e| format!("cannot make {}: {e}", walked.display()))?;
                open_path(&dir, last, true)
                    .map_err(|e| format!("cannot open {}: {e}", walked.display()))?
            }
            Err(e) => return Err(crossing(&dir, last, &walked, e)),
        };
        grants.rules.push((d, folder_rights(abi)));
        grants.read_only.extend(git_folders(&studio.join(&walked)));
        return Ok(());
    }
    match open_path(&dir, last, false) {
        Ok(fd) => {
            let st = rustix::fs::fstat(&fd).map_err(|e| format!("cannot be looked at: {e}"))?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile if st.st_nlink == 1 => {}
                FileType::RegularFile => {
                    return Err(format!(
                    "is a hard link ({} names for one file): granting it would grant the others",
                    st.st_nlink
                ))
                }
                FileType::Directory => {
                    return Err(
                        "names a folder: end it with `/` to grant the folder and everything in it"
                            .into(),
                    )
                }
                FileType::Symlink => return Err("is a symbolic link".into()),
                _ => return Err("is not a regular file".into()),
            }
            grants.rules.push((fd, file_rights()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fd = rustix::fs::openat(
                &dir,
                *last,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map_err(|e| format!("cannot be made for the run: {e}"))?;
            grants.placeholders.push(studio.join(&walked));
            grants.rules.push((fd, file_rights()));
        }
        Err(e) => return Err(crossing(&dir, last, &walked, e)),
    }
    Ok(())
}

/// Why `name` in `dir` (shown as `path`) could not be resolved: a link is said as such.
fn crossing(dir: &OwnedFd, name: &str, path: &Path, e: std::io::Error) -> String {
    let link = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
    if link {
        return format!(
            "crosses a symbolic link at {} (no run is granted anything through a link)",
            path.display()
        );
    }
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::EXDEV) => format!(
            "crosses a symbolic link at {} (no run is granted anything through a link)",
            path.display()
        ),
        Some(libc::ENOTDIR) => format!("crosses {}, which is not a folder", path.display()),
        _ => format!("cannot be resolved at {}: {e}", path.display()),
    }
}

/// Every `.git` at or beneath `dir` (links not followed, at most 10,000 folders looked at).
fn git_folders(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        seen += 1;
        if seen > 10_000 {
            break;
        }
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if e.file_name() == ".git" {
                // A folder, or a `gitdir:` file (a worktree or submodule): either is bound
                // read-only as it is; the repository it points into is not writable anyway
                // unless granted, and then its own `.git` is found here too.
                out.push(e.path());
            } else if t.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// Removes the files made for a run that it left empty.
pub fn remove_placeholders(placeholders: &[PathBuf]) {
    for p in placeholders {
        if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = std::fs::remove_file(p);
        }
    }
}
