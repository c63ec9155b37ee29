//! The `walt` binary: parse the command line, run the command, and turn its one typed error
//! into a message and an exit code (`cmd::Error::exit_code`, the one place codes are chosen).
//! The commands themselves, and the ambient authority they use to open the studio, are in
//! `walt::cmd`.

use std::process::ExitCode;

use clap::Parser;

use walt::cmd::cli::{exit, Cli, Command};
use walt::daemon::runner::confine;

fn main() -> ExitCode {
    // Inside a run's sandbox, walt is the helper that enforces the run's Landlock ruleset and
    // then becomes the command (see daemon::runner::confine).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == confine::HELPER) {
        let (code, why) = confine::enter(&args[2..]);
        eprintln!("walt: {why}");
        return ExitCode::from(code as u8);
    }
    // With the `failpoints` feature, FAILPOINTS=<name>=return arms a crash point (tests only).
    let _scenario = fail::FailScenario::setup();
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
    if !matches!(cli.command, Command::Daemon) {
        // A command whose output is piped into `head` should end quietly when the pipe closes,
        // as Unix tools do, not panic on a write error.
        // SAFETY: setting a signal disposition to its default before any thread is started.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match walt::cmd::run(cli) {
        Ok(()) => ExitCode::from(exit::OK as u8),
        Err(e) => {
            let said = e.to_string();
            if !said.is_empty() {
                eprintln!("walt: {said}");
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
