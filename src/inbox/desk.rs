//! Walt's desk: the only way the coordinator's effects reach the world.
//!
//! A `Desk` holds a `Mailbox` (a handle on `inbox/` and nothing else) and performs the
//! effects Walt returns: write a work order into a specialist's `new/`, move a request between
//! Walt's trays, hold one with a note, write a handoff brief. It has no handle on `repos/` or
//! `state/` and no way to get one: every operation is an `*at` call on a folder of `inbox/`
//! with one plain file name (see `mailbox.rs` for how links and `..` are refused).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io;

use cap_fs_ext::DirExt;
use cap_std::fs::Dir;

use crate::inbox::mailbox::{Folder, Mailbox};
use crate::model::order::AgentName;

pub struct Desk {
    mailbox: Mailbox,
    walt: AgentName,
    /// Folders renamed into or out of since the last `sync`.
    dirty: BTreeSet<(AgentName, Folder)>,
    /// New files written since the last `sync`, whose data is not yet durable.
    written: Vec<(AgentName, Folder, String)>,
}

impl Desk {
    /// Takes the handle on `inbox/`: the desk's whole authority.
    pub fn new(inbox: Dir) -> Desk {
        Desk {
            mailbox: Mailbox::new(inbox),
            walt: AgentName::walt(),
            dirty: BTreeSet::new(),
            written: Vec::new(),
        }
    }

    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Writes a work order into `inbox/<agent>/new/<name>`; never replaces a file.
    pub fn write_order(&mut self, agent: &AgentName, name: &str, body: &str) -> io::Result<()> {
        self.mailbox
            .write_new(agent, Folder::New, OsStr::new(name), body.as_bytes(), false)?;
        self.written
            .push((agent.clone(), Folder::New, name.to_string()));
        self.dirty.insert((agent.clone(), Folder::New));
        self.dirty.insert((agent.clone(), Folder::Tmp));
        Ok(())
    }

    /// Writes a plan's answer into `inbox/<agent>/<folder>/<name>` (never replacing a file).
    pub fn write_answer(
        &mut self,
        agent: &AgentName,
        folder: Folder,
        name: &str,
        body: &str,
    ) -> io::Result<()> {
        self.mailbox
            .write_new(agent, folder, OsStr::new(name), body.as_bytes(), false)?;
        self.written.push((agent.clone(), folder, name.to_string()));
        self.dirty.insert((agent.clone(), folder));
        self.dirty.insert((agent.clone(), Folder::Tmp));
        Ok(())
    }

    /// Moves a file of Walt's (a request or a report) between his trays.
    pub fn move_request(&mut self, name: &str, from: Folder, to: Folder) -> io::Result<()> {
        let walt = self.walt.clone();
        self.mailbox
            .rename(&walt, from, OsStr::new(name), to, OsStr::new(name))?;
        self.dirty.insert((walt.clone(), from));
        self.dirty.insert((walt, to));
        Ok(())
    }

    /// Moves an attempt's file to the agent's `done/` under `to_name`.
    pub fn archive(
        &mut self,
        agent: &AgentName,
        from: Folder,
        name: &str,
        to_name: &str,
    ) -> io::Result<()> {
        self.mailbox.rename(
            agent,
            from,
            OsStr::new(name),
            Folder::Done,
            OsStr::new(to_name),
        )?;
        self.dirty.insert((agent.clone(), from));
        self.dirty.insert((agent.clone(), Folder::Done));
        Ok(())
    }

    /// Moves a run's log from the agent's `active/` to `done/<to_name>`, beside the attempt it
    /// is the output of; a log that is not there (a manual agent's order) is no error.
    pub fn archive_log(&mut self, agent: &AgentName, name: &str, to_name: &str) -> io::Result<()> {
        match self.mailbox.rename(
            agent,
            Folder::Active,
            OsStr::new(name),
            Folder::Done,
            OsStr::new(to_name),
        ) {
            Ok(()) => {
                self.dirty.insert((agent.clone(), Folder::Active));
                self.dirty.insert((agent.clone(), Folder::Done));
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves a report from `inbox/walt/new/` to `inbox/<agent>/done/<to_name>`.
    pub fn file_report(&mut self, name: &str, agent: &AgentName, to_name: &str) -> io::Result<()> {
        let walt = self.walt.clone();
        self.mailbox.rename_between(
            &walt,
            Folder::New,
            OsStr::new(name),
            agent,
            Folder::Done,
            OsStr::new(to_name),
        )?;
        self.dirty.insert((walt, Folder::New));
        self.dirty.insert((agent.clone(), Folder::Done));
        Ok(())
    }

    /// Moves a request to `inbox/walt/held/` with `<name>.why.md` beside it.
    /// Holds `inbox/walt/new/<name>` (delivered as `dropped`, taken as a `taken_as`) with a
    /// note saying why and what to do next.
    pub fn hold_request(
        &mut self,
        name: &str,
        dropped: &str,
        taken_as: &str,
        why: &str,
        next: &str,
    ) -> io::Result<()> {
        let walt = self.walt.clone();
        let note = format!(
            "# Held: {name}\n\nDelivered as `{dropped}` and taken as a {taken_as}, it is held: {why}.\n\nWhat to do: {next}. The held file stays as it arrived, here in `inbox/walt/held/{name}`.\n"
        );
        let why_name = format!("{name}.why.md");
        // A crash between the note and the move leaves the note: keep it, move the file.
        match self.mailbox.write_new(
            &walt,
            Folder::Held,
            OsStr::new(&why_name),
            note.as_bytes(),
            false,
        ) {
            Ok(()) => self.written.push((walt.clone(), Folder::Held, why_name)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        self.mailbox.rename(
            &walt,
            Folder::New,
            OsStr::new(name),
            Folder::Held,
            OsStr::new(name),
        )?;
        self.dirty.insert((walt.clone(), Folder::New));
        self.dirty.insert((walt, Folder::Held));
        Ok(())
    }

    /// Writes `inbox/walt/handoff/<name>` (a brief for Walt's next generation).
    pub fn write_handoff(&mut self, name: &str, body: &str) -> io::Result<()> {
        // Rare, so made durable on its own.
        self.mailbox
            .write_handoff(OsStr::new(name), body.as_bytes())
    }

    /// Makes everything since the last sync durable: file data first (one flush of the
    /// filesystem for a batch, an fsync each for a few), then each folder renamed in.
    pub fn sync(&mut self) -> io::Result<()> {
        crate::crash_point!("desk.sync.before");
        let written = std::mem::take(&mut self.written);
        if written.len() > 4 {
            self.mailbox.sync_all()?;
        } else {
            for (agent, folder, name) in &written {
                self.mailbox.sync_file(agent, *folder, OsStr::new(name))?;
            }
        }
        for (agent, folder) in std::mem::take(&mut self.dirty) {
            self.mailbox.sync(&agent, folder)?;
        }
        Ok(())
    }
}

/// Opens `inbox/` under a studio root without following a symlink (a planted `inbox` link
/// must not hand the desk another folder).
pub fn open_inbox(root: &Dir) -> io::Result<Dir> {
    match root.create_dir("inbox") {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    root.open_dir_nofollow("inbox")
}
