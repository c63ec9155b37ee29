//! Walt's vocabulary: the one closed set of events the shell tells him and the one closed set
//! of effects he asks the shell to perform, each carrying its reason.

use crate::model::ledger::Entry;
use crate::model::order::{AgentName, OrderId, WorkOrder};
use crate::model::record::Record;
use crate::model::state::{Folder, State};

use super::recovery::Failure;

/// What happens in the world, as Walt is told it.
#[derive(Debug, Clone)]
pub enum Event {
    /// A request waits in `inbox/walt/new/` under `name`; `text` is its content.
    Request {
        id: OrderId,
        name: String,
        text: String,
    },
    /// A report waits in `inbox/walt/new/` under `name` (`id` is the report's own id);
    /// `changed` is what the shell saw change under `repos/` while the order was active.
    Report {
        changed: Vec<String>,
        id: OrderId,
        name: String,
        text: String,
        /// Where an earlier review (before a restart) decided to file it, if one did.
        accepted: Option<(AgentName, String)>,
        /// The order it answers, when that is no longer in flight: its agent, where it ended
        /// (done, cancelled) and its file's name there.
        closed: Option<(AgentName, State, String)>,
    },
    /// At start: the orders already in flight (from the ledger, corrected by the folders),
    /// each with its current attempt's file as parsed.
    Resume(Vec<Resume>),
    /// The shell saw an order reach a new state (claimed, moved by hand, gone).
    Moved {
        id: OrderId,
        agent: AgentName,
        state: State,
    },
    /// The shell saw an attempt fail without a report (lease lost, timed out).
    Failed { id: OrderId, failure: Failure },
    /// What the brain command answered to a `Consult` (or why it did not: timeout, crash).
    BrainAnswer {
        id: OrderId,
        answer: Result<String, String>,
    },
    /// A person's decision (`walt retry|cancel|unblock`).
    Decision {
        id: OrderId,
        kind: PersonDecision,
        by: String,
    },
    /// At start: the open plans, from the journal and their parts' entries.
    ResumePlans(Vec<super::plans::PlanResume>),
    /// Once a turn (after the clock is set): plans write what may go out and answer when done.
    Tick,
    /// The evidence a `Gather` asked for: each part that is done, as the folders and the
    /// repositories have it now.
    Gathered { plan: OrderId, parts: Vec<Evidence> },
}

/// What the shell found of a done part when its plan is answered (SPEC §9.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub id: OrderId,
    pub agent: String,
    pub attempt: u32,
    /// The accepted report as it reads now (`None`: it cannot be read).
    pub report: Option<String>,
    /// The digest of the report Walt accepted, as journaled.
    pub digest: Option<String>,
    /// What the accepted attempt changed within its Files (Touched and observed).
    pub changes: Vec<String>,
    /// Each commit (`<repo> <sha>`) and whether it is still in its repository's history.
    pub commits: Vec<(String, bool)>,
}

/// An order in flight at start-up, or delivered by hand into a specialist's inbox: what the
/// ledger knows of it, where its file was found, and the file as parsed (the shell reads and
/// parses the files, many at once). Walt makes a `Flight` of it.
#[derive(Debug, Clone)]
pub struct Resume {
    pub entry: Entry,
    /// Where the file is now (a manual agent may claim it while the daemon starts).
    pub state: State,
    pub order: WorkOrder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonDecision {
    Retry,
    Cancel,
    Unblock,
}

impl PersonDecision {
    pub fn parse(s: &str) -> Option<PersonDecision> {
        match s {
            "retry" => Some(PersonDecision::Retry),
            "cancel" => Some(PersonDecision::Cancel),
            "unblock" => Some(PersonDecision::Unblock),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PersonDecision::Retry => "retry",
            PersonDecision::Cancel => "cancel",
            PersonDecision::Unblock => "unblock",
        }
    }
}

/// What the shell must do. The shell performs a batch phase by phase: every `Decide` is made
/// durable first, then old attempts are archived, then every `Write`/`Handoff`, then every
/// move, then every `Record`; so a decision is on record before the order it decides is
/// written, and an order is on disk before the request that asked for it leaves `new/`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Journal this before anything after it is done.
    Decide(Record),
    /// Move an attempt's file to `inbox/<agent>/done/<to_name>` (it is finished with), and
    /// its run's log (`log.0`, in `active/`, if there is one) beside it as `log.1`.
    Archive {
        id: OrderId,
        agent: AgentName,
        from: Folder,
        name: String,
        to_name: String,
        log: (String, String),
    },
    /// Commit `paths` (studio-relative, the accepted attempt's changes within its Files) in
    /// the git repositories under `repos/` that hold them, one commit per repository, as
    /// `agent`, with `subject` and the order's trailers (SPEC §6.4). The shell adds what it
    /// committed to the order's `order.done`.
    Commit {
        id: OrderId,
        agent: AgentName,
        attempt: u32,
        subject: String,
        paths: Vec<String>,
    },
    /// Write a work order into `inbox/<agent>/new/<name>` (through the desk).
    Write {
        agent: AgentName,
        id: OrderId,
        name: String,
        body: String,
    },
    /// Write a handoff brief to `inbox/walt/handoff/<name>`.
    Handoff {
        generation: u32,
        name: String,
        body: String,
    },
    /// Move a file of Walt's (a request or a report) between his trays.
    MoveRequest {
        id: OrderId,
        name: String,
        from: Folder,
        to: Folder,
    },
    /// Move a file from `inbox/walt/new/` to `inbox/walt/held/` with a `.why.md` saying what
    /// it was taken as (`request` or `report`), `why` it is held, and the `next` step.
    HoldRequest {
        id: OrderId,
        name: String,
        taken_as: &'static str,
        why: String,
        next: String,
    },
    /// Move a report from `inbox/walt/new/<name>` to `inbox/<agent>/done/<to_name>`, beside
    /// the order it answers.
    FileReport {
        id: OrderId,
        name: String,
        agent: AgentName,
        to_name: String,
    },
    /// The request stays in `inbox/walt/new/` (backpressure); take no later request either.
    Wait { id: OrderId },
    /// Ask the brain command: `prompt` on its standard input (exactly what the meter counts);
    /// its answer comes back as `Event::BrainAnswer`.
    Consult { id: OrderId, prompt: String },
    /// Read the evidence for a plan's answer (each done part's report, digest, changes and
    /// commits); it comes back as `Event::Gathered`.
    Gather { plan: OrderId },
    /// Write a plan's answer into `inbox/<agent>/<folder>/<name>` (beside its request in
    /// `inbox/walt/done/`, or to a person in `inbox/human/new/`).
    WriteAnswer {
        id: OrderId,
        agent: AgentName,
        folder: Folder,
        name: String,
        body: String,
    },
    /// Journal this once the moves above are durable.
    Record(Record),
    /// Log only: no state changed.
    Log(Record),
}

impl Effect {
    /// The phase in which the shell performs this effect.
    pub fn phase(&self) -> u8 {
        match self {
            Effect::Decide(_) => 0,
            Effect::Archive { .. } | Effect::Commit { .. } => 1,
            Effect::Write { .. } | Effect::Handoff { .. } | Effect::WriteAnswer { .. } => 2,
            Effect::MoveRequest { .. }
            | Effect::HoldRequest { .. }
            | Effect::FileReport { .. }
            | Effect::Wait { .. }
            | Effect::Consult { .. } => 3,
            Effect::Record(_) | Effect::Log(_) | Effect::Gather { .. } => 4,
        }
    }

    /// The order an effect is about (for skipping the rest of an order whose step failed).
    pub fn order(&self) -> Option<OrderId> {
        match self {
            Effect::Decide(r) | Effect::Record(r) | Effect::Log(r) => r.order,
            Effect::Archive { id, .. }
            | Effect::Commit { id, .. }
            | Effect::Write { id, .. }
            | Effect::MoveRequest { id, .. }
            | Effect::HoldRequest { id, .. }
            | Effect::FileReport { id, .. }
            | Effect::Wait { id }
            | Effect::WriteAnswer { id, .. }
            | Effect::Consult { id, .. } => Some(*id),
            Effect::Gather { plan } => Some(*plan),
            Effect::Handoff { .. } => None,
        }
    }
}
