//! A run profile against the world: where a command's program is (relative to the studio root,
//! or looked up on `PATH`) and whether it can be run, and what a profile's `read` and `write`
//! paths are once `~` is the daemon's `HOME` and links are followed. A path that is inside the
//! studio, or holds it, is an error naming its line: no profile can grant `state/`, `config/`
//! or an inbox. `walt lint config/walt.toml` and the daemon's start both check this way.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::format::config::{Config, Profile, Spot};
use crate::format::diagnostic::Diagnostic;

/// Who a finding is about: an agent by name, or the brain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Agent(String),
    Brain,
}

/// What is wrong with a profile or a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A grant that reaches into the studio: the config cannot be used.
    Grant,
    /// A program that cannot be run: the agent (or the brain) cannot run.
    Program,
    /// Worth saying, changes nothing (a path that does not exist yet).
    Note,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub who: Who,
    pub kind: Kind,
    pub diagnostic: Diagnostic,
}

/// A profile's paths resolved for one run.
#[derive(Debug, Default, Clone)]
pub struct Paths {
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
}

/// The daemon's `HOME`, which `~` in a profile means.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// A profile path as a path: `~` expanded against `home`.
fn expand(path: &str, home: Option<&Path>) -> Result<PathBuf, String> {
    match path.strip_prefix('~') {
        None => Ok(PathBuf::from(path)),
        Some(rest) => {
            let home = home.ok_or("`~` names the daemon's HOME, and HOME is not set")?;
            Ok(home.join(rest.trim_start_matches('/')))
        }
    }
}

/// Where a command's program is: a path with a `/` is taken relative to the studio root (or
/// as it is, when absolute); a bare name is looked up on `PATH`. Either way it must be a file
/// that can be executed; the error says where it was looked for.
pub fn program(argv0: &str, studio: &Path) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = if argv0.contains('/') {
        vec![studio.join(argv0)]
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(argv0)).collect())
            .unwrap_or_default()
    };
    let mut why = Vec::new();
    for c in &candidates {
        match std::fs::metadata(c) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(c.clone()),
            Ok(m) if m.is_file() => why.push(format!(
                "{} is not executable (mode {:o}; chmod +x it)",
                c.display(),
                m.permissions().mode() & 0o7777
            )),
            Ok(_) => why.push(format!("{} is not a file", c.display())),
            Err(_) => {}
        }
    }
    if !why.is_empty() {
        return Err(why.join("; "));
    }
    if argv0.contains('/') {
        Err(format!(
            "`{argv0}` does not exist: looked at {} (a relative command is taken from the studio root)",
            candidates[0].display()
        ))
    } else {
        let dirs: Vec<String> = candidates
            .iter()
            .filter_map(|c| c.parent().map(|p| p.display().to_string()))
            .collect();
        Err(format!(
            "`{argv0}` is not on PATH: looked in {}",
            if dirs.is_empty() {
                "nothing (PATH is not set)".into()
            } else {
                dirs.join(", ")
            }
        ))
    }
}

/// The folder a program may run its siblings from (SPEC §6.2): its own, unless that is the
/// studio root, holds `state/`, `config/` or an inbox, or lies in one of those.
pub fn program_folder(program: &Path, studio: &Path) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(program).ok()?.parent()?.to_path_buf();
    let studio = std::fs::canonicalize(studio).ok()?;
    let holds = ["state", "config", "inbox"]
        .iter()
        .any(|n| dir.join(n).exists());
    let within = ["state", "config", "inbox"]
        .iter()
        .any(|n| dir.starts_with(studio.join(n)));
    (dir != studio && !holds && !within).then_some(dir)
}

/// Resolves a profile's paths for a run: `~` expanded, links followed; a path that does not
/// exist is left out (nothing can be granted on it). The caller has checked (`check`) that
/// none reaches into the studio; this checks again, since links can change.
pub fn paths(profile: &Profile, studio: &Path) -> Result<Paths, String> {
    let home = home();
    let studio = std::fs::canonicalize(studio)
        .map_err(|e| format!("cannot resolve the studio {}: {e}", studio.display()))?;
    let mut out = Paths::default();
    for (spots, slot) in [
        (&profile.read, &mut out.read),
        (&profile.write, &mut out.write),
    ] {
        for spot in spots {
            match resolve(spot, home.as_deref(), &studio) {
                Ok(Some(p)) => slot.push(p),
                Ok(None) => {}
                Err(why) => return Err(why),
            }
        }
    }
    Ok(out)
}

/// One path: `Ok(None)` when it does not exist, an error when it reaches into the studio.
fn resolve(spot: &Spot, home: Option<&Path>, studio: &Path) -> Result<Option<PathBuf>, String> {
    let p = expand(&spot.path, home)?;
    let Ok(real) = std::fs::canonicalize(&p) else {
        return Ok(None);
    };
    if real.starts_with(studio) {
        return Err(format!(
            "`{}` is inside the studio ({}): no profile can grant the studio's own folders; an order's Files say what a run may write there",
            spot.path,
            real.display()
        ));
    }
    if studio.starts_with(&real) {
        return Err(format!(
            "`{}` holds the studio ({} is beneath {}): granting it would grant state/, config/ and the inboxes",
            spot.path,
            studio.display(),
            real.display()
        ));
    }
    Ok(Some(real))
}

/// Checks every command's program and every profile of a config against the world.
pub fn check(cfg: &Config, studio: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let home = home();
    let real_studio = std::fs::canonicalize(studio).unwrap_or_else(|_| studio.to_path_buf());
    let mut one = |who: Who, command: Option<&Vec<String>>, line: usize, profile: &Profile| {
        let table = match &who {
            Who::Agent(a) => format!("[agents.{a}]"),
            Who::Brain => "[brain]".to_string(),
        };
        if let Some(argv0) = command.and_then(|c| c.first()) {
            if let Err(why) = program(argv0, studio) {
                out.push(Finding {
                    who: who.clone(),
                    kind: Kind::Program,
                    diagnostic: Diagnostic::error(line, 1, format!("{table} command: {why}")).help(
                        "install it, or fix the path (relative paths start at the studio root)",
                    ),
                });
            }
        }
        for (key, spots) in [("read", &profile.read), ("write", &profile.write)] {
            for spot in spots {
                match resolve(spot, home.as_deref(), &real_studio) {
                    Ok(Some(_)) => {}
                    Ok(None) => out.push(Finding {
                        who: who.clone(),
                        kind: Kind::Note,
                        diagnostic: Diagnostic::warning(
                            spot.line,
                            1,
                            format!(
                                "{table} {key}: `{}` does not exist (yet); a run is granted nothing there until it does",
                                spot.path
                            ),
                        ),
                    }),
                    Err(why) => out.push(Finding {
                        who: who.clone(),
                        kind: Kind::Grant,
                        diagnostic: Diagnostic::error(spot.line, 1, format!("{table} {key}: {why}"))
                            .help("grant paths outside the studio only"),
                    }),
                }
            }
        }
    };
    for a in &cfg.agents {
        if a.command.is_some() {
            one(
                Who::Agent(a.name.to_string()),
                a.command.as_ref(),
                a.command_line,
                &a.profile,
            );
        }
    }
    if cfg.walt.brain == crate::format::config::Brain::Command {
        one(
            Who::Brain,
            Some(&cfg.brain.command),
            cfg.brain.line,
            &cfg.brain.profile,
        );
    }
    out
}
