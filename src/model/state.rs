//! Where an order is: one typed vocabulary for the folders of an inbox and the states an order
//! can be in, shared by the mailbox, the ledger, Walt and the views.
//!
//! The journal and `state/ledger.json` spell these as the lowercase words they always had
//! (`"new"`, `"parked"`, …), so a journal written before the types existed replays the same.

use serde::{Deserialize, Serialize};

use crate::model::order::AgentName;

/// The folders of an inbox. `Root` is the hand-drop slot `inbox/<agent>/` itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Folder {
    Root,
    Tmp,
    New,
    Active,
    Done,
    Held,
}

impl Folder {
    pub const ALL: [Folder; 6] = [
        Folder::Root,
        Folder::Tmp,
        Folder::New,
        Folder::Active,
        Folder::Done,
        Folder::Held,
    ];

    /// The folders an order's file can be in, in the order files move through them.
    pub const MAIL: [Folder; 4] = [Folder::New, Folder::Active, Folder::Done, Folder::Held];

    pub fn as_str(self) -> &'static str {
        match self {
            Folder::Root => "",
            Folder::Tmp => "tmp",
            Folder::New => "new",
            Folder::Active => "active",
            Folder::Done => "done",
            Folder::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<Folder> {
        Folder::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// `inbox/chip/new/NAME` as a person would write it (for logs and messages).
    pub fn display(self, agent: &AgentName, name: &str) -> String {
        match self {
            Folder::Root => format!("inbox/{agent}/{name}"),
            f => format!("inbox/{agent}/{}/{name}", f.as_str()),
        }
    }
}

/// Where an order (or a request or report of Walt's) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Queued in `new/`.
    New,
    /// Claimed: in `active/`.
    Active,
    /// Finished: in `done/`.
    Done,
    /// Refused or dead-lettered: in `held/`.
    Held,
    /// Blocked: its last attempt is archived in `done/` until its blocker is done.
    Parked,
    /// Cancelled by a person: its last attempt is archived in `done/`.
    Cancelled,
    /// Its file is gone from every folder (folders win).
    Missing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Active => "active",
            State::Done => "done",
            State::Held => "held",
            State::Parked => "parked",
            State::Cancelled => "cancelled",
            State::Missing => "missing",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [
            State::New,
            State::Active,
            State::Done,
            State::Held,
            State::Parked,
            State::Cancelled,
            State::Missing,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Finished with: done, cancelled, held or missing. The rest are open (in flight).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            State::Done | State::Cancelled | State::Held | State::Missing
        )
    }

    /// Queued or claimed: the order's current attempt is a live file a specialist can see.
    pub fn is_live(self) -> bool {
        matches!(self, State::New | State::Active)
    }

    /// The folder the file is in: a parked or cancelled order's last attempt is archived in
    /// `done/`; a missing one is nowhere.
    pub fn folder(self) -> Option<Folder> {
        match self {
            State::New => Some(Folder::New),
            State::Active => Some(Folder::Active),
            State::Done | State::Parked | State::Cancelled => Some(Folder::Done),
            State::Held => Some(Folder::Held),
            State::Missing => None,
        }
    }
}

impl From<Folder> for State {
    /// The state of a file found in a folder (the hand-drop slot and `tmp/` hold nothing yet
    /// accepted, so they count as `new`).
    fn from(f: Folder) -> State {
        match f {
            Folder::Root | Folder::Tmp | Folder::New => State::New,
            Folder::Active => State::Active,
            Folder::Done => State::Done,
            Folder::Held => State::Held,
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_folders_spell_as_the_journal_always_did() {
        for (st, word) in [
            (State::New, "\"new\""),
            (State::Active, "\"active\""),
            (State::Done, "\"done\""),
            (State::Held, "\"held\""),
            (State::Parked, "\"parked\""),
            (State::Cancelled, "\"cancelled\""),
            (State::Missing, "\"missing\""),
        ] {
            assert_eq!(serde_json::to_string(&st).unwrap(), word);
            assert_eq!(serde_json::from_str::<State>(word).unwrap(), st);
            assert_eq!(State::parse(st.as_str()), Some(st));
        }
        for f in Folder::ALL {
            assert_eq!(Folder::parse(f.as_str()), Some(f));
        }
        assert_eq!(State::parse("stalled"), None);
    }

    #[test]
    fn a_parked_or_cancelled_order_is_archived_in_done_and_open_ones_are_not_finished() {
        assert_eq!(State::Parked.folder(), Some(Folder::Done));
        assert_eq!(State::Cancelled.folder(), Some(Folder::Done));
        assert_eq!(State::Missing.folder(), None);
        assert!(!State::Parked.is_finished() && !State::Active.is_finished());
        assert!(State::Held.is_finished() && State::Cancelled.is_finished());
    }
}
