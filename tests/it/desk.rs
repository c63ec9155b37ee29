//! Walt's desk holds a handle on `inbox/` and nothing else: these tests try every way out we
//! know of, on a real studio on disk, and check that `repos/` and `state/` stay untouched.

use std::ffi::OsStr;
use std::os::unix::fs::symlink;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use walt::inbox::desk::{open_inbox, Desk};
use walt::inbox::mailbox::{Folder, NotMail};
use walt::model::order::AgentName;

use crate::common::*;

fn desk(s: &Studio) -> Desk {
    let root = Dir::open_ambient_dir(s.root(), ambient_authority()).unwrap();
    let d = Desk::new(open_inbox(&root).unwrap());
    for a in ["walt", "chip"] {
        d.mailbox().open_inbox(&AgentName::new(a).unwrap()).unwrap();
    }
    d
}

/// Everything under state/ and repos/, with contents, to compare before and after.
fn outside(s: &Studio) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for top in ["state", "repos"] {
        let mut stack = vec![s.path(top)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let t = e.file_type().unwrap();
                let rel = e
                    .path()
                    .strip_prefix(s.root())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if t.is_dir() {
                    stack.push(e.path());
                    out.push((rel, Vec::new()));
                } else if t.is_file() {
                    out.push((rel, std::fs::read(e.path()).unwrap()));
                } else {
                    out.push((rel, b"<special>".to_vec()));
                }
            }
        }
    }
    out.sort();
    out
}

fn chip() -> AgentName {
    AgentName::new("chip").unwrap()
}

fn studio() -> Studio {
    let s = Studio::new();
    s.write("state/ledger.json", "{\"secret\": true}\n");
    s.write("repos/app/src/main.rs", "fn main() {}\n");
    s
}

#[test]
fn names_with_dotdot_slashes_or_absolute_paths_are_refused() {
    let s = studio();
    let before = outside(&s);
    let mut d = desk(&s);
    for name in [
        "..",
        "../../state/ledger.json",
        "/etc/passwd",
        "a/b.md",
        ".",
        "",
    ] {
        assert!(d.write_order(&chip(), name, "x").is_err(), "wrote {name:?}");
        assert!(
            d.move_request(name, Folder::New, Folder::Active).is_err(),
            "moved {name:?}"
        );
        assert!(
            d.hold_request(name, name, "request", "x", "y").is_err(),
            "held {name:?}"
        );
        assert!(d.write_handoff(name, "x").is_err(), "handoff {name:?}");
        let mb = d.mailbox();
        assert!(mb
            .rename(
                &chip(),
                Folder::New,
                OsStr::new("x.md"),
                Folder::Done,
                OsStr::new(name)
            )
            .is_err());
        assert!(
            mb.open_mail(&chip(), Folder::New, OsStr::new(name))
                .is_err()
                || name.is_empty()
        );
    }
    assert_eq!(outside(&s), before);
}

#[test]
fn agent_names_are_validated_before_they_name_a_folder() {
    for bad in ["../state", "..", "/tmp", "Chip", "a/b", ""] {
        assert!(AgentName::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_symlinked_inbox_folder_is_refused() {
    let s = studio();
    let before = outside(&s);
    std::fs::remove_dir_all(s.path("inbox/chip/new")).unwrap();
    symlink(s.path("state"), s.path("inbox/chip/new")).unwrap();
    let root = Dir::open_ambient_dir(s.root(), ambient_authority()).unwrap();
    let mut d = Desk::new(open_inbox(&root).unwrap());
    assert!(d.mailbox().open_inbox(&chip()).is_err());
    assert!(d.write_order(&chip(), "0001-x.md", "order").is_err());
    assert_eq!(outside(&s), before);
    // The whole inbox folder as a link is refused too.
    let s2 = studio();
    std::fs::rename(s2.path("inbox"), s2.path("inbox.real")).unwrap();
    symlink(s2.path("state"), s2.path("inbox")).unwrap();
    let root2 = Dir::open_ambient_dir(s2.root(), ambient_authority()).unwrap();
    assert!(open_inbox(&root2).is_err());
}

#[test]
fn a_symlinked_file_is_never_opened_through_and_never_replaced() {
    let s = studio();
    let before = outside(&s);
    let mut d = desk(&s);
    symlink(
        s.path("state/ledger.json"),
        s.path("inbox/chip/new/0001-x.md"),
    )
    .unwrap();
    assert!(
        d.write_order(&chip(), "0001-x.md", "overwritten?").is_err(),
        "NOREPLACE must refuse"
    );
    assert_eq!(
        d.mailbox()
            .open_mail(&chip(), Folder::New, OsStr::new("0001-x.md"))
            .unwrap()
            .err(),
        Some(NotMail::Symlink)
    );
    symlink(
        s.path("state/ledger.json"),
        s.path("inbox/walt/new/0002-y.md"),
    )
    .unwrap();
    d.move_request("0002-y.md", Folder::New, Folder::Active)
        .unwrap();
    // The link itself moved; what it points at did not.
    assert!(
        std::fs::symlink_metadata(s.path("inbox/walt/active/0002-y.md"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(outside(&s), before);
}

#[test]
fn a_symlink_swapped_in_during_the_operation_is_not_followed() {
    let s = studio();
    let before = outside(&s);
    let mut d = desk(&s);
    // The desk holds chip/new open; now an attacker swaps the folder for a link to state/.
    std::fs::rename(s.path("inbox/chip/new"), s.path("inbox/chip/new.old")).unwrap();
    symlink(s.path("state"), s.path("inbox/chip/new")).unwrap();
    d.write_order(&chip(), "0003-z.md", "order body").unwrap();
    d.sync().unwrap();
    assert_eq!(outside(&s), before, "nothing landed in state/");
    assert!(
        s.path("inbox/chip/new.old/0003-z.md").exists(),
        "it went to the folder the desk held"
    );
    // And the refresh that notices the swap refuses to follow the link.
    assert!(d.mailbox().refresh(&chip()).is_err());
}

#[test]
fn an_existing_hard_link_is_refused_by_its_link_count() {
    let s = studio();
    let d = desk(&s);
    std::fs::hard_link(
        s.path("state/ledger.json"),
        s.path("inbox/chip/new/0004-h.md"),
    )
    .unwrap();
    assert_eq!(
        d.mailbox()
            .open_mail(&chip(), Folder::New, OsStr::new("0004-h.md"))
            .unwrap()
            .err(),
        Some(NotMail::HardLink(2))
    );
    assert_eq!(
        d.mailbox()
            .read_file(&chip(), Folder::New, OsStr::new("0004-h.md"), 1024)
            .unwrap()
            .err(),
        Some(NotMail::HardLink(2))
    );
}

#[test]
fn the_desk_writes_orders_and_moves_requests_durably() {
    let s = studio();
    let mut d = desk(&s);
    s.write("inbox/walt/new/0005-r.md", "request");
    d.write_order(&chip(), "0005-r.md", "order").unwrap();
    d.move_request("0005-r.md", Folder::New, Folder::Active)
        .unwrap();
    d.hold_request("0005-r.md", "r.md", "request", "x", "y")
        .unwrap_err();
    d.sync().unwrap();
    assert_eq!(s.read("inbox/chip/new/0005-r.md"), "order");
    assert_eq!(s.read("inbox/walt/active/0005-r.md"), "request");
    // Writing the same order twice never replaces the first.
    assert!(d.write_order(&chip(), "0005-r.md", "again").is_err());
    assert_eq!(s.read("inbox/chip/new/0005-r.md"), "order");
}
