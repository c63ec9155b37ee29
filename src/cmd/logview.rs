//! `walt log`: the structured log, readable (one line an event: time, level, event, order,
//! agent, reason), filtered by order or event prefix, and followed across daily rotation.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::time::Duration;

use cap_std::fs::Dir;

use crate::model::order::OrderId;
use crate::model::record::Record;
use crate::store::log::{human_line, LOG};

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub order: Option<OrderId>,
    pub event: Option<String>,
}

impl Filter {
    pub fn keeps(&self, r: &Record) -> bool {
        self.order.is_none_or(|o| r.order == Some(o))
            && self.event.as_deref().is_none_or(|p| r.event.starts_with(p))
    }
}

/// One raw log line → the readable line, if it passes the filter. Lines that are not records
/// (a torn last line) are skipped.
pub fn render_line(line: &str, filter: &Filter) -> Option<String> {
    let r: Record = serde_json::from_str(line).ok()?;
    filter.keeps(&r).then(|| human_line(&r))
}

/// Prints what the log holds now; with `follow`, keeps printing as it grows, and when the
/// daemon rotates it at midnight, carries on in the new file.
pub fn show(
    logs: &Dir,
    filter: &Filter,
    follow: bool,
    out: &mut dyn FnMut(&str),
) -> std::io::Result<()> {
    let mut file = logs.open(LOG)?.into_std();
    let mut ino = rustix::fs::fstat(&file)?.st_ino;
    let mut pending = String::new();
    loop {
        let mut reader = BufReader::new(&file);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            pending.push_str(&line);
            if pending.ends_with('\n') {
                if let Some(l) = render_line(pending.trim_end(), filter) {
                    out(&l);
                }
                pending.clear();
            }
        }
        let pos = reader.stream_position()?;
        drop(reader);
        if !follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
        // Rotation: the name now points at a new file. Finish the old one, then switch.
        if let Ok(now) = logs.open(LOG) {
            let now = now.into_std();
            let now_ino = rustix::fs::fstat(&now)?.st_ino;
            if now_ino != ino {
                let mut rest = String::new();
                (&file).read_to_string(&mut rest)?;
                for l in rest.lines() {
                    if let Some(l) = render_line(l, filter) {
                        out(&l);
                    }
                }
                file = now;
                ino = now_ino;
                pending.clear();
                continue;
            }
        }
        file.seek(SeekFrom::Start(pos))?;
    }
}

/// `walt log [--follow] [--order ID] [--event PREFIX]`.
pub fn command(
    cli_root: &Option<std::path::PathBuf>,
    follow: bool,
    order: Option<&str>,
    event: Option<String>,
) -> crate::cmd::Result {
    use crate::cmd::{self, Error};
    let order = order.map(cmd::parse_id).transpose()?;
    let (path, root) = cmd::open_root(cli_root)?;
    let logs = root.open_dir("state/logs").map_err(|e| {
        Error::Studio(format!(
            "cannot open {}/state/logs: {e}; has the daemon run here? (walt daemon)",
            path.display()
        ))
    })?;
    let filter = Filter { order, event };
    let mut out = |l: &str| println!("{l}");
    show(&logs, &filter, follow, &mut out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Studio(format!(
                "no log yet in {}/state/logs/walt.jsonl; start the daemon (walt daemon)",
                path.display()
            ))
        } else {
            Error::No(format!("cannot read the log: {e}"))
        }
    })
}
