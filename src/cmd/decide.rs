//! `walt retry|cancel|unblock ID`: a person's decision, checked against the journal and left in
//! `state/decisions/` for the daemon, which acts on it and journals it (only the daemon writes
//! the journal).

use std::path::PathBuf;

use crate::cmd::{self, Error, Result};
use crate::coord::PersonDecision;
use crate::format::parse::one_line;
use crate::model::ledger::{Kind, Ledger};
use crate::model::state::State;
use crate::store::journal;
use crate::store::keeper::{DecisionFile, DECISIONS};

pub fn decide(cli_root: &Option<PathBuf>, id: &str, kind: PersonDecision) -> Result {
    let id = cmd::parse_id(id)?;
    let (path, root, _cfg) = cmd::open_studio(cli_root)?;
    let state = cmd::open_state(&root, &path)?;
    let mut ledger = Ledger::default();
    journal::read(&state, |_, r| ledger.apply(&r))?;
    let Some(entry) = ledger.entries.get(&id) else {
        return Err(Error::No(format!(
            "no order {id} in this studio; `walt status` lists the open ones"
        )));
    };
    // A plan's cancel, retry and unblock apply to its open parts (SPEC §9.2).
    let open_plan = entry.kind == Kind::Plan && ledger.plans.get(&id).is_some_and(|p| !p.ended);
    let applies = open_plan
        || match kind {
            PersonDecision::Unblock => entry.state == State::Parked,
            _ => entry.is_open() && entry.kind == Kind::Order,
        };
    if !applies {
        return Err(Error::No(format!(
            "cannot {} order {id}: it is {} in inbox/{}/ ({})",
            kind.as_str(),
            entry.state,
            entry.agent,
            match kind {
                PersonDecision::Unblock => "only a parked order can be unblocked",
                _ => "only an order in flight or an open plan can be retried or cancelled",
            }
        )));
    }
    let name = leave(&state, &path, kind.as_str(), &id.to_string())?;
    println!(
        "{} {id}: recorded in state/decisions/{name}; the daemon acts on it and journals it",
        kind.as_str()
    );
    Ok(())
}

/// `walt ack KEY|--all`: closes attention items (checked against what is open now), left in
/// `state/decisions/` for the daemon to journal as `attention.ack`.
pub fn ack(cli_root: &Option<PathBuf>, key: Option<&str>, all: bool) -> Result {
    let (path, root, _cfg) = cmd::open_studio(cli_root)?;
    let state = cmd::open_state(&root, &path)?;
    let (key, name) = ack_in(&state, &path, key, all)?;
    println!(
        "ack {}: recorded in state/decisions/{name}; the daemon journals it (attention.ack)",
        if key == crate::coord::attention::ALL {
            "--all"
        } else {
            &key
        }
    );
    if !crate::cmd::alive::daemon(&state).running {
        eprintln!(
            "walt: warning: no daemon is running; the acknowledgement is taken when one starts"
        );
    }
    Ok(())
}

/// Leaves an acknowledgement of `key` (or of every open item) in `state/decisions/`, checked
/// against what is open now; returns the key and the decision's file name (for `walt top` too).
pub fn ack_in(
    state: &cap_std::fs::Dir,
    path: &std::path::Path,
    key: Option<&str>,
    all: bool,
) -> Result<(String, String)> {
    let mut open = crate::coord::attention::Attention::default();
    journal::read(state, |_, r| open.apply(&r))?;
    let key = match (key, all) {
        (_, true) => crate::coord::attention::ALL.to_string(),
        (Some(k), false) if open.is_open(k) => k.to_string(),
        (Some(k), false) => {
            let keys: Vec<String> = open.items().into_iter().map(|i| i.key).collect();
            return Err(Error::No(format!(
                "no open item `{}`; {}",
                k.escape_debug(),
                if keys.is_empty() {
                    "nothing needs a person now".to_string()
                } else {
                    format!("the open ones are {}", keys.join(", "))
                }
            )));
        }
        (None, false) => return Err(Error::Usage("name an item's KEY, or --all".into())),
    };
    let name = leave(state, path, "ack", &key)?;
    Ok((key, name))
}

/// Leaves a decision in `state/decisions/` (written aside, then renamed in whole).
fn leave(
    state: &cap_std::fs::Dir,
    path: &std::path::Path,
    decision: &str,
    subject: &str,
) -> Result<String> {
    let by = std::env::var("USER").unwrap_or_else(|_| "a person".into());
    let at = jiff::Timestamp::now();
    let doc = DecisionFile {
        decision: decision.into(),
        order: subject.to_string(),
        by: one_line(&by),
        at: at.to_string(),
    };
    let safe: String = subject
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    let name = format!("{}-{safe}-{decision}.json", at.as_nanosecond());
    state
        .create_dir_all(DECISIONS)
        .and_then(|()| {
            let tmp = format!("{DECISIONS}/.{name}.tmp");
            state.write(&tmp, serde_json::to_vec(&doc).expect("decision serializes"))?;
            state.rename(&tmp, state, format!("{DECISIONS}/{name}"))
        })
        .map_err(|e| {
            Error::Studio(format!(
                "cannot record the decision in {}/state/decisions: {e}",
                path.display()
            ))
        })?;
    Ok(name)
}
