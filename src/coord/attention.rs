//! What needs a person (SPEC §10), as one list of items folded from the journal: each item has
//! a stable key (its kind and order, agent or path), when it was first and last seen, and how
//! often. The same condition seen again raises the count of its open item and never makes a
//! second one; `walt ack KEY` (journaled as `attention.ack`) closes it, and a condition that
//! comes back after that opens it once more.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::record::{Level, Record};
use crate::model::state::State;

/// The key `walt ack --all` closes every open item with.
pub const ALL: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub key: String,
    pub kind: String,
    /// What the condition is, as last said.
    pub what: String,
    pub first: String,
    pub last: String,
    pub count: u64,
}

#[derive(Debug, Default, Clone)]
pub struct Attention {
    open: BTreeMap<String, Item>,
}

/// The condition a record raises, if any: (key, kind, what).
fn condition(r: &Record) -> Option<(String, String, String)> {
    let reason = r.reason.clone().unwrap_or_default();
    let order = r.order.map(|o| o.to_string());
    let agent = r.agent.clone().unwrap_or_default();
    let path = r.path.clone().unwrap_or_default();
    let kind = |k: &str| k.to_string();
    match r.event.as_str() {
        "recovery.escalate" => {
            let o = order?;
            Some((
                format!("escalated:{o}"),
                kind("escalated"),
                format!("order {o} is with a person (inbox/human/new/{path}): {reason}"),
            ))
        }
        "plan.escalated" => {
            let o = order?;
            Some((
                format!("plan:{o}"),
                kind("plan"),
                format!("plan {o}'s answer is with a person (inbox/human/new/{path}): {reason}"),
            ))
        }
        "followup.filed" => {
            let o = order?;
            Some((
                format!("follow-up:{o}"),
                kind("follow-up"),
                format!("inbox/human/new/{path}: {reason}"),
            ))
        }
        "plan.lost" => {
            let o = order?;
            Some((format!("plan:{o}"), kind("plan"), reason))
        }
        "budget.exceeded" => {
            let o = order?;
            Some((format!("budget:{o}"), kind("budget"), reason))
        }
        "order.stalled" => {
            let o = order?;
            Some((
                format!("stalled:{o}"),
                kind("stalled"),
                format!("order {o} stalled: {reason}"),
            ))
        }
        "run.setup-failed" | "agent.refused" => {
            Some((format!("setup:{agent}"), kind("setup"), reason))
        }
        // One for each request the brain failed (its refusals lead here, once).
        "brain.fallback" => Some((
            kind("brain"),
            kind("brain"),
            format!("the brain is failing: {reason}"),
        )),
        "signal.silent-execution" => {
            Some((format!("silent:{path}"), kind("silent-execution"), reason))
        }
        // A pause is logged only (the disk is full); once resumed it is journaled.
        "daemon.paused" | "daemon.resumed" => Some((kind("paused"), kind("paused"), reason)),
        _ if r.state == Some(State::Held) => Some((
            format!("held:{agent}/{path}"),
            kind("held"),
            format!("inbox/{agent}/held/{path}: {reason}"),
        )),
        e if e.starts_with("signal.") && r.level == Level::Warn => {
            let sig = e.trim_start_matches("signal.");
            Some((
                format!("{sig}:{}", order.clone().unwrap_or_else(|| path.clone())),
                sig.to_string(),
                match order {
                    Some(o) => format!("order {o}: {reason}"),
                    None => reason,
                },
            ))
        }
        _ => None,
    }
}

impl Attention {
    /// Takes one journal record in: a condition raised, or an acknowledgement.
    pub fn apply(&mut self, r: &Record) {
        if r.event == "attention.ack" {
            match r.get_str("key") {
                Some(ALL) => self.open.clear(),
                Some(key) => {
                    self.open.remove(key);
                }
                None => {}
            }
            return;
        }
        let Some((key, kind, what)) = condition(r) else {
            return;
        };
        match self.open.get_mut(&key) {
            Some(item) => {
                item.count += 1;
                item.last.clone_from(&r.ts);
                item.what = what;
            }
            None => {
                self.open.insert(
                    key.clone(),
                    Item {
                        key,
                        kind,
                        what,
                        first: r.ts.clone(),
                        last: r.ts.clone(),
                        count: 1,
                    },
                );
            }
        }
    }

    /// The open items, oldest first.
    pub fn items(&self) -> Vec<Item> {
        let mut items: Vec<Item> = self.open.values().cloned().collect();
        items.sort_by(|a, b| (&a.first, &a.key).cmp(&(&b.first, &b.key)));
        items
    }

    pub fn is_open(&self, key: &str) -> bool {
        self.open.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::order::OrderId;

    fn at(r: Record, ts: &str) -> Record {
        let mut r = r;
        r.ts = ts.into();
        r
    }

    #[test]
    fn one_item_per_condition_counted_closed_by_ack_and_opened_once_more() {
        let mut a = Attention::default();
        let stalled = || {
            Record::new("order.stalled")
                .order(OrderId(7))
                .reason("no touch")
        };
        a.apply(&at(stalled(), "t1"));
        a.apply(&at(stalled(), "t2"));
        a.apply(&at(Record::new("order.written").order(OrderId(8)), "t2"));
        let items = a.items();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].key, "stalled:0007");
        assert_eq!(
            (
                items[0].count,
                items[0].first.as_str(),
                items[0].last.as_str()
            ),
            (2, "t1", "t2")
        );
        a.apply(&at(
            Record::new("attention.ack").with("key", "stalled:0007"),
            "t3",
        ));
        assert!(a.items().is_empty());
        a.apply(&at(stalled(), "t4"));
        let items = a.items();
        assert_eq!(
            (items.len(), items[0].count, items[0].first.as_str()),
            (1, 1, "t4")
        );
    }

    #[test]
    fn each_source_has_its_own_key_and_ack_all_closes_everything() {
        let mut a = Attention::default();
        for r in [
            Record::new("recovery.escalate")
                .order(OrderId(1))
                .reason("x"),
            Record::new("run.setup-failed")
                .agent("chip")
                .reason("chip cannot run"),
            Record::new("agent.refused")
                .agent("chip")
                .reason("chip cannot run"),
            Record::new("brain.fallback").reason("timed out"),
            Record::new("signal.silent-execution")
                .level(Level::Warn)
                .path("repos/a")
                .reason("x"),
            Record::new("delivery.held")
                .agent("walt")
                .state(State::Held)
                .path("0003-x.md")
                .reason("bad"),
            Record::new("signal.forgery")
                .level(Level::Warn)
                .order(OrderId(2))
                .reason("x"),
        ] {
            a.apply(&r);
        }
        let keys: Vec<String> = a.items().into_iter().map(|i| i.key).collect();
        assert_eq!(keys.len(), 6, "{keys:?}");
        for k in [
            "escalated:0001",
            "setup:chip",
            "brain",
            "silent:repos/a",
            "held:walt/0003-x.md",
            "forgery:0002",
        ] {
            assert!(a.is_open(k), "{k}: {keys:?}");
        }
        a.apply(&Record::new("attention.ack").with("key", ALL));
        assert!(a.items().is_empty());
    }
}
