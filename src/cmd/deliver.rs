//! `walt submit` and `walt report`: a person's or agent's file linted as `walt lint` would,
//! then delivered atomically to Walt (`inbox/walt/new/`). Both share `lint_and_deliver`, as
//! will every other way in (the MCP server's `submit` and `report`).

use std::io::Write;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use crate::cmd::lint::{self, Kind};
use crate::cmd::{self, manual, Error, Result};
use crate::format::diagnostic;
use crate::inbox::submit;
use crate::model::order::{AgentName, OrderId, Status};

/// What a delivery must be, and what to say when it is not.
pub struct Want {
    pub kind: Kind,
    /// The answer when the file is some other kind.
    pub otherwise: Error,
    /// The delivered file's name starts with this (`submit`, `report-0042`).
    pub prefix: String,
}

/// What a delivery came to: the delivered file's name or why nothing was delivered, and the
/// diagnostics as `walt lint` prints them (empty when there are none).
pub struct Delivery {
    pub delivered: Result<String>,
    pub rendered: String,
}

/// Lints `bytes` and, when they are the kind wanted and have no errors, delivers them into
/// `inbox/walt/new/`. Nothing is delivered otherwise. The command line prints the diagnostics
/// to stderr; the MCP server returns them.
pub fn lint_and_deliver(
    inbox: Dir,
    name: &str,
    bytes: &[u8],
    agents: &[AgentName],
    want: Want,
) -> Delivery {
    let linted = lint::lint(name, bytes, Some(agents));
    let rendered = if linted.diagnostics.is_empty() {
        String::new()
    } else {
        lint::render(name, &linted)
    };
    // A plan is a request too (SPEC §9): whatever takes a work order takes one.
    let kind_ok =
        linted.kind == want.kind || (want.kind == Kind::Order && linted.kind == Kind::Plan);
    let delivered = if !kind_ok {
        Err(want.otherwise)
    } else if diagnostic::has_errors(&linted.diagnostics) {
        Err(Error::No(
            "not delivered: fix the errors above and send it again".into(),
        ))
    } else {
        submit::deliver_as(inbox, bytes, &want.prefix).map_err(|e| {
            Error::No(format!(
                "could not deliver {name}: {e}; nothing was delivered"
            ))
        })
    };
    Delivery {
        delivered,
        rendered,
    }
}

/// `lint_and_deliver`, with the diagnostics on stderr.
fn deliver_printing(
    inbox: Dir,
    name: &str,
    bytes: &[u8],
    agents: &[AgentName],
    want: Want,
) -> Result<String> {
    let d = lint_and_deliver(inbox, name, bytes, agents, want);
    eprint!("{}", d.rendered);
    d.delivered
}

pub fn submit(cli_root: &Option<PathBuf>, file: &Path, to: Option<&str>) -> Result {
    let (path, root, cfg) = cmd::open_studio(cli_root)?;
    let name = cmd::display(file);
    let bytes =
        cmd::read_limited(file).map_err(|e| Error::No(format!("cannot read {name}: {e}")))?;
    let bytes = match to {
        None => bytes,
        Some(agent) => submit::set_to(&bytes, &cmd::agent_arg(&cfg, agent, "--to ")?),
    };
    let want = Want {
        kind: Kind::Order,
        otherwise: Error::Usage(format!(
            "{name} is not a work order; send reports with `walt report`"
        )),
        prefix: "submit".into(),
    };
    let inbox = cmd::open_inbox(&root, &path)?;
    let delivered = deliver_printing(inbox, &name, &bytes, &cfg.agent_names(), want)?;
    println!("{}", path.join("inbox/walt/new").join(delivered).display());
    warn_if_no_daemon(&root);
    Ok(())
}

/// Says, after a delivery, that nobody will take it until a daemon runs.
pub fn warn_if_no_daemon(root: &Dir) {
    let Ok(state) = root.open_dir("state") else {
        return;
    };
    if cmd::alive::running(&state).is_none() {
        let d = cmd::alive::daemon(&state);
        eprintln!(
            "walt: warning: no daemon is running on this studio (last seen {}): it waits in inbox/walt/new/ until one starts (`walt daemon`)",
            d.last_seen.as_deref().unwrap_or("never")
        );
    }
}

pub fn report(cli_root: &Option<PathBuf>, id: &str, status: &str, file: Option<&Path>) -> Result {
    let id = cmd::parse_id(id)?;
    let Some(status) = Status::parse(status) else {
        return Err(Error::Usage(format!(
            "--status {}: use done, failed, halted, rerouted or blocked",
            status.escape_debug()
        )));
    };
    let (path, root, cfg) = cmd::open_studio(cli_root)?;
    let Some(file) = file else {
        return skeleton(&path, &root, &cfg.agent_names(), id, status);
    };
    let name = cmd::display(file);
    let bytes =
        cmd::read_limited(file).map_err(|e| Error::No(format!("cannot read {name}: {e}")))?;
    let bytes = manual::with_header(&bytes, id, status)
        .map_err(|e| Error::Usage(format!("{name}: {e}")))?;
    let want = Want {
        kind: Kind::Report,
        otherwise: Error::No(format!(
            "{name} is not a report (it has no `**Outcome:**`); `walt report {id} --status {}` writes a skeleton",
            status.as_str()
        )),
        prefix: format!("report-{id}"),
    };
    let inbox = cmd::open_inbox(&root, &path)?;
    let delivered = deliver_printing(inbox, &name, &bytes, &cfg.agent_names(), want)?;
    println!("{}", path.join("inbox/walt/new").join(delivered).display());
    warn_if_no_daemon(&root);
    Ok(())
}

/// Writes `report-<id>.md` here, a skeleton of the report on order `id` to fill in.
fn skeleton(path: &Path, root: &Dir, agents: &[AgentName], id: OrderId, status: Status) -> Result {
    let mut agents = agents.to_vec();
    agents.push(AgentName::human());
    let inbox = cmd::open_inbox(root, path)?;
    let found = manual::find(inbox, &agents, id)
        .map_err(|e| Error::Studio(format!("cannot read {}/inbox: {e}", path.display())))?
        .ok_or_else(|| {
            Error::No(format!(
                "order {id} is not queued or active in any inbox; `walt status` lists the open ones"
            ))
        })?;
    let out = PathBuf::from(format!("report-{id}.md"));
    let text = manual::skeleton(id, &found.agent, status, &found.text);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out)
        .map_err(|e| {
            Error::No(format!(
                "cannot write {}: {e} (an earlier skeleton? send it, or move it away)",
                out.display()
            ))
        })?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::No(format!("cannot write {}: {e}", out.display())))?;
    println!("{}", out.display());
    eprintln!("walt: wrote a skeleton report for {id} ({}, from {}): tick what holds, fill in Touched and the Note, then:\n  walt report {id} --status {} {}", found.name, found.agent, status.as_str(), out.display());
    Ok(())
}
