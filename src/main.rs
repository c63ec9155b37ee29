//! The `walt` binary: argument dispatch, exit codes, and the only ambient authority.
//!
//! `main` resolves the studio root (and the files `lint` and `submit` are given) with
//! `cap_std::ambient_authority()`; everything below it works through the `Dir` handles it
//! hands down.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use clap::Parser;

use walt::cli::{exit, Cli, Command};
use walt::order::AgentName;
use walt::{config, diagnostic, lint, studio};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let code = run(cli);
    ExitCode::from(code as u8)
}

fn root_path(cli_root: &Option<PathBuf>) -> PathBuf {
    cli_root.clone().unwrap_or_else(|| PathBuf::from("."))
}

fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Init { ref dir } => init(dir.clone().unwrap_or_else(|| root_path(&cli.root))),
        Command::Lint { ref files } => lint_files(&cli.root, files),
    }
}

fn init(dir: PathBuf) -> i32 {
    if let Err(e) = Dir::create_ambient_dir_all(&dir, ambient_authority()) {
        eprintln!("walt: cannot create {}: {e}", dir.display());
        return exit::FAILED;
    }
    let root = match Dir::open_ambient_dir(&dir, ambient_authority()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("walt: cannot open {}: {e}", dir.display());
            return exit::FAILED;
        }
    };
    match studio::init(&root) {
        Ok(()) => {
            println!("created a studio in {}", dir.display());
            println!("  config:  {}/{}", dir.display(), studio::CONFIG);
            println!(
                "  inboxes: walt, human, chip, rex under {}/inbox/",
                dir.display()
            );
            println!("next: walt --root {} daemon", dir.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("walt: {e}");
            exit::FAILED
        }
    }
}

/// Loads the studio config for commands that can do without one (lint): `Ok(None)` when the
/// root has no config and none was asked for explicitly.
fn optional_config(cli_root: &Option<PathBuf>) -> Result<Option<config::Config>, i32> {
    let path = root_path(cli_root).join(studio::CONFIG);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            match config::parse(&text) {
                Ok(c) => Ok(Some(c)),
                Err(d) => {
                    eprint!(
                        "{}",
                        diagnostic::render(&path.display().to_string(), &text, &d)
                    );
                    eprintln!(
                        "walt: the studio config is invalid; fix it (walt lint {} shows the same)",
                        path.display()
                    );
                    Err(exit::STUDIO)
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && cli_root.is_none() => Ok(None),
        Err(e) => {
            eprintln!(
                "walt: cannot read {}: {e}; is --root a studio? (walt init DIR makes one)",
                path.display()
            );
            Err(exit::STUDIO)
        }
    }
}

fn lint_files(cli_root: &Option<PathBuf>, files: &[PathBuf]) -> i32 {
    let cfg = match optional_config(cli_root) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let agents: Option<Vec<AgentName>> = cfg.map(|c| c.agent_names());
    let mut failed = false;
    for file in files {
        let name = display(file);
        let bytes = match read_limited(file) {
            Ok(b) => b,
            Err(e) => {
                println!("{name}: error: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        let linted = lint::lint(&name, &bytes, agents.as_deref());
        failed |= diagnostic::has_errors(&linted.diagnostics);
        print!("{}", lint::render(&name, &linted));
    }
    if failed {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// Reads at most one byte past the size limit, so a huge or endless file cannot exhaust memory
/// and is still reported as too large.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    if f.metadata()?.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    let mut buf = Vec::new();
    f.take(walt::parse::MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

fn display(path: &Path) -> String {
    path.display().to_string().escape_debug().to_string()
}
