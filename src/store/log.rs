//! The structured log `state/logs/walt.jsonl`: one JSON object a line, the fields every event may have at
//! the top level, rotated daily (yesterday's file becomes `walt.YYYY-MM-DD.jsonl`). Every
//! record also goes to standard error as one readable line (journald keeps it under systemd).
//!
//! The log is not the journal: it is written but not fsynced, because losing its last lines in
//! a crash loses no state. The journal (`journal.rs`) is the durable history.

use std::io::Write;

use cap_std::fs::{Dir, OpenOptions};

use crate::model::record::{Level, Record};

pub const LOG: &str = "walt.jsonl";

pub struct EventLog {
    dir: Dir,
    file: std::fs::File,
    day: String,
    /// Mirror each record to stderr as a readable line.
    echo: bool,
    /// The last write failed, perhaps part way.
    torn: bool,
}

/// The current time as RFC 3339 with milliseconds, UTC.
pub fn now_ts() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn day_of(ts: &str) -> String {
    ts.get(..10).unwrap_or("").to_string()
}

impl EventLog {
    /// Opens `walt.jsonl` in the logs folder, rotating it first if it is from an earlier day.
    pub fn open(dir: Dir, echo: bool) -> std::io::Result<EventLog> {
        let today = day_of(&now_ts());
        let existing_day = dir
            .metadata(LOG)
            .ok()
            .and_then(|m| m.modified().ok())
            .map(|t| {
                let t: std::time::SystemTime = t.into_std();
                jiff::Timestamp::try_from(t)
                    .map(|t| day_of(&t.to_string()))
                    .unwrap_or_default()
            });
        if let Some(d) = existing_day {
            if !d.is_empty() && d != today {
                rotate(&dir, &d)?;
            }
        }
        let file = open_log(&dir)?;
        Ok(EventLog {
            dir,
            file,
            day: today,
            echo,
            torn: false,
        })
    }

    /// Writes one record (setting its time if it has none).
    pub fn write(&mut self, record: &Record) {
        let mut r = record.clone();
        if r.ts.is_empty() {
            r.ts = now_ts();
        }
        let day = day_of(&r.ts);
        if day != self.day && !day.is_empty() {
            if rotate(&self.dir, &self.day).is_ok() {
                if let Ok(f) = open_log(&self.dir) {
                    self.file = f;
                }
            }
            self.day = day;
        }
        // After a write that failed part way (a full disk), start on a fresh line, so the
        // cut-off line does not swallow the next one.
        let mut line = if self.torn {
            String::from("\n")
        } else {
            String::new()
        };
        line.push_str(&r.to_line());
        line.push('\n');
        // A log write that fails must not stop the daemon: the journal holds the state.
        self.torn = self.file.write_all(line.as_bytes()).is_err();
        if self.echo {
            eprintln!("{}", human_line(&r));
        }
    }
}

fn open_log(dir: &Dir) -> std::io::Result<std::fs::File> {
    Ok(dir
        .open_with(LOG, OpenOptions::new().append(true).create(true))?
        .into_std())
}

fn rotate(dir: &Dir, day: &str) -> std::io::Result<()> {
    let mut target = format!("walt.{day}.jsonl");
    let mut n = 1;
    while dir.exists(&target) {
        target = format!("walt.{day}.{n}.jsonl");
        n += 1;
    }
    dir.rename(LOG, dir, &target)
}

/// One readable line: time, level, event, then the fields that are set. Control characters in
/// values are escaped so a hostile file name cannot drive the terminal.
pub fn human_line(r: &Record) -> String {
    let mut out = format!(
        "{} {:<5} {}",
        r.ts,
        match r.level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        },
        r.event
    );
    let mut field = |k: &str, v: &str| {
        let v: String = v.chars().flat_map(char::escape_default).collect();
        if v.contains(' ') {
            out.push_str(&format!(" {k}=\"{v}\""));
        } else {
            out.push_str(&format!(" {k}={v}"));
        }
    };
    if let Some(o) = r.order {
        field("order", &o.to_string());
    }
    if let Some(a) = &r.agent {
        field("agent", a);
    }
    if let Some(s) = &r.state {
        field("state", s.as_str());
    }
    if let Some(n) = r.attempt {
        field("attempt", &n.to_string());
    }
    if let Some(g) = r.generation {
        field("generation", &g.to_string());
    }
    if let Some(h) = r.hot_tokens {
        field("hot_tokens", &h.to_string());
    }
    if let Some(x) = &r.rule {
        field("rule", x);
    }
    if let Some(p) = &r.path {
        field("path", p);
    }
    if let Some(x) = &r.reason {
        field("reason", x);
    }
    out
}
