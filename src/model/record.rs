//! One record: a line of the journal (`state/journal.jsonl`) and of the structured log
//! (`state/logs/walt.jsonl`). The fields every event may have (order, agent, attempt, rule, reason, …) sit at the top level so `jq` reads them
//! directly; anything an event adds goes beside them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::order::OrderId;
use crate::model::state::{Folder, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
    /// Where the order is after this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Read by hand rather than derived: with `#[serde(flatten)]` serde buffers every record into
/// an intermediate tree before sorting out its fields, and start-up replays a million of them.
impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        d.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> serde::de::Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a journal record (a JSON object with an `event`)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut r = Record::default();
        let mut event = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "ts" => r.ts = map.next_value()?,
                "level" => r.level = map.next_value()?,
                "event" => event = Some(map.next_value()?),
                "order" => r.order = map.next_value()?,
                "agent" => r.agent = map.next_value()?,
                "attempt" => r.attempt = map.next_value()?,
                "generation" => r.generation = map.next_value()?,
                "hot_tokens" => r.hot_tokens = map.next_value()?,
                "rule" => r.rule = map.next_value()?,
                "reason" => r.reason = map.next_value()?,
                "path" => r.path = map.next_value()?,
                "state" => r.state = map.next_value()?,
                "candidates" => r.candidates = map.next_value()?,
                _ => {
                    let value = map.next_value()?;
                    r.extra.insert(key.into_string(), value);
                }
            }
        }
        r.event = event.ok_or_else(|| serde::de::Error::missing_field("event"))?;
        Ok(r)
    }
}

/// A field name, borrowed from the input when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
    fn into_string(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_string(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_string()))
            }
        }
        d.deserialize_str(V)
    }
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
    pub fn state(mut self, state: State) -> Self {
        self.state = Some(state);
        self
    }
    /// Where the request an order came from is in Walt's inbox now, and under what name.
    pub fn request(self, folder: Folder, name: impl Into<String>) -> Self {
        self.with("request", folder.as_str())
            .with("request_path", name.into())
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

    /// `with`, when there is a value.
    pub fn with_opt(self, key: &str, value: Option<impl Into<serde_json::Value>>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(|v| v.as_str())
    }

    /// One JSON line, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a record always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_the_record_it_was_with_every_field_and_extra() {
        let r = Record::new("route.decided")
            .order(OrderId(42))
            .agent("chip")
            .attempt(2)
            .rule("owns")
            .reason("owns 1 of 1 files")
            .path("0042-x.md")
            .state(State::New)
            .candidates(vec!["chip".into(), "rex".into()])
            .level(Level::Warn)
            .with("objective", "The widget is polished.")
            .with("in_flight", 3);
        let mut r = r;
        r.ts = "2026-11-23T00:00:00.000Z".into();
        r.generation = Some(4);
        r.hot_tokens = Some(120);
        let back: Record = serde_json::from_str(&r.to_line()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn escaped_keys_nulls_and_numeric_ids_are_read() {
        let back: Record = serde_json::from_str(
            r#"{"event":"x","order":7,"agent":null,"caf\u00e9":[1,{"a":null}]}"#,
        )
        .unwrap();
        assert_eq!(back.order, Some(OrderId(7)));
        assert_eq!(back.agent, None);
        assert_eq!(back.extra["café"], serde_json::json!([1, {"a": null}]));
        assert_eq!(back.level, Level::Info);
    }

    #[test]
    fn a_record_without_an_event_or_with_a_bad_id_is_refused_by_name() {
        let e = serde_json::from_str::<Record>(r#"{"order":"0001"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `event`"), "{e}");
        let e = serde_json::from_str::<Record>(r#"{"event":"x","order":"x1"}"#).unwrap_err();
        assert!(e.to_string().contains("not an order id"), "{e}");
        let e = serde_json::from_str::<Record>(r#"{"event":"x","order":-1}"#).unwrap_err();
        assert!(e.to_string().contains("not an order id"), "{e}");
        assert!(serde_json::from_str::<Record>("[1]").is_err());
    }
}
