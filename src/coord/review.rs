//! Review at collection: a report is checked against the order it answers before it
//! is accepted. Pure: the order, the report and what the shell observed are plain values.

use crate::model::order::{Branch, OrderId, Report, Status, WorkOrder};

/// Why a report is not accepted as it stands. Each is one sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reasons: Vec<String>,
    /// Set when a Touched or observed path is outside the order's Files.
    pub scope_creep: Vec<String>,
}

fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether `path` is inside the order's Files (a file named exactly, or under a folder entry
/// ending in `/`).
pub fn within(files: &[String], path: &str) -> bool {
    files.iter().any(|f| {
        if f.ends_with('/') {
            path.starts_with(f.as_str())
        } else {
            f == path
        }
    })
}

/// Why a command agent's report is a forgery, if it is: a run speaks only for the order it was
/// started for and the agent that ran it (signal *forgery*); one that names another would move
/// another order.
pub fn forged(report: &Report, id: OrderId, agent: &str) -> Option<String> {
    let re = report.header.re;
    let from = report.header.from.as_deref();
    match (re, from) {
        (Some(re), _) if re != id => Some(format!("the run of order {id} reported on order {re}")),
        (_, Some(from)) if from != agent => Some(format!(
            "{agent}'s run of order {id} reported as {}",
            from.escape_debug()
        )),
        _ => None,
    }
}

/// The agents the order's Branching allows a `route-to`.
pub fn routes(order: &WorkOrder) -> Vec<&str> {
    order
        .branching
        .iter()
        .filter_map(|b| match b {
            Branch::RouteTo(a, _) => Some(a.as_str()),
            _ => None,
        })
        .collect()
}

/// Checks a report against its order. `agent` is who the order was sent to; `changed` the
/// paths the shell saw change under `repos/` while the order was active.
pub fn review(
    order: &WorkOrder,
    agent: &str,
    report: &Report,
    changed: &[String],
) -> Result<(), Rejection> {
    let mut reasons = Vec::new();
    let mut scope_creep = Vec::new();
    if let Some(from) = &report.header.from {
        if from != agent {
            reasons.push(format!(
                "the report is from {from}, but the order was sent to {agent}"
            ));
        }
    }
    let status = report.header.status;
    let ticked = report.acceptance.iter().filter(|t| t.ticked).count();
    match status {
        Some(Status::Done) if ticked < report.acceptance.len() => reasons.push(format!(
            "status done, but {} of {} bullets are not ticked",
            report.acceptance.len() - ticked,
            report.acceptance.len()
        )),
        Some(Status::Failed)
            if !report.acceptance.is_empty() && ticked == report.acceptance.len() =>
        {
            reasons.push("status failed, but every bullet is ticked".to_string())
        }
        _ => {}
    }
    if status == Some(Status::Done) {
        for bullet in &order.acceptance {
            match report
                .acceptance
                .iter()
                .find(|t| normalize(&t.text) == normalize(bullet))
            {
                None => reasons.push(format!(
                    "Acceptance bullet \"{bullet}\" is missing from the report"
                )),
                Some(t) if !t.ticked => {
                    reasons.push(format!("Acceptance bullet \"{bullet}\" is not ticked"))
                }
                Some(_) => {}
            }
        }
    }
    for t in &report.touched {
        if !within(&order.files, t) {
            scope_creep.push(t.clone());
            reasons.push(format!("Touched {t} is outside the order's Files"));
        }
    }
    for c in changed {
        if !within(&order.files, c) && !scope_creep.contains(c) {
            scope_creep.push(c.clone());
            reasons.push(format!(
                "{c} changed while the order was active, and it is outside the order's Files"
            ));
        }
    }
    if status == Some(Status::Rerouted) {
        if let Some(to) = &report.header.route_to {
            if !routes(order).contains(&to.as_str()) {
                reasons.push(format!(
                    "route-to {to}: the order's Branching does not name route-to-{to}"
                ));
            }
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Rejection {
            reasons,
            scope_creep,
        })
    }
}

/// The paths of `files` outside `within` (what a brain's answer may not add to a request's).
pub fn beyond<'a>(within_files: &[String], files: &'a [String]) -> Vec<&'a str> {
    files
        .iter()
        .filter(|f| !within(within_files, f))
        .map(String::as_str)
        .collect()
}
