//! `walt trace ID`: one order's whole history from the journal, as a story: each step, when,
//! who, what, why, and the state the order was in then.

use cap_std::fs::Dir;

use crate::model::order::OrderId;
use crate::model::record::Record;
use crate::store::journal::{self, JournalError};

pub fn records(state: &Dir, id: OrderId) -> Result<Vec<Record>, JournalError> {
    let mut out = Vec::new();
    journal::read(state, |_, r| {
        if r.order == Some(id) {
            out.push(r);
        }
    })?;
    Ok(out)
}

/// A plan's parts (name and id), if `records` are a plan's.
pub fn parts(records: &[Record]) -> Vec<(String, OrderId)> {
    records
        .iter()
        .find(|r| r.event == "plan.accepted")
        .and_then(|r| r.extra.get("parts"))
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_string(),
                OrderId::parse(p.get("id")?.as_str()?)?,
            ))
        })
        .collect()
}

/// A plan's story: its records and every part's, in journal order.
pub fn plan_records(
    state: &Dir,
    id: OrderId,
    parts: &[(String, OrderId)],
) -> Result<Vec<Record>, JournalError> {
    let ids: std::collections::BTreeSet<OrderId> =
        parts.iter().map(|(_, p)| *p).chain([id]).collect();
    let mut out = Vec::new();
    journal::read(state, |_, r| {
        if r.order.is_some_and(|o| ids.contains(&o)) {
            out.push(r);
        }
    })?;
    Ok(out)
}

/// `walt trace <plan>`: the plan's acceptance, each part's steps in order (each step names
/// its part), and the answer with its checks.
pub fn render_plan(id: OrderId, parts: &[(String, OrderId)], records: &[Record]) -> String {
    let accepted = records.iter().find(|r| r.event == "plan.accepted");
    let mut out = format!(
        "plan {id}: {}
",
        clean(accepted.and_then(|r| r.get_str("objective")).unwrap_or("?"))
    );
    out.push_str(
        "
acceptance:
",
    );
    for b in accepted
        .and_then(|r| r.extra.get("acceptance"))
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|b| b.as_str())
    {
        out.push_str(&format!(
            "  - {}
",
            clean(b)
        ));
    }
    out.push_str(
        "
parts:
",
    );
    for (name, pid) in parts {
        out.push_str(&format!(
            "  - {name} ({pid})
"
        ));
    }
    for r in records {
        let part = parts
            .iter()
            .find(|(_, p)| r.order == Some(*p))
            .map(|(n, p)| format!("part {n} ({p})"))
            .unwrap_or_else(|| "plan".into());
        let (who, what) = who_what(r);
        out.push_str(&format!(
            "
{}  {}  [{part}]
",
            r.ts, r.event
        ));
        out.push_str(&format!(
            "    {who}: {what}
"
        ));
        if let Some(reason) = &r.reason {
            out.push_str(&format!(
                "    why: {}
",
                clean(reason)
            ));
        }
    }
    out
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

/// Who takes a step, and what the step is, in words.
fn who_what(r: &Record) -> (String, String) {
    let agent = r.agent.as_deref().unwrap_or("?");
    let file = r.path.as_deref().map(clean).unwrap_or_default();
    match r.event.as_str() {
        "delivery.accepted" => (
            "the daemon".into(),
            format!("accepted a delivery into inbox/{agent}/new/ as {file}"),
        ),
        "delivery.held" => (
            "the daemon".into(),
            format!("held it in inbox/{agent}/held/ as {file}"),
        ),
        "route.decided" => ("walt".into(), format!("decided to route it to {agent}")),
        "order.written" => (
            "walt".into(),
            format!("wrote the work order into inbox/{agent}/new/{file}"),
        ),
        "recovery.escalate" => (
            "walt".into(),
            format!("escalated it to inbox/{agent}/new/{file}"),
        ),
        "order.claimed" => (agent.to_string(), "claimed it (moved it to active/)".into()),
        "order.reconciled" => (
            "the daemon".into(),
            "reconciled the journal with the folders".into(),
        ),
        "signal.override" => (
            "walt".into(),
            "refused a `to:` that goes against ownership".into(),
        ),
        "signal.artifact" => (
            "walt".into(),
            "refused an order carrying an artifact".into(),
        ),
        "meter.rotated" => ("walt".into(), "rotated his context before taking it".into()),
        "meter.handoff" => (
            "walt".into(),
            format!("handed over to a fresh generation ({file})"),
        ),
        "meter.backpressure" => (
            "walt".into(),
            "left it waiting: no room under the ceiling".into(),
        ),
        "report.received" => (
            "walt".into(),
            format!(
                "received report {} ({})",
                r.get_str("report").unwrap_or("?"),
                r.get_str("status").unwrap_or("?")
            ),
        ),
        "report.filed" => (
            "walt".into(),
            format!(
                "filed this report beside order {} in inbox/{agent}/done/",
                r.get_str("re").unwrap_or("?")
            ),
        ),
        "review.accepted" => ("walt".into(), "accepted the report at review".into()),
        "review.rejected" => ("walt".into(), "rejected the report at review".into()),
        "order.done" => {
            let commits: Vec<String> = r
                .extra
                .get("commit")
                .and_then(|c| c.as_array())
                .map(|c| {
                    c.iter()
                        .filter_map(|v| v.as_str())
                        .filter_map(|v| v.split_once(' '))
                        .map(|(repo, sha)| format!("{} in {repo}", &sha[..sha.len().min(12)]))
                        .collect()
                })
                .unwrap_or_default();
            (
                "walt".into(),
                if commits.is_empty() {
                    format!("closed it: order and report in inbox/{agent}/done/")
                } else {
                    format!(
                        "closed it: order and report in inbox/{agent}/done/; {agent}'s work committed as {}",
                        commits.join(", ")
                    )
                },
            )
        }
        "recovery.retry" if r.rule.as_deref() == Some("person") => (
            "a person".into(),
            format!("sent it back to {agent} as a new attempt"),
        ),
        "recovery.retry" => (
            "walt".into(),
            format!("sent it back to {agent} as a new attempt"),
        ),
        "recovery.reassign" => ("walt".into(), format!("reassigned it to {agent}")),
        "order.parked" => ("walt".into(), "parked it behind its blocker".into()),
        "order.unparked" => ("walt".into(), format!("sent it back to {agent}")),
        "order.cancelled" => ("a person".into(), "cancelled it".into()),
        "order.stalled" => ("the daemon".into(), "saw its lease run out".into()),
        "signal.scope-creep" => ("walt".into(), "saw work outside the order's Files".into()),
        "signal.feedback" => (
            "walt".into(),
            "refused a retry without the rejection quoted".into(),
        ),
        "plan.accepted" => (
            "walt".into(),
            "accepted the plan and gave each part its id".into(),
        ),
        "plan.started" => (
            "walt".into(),
            format!("took up the plan in inbox/walt/active/{file}"),
        ),
        "plan.answered" => (
            "walt".into(),
            format!(
                "checked the parts against the goal and each other, and answered ({})",
                r.get_str("status").unwrap_or("?")
            ),
        ),
        "plan.escalated" => (
            "walt".into(),
            format!(
                "gave the answer ({}) to a person in inbox/{agent}/new/{file}",
                r.get_str("status").unwrap_or("?")
            ),
        ),
        "plan.cancelled" => ("a person".into(), "cancelled the plan".into()),
        "plan.part-dropped" => ("walt".into(), "dropped this optional part".into()),
        "budget.exceeded" => ("walt".into(), "saw the plan's budget spent".into()),
        "signal.conflict" => ("walt".into(), format!("saw two parts change {file}")),
        "order.waiting" => (
            "walt".into(),
            "left it waiting for an order over its Files".into(),
        ),
        other => ("walt".into(), other.to_string()),
    }
}

/// The story a person reads: each step, when, who, what, why, and the state then.
pub fn render(id: OrderId, records: &[Record]) -> String {
    let mut out = String::new();
    match records.iter().rev().find_map(|r| r.get_str("objective")) {
        Some(o) => out.push_str(&format!("order {id}: {}\n", clean(o))),
        None => out.push_str(&format!("order {id}\n")),
    }
    let mut state = String::from("-");
    for r in records {
        if let (Some(s), Some(a)) = (&r.state, &r.agent) {
            state = format!("inbox/{}/{}", clean(a), s);
        }
        let (who, what) = who_what(r);
        out.push_str(&format!("\n{}  {}\n", r.ts, r.event));
        out.push_str(&format!("    {who}: {what}\n"));
        if let Some(reason) = &r.reason {
            let rule = r
                .rule
                .as_deref()
                .map(|x| format!(" (rule {})", clean(x)))
                .unwrap_or_default();
            out.push_str(&format!("    why: {}{rule}\n", clean(reason)));
        }
        if let Some(c) = &r.candidates {
            for c in c {
                out.push_str(&format!("    considered: {}\n", clean(c)));
            }
        }
        let attempt = r
            .attempt
            .map(|n| format!(", attempt {n}"))
            .unwrap_or_default();
        let walt = match (r.generation, r.hot_tokens) {
            (Some(g), Some(h)) => format!("; walt generation {g}, {h} hot tokens"),
            _ => String::new(),
        };
        out.push_str(&format!("    then: {state}{attempt}{walt}\n"));
    }
    out
}

/// `walt trace ID [--json]`.
pub fn command(cli_root: &Option<std::path::PathBuf>, id: &str, json: bool) -> crate::cmd::Result {
    use crate::cmd::{self, Error};
    let order = cmd::parse_id(id)?;
    let (path, root) = cmd::open_root(cli_root)?;
    let state = cmd::open_state(&root, &path)?;
    let records = records(&state, order)?;
    if records.is_empty() {
        return Err(Error::No(format!(
            "no order {order} in this studio's journal; `walt status` lists the open ones"
        )));
    }
    let parts = parts(&records);
    if !parts.is_empty() {
        let records = plan_records(&state, order, &parts)?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&records).expect("records serialize")
            );
        } else {
            print!("{}", render_plan(order, &parts, &records));
        }
        return Ok(());
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&records).expect("records serialize")
        );
    } else {
        print!("{}", render(order, &records));
    }
    Ok(())
}
