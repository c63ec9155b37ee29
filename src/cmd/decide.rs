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
    let applies = match kind {
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
                _ => "only an order in flight can be retried or cancelled",
            }
        )));
    }
    let by = std::env::var("USER").unwrap_or_else(|_| "a person".into());
    let at = jiff::Timestamp::now();
    let doc = DecisionFile {
        decision: kind.as_str().into(),
        order: id.to_string(),
        by: one_line(&by),
        at: at.to_string(),
    };
    let name = format!("{}-{id}-{}.json", at.as_nanosecond(), kind.as_str());
    state
        .create_dir_all(DECISIONS)
        .and_then(|()| {
            let tmp = format!("{DECISIONS}/.{name}.tmp");
            state.write(&tmp, serde_json::to_vec(&doc).expect("decision serializes"))?;
            state.rename(&tmp, &state, format!("{DECISIONS}/{name}"))
        })
        .map_err(|e| {
            Error::Studio(format!(
                "cannot record the decision in {}/state/decisions: {e}",
                path.display()
            ))
        })?;
    println!(
        "{} {id}: recorded in state/decisions/{name}; the daemon acts on it and journals it",
        kind.as_str()
    );
    Ok(())
}
