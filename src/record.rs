//! One record: a line of the journal (`state/journal.jsonl`) and of the structured log
//! (`state/logs/walt.jsonl`). The fields of SPEC §8 sit at the top level so `jq` reads them
//! directly; anything an event adds goes beside them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::order::OrderId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339 time, set by the shell when the record is written.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ts: String,
    #[serde(default)]
    pub level: Level,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The order's state after this step (`new`, `active`, `done`, `held`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Record {
    pub fn new(event: &str) -> Record {
        Record {
            event: event.to_string(),
            ..Record::default()
        }
    }

    pub fn order(mut self, id: OrderId) -> Self {
        self.order = Some(id);
        self
    }
    pub fn agent(mut self, agent: impl ToString) -> Self {
        self.agent = Some(agent.to_string());
        self
    }
    pub fn attempt(mut self, n: u32) -> Self {
        self.attempt = Some(n);
        self
    }
    pub fn rule(mut self, rule: &str) -> Self {
        self.rule = Some(rule.to_string());
        self
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
    pub fn state(mut self, state: &str) -> Self {
        self.state = Some(state.to_string());
        self
    }
    pub fn candidates(mut self, c: Vec<String>) -> Self {
        self.candidates = Some(c);
        self
    }
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(|v| v.as_str())
    }

    /// One JSON line, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a record always serializes")
    }
}
