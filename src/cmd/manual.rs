//! What a manual agent (a person, or a coding agent in a terminal) does with the studio's
//! folders: claim the oldest order, find an order by id, and write a report skeleton.

use std::ffi::OsStr;
use std::io;

use cap_std::fs::Dir;

use crate::format::parse::{self, Context, MAX_BYTES};
use crate::inbox::mailbox::{is_archive, EntryKind, Folder, Mailbox, MoveError};
use crate::model::order::{AgentName, OrderId, Report, ReportHeader, Status, Tick};

/// Moves the oldest order (lowest id) in `inbox/<agent>/new/` to `active/`, touches it (the
/// lease starts now) and returns its name; `None` when nothing is queued.
pub fn claim(inbox: Dir, agent: &AgentName) -> io::Result<Option<String>> {
    let mb = Mailbox::new(inbox);
    mb.open_inbox(agent)?;
    let mut queued: Vec<(OrderId, String)> = mb
        .list(agent, Folder::New)?
        .into_iter()
        .filter(|e| e.kind == EntryKind::File)
        .filter_map(|e| e.name.into_string().ok())
        .filter(|n| !is_archive(n))
        .filter_map(|n| OrderId::from_file_name(&n).map(|id| (id, n)))
        .collect();
    queued.sort();
    for (_, name) in queued {
        // Another claimer may win the race for this one (NOREPLACE, or it is gone): try the next.
        match mb.move_synced(agent, Folder::New, Folder::Active, OsStr::new(&name)) {
            Ok(()) => {
                // The lease starts now (a touch is not a move: no sync needed for it).
                mb.touch(agent, Folder::Active, OsStr::new(&name))?;
                return Ok(Some(name));
            }
            Err(MoveError::Rename(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
                ) =>
            {
                continue
            }
            Err(MoveError::Rename(e) | MoveError::Sync(e)) => return Err(e),
        }
    }
    Ok(None)
}

/// An order's current file: the agent holding it, the folder, its name and its text.
pub struct Found {
    pub agent: AgentName,
    pub folder: Folder,
    pub name: String,
    pub text: String,
}

/// Looks for order `id` in the `new/` and `active/` folders of every inbox.
pub fn find(inbox: Dir, agents: &[AgentName], id: OrderId) -> io::Result<Option<Found>> {
    let mb = Mailbox::new(inbox);
    let prefix = format!("{id}-");
    for agent in agents {
        for folder in [Folder::Active, Folder::New] {
            let Ok(entries) = mb.list(agent, folder) else {
                continue;
            };
            for e in entries {
                let Ok(name) = e.name.into_string() else {
                    continue;
                };
                if e.kind != EntryKind::File || !name.starts_with(&prefix) || is_archive(&name) {
                    continue;
                }
                if let Ok(bytes) = mb.read_file(agent, folder, OsStr::new(&name), MAX_BYTES + 1)? {
                    return Ok(Some(Found {
                        agent: agent.clone(),
                        folder,
                        name,
                        text: String::from_utf8_lossy(&bytes).into_owned(),
                    }));
                }
            }
        }
    }
    Ok(None)
}

/// A report skeleton for an order: its Acceptance bullets to tick, the outcome to state, the
/// files to list, and (for anything but `done`) the Note to write.
pub fn skeleton(id: OrderId, agent: &AgentName, status: Status, order_text: &str) -> String {
    let order = parse::parse_order(order_text.as_bytes(), Context::default()).value;
    let report = Report {
        header: ReportHeader {
            re: Some(id),
            from: Some(agent.to_string()),
            status: Some(status),
            route_to: None,
            blocker: None,
            spent: None,
        },
        outcome: order.objective.clone(),
        acceptance: order
            .acceptance
            .iter()
            .map(|a| Tick {
                text: a.clone(),
                ticked: false,
                evidence: None,
            })
            .collect(),
        touched: Vec::new(),
        follow_ups: Vec::new(),
        note: String::new(),
    };
    let mut text = parse::render_report(&report);
    if status != Status::Done {
        text = text.replace("**Note:** none", "**Note:**");
    }
    text
}

/// Sets (or checks) `status:` and `re:` in a report's front matter.
pub fn with_header(bytes: &[u8], id: OrderId, status: Status) -> Result<Vec<u8>, String> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let report = parse::parse_report(bytes, Context::default()).value;
    if let Some(re) = report.header.re {
        if re != id {
            return Err(format!(
                "the file answers order {re} (`re: {re}`), not {id}"
            ));
        }
    }
    if let Some(s) = report.header.status {
        if s != status {
            return Err(format!(
                "the file says `status: {}`, but --status is {}",
                s.as_str(),
                status.as_str()
            ));
        }
    }
    if report.header.re.is_some() && report.header.status.is_some() {
        return Ok(bytes.to_vec());
    }
    let mut add = String::new();
    if report.header.re.is_none() {
        add.push_str(&format!("re: {id}\n"));
    }
    if report.header.status.is_none() {
        add.push_str(&format!("status: {}\n", status.as_str()));
    }
    Ok(match text.strip_prefix("---\n") {
        Some(rest) => format!("---\n{add}{rest}"),
        None => format!("---\n{add}---\n{text}"),
    }
    .into_bytes())
}

/// `walt claim AGENT`: prints the claimed order's path.
pub fn command(cli_root: &Option<std::path::PathBuf>, agent: &str) -> crate::cmd::Result {
    use crate::cmd::{self, Error};
    let (path, root, cfg) = cmd::open_studio(cli_root)?;
    let agent = cmd::agent_arg(&cfg, agent, "")?;
    let inbox = cmd::open_inbox(&root, &path)?;
    match claim(inbox, &agent) {
        Ok(Some(name)) => {
            println!(
                "{}",
                path.join("inbox")
                    .join(agent.as_str())
                    .join(Folder::Active.as_str())
                    .join(name)
                    .display()
            );
            Ok(())
        }
        Ok(None) => Err(Error::No(format!("nothing queued in inbox/{agent}/new/"))),
        Err(e) => Err(Error::No(format!("cannot claim for {agent}: {e}"))),
    }
}
