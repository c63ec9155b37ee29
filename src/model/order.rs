//! The nouns of the studio: order ids, agent names, work orders and reports, as plain data.
//!
//! Nothing here touches the world; the parser (`parse.rs`) builds these values from text and the
//! coordinator (`coord/`) reasons about them.

use std::fmt;

/// An order id: a number shown with at least four digits (`0001`). Ids are unique in a studio
/// and never reused; the journal remembers the highest one ever handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(pub u64);

/// Written as the string people see (`"0042"`), so `jq 'select(.order == "0042")'` works.
impl serde::Serialize for OrderId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl OrderId {
    /// The largest id there can be: the parser reads at most twelve digits, so the daemon
    /// never hands out a larger one.
    pub const MAX: u64 = 999_999_999_999;

    /// How far past the next id a well-formed name found in a folder may be and still be taken
    /// as one the daemon handed out (a crash between a batch's renames and its journal record
    /// leaves at most a batch of those). A name further out is a stray, and must not move the
    /// next id, or one planted name could push it past `MAX`.
    pub const ADOPT_WINDOW: u64 = 1_000_000;

    /// Whether an id found on a name may be taken as the daemon's own, given the next id.
    pub fn adoptable(self, next: u64) -> bool {
        self.0 < next.saturating_add(OrderId::ADOPT_WINDOW) && self.0 < OrderId::MAX
    }

    /// Reads `0042` (or `42`); at least one digit, nothing else, and not zero.
    pub fn parse(text: &str) -> Option<OrderId> {
        let text = text.trim();
        if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = text.parse().ok()?;
        (n > 0).then_some(OrderId(n))
    }

    /// Reads the id any name in an inbox folder starts with (`0042-…`, whatever follows).
    pub fn from_name_prefix(name: &str) -> Option<OrderId> {
        let (head, _) = name.split_once('-')?;
        (head.len() >= 4).then(|| OrderId::parse(head)).flatten()
    }

    /// Reads the id a mailbox file name starts with: `0042-some-slug.md` → 42.
    pub fn from_file_name(name: &str) -> Option<OrderId> {
        let (head, rest) = name.split_once('-')?;
        if head.len() < 4 || !rest.ends_with(".md") {
            return None;
        }
        OrderId::parse(head)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for OrderId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum: the enum buffers every value before trying
        // each form, and a million journal records each carry an id.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = OrderId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an order id (\"0042\" or 42)")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<OrderId, E> {
                Ok(OrderId(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<OrderId, E> {
                u64::try_from(n)
                    .map(OrderId)
                    .map_err(|_| E::custom("not an order id"))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<OrderId, E> {
                OrderId::parse(s).ok_or_else(|| E::custom("not an order id"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A validated agent name: `[a-z][a-z0-9-]*`, at most 32 bytes. Only a validated name may name
/// a folder, which is why the only constructor checks it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AgentName(String);

/// The coordinator's own inbox.
pub const WALT: &str = "walt";
/// The inbox of escalations for a person.
pub const HUMAN: &str = "human";

impl AgentName {
    pub fn new(name: &str) -> Result<AgentName, String> {
        let bytes = name.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 32
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok {
            Ok(AgentName(name.to_string()))
        } else {
            Err(format!(
                "`{}` is not an agent name: use a lowercase letter, then lowercase letters, digits or `-` (at most 32)",
                name.escape_debug()
            ))
        }
    }

    pub fn walt() -> AgentName {
        AgentName(WALT.to_string())
    }

    pub fn human() -> AgentName {
        AgentName(HUMAN.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `walt` and `human` are the studio's own inboxes, not specialists.
    pub fn is_reserved(&self) -> bool {
        self.0 == WALT || self.0 == HUMAN
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for AgentName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AgentName::new(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

impl Priority {
    pub fn parse(text: &str) -> Option<Priority> {
        match text {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

/// What kind of Branching bullet it is; the condition after `if` is kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Branch {
    HaltWithNote(String),
    RouteTo(AgentName, String),
    RequeueWithBlocker(String),
}

impl Branch {
    pub fn render(&self) -> String {
        match self {
            Branch::HaltWithNote(c) => format!("halt-with-note if {c}"),
            Branch::RouteTo(a, c) => format!("route-to-{a} if {c}"),
            Branch::RequeueWithBlocker(c) => format!("requeue-with-blocker if {c}"),
        }
    }
}

/// The front matter of a work order. `to`, `override`, `priority` and `blocked-by` are the
/// sender's; `id`, `from`, `attempt` and `reason` are added by the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderHeader {
    pub to: Option<AgentName>,
    pub override_reason: Option<String>,
    pub priority: Priority,
    pub blocked_by: Option<OrderId>,
    pub id: Option<OrderId>,
    pub from: Option<String>,
    pub attempt: Option<u32>,
    pub reason: Option<String>,
    /// For a plan's part (SPEC §9.2): the plan's id and the part's name.
    pub plan: Option<OrderId>,
    pub part: Option<String>,
    /// A follow-up's order: the order whose report saw this work (SPEC §9.5).
    pub follows: Option<OrderId>,
}

/// A work order in four parts. Fields hold what could be read, even from an invalid file; the
/// diagnostics beside it say whether it may be used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkOrder {
    pub header: OrderHeader,
    pub objective: String,
    pub acceptance: Vec<String>,
    pub files: Vec<String>,
    pub branching: Vec<Branch>,
}

impl WorkOrder {
    /// The order's slug: the objective's first words, lowercase, `-`-joined, at most 40 bytes.
    pub fn slug(&self) -> String {
        slug(&self.objective)
    }
}

/// Turns any text into a file-name-safe slug: only `[a-z0-9-]`, never empty, at most 40 bytes.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        if out.len() + word.len() + 1 > 40 {
            if out.is_empty() {
                out.push_str(&word[..40]);
            }
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word);
    }
    if out.is_empty() {
        out.push_str("order");
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Done,
    Failed,
    Halted,
    Rerouted,
    Blocked,
}

impl Status {
    pub const ALL: [&'static str; 5] = ["done", "failed", "halted", "rerouted", "blocked"];

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "done" => Some(Status::Done),
            "failed" => Some(Status::Failed),
            "halted" => Some(Status::Halted),
            "rerouted" => Some(Status::Rerouted),
            "blocked" => Some(Status::Blocked),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Halted => "halted",
            Status::Rerouted => "rerouted",
            Status::Blocked => "blocked",
        }
    }
}

/// One Acceptance line of a report: the bullet's text, whether it is ticked, and the evidence
/// written after ` — ` if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub text: String,
    pub ticked: bool,
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportHeader {
    pub re: Option<OrderId>,
    pub from: Option<String>,
    pub status: Option<Status>,
    pub route_to: Option<AgentName>,
    pub blocker: Option<String>,
    /// The tokens the work used, as the agent's model CLI reports them.
    pub spent: Option<u64>,
}

/// A specialist's answer to one order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub header: ReportHeader,
    pub outcome: String,
    pub acceptance: Vec<Tick>,
    pub touched: Vec<String>,
    pub note: String,
    /// Work seen and not done because it was outside the Files (SPEC §9.5).
    pub follow_ups: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_show_four_digits_and_read_back() {
        assert_eq!(OrderId(7).to_string(), "0007");
        assert_eq!(OrderId(12345).to_string(), "12345");
        assert_eq!(OrderId::parse("0042"), Some(OrderId(42)));
        assert_eq!(OrderId::parse("0"), None);
        assert_eq!(OrderId::parse("4x"), None);
        assert_eq!(OrderId::from_file_name("0042-index.md"), Some(OrderId(42)));
        assert_eq!(OrderId::from_file_name("42-index.md"), None);
        assert_eq!(OrderId::from_file_name("0042-index.txt"), None);
    }

    #[test]
    fn agent_names_are_checked_before_they_name_a_folder() {
        assert!(AgentName::new("chip").is_ok());
        assert!(AgentName::new("code-2").is_ok());
        for bad in [
            "", "Chip", "2chip", "../state", "a/b", "chip\n", "-x", "a b",
        ] {
            assert!(AgentName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn slugs_are_safe_and_bounded() {
        assert_eq!(
            slug("pipeline_items has an index on used_force_route."),
            "pipeline-items-has-an-index-on-used"
        );
        assert_eq!(slug("../../etc/passwd\n\u{1b}[31m"), "etc-passwd-31m");
        assert_eq!(slug("…"), "order");
        assert!(slug(&"x".repeat(100)).len() <= 40);
    }
}
