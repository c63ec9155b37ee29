//! Every accepted order is a commit (SPEC §6.4): the daemon commits exactly the files the
//! accepted attempt changed, in each git repository under `repos/` that holds them, as the
//! specialist (`chip <chip@walt.invalid>`, author and committer), with the order's Objective as
//! subject and its trailers.
//!
//! With git's plumbing and a private index, so nothing else in the repository moves: the
//! commit's tree is `HEAD`'s with only those paths taken from the working tree, whatever the
//! person's index holds or what else is uncommitted beside them; `HEAD` moves by
//! compare-and-swap; the real index is then brought up to date for those paths alone. No hook
//! runs (`core.hooksPath=/dev/null`; plumbing runs none anyway but `reference-transaction`), no
//! fsmonitor, no signing prompt, and no config but the repository's own (a run may have
//! written the daemon's global git config through its profile). A commit that already carries this order's and attempt's
//! trailers is found and named instead of made twice (a daemon that stopped after committing
//! and before journaling `order.done` commits nothing again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::model::order::{AgentName, OrderId};

/// One commit made (or found) for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// The repository, studio-relative (`repos/app`).
    pub repo: String,
    pub sha: String,
}

/// What the commit step did: the commits, and what could not be committed and why.
#[derive(Debug, Default)]
pub struct Outcome {
    pub made: Vec<Made>,
    pub problems: Vec<String>,
}

/// The repository under `repos/` holding a studio-relative path: the nearest folder above it
/// (within `repos/`) with a `.git`.
fn repository_of(studio: &Path, path: &str) -> Option<PathBuf> {
    let repos = studio.join("repos");
    let mut dir = studio.join(path);
    while dir.pop() {
        if !dir.starts_with(&repos) || dir == repos {
            return None;
        }
        if std::fs::symlink_metadata(dir.join(".git")).is_ok() {
            return Some(dir);
        }
    }
    None
}

/// `git` with the studio's rules: no hooks, no fsmonitor, no signing, no pager or prompt, and
/// none of the daemon's own `GIT_*` environment.
fn git(repo: &Path) -> Command {
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(k);
        }
    }
    // The repository is named, never discovered: a `.git` that is not a repository must not
    // send git looking for one above the studio (a studio may live in a checkout).
    cmd.args(["-c", "core.hooksPath=/dev/null"])
        .args(["-c", "core.fsmonitor=false"])
        .args(["-c", "commit.gpgSign=false"])
        .args(["-c", "gc.auto=0"])
        .current_dir(repo)
        .env("GIT_DIR", repo.join(".git"))
        .env("GIT_WORK_TREE", repo)
        .env("GIT_CEILING_DIRECTORIES", repo.parent().unwrap_or(repo))
        // Only the repository's own config, which no run can write (its `.git` is read-only
        // to runs): a profile may let a run write the daemon's ~/.gitconfig, and a filter
        // planted there would run here, unconfined (tests/it/commits.rs tries it).
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null());
    cmd
}

/// Runs a git command; its trimmed standard output, or what it said on failure.
fn run(mut cmd: Command, input: Option<&str>) -> Result<String, String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run git: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git could not be waited for: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Whether commit `sha` is still in the history of the repository at `repo` (studio-relative):
/// what a plan's answer checks of each part's commit.
pub fn in_history(studio: &Path, repo: &str, sha: &str) -> bool {
    let repo = studio.join(repo);
    git(&repo)
        .args(["merge-base", "--is-ancestor", sha, "HEAD"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Commits `paths` (studio-relative) for an accepted attempt: one commit per repository.
pub fn commit(
    studio: &Path,
    id: OrderId,
    agent: &AgentName,
    attempt: u32,
    subject: &str,
    paths: &[String],
) -> Outcome {
    let mut by_repo: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for p in paths {
        if let Some(repo) = repository_of(studio, p) {
            let rel = studio
                .join(p)
                .strip_prefix(&repo)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !rel.is_empty() {
                by_repo.entry(repo).or_default().push(rel);
            }
        }
    }
    let mut out = Outcome::default();
    for (repo, files) in by_repo {
        let name = repo
            .strip_prefix(studio)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|_| repo.display().to_string());
        match commit_one(
            &repo,
            id,
            agent,
            attempt,
            subject,
            &files,
            &mut out.problems,
        ) {
            Ok(Some(sha)) => out.made.push(Made { repo: name, sha }),
            Ok(None) => {}
            Err(why) => out.problems.push(format!("{name}: {why}")),
        }
    }
    out
}

fn commit_one(
    repo: &Path,
    id: OrderId,
    agent: &AgentName,
    attempt: u32,
    subject: &str,
    files: &[String],
    problems: &mut Vec<String>,
) -> Result<Option<String>, String> {
    let trailers = format!("Walt-Order: {id}\nWalt-Attempt: {attempt}\nWalt-Agent: {agent}");
    let head = run(
        {
            let mut c = git(repo);
            c.args(["rev-parse", "--verify", "-q", "HEAD"]);
            c
        },
        None,
    )
    .ok()
    .filter(|h| !h.is_empty());
    // Made already (the daemon stopped before it could journal it)?
    if head.is_some() {
        let mut c = git(repo);
        c.args(["log", "-n", "20", "--format=%H%x00%B%x01", "HEAD"]);
        if let Ok(log) = run(c, None) {
            for entry in log.split('\u{1}') {
                if let Some((sha, body)) = entry.trim().split_once('\0') {
                    if body.contains(&trailers) {
                        return Ok(Some(sha.to_string()));
                    }
                }
            }
        }
    }
    let index = tempfile::Builder::new()
        .prefix("walt-index-")
        .tempdir()
        .map_err(|e| format!("cannot make a private index: {e}"))?;
    let index_file = index.path().join("index");
    let with_index = |args: &[&str]| {
        let mut c = git(repo);
        c.env("GIT_INDEX_FILE", &index_file).args(args);
        c
    };
    match &head {
        Some(h) => run(with_index(&["read-tree", h.as_str()]), None)?,
        None => run(with_index(&["read-tree", "--empty"]), None)?,
    };
    let mut add = with_index(&["update-index", "--add", "--remove", "--"]);
    add.args(files);
    run(add, None)?;
    let tree = run(with_index(&["write-tree"]), None)?;
    if let Some(h) = &head {
        let mut c = git(repo);
        c.args(["rev-parse", &format!("{h}^{{tree}}")]);
        if run(c, None).ok().as_deref() == Some(tree.as_str()) {
            // Nothing of these paths differs from HEAD.
            return Ok(None);
        }
    }
    let subject = subject.lines().next().unwrap_or("").trim();
    let message = format!("{subject}\n\n{trailers}\n");
    let email = format!("{agent}@walt.invalid");
    let mut c = git(repo);
    c.args(["commit-tree", &tree]);
    if let Some(h) = &head {
        c.args(["-p", h]);
    }
    c.env("GIT_AUTHOR_NAME", agent.as_str())
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_COMMITTER_NAME", agent.as_str())
        .env("GIT_COMMITTER_EMAIL", &email);
    let sha = run(c, Some(&message))?;
    let mut c = git(repo);
    c.args([
        "update-ref",
        "-m",
        &format!("walt: order {id} by {agent}"),
        "HEAD",
        &sha,
    ]);
    // Compare-and-swap: HEAD must still be what the commit's parent is.
    c.arg(head.as_deref().unwrap_or(""));
    run(c, None)?;
    // The person's index, for these paths only, now matches the commit.
    let mut c = git(repo);
    c.args(["update-index", "--add", "--remove", "--"])
        .args(files);
    if let Err(why) = run(c, None) {
        problems.push(format!(
            "{}: committed {sha}, but the index could not be brought up to date for its files ({why}); `git status` may show them as changed",
            repo.display()
        ));
    }
    Ok(Some(sha))
}

/// `order.done` naming what was committed (`commit`: one `repo sha` each), and a warning for
/// each thing that could not be.
pub fn record(
    done: crate::model::record::Record,
    outcome: Outcome,
) -> (
    crate::model::record::Record,
    Vec<crate::model::record::Record>,
) {
    use crate::model::record::{Level, Record};
    let commits: Vec<String> = outcome
        .made
        .iter()
        .map(|m| format!("{} {}", m.repo, m.sha))
        .collect();
    let id = done.order;
    let mut done = done;
    if !commits.is_empty() {
        let short: Vec<String> = outcome
            .made
            .iter()
            .map(|m| format!("{} in {}", &m.sha[..m.sha.len().min(12)], m.repo))
            .collect();
        done.reason = Some(format!(
            "{}; committed {}",
            done.reason.unwrap_or_default(),
            short.join(", ")
        ));
        done = done.with("commit", commits);
    }
    let warnings = outcome
        .problems
        .into_iter()
        .map(|why| {
            let mut r = Record::new("order.uncommitted")
                .level(Level::Warn)
                .reason(format!("{why}; the changes stay in the working tree"));
            r.order = id;
            r
        })
        .collect();
    (done, warnings)
}
