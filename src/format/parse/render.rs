//! Values back to text: the canonical form Walt writes (`**Label:**`), which parses to itself.

use super::*;
use crate::model::order::{Report, WorkOrder};

/// Writes a work order in canonical form (`**Label:**`, daemon keys first).
pub fn render_order(order: &WorkOrder) -> String {
    let h = &order.header;
    let mut out = String::from("---\n");
    if let Some(id) = h.id {
        out.push_str(&format!("id: {id}\n"));
    }
    if let Some(from) = &h.from {
        out.push_str(&format!("from: {}\n", one_line(from)));
    }
    if let Some(to) = &h.to {
        out.push_str(&format!("to: {to}\n"));
    }
    if let Some(attempt) = h.attempt {
        out.push_str(&format!("attempt: {attempt}\n"));
    }
    out.push_str(&format!("priority: {}\n", h.priority.as_str()));
    if let Some(b) = h.blocked_by {
        out.push_str(&format!("blocked-by: {b}\n"));
    }
    if let Some(o) = &h.override_reason {
        out.push_str(&format!("override: {}\n", one_line(o)));
    }
    if let Some(r) = &h.reason {
        out.push_str(&format!("reason: {}\n", one_line(r)));
    }
    if let Some(p) = h.plan {
        out.push_str(&format!("plan: {p}\n"));
    }
    if let Some(f) = h.follows {
        out.push_str(&format!("follows: {f}\n"));
    }
    if let Some(p) = &h.part {
        out.push_str(&format!("part: {}\n", one_line(p)));
    }
    out.push_str("---\n");
    out.push_str(&format!(
        "**Objective:** {}\n\n",
        one_line(&order.objective)
    ));
    out.push_str("**Acceptance:**\n");
    for a in &order.acceptance {
        out.push_str(&format!("- {}\n", one_line(a)));
    }
    out.push_str("\n**Files:**\n");
    for f in &order.files {
        out.push_str(&format!("- {}\n", one_line(f)));
    }
    out.push_str("\n**Branching:**\n");
    for b in &order.branching {
        out.push_str(&format!("- {}\n", one_line(&b.render())));
    }
    out
}

/// Writes a report in canonical form.
pub fn render_report(report: &Report) -> String {
    let h = &report.header;
    let mut out = String::from("---\n");
    if let Some(re) = h.re {
        out.push_str(&format!("re: {re}\n"));
    }
    if let Some(from) = &h.from {
        out.push_str(&format!("from: {}\n", one_line(from)));
    }
    if let Some(s) = h.status {
        out.push_str(&format!("status: {}\n", s.as_str()));
    }
    if let Some(r) = &h.route_to {
        out.push_str(&format!("route-to: {r}\n"));
    }
    if let Some(b) = &h.blocker {
        out.push_str(&format!("blocker: {}\n", one_line(b)));
    }
    if let Some(n) = h.spent {
        out.push_str(&format!("spent: {n}\n"));
    }
    out.push_str("---\n");
    out.push_str(&format!(
        "**Outcome:** {}\n\n**Acceptance:**\n",
        one_line(&report.outcome)
    ));
    for t in &report.acceptance {
        let mark = if t.ticked { "x" } else { " " };
        match &t.evidence {
            Some(e) => out.push_str(&format!(
                "- [{mark}] {} — {}\n",
                one_line(&t.text),
                one_line(e)
            )),
            None => out.push_str(&format!("- [{mark}] {}\n", one_line(&t.text))),
        }
    }
    out.push_str("\n**Touched:**\n");
    if report.touched.is_empty() {
        out.push_str("- none\n");
    }
    for t in &report.touched {
        out.push_str(&format!("- {}\n", one_line(t)));
    }
    let note = if report.note.trim().is_empty() {
        "none"
    } else {
        report.note.trim()
    };
    out.push_str(&format!("\n**Note:** {note}\n"));
    if !report.follow_ups.is_empty() {
        out.push_str("\n**Follow-ups:**\n");
        for f in &report.follow_ups {
            out.push_str(&format!("- {}\n", one_line(f)));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The scanner: front matter, section headers, fences. Shared by both kinds.
