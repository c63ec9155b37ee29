//! `walt status`: every open order, the inboxes' depths and Walt's meter, read without the
//! lock (the daemon may be running). The journal gives the history; the folders correct it
//! (an order a manual agent claimed a moment ago shows as active).

use std::collections::BTreeMap;

use cap_std::fs::Dir;
use serde::Serialize;

use crate::coord::meter::band;
use crate::format::config::Config;
use crate::inbox::mailbox::{EntryKind, Folder, Mailbox};
use crate::model::ledger::{Kind, Ledger};
use crate::model::order::AgentName;
use crate::model::state::State;
use crate::store::journal::{self, JournalError};

#[derive(Debug, Serialize)]
pub struct WaltStatus {
    pub generation: u32,
    pub hot_tokens: u32,
    pub ceiling: u32,
    pub band: &'static str,
}

#[derive(Debug, Serialize)]
pub struct OrderStatus {
    pub id: String,
    pub agent: String,
    pub state: State,
    pub age_s: u64,
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
}

#[derive(Debug, Serialize, Default)]
pub struct Depth {
    pub new: usize,
    pub active: usize,
    pub held: usize,
}

/// What needs a person: the attention items (SPEC §10) folded from the journal, and the
/// daemon's live conditions; with the counts scripts used before items existed (escalations
/// waiting in `inbox/human/new/`, held files, the signals of the last day).
#[derive(Debug, Serialize, Default)]
pub struct Attention {
    /// The open items, oldest first: key, kind, what, first and last seen, count.
    pub items: Vec<crate::coord::attention::Item>,
    pub escalations: Vec<String>,
    pub held: BTreeMap<String, usize>,
    pub signals: BTreeMap<String, usize>,
    /// Command agents the daemon refuses to run, and why (from its last snapshot).
    pub refused: BTreeMap<String, String>,
    /// Why the brain's last answer could not be used (it could not run, timed out, or was
    /// refused), while that lasts (from the daemon's last snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brain: Option<String>,
    /// Why part of `repos/` cannot be watched (from the daemon's last snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<String>,
    /// Why the daemon is paused (a full disk), when its last word in the log is
    /// `daemon.paused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
}

/// The reason of the log's last `daemon.paused`, if nothing else from the daemon's life came
/// after it (it resumed, stopped or started again).
fn paused(state: &Dir) -> Option<String> {
    use std::io::BufRead;
    let log = state.open("logs/walt.jsonl").ok()?;
    let mut last = None;
    for line in std::io::BufReader::new(log.into_std()).lines() {
        let Ok(line) = line else { break };
        if !line.contains("\"event\":\"daemon.") {
            continue;
        }
        if let Ok(r) = serde_json::from_str::<crate::model::record::Record>(&line) {
            if r.event != "daemon.rescan" {
                last = Some(r);
            }
        }
    }
    last.filter(|r| r.event == "daemon.paused")
        .map(|r| r.reason.unwrap_or_default())
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub daemon: super::alive::DaemonStatus,
    pub walt: WaltStatus,
    /// The command agents' runs in progress (while the daemon runs).
    pub runs: Vec<RunStatus>,
    /// Agents waiting after failed runs before their next: agent → the wait.
    pub backoff: BTreeMap<String, Backoff>,
    /// Requests waiting for an order in flight over one of their Files: request → holder.
    pub waiting: BTreeMap<String, String>,
    /// Open plans: parts done of all, what waits on what, spent against budget, time left.
    pub plans: Vec<crate::coord::plans::PlanView>,
    pub orders: Vec<OrderStatus>,
    pub inboxes: BTreeMap<String, Depth>,
    pub attention: Attention,
}

/// An agent's wait after failed runs (SPEC §10: 10 s doubling, at most 10 minutes).
#[derive(Debug, Serialize)]
pub struct Backoff {
    pub failed_runs: u64,
    pub until: String,
    pub wait_s: u64,
}

fn backoff(
    snapshot: Option<&serde_json::Value>,
    now: jiff::Timestamp,
) -> BTreeMap<String, Backoff> {
    let Some(map) = snapshot.and_then(|v| v["walt"]["backoff"].as_object()) else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(agent, b)| {
            let until = b["until"].as_str()?.parse::<jiff::Timestamp>().ok()?;
            let wait = until.duration_since(now).as_secs();
            (wait > 0).then(|| {
                (
                    agent.clone(),
                    Backoff {
                        failed_runs: b["failed_runs"].as_u64().unwrap_or(0),
                        until: until.to_string(),
                        wait_s: wait as u64,
                    },
                )
            })
        })
        .collect()
}

/// A command agent's run in progress, from the daemon's last snapshot.
#[derive(Debug, Serialize)]
pub struct RunStatus {
    pub order: String,
    pub agent: String,
    /// The run's process (its sandbox's outer process, the leader of its process group).
    pub pid: Option<i64>,
    pub elapsed_s: u64,
    /// Since it last wrote output (since it started, if it has not).
    pub quiet_s: u64,
    /// Quiet for longer than its agent's `quiet`.
    pub quiet: bool,
}

fn runs(snapshot: Option<&serde_json::Value>, now: jiff::Timestamp) -> Vec<RunStatus> {
    let since = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| now.duration_since(t).as_secs().max(0) as u64)
    };
    let Some(list) = snapshot.and_then(|v| v["walt"]["runs"].as_array()) else {
        return Vec::new();
    };
    list.iter()
        .map(|r| {
            let elapsed_s = since(&r["started"]).unwrap_or(0);
            let quiet_s = since(&r["last_output"]).unwrap_or(elapsed_s);
            RunStatus {
                order: r["order"].as_str().unwrap_or("?").to_string(),
                agent: r["agent"].as_str().unwrap_or("?").to_string(),
                pid: r["pid"].as_i64(),
                elapsed_s,
                quiet_s,
                quiet: quiet_s >= r["quiet_after_s"].as_u64().unwrap_or(300),
            }
        })
        .collect()
}

/// Builds the status from `state/` (journal, ledger snapshot) and `inbox/` (the folders).
pub fn gather(
    cfg: &Config,
    state: &Dir,
    inbox: Dir,
    now: jiff::Timestamp,
) -> Result<Status, JournalError> {
    let mut ledger = Ledger::default();
    let day_ago = now
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap_or(now);
    let mut signals: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_ts = String::new();
    let mut items = crate::coord::attention::Attention::default();
    journal::read(state, |_, r| {
        items.apply(&r);
        last_ts.clone_from(&r.ts);
        if r.event.starts_with("signal.")
            && r.ts.parse::<jiff::Timestamp>().is_ok_and(|t| t >= day_ago)
        {
            *signals.entry(r.event.clone()).or_default() += 1;
        }
        ledger.apply(&r)
    })?;
    // Every journal record carries Walt's generation and hot tokens as of that step; the
    // daemon's snapshot carries them as of its last turn (a rotation or handoff at start-up is
    // logged, not journaled). The newer of the two is the freshest word on his meter.
    let snapshot = state
        .read("ledger.json")
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let snapshot_at = state
        .metadata("ledger.json")
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t.into_std()).ok());
    let (mut generation, mut hot) = (ledger.walt.generation, ledger.walt.hot_tokens);
    if let (Some(v), Some(at)) = (&snapshot, snapshot_at) {
        let journal_at = last_ts.parse::<jiff::Timestamp>().ok();
        if journal_at.is_none_or(|t| at >= t) {
            if let (Some(g), Some(h)) = (
                v["walt"]["generation"].as_u64(),
                v["walt"]["hot_tokens"].as_u64(),
            ) {
                generation = g as u32;
                hot = h as u32;
            }
        }
    }
    let walt = WaltStatus {
        generation: generation.max(1),
        hot_tokens: hot,
        ceiling: cfg.walt.ceiling,
        band: band(hot),
    };
    let mb = Mailbox::new(inbox);
    let mut inboxes = BTreeMap::new();
    let mut names: Vec<AgentName> = vec![AgentName::walt(), AgentName::human()];
    names.extend(cfg.agent_names());
    let mut present: BTreeMap<(String, Folder), std::collections::HashSet<String>> =
        BTreeMap::new();
    for a in &names {
        let mut d = Depth::default();
        for folder in Folder::MAIL {
            let entries: Vec<String> = mb
                .list(a, folder)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| {
                    let n = e.name.as_encoded_bytes();
                    let why_note = folder == Folder::Held && n.ends_with(b".why.md");
                    !n.starts_with(b".") && !why_note
                })
                .filter(|e| e.kind == EntryKind::File || folder == Folder::Held)
                .filter(|e| folder == Folder::Held || e.name.as_encoded_bytes().ends_with(b".md"))
                .filter_map(|e| e.name.into_string().ok())
                .collect();
            match folder {
                Folder::New => d.new = entries.len(),
                Folder::Active => d.active = entries.len(),
                Folder::Held => d.held = entries.len(),
                _ => {}
            }
            present.insert((a.to_string(), folder), entries.into_iter().collect());
        }
        inboxes.insert(a.to_string(), d);
    }
    let mut orders = Vec::new();
    for e in ledger.open() {
        // Folders win: if the file is not where the journal last saw it, say where it is.
        let mut state_now = e.state;
        let here = e.state.is_live()
            && present
                .get(&(e.agent.clone(), e.state.folder().unwrap_or(Folder::New)))
                .is_some_and(|s| s.contains(&e.name));
        if !here {
            if let Some(f) = [Folder::Active, Folder::New, Folder::Done, Folder::Held]
                .into_iter()
                .find(|f| {
                    present
                        .get(&(e.agent.clone(), *f))
                        .is_some_and(|s| s.contains(&e.name))
                })
            {
                state_now = f.into();
            }
        }
        if matches!(state_now, State::Done | State::Held) || e.kind == Kind::Report {
            continue;
        }
        let age_s = e
            .created
            .parse::<jiff::Timestamp>()
            .map(|t| now.duration_since(t).as_secs().max(0) as u64)
            .unwrap_or(0);
        orders.push(OrderStatus {
            id: e.id.to_string(),
            agent: e.agent.clone(),
            state: state_now,
            age_s,
            attempt: e.attempt.max(1),
            objective: e.objective.clone(),
        });
    }
    let refused = snapshot
        .as_ref()
        .and_then(|v| {
            serde_json::from_value::<BTreeMap<String, String>>(v["walt"]["refused"].clone()).ok()
        })
        .unwrap_or_default();
    let mut attention = Attention {
        items: items.items(),
        signals,
        refused,
        watch: snapshot
            .as_ref()
            .and_then(|v| v["walt"]["watch"].as_str().map(str::to_string)),
        brain: snapshot
            .as_ref()
            .and_then(|v| v["walt"]["brain"].as_str().map(str::to_string)),
        paused: paused(state),
        ..Attention::default()
    };
    if let Some(names) = present.get(&("human".to_string(), Folder::New)) {
        attention.escalations = names.iter().cloned().collect();
        attention.escalations.sort();
    }
    for (a, d) in &inboxes {
        if d.held > 0 {
            attention.held.insert(a.clone(), d.held);
        }
    }
    let daemon = super::alive::daemon(state);
    let (runs, backoff) = if daemon.running {
        (
            runs(snapshot.as_ref(), now),
            backoff(snapshot.as_ref(), now),
        )
    } else {
        (Vec::new(), BTreeMap::new())
    };
    // Only requests still waiting in inbox/walt/new/ (the snapshot may be a moment old).
    let waiting: BTreeMap<String, String> = snapshot
        .as_ref()
        .and_then(|v| v["walt"]["waiting"].as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(r, h)| Some((r, h.as_str()?.to_string())))
        .filter(|(r, _)| {
            crate::model::order::OrderId::parse(r)
                .and_then(|id| ledger.entries.get(&id))
                .is_some_and(|e| e.state == State::New && e.agent == "walt")
        })
        .collect();
    let plans = snapshot
        .as_ref()
        .and_then(|v| serde_json::from_value(v["walt"]["plans"].clone()).ok())
        .unwrap_or_default();
    Ok(Status {
        daemon,
        walt,
        runs,
        backoff,
        waiting,
        plans,
        orders,
        inboxes,
        attention,
    })
}

/// `3m12s`, `2h05m`, `4d03h`: short and sortable by eye.
pub fn age(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..=86399 => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{:02}h", secs / 86400, (secs % 86400) / 3600),
    }
}

/// A plan's first line: parts done, spent against budget, time left.
pub fn plan_line(p: &crate::coord::plans::PlanView) -> String {
    let budget = match p.budget {
        Some(b) => format!("; spent {} of {b} tokens", p.spent),
        None if p.spent > 0 => format!("; spent {} tokens", p.spent),
        None => String::new(),
    };
    let time = match p.time_left_s {
        Some(t) if t > 0 => format!("; {} left", age(t as u64)),
        Some(t) => format!("; {} past its deadline", age((-t) as u64)),
        None => String::new(),
    };
    format!(
        "plan {}: {}/{} parts done{budget}{time}: {}\n",
        p.id, p.done, p.total, p.goal
    )
}

/// The table a person reads.
pub fn render(s: &Status) -> String {
    let mut out = super::alive::render(&s.daemon, jiff::Timestamp::now());
    out += &format!(
        "walt: generation {}, {} / {} hot tokens ({})\n\n",
        s.walt.generation, s.walt.hot_tokens, s.walt.ceiling, s.walt.band
    );
    out.push_str(&format!(
        "{:<12} {:>5} {:>7} {:>5}\n",
        "INBOX", "NEW", "ACTIVE", "HELD"
    ));
    for (a, d) in &s.inboxes {
        out.push_str(&format!(
            "{:<12} {:>5} {:>7} {:>5}\n",
            a, d.new, d.active, d.held
        ));
    }
    out.push('\n');
    if !s.runs.is_empty() {
        out.push_str(&format!(
            "{:<6} {:<12} {:>8} {:>8} {:>8}\n",
            "RUN", "AGENT", "PID", "ELAPSED", "QUIET"
        ));
        for r in &s.runs {
            out.push_str(&format!(
                "{:<6} {:<12} {:>8} {:>8} {:>8}{}\n",
                r.order,
                r.agent,
                r.pid.map_or("-".to_string(), |p| p.to_string()),
                age(r.elapsed_s),
                age(r.quiet_s),
                if r.quiet {
                    "  quiet: no output for longer than its `quiet`"
                } else {
                    ""
                }
            ));
        }
        out.push('\n');
    }
    for (request, holder) in &s.waiting {
        out.push_str(&format!(
            "waiting: request {request} for order {holder}, which holds one of its Files\n"
        ));
    }
    if !s.waiting.is_empty() {
        out.push('\n');
    }
    for p in &s.plans {
        out.push_str(&plan_line(p));
        for part in &p.parts {
            let why = match (&part.holder, part.after.is_empty()) {
                (Some(h), _) => format!(": waits for order {h}, which holds one of its Files"),
                (None, false) => format!(": waits on {}", part.after.join(", ")),
                _ => String::new(),
            };
            out.push_str(&format!(
                "  {} ({}) {}{why}\n",
                part.name, part.id, part.state
            ));
        }
        out.push('\n');
    }
    for (agent, b) in &s.backoff {
        out.push_str(&format!(
            "waiting: {agent}'s next run in {}, after {} failed run{} in a row\n\n",
            age(b.wait_s),
            b.failed_runs,
            if b.failed_runs == 1 { "" } else { "s" }
        ));
    }
    let a = &s.attention;
    let live_refused: Vec<(&String, &String)> = a
        .refused
        .iter()
        .filter(|(agent, _)| !a.items.iter().any(|i| i.key == format!("setup:{agent}")))
        .collect();
    let live_brain = a
        .brain
        .as_ref()
        .filter(|_| !a.items.iter().any(|i| i.key == "brain"));
    if !a.items.is_empty()
        || !live_refused.is_empty()
        || a.watch.is_some()
        || live_brain.is_some()
        || a.paused.is_some()
    {
        out.push_str("needs a person:\n");
        if let Some(why) = &a.paused {
            out.push_str(&format!("  paused: {why}\n"));
        }
        if let Some(why) = &a.watch {
            out.push_str(&format!("  watch: {why}\n"));
        }
        if let Some(why) = live_brain {
            out.push_str(&format!(
                "  the brain is failing, the rules route meanwhile: {why}\n"
            ));
        }
        for (agent, why) in live_refused {
            out.push_str(&format!("  {agent} cannot run: {why}\n"));
        }
        for i in &a.items {
            let what: String = i
                .what
                .chars()
                .filter(|c| !c.is_control())
                .take(240)
                .collect();
            out.push_str(&format!(
                "  {}  {what}  ({}x, last {})\n",
                i.key,
                i.count,
                i.last
                    .parse::<jiff::Timestamp>()
                    .map_or(i.last.clone(), |t| format!(
                        "{} ago",
                        age(jiff::Timestamp::now().duration_since(t).as_secs().max(0) as u64)
                    ))
            ));
        }
        if !a.items.is_empty() {
            out.push_str("  (`walt ack KEY` closes an item, `walt ack --all` every one)\n");
        }
        out.push('\n');
    }
    if s.orders.is_empty() {
        out.push_str("no open orders\n");
        return out;
    }
    let mut by_agent: BTreeMap<&str, Vec<&OrderStatus>> = BTreeMap::new();
    for o in &s.orders {
        by_agent.entry(o.agent.as_str()).or_default().push(o);
    }
    out.push_str(&format!(
        "{} open order{}\n",
        s.orders.len(),
        if s.orders.len() == 1 { "" } else { "s" }
    ));
    for (agent, orders) in by_agent {
        out.push_str(&format!("\n{agent}\n"));
        out.push_str(&format!(
            "  {:<6} {:<8} {:>7} {:>7}  {}\n",
            "ID", "STATE", "AGE", "ATTEMPT", "OBJECTIVE"
        ));
        for o in orders {
            let obj: String = o
                .objective
                .as_deref()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(60)
                .collect();
            out.push_str(&format!(
                "  {:<6} {:<8} {:>7} {:>7}  {}\n",
                o.id,
                o.state,
                age(o.age_s),
                o.attempt,
                obj
            ));
        }
    }
    out
}

/// `walt status [--json]`.
pub fn command(cli_root: &Option<std::path::PathBuf>, json: bool) -> crate::cmd::Result {
    let (path, root, cfg) = crate::cmd::open_studio(cli_root)?;
    let state = crate::cmd::open_state(&root, &path)?;
    let inbox = crate::cmd::open_inbox(&root, &path)?;
    let s = gather(&cfg, &state, inbox, jiff::Timestamp::now())?;
    if json {
        println!("{}", serde_json::to_string(&s).expect("status serializes"));
    } else {
        print!("{}", render(&s));
    }
    Ok(())
}
