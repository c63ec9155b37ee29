//! `walt trace ID`: one order's whole history from the journal, as a story: each step, when,
//! who, what, why, and the state the order was in then.

use cap_std::fs::Dir;

use crate::journal::{self, JournalError};
use crate::order::OrderId;
use crate::record::Record;

pub fn records(state: &Dir, id: OrderId) -> Result<Vec<Record>, JournalError> {
    let mut out = Vec::new();
    journal::read(state, |_, r| {
        if r.order == Some(id) {
            out.push(r);
        }
    })?;
    Ok(out)
}

fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The story a person reads.
pub fn render(id: OrderId, records: &[Record]) -> String {
    let mut out = String::new();
    if let Some(o) = records.iter().rev().find_map(|r| r.get_str("objective")) {
        out.push_str(&format!("order {id}: {}\n", clean(o)));
    } else {
        out.push_str(&format!("order {id}\n"));
    }
    let mut state = String::from("-");
    let mut agent = String::from("-");
    for r in records {
        if let Some(s) = &r.state {
            state = s.clone();
        }
        if let Some(a) = &r.agent {
            if r.state.is_some() {
                agent = a.clone();
            }
        }
        let who = r.agent.as_deref().unwrap_or("walt");
        out.push_str(&format!(
            "\n{}  {}  [{} → {}/{}]\n",
            r.ts,
            r.event,
            clean(who),
            clean(&agent),
            state
        ));
        if let Some(rule) = &r.rule {
            out.push_str(&format!("    rule: {}\n", clean(rule)));
        }
        if let Some(reason) = &r.reason {
            out.push_str(&format!("    why: {}\n", clean(reason)));
        }
        if let Some(c) = r.extra.get("candidates").and_then(|v| v.as_array()) {
            for c in c.iter().filter_map(|v| v.as_str()) {
                out.push_str(&format!("    considered: {}\n", clean(c)));
            }
        }
        if let Some(p) = &r.path {
            out.push_str(&format!("    file: {}\n", clean(p)));
        }
        if let Some(n) = r.attempt {
            out.push_str(&format!("    attempt: {n}\n"));
        }
        if let (Some(g), Some(h)) = (r.generation, r.hot_tokens) {
            out.push_str(&format!("    walt: generation {g}, {h} hot tokens\n"));
        }
    }
    out
}
