//! Taking deliveries: every file dropped into an inbox (by hand into `inbox/<agent>/`, or by a
//! program through `tmp/` into `new/`) is either accepted into `new/` under its order id, or
//! held, byte for byte, with a `.why.md` beside it. Nothing is deleted, nothing is read before
//! it is complete, nothing is opened through a link.
//!
//! A scan produces the moves and the journal records of one batch; the folders touched are
//! fsynced once each before the records are committed (group commit).

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use crate::format::diagnostic::{self, Diagnostic};
use crate::format::parse::{self, Author, Context, Doc, MAX_BYTES};
use crate::inbox::mailbox::{open_for_writing, EntryKind, Folder, Mail, Mailbox, NotMail};
use crate::inbox::studio::INBOX_FOLDERS;
use crate::model::ledger::Ledger;
use crate::model::order::{slug, AgentName, OrderId, WALT};
use crate::model::record::{Level, Record};
use crate::model::state::State;

/// The rule an order delivered straight into a specialist's inbox is recorded with.
pub const BY_HAND: &str = "delivered by hand";

/// How a name in an inbox is treated before anything is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameClass {
    /// Dotfiles and editor leftovers: never touched.
    Ignore,
    /// A `*.md` name: a delivery.
    Markdown,
    /// Any other name: not a delivery; held so a person sees it was not taken.
    Other,
}

/// Names starting with `.`, and `*~`, `*.swp`, `*.tmp`, `#*#`, `4913` are ignored.
pub fn classify(name: &OsStr) -> NameClass {
    let b = name.as_bytes();
    let ignored = b.starts_with(b".")
        || b.ends_with(b"~")
        || b.ends_with(b".swp")
        || b.ends_with(b".swx")
        || b.ends_with(b".tmp")
        || (b.len() >= 2 && b.starts_with(b"#") && b.ends_with(b"#"))
        || b == b"4913";
    if ignored {
        NameClass::Ignore
    } else if b.ends_with(b".md") && b.len() > 3 {
        NameClass::Markdown
    } else {
        NameClass::Other
    }
}

/// A name that is safe to show and to keep in `held/`: control characters, `/` and invalid
/// UTF-8 become `_`, at most 200 bytes.
pub fn safe_name(name: &OsStr) -> String {
    let lossy = String::from_utf8_lossy(name.as_bytes());
    let mut out = String::new();
    for c in lossy.chars() {
        let c = if c.is_control() || c == '/' || c == '\u{fffd}' {
            '_'
        } else {
            c
        };
        if out.len() + c.len_utf8() > 200 {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// What was seen of a hand-dropped file, to tell when it stops changing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

/// The outcome of one scan: records to commit and folders to fsync before committing them.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub dirty: BTreeSet<(AgentName, Folder)>,
    /// When a hand-drop that is still settling should be looked at again.
    pub recheck_at: Option<Instant>,
    /// Orders accepted into `inbox/walt/new/` (requests and reports for Walt), in id order.
    pub for_walt: Vec<OrderId>,
    /// Folders that could not be read this time (reported once per scan).
    pub errors: Vec<String>,
}

impl Batch {
    fn recheck(&mut self, at: Instant) {
        self.recheck_at = Some(self.recheck_at.map_or(at, |t| t.min(at)));
    }
}

pub struct Intake {
    pending: HashMap<(AgentName, OsString), (Seen, Instant)>,
    /// How long a hand-dropped file must stay unchanged (and closed) before it is read.
    pub settle: Duration,
}

impl Intake {
    pub fn new(settle: Duration) -> Intake {
        Intake {
            pending: HashMap::new(),
            settle,
        }
    }

    /// Looks at every inbox's hand-drop slot and `new/` folder and takes what is complete.
    /// `next_id` is advanced for every id handed out (accepted or held; ids are never reused).
    pub fn scan(
        &mut self,
        mb: &Mailbox,
        inboxes: &[AgentName],
        ledger: &Ledger,
        agents: &[AgentName],
        next_id: &mut u64,
        now: Instant,
    ) -> Batch {
        let mut batch = Batch::default();
        let mut still_pending = HashMap::new();
        for inbox in inboxes {
            if let Err(e) = mb.refresh(inbox) {
                batch.errors.push(format!("inbox/{inbox}: {e}"));
                continue;
            }
            // new/ first: what this scan renames from the hand-drop slot into new/ must not be
            // seen again as a fresh delivery in the same scan.
            for folder in [Folder::New, Folder::Root] {
                let entries = match mb.list(inbox, folder) {
                    Ok(e) => e,
                    Err(e) => {
                        batch
                            .errors
                            .push(format!("{}: {e}", folder.display(inbox, "")));
                        continue;
                    }
                };
                let mut entries = entries;
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                for entry in entries {
                    if folder == Folder::Root
                        && entry.kind == EntryKind::Dir
                        && (INBOX_FOLDERS.iter().any(|f| OsStr::new(f) == entry.name)
                            || (inbox.as_str() == WALT && entry.name == "handoff")
                            || (inbox.as_str() == crate::model::order::HUMAN
                                && entry.name == "notes"))
                    {
                        continue;
                    }
                    let class = classify(&entry.name);
                    if class == NameClass::Ignore {
                        continue;
                    }
                    if folder == Folder::New {
                        if let Some(name) = entry.name.to_str() {
                            if ledger.locate(inbox.as_str(), State::New, name).is_some() {
                                continue;
                            }
                        }
                    }
                    let r = self.take(
                        mb,
                        inbox,
                        folder,
                        &entry.name,
                        entry.kind,
                        class,
                        ledger,
                        agents,
                        next_id,
                        now,
                        &mut batch,
                        &mut still_pending,
                    );
                    if let Err(e) = r {
                        batch.errors.push(format!(
                            "{}: {e}",
                            folder.display(inbox, &safe_name(&entry.name))
                        ));
                    }
                }
            }
        }
        self.pending = still_pending;
        batch.for_walt.sort();
        batch
    }

    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        mb: &Mailbox,
        inbox: &AgentName,
        folder: Folder,
        name: &OsStr,
        kind: EntryKind,
        class: NameClass,
        ledger: &Ledger,
        agents: &[AgentName],
        next_id: &mut u64,
        now: Instant,
        batch: &mut Batch,
        still_pending: &mut HashMap<(AgentName, OsString), (Seen, Instant)>,
    ) -> io::Result<()> {
        if class == NameClass::Other || kind != EntryKind::File {
            let why = match kind {
                EntryKind::Symlink => NotMail::Symlink.describe(),
                EntryKind::Dir => NotMail::Directory.describe(),
                EntryKind::Other => "not a regular file (a FIFO, socket or device)".to_string(),
                EntryKind::File => {
                    "not a `.md` file: only markdown work orders and reports are deliveries"
                        .to_string()
                }
            };
            return hold(mb, inbox, folder, name, &why, &[], "", next_id, batch);
        }
        let mail = match mb.open_mail(inbox, folder, name)? {
            Ok(m) => m,
            Err(NotMail::Gone) => return Ok(()),
            Err(n) => {
                return hold(
                    mb,
                    inbox,
                    folder,
                    name,
                    &n.describe(),
                    &[],
                    "",
                    next_id,
                    batch,
                )
            }
        };
        if folder == Folder::Root && !self.settled(inbox, name, &mail, now, batch, still_pending) {
            return Ok(());
        }
        let bytes = Mailbox::read(&mail, MAX_BYTES + 1)?;
        let mut doc = parse::parse_any(
            &bytes,
            Context {
                agents: Some(agents),
                author: Author::Person,
            },
        );
        if mail.size > MAX_BYTES as u64
            && !doc.diagnostics.iter().any(|d| d.message.contains("64 KiB"))
        {
            doc.diagnostics.insert(
                0,
                Diagnostic::error(
                    0,
                    1,
                    format!(
                        "file is {} bytes; a work order or report is at most 64 KiB",
                        mail.size
                    ),
                ),
            );
        }
        let (text, _) = parse::decode(&bytes);
        let plan = parse::looks_like_plan(&text).then(|| {
            parse::parse_plan(
                &bytes,
                Context {
                    agents: Some(agents),
                    author: Author::Person,
                },
            )
        });
        if let Some(plan) = &plan {
            // A plan (SPEC §9) is a request to Walt: it must lint as one, and be his.
            let why = if plan.diagnostics.iter().any(|d| d.is_error()) {
                Some("it is a plan that does not lint")
            } else if inbox.as_str() != WALT {
                Some("a plan belongs in inbox/walt/ (Walt sends out its parts)")
            } else {
                None
            };
            if let Some(why) = why {
                return hold(
                    mb,
                    inbox,
                    folder,
                    name,
                    why,
                    &plan.diagnostics,
                    &text,
                    next_id,
                    batch,
                );
            }
        }
        if let Some(plan) = &plan {
            // Linted as a plan above (no errors): its diagnostics, not the order parser's.
            doc.diagnostics = plan.diagnostics.clone();
        }
        if !doc.is_ok() {
            return hold(
                mb,
                inbox,
                folder,
                name,
                "it does not lint",
                &doc.diagnostics,
                &text,
                next_id,
                batch,
            );
        }
        if matches!(doc.value, Doc::Report(_)) && inbox.as_str() != WALT {
            return hold(
                mb,
                inbox,
                folder,
                name,
                "a report belongs in inbox/walt/ (or use `walt report`)",
                &[],
                "",
                next_id,
                batch,
            );
        }
        if folder == Folder::Root {
            // Whoever wrote it by hand likely never fsynced it; the rename below must not
            // leave an empty file behind a crash.
            Mailbox::sync_mail(&mail)?;
        }
        let (kind_name, title) = match (&plan, &doc.value) {
            (Some(p), _) => ("request", slug(&p.value.goal)),
            (None, Doc::Order(o)) => ("request", o.slug()),
            (None, Doc::Report(r)) => ("report", format!("report-{}", slug(&r.outcome))),
        };
        let kind_name = if inbox.as_str() == WALT {
            kind_name
        } else {
            "order"
        };
        // A well-formed name whose id nobody has is adopted as it is: it is what a crash
        // between our rename and our journal record leaves behind.
        let adopted = (folder == Folder::New)
            .then(|| name.to_str().and_then(OrderId::from_file_name))
            .flatten()
            .filter(|id| {
                !ledger.entries.contains_key(id) && id.0 >= *next_id && id.adoptable(*next_id)
            });
        let (id, new_name) = match adopted {
            Some(id) => {
                *next_id = id.0 + 1;
                (id, name.to_string_lossy().into_owned())
            }
            None => {
                let id = OrderId(*next_id);
                *next_id += 1;
                (id, format!("{id}-{title}.md"))
            }
        };
        if adopted.is_none() {
            mb.rename(inbox, folder, name, Folder::New, OsStr::new(&new_name))?;
            batch.dirty.insert((inbox.clone(), folder));
        }
        batch.dirty.insert((inbox.clone(), Folder::New));
        let mut rec = Record::new("delivery.accepted")
            .order(id)
            .agent(inbox)
            .state(State::New)
            .path(&new_name)
            .with("kind", kind_name)
            .with("from_name", safe_name(name));
        match (&plan, &doc.value) {
            (Some(p), _) => {
                rec = rec
                    .with("objective", p.value.goal.clone())
                    .with("plan", true)
            }
            (None, Doc::Order(o)) => rec = rec.with("objective", o.objective.clone()),
            _ => {}
        }
        if let Doc::Report(r) = &doc.value {
            if let Some(re) = r.header.re {
                rec = rec.with("re", re.to_string());
            }
        }
        if inbox.as_str() == WALT {
            rec = rec.request(Folder::New, new_name.clone());
            batch.for_walt.push(id);
        } else {
            rec = rec.attempt(1).rule(BY_HAND);
        }
        if !doc.diagnostics.is_empty() {
            rec = rec.with("warnings", doc.diagnostics.len());
        }
        batch.records.push(rec);
        Ok(())
    }

    /// A hand-dropped file is complete once nobody has it open for writing and it has not
    /// changed for `settle`. Until then it is remembered and looked at again.
    fn settled(
        &self,
        inbox: &AgentName,
        name: &OsStr,
        mail: &Mail,
        now: Instant,
        batch: &mut Batch,
        still_pending: &mut HashMap<(AgentName, OsString), (Seen, Instant)>,
    ) -> bool {
        let seen = Seen {
            ino: mail.ino,
            size: mail.size,
            mtime_ns: mail.mtime_ns,
            ctime_ns: mail.ctime_ns,
        };
        let key = (inbox.clone(), name.to_os_string());
        let first = match self.pending.get(&key) {
            Some((prev, at)) if *prev == seen => *at,
            _ => now,
        };
        let writing = open_for_writing(mail) == Some(true);
        if !writing && now.duration_since(first) >= self.settle {
            return true;
        }
        still_pending.insert(key, (seen, first));
        batch.recheck(first.max(now) + self.settle.max(Duration::from_millis(20)));
        if writing {
            batch.recheck(now + Duration::from_millis(50));
        }
        false
    }
}

/// Moves an entry, as it is, to `held/` under a fresh id, with a `.why.md` beside it.
#[allow(clippy::too_many_arguments)]
pub fn hold(
    mb: &Mailbox,
    inbox: &AgentName,
    folder: Folder,
    name: &OsStr,
    why: &str,
    diags: &[Diagnostic],
    text: &str,
    next_id: &mut u64,
    batch: &mut Batch,
) -> io::Result<()> {
    let id = OrderId(*next_id);
    *next_id += 1;
    let shown = safe_name(name);
    let held_name = format!("{id}-{shown}");
    let why_name = format!("{held_name}.why.md");
    let note = why_note(inbox, folder, name, &held_name, why, diags, text);
    mb.write_new(
        inbox,
        Folder::Held,
        OsStr::new(&why_name),
        note.as_bytes(),
        true,
    )?;
    mb.rename(inbox, folder, name, Folder::Held, OsStr::new(&held_name))?;
    batch.dirty.insert((inbox.clone(), folder));
    batch.dirty.insert((inbox.clone(), Folder::Held));
    let first = diags
        .iter()
        .find(|d| d.is_error())
        .map(|d| format!("{why}: line {}: {}", d.line, d.message))
        .unwrap_or_else(|| why.to_string());
    batch.records.push(
        Record::new("delivery.held")
            .level(Level::Warn)
            .order(id)
            .agent(inbox)
            .state(State::Held)
            .path(&held_name)
            .reason(first)
            .with(
                "from_name",
                String::from_utf8_lossy(name.as_bytes())
                    .escape_debug()
                    .to_string(),
            )
            .with("problems", diags.iter().filter(|d| d.is_error()).count()),
    );
    Ok(())
}

fn why_note(
    inbox: &AgentName,
    folder: Folder,
    name: &OsStr,
    held_name: &str,
    why: &str,
    diags: &[Diagnostic],
    text: &str,
) -> String {
    let original = String::from_utf8_lossy(name.as_bytes())
        .escape_debug()
        .to_string();
    let report = !text.is_empty() && crate::format::parse::looks_like_report(text);
    let taken_as = if text.is_empty() {
        "nothing (it was not read as a work order or a report)"
    } else if report {
        "a report"
    } else if inbox.as_str() == "walt" {
        "a request (a work order for Walt to route)"
    } else {
        "a work order"
    };
    let mut out = format!(
        "# Held: {original}\n\nDelivered to `{}`, taken as {taken_as}, and held as `{}`: {why}.\n",
        folder.display(inbox, &original),
        Folder::Held.display(inbox, held_name)
    );
    if !diags.is_empty() {
        out.push_str(&format!(
            "\n{}, as `walt lint` prints them:\n\n````text\n{}````\n",
            diagnostic::summary(diags),
            diagnostic::render(&original, text, diags)
        ));
    }
    if report {
        out.push_str(&format!(
            "\nWhat to do: fix a copy of `{held_name}` and deliver it again with `walt report <order id> --status <status> FILE` (it is checked before it is delivered), or drop the fixed copy into `inbox/walt/`. \
             The held file stays as it arrived; walt never deletes anything.\n"
        ));
    } else {
        out.push_str(&format!(
            "\nWhat to do: fix a copy of `{held_name}` and drop it into `inbox/{inbox}/` again. \
             The held file stays as it arrived; walt never deletes anything.\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified_per_spec() {
        for ignored in [
            ".hidden.md",
            "x.md~",
            ".x.md.swp",
            "x.swp",
            "x.tmp",
            "#x.md#",
            "4913",
            ".",
        ] {
            assert_eq!(
                classify(OsStr::new(ignored)),
                NameClass::Ignore,
                "{ignored}"
            );
        }
        assert_eq!(classify(OsStr::new("order.md")), NameClass::Markdown);
        assert_eq!(classify(OsStr::new("order.txt")), NameClass::Other);
        assert_eq!(classify(OsStr::new(".md")), NameClass::Ignore);
    }

    #[test]
    fn safe_names_cannot_carry_control_characters_or_slashes() {
        assert_eq!(safe_name(OsStr::new("a\nb\u{1b}[31m.md")), "a_b_[31m.md");
        assert_eq!(safe_name(OsStr::from_bytes(b"\xff\xfe.md")), "__.md");
        assert!(safe_name(OsStr::new(&"é".repeat(200))).len() <= 200);
    }
}
