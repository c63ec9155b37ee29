//! A run profile (SPEC §5, §6.2): what a command agent's run, or the brain's, may reach beyond
//! what every run gets: paths outside the studio to read and to write, environment names passed
//! through, the network, and how much output is kept. Checked here as far as text allows
//! (paths absolute or `~/…`, names well formed, sizes that parse); whether a path reaches into
//! the studio needs the filesystem, and is checked by the shell (`daemon::runner::profile`)
//! with the line each path was written on.

use serde::Deserialize;
use toml::Spanned;

use crate::format::diagnostic::Diagnostic;

/// Output kept per attempt when the profile does not say.
pub const DEFAULT_LOG_LIMIT: u64 = 16 << 20;

/// A path a profile grants, as written (`~` not expanded yet), and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub path: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Read (and run programs from) beneath these.
    pub read: Vec<Spot>,
    /// Read and write beneath these.
    pub write: Vec<Spot>,
    /// Environment names passed through from the daemon's; everything else is cleared.
    pub env: Vec<String>,
    /// `false`: no TCP connect or bind.
    pub network: bool,
    /// Output kept per attempt in `<id>.log`.
    pub log_limit: u64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            read: Vec::new(),
            write: Vec::new(),
            env: Vec::new(),
            network: true,
            log_limit: DEFAULT_LOG_LIMIT,
        }
    }
}

/// The profile's keys as read, before validation (shared by `[agents.*]` and `[brain]`).
#[derive(Deserialize, Default)]
pub(super) struct RawProfile {
    #[serde(default)]
    pub read: Vec<Spanned<String>>,
    #[serde(default)]
    pub write: Vec<Spanned<String>>,
    #[serde(default)]
    pub env: Vec<Spanned<String>>,
    pub network: Option<bool>,
    pub log_limit: Option<Spanned<String>>,
}

/// Names the runner sets itself: passing them through would be overwritten, so naming one is
/// a mistake worth saying.
const OWN_NAMES: [&str; 2] = ["TMPDIR", "PATH"];

/// Validates a profile; `table` names it in messages (`[agents.chip]`, `[brain]`).
pub(super) fn validate(
    raw: RawProfile,
    table: &str,
    at: &dyn Fn(std::ops::Range<usize>) -> (usize, usize),
    diags: &mut Vec<Diagnostic>,
) -> Profile {
    let mut p = Profile {
        network: raw.network.unwrap_or(true),
        ..Profile::default()
    };
    for (key, list, slot) in [
        ("read", raw.read, &mut p.read),
        ("write", raw.write, &mut p.write),
    ] {
        for s in list {
            let (l, c) = at(s.span());
            let path = s.into_inner();
            if path.starts_with('/') || path == "~" || path.starts_with("~/") {
                if path.split('/').any(|part| part == "..") {
                    diags.push(
                        Diagnostic::error(
                            l,
                            c,
                            format!("{table} {key}: `{}` has a `..`", path.escape_debug()),
                        )
                        .help("name the folder itself"),
                    );
                    continue;
                }
                slot.push(Spot { path, line: l });
            } else {
                diags.push(
                    Diagnostic::error(
                        l,
                        c,
                        format!(
                            "{table} {key}: `{}` is neither absolute nor under ~",
                            path.escape_debug()
                        ),
                    )
                    .help("profiles grant paths outside the studio: write \"/opt/tool\" or \"~/.tool\"; the studio's own folders are the order's Files"),
                );
            }
        }
    }
    for s in raw.env {
        let (l, c) = at(s.span());
        let name = s.into_inner();
        let well_formed = name
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !well_formed {
            diags.push(Diagnostic::error(
                l,
                c,
                format!(
                    "{table} env: `{}` is not an environment variable's name",
                    name.escape_debug()
                ),
            ));
        } else if name.starts_with("WALT_") || OWN_NAMES.contains(&name.as_str()) {
            diags.push(
                Diagnostic::error(l, c, format!("{table} env: `{name}` is set by walt for each run"))
                    .help("PATH, HOME, USER, LOGNAME, LANG, LC_*, TERM and TZ are always kept; TMPDIR and WALT_* are the run's own"),
            );
        } else {
            p.env.push(name);
        }
    }
    if let Some(s) = raw.log_limit {
        let (l, c) = at(s.span());
        match s.get_ref().parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() >= 1024 => p.log_limit = b.as_u64(),
            Ok(_) => diags.push(
                Diagnostic::error(
                    l,
                    c,
                    format!("{table} log_limit: `{}` is under 1 KiB", s.get_ref()),
                )
                .help("keep at least \"1KiB\"; the default is \"16MiB\""),
            ),
            Err(e) => diags.push(
                Diagnostic::error(
                    l,
                    c,
                    format!(
                        "{table} log_limit: `{}` is not a size ({e})",
                        s.get_ref().escape_debug()
                    ),
                )
                .help("write e.g. \"16MiB\" or \"512KiB\""),
            ),
        }
    }
    p
}
