//! I/O faults (issue 9): a full disk pauses the daemon (backpressure: it says so, takes nothing
//! more, and starts over by itself once there is space); an fsync error, a read-only studio stop
//! it (fail-stop, exit 3); an inotify overflow costs nothing. It never acknowledges what is not
//! on disk, and afterwards it takes everything, each order once.

use std::process::Command;

use crate::common::*;

/// A studio on a tmpfs of `size`, or a skip where mounting needs a root this run lacks (CI
/// runs as root on this machine kind).
macro_rules! tmpfs_studio {
    ($size:expr) => {
        match Studio::on_tmpfs($size) {
            Some(s) => s,
            None => {
                eprintln!("skipped: cannot mount a tmpfs here (not root)");
                return;
            }
        }
    };
}

#[test]
fn a_full_disk_pauses_the_daemon_which_resumes_by_itself_when_space_is_back() {
    let s = tmpfs_studio!("400k");
    let d = Daemon::start(&s);
    // Fill the disk with requests until writing one fails.
    let mut delivered = Vec::new();
    for i in 0..10_000 {
        let m = format!("f{i:05}");
        let tmp = s.path(&format!("inbox/walt/tmp/{m}.md"));
        if std::fs::write(&tmp, order_own(&m, "to: chip\n")).is_err() {
            let _ = std::fs::remove_file(&tmp);
            break;
        }
        if std::fs::rename(&tmp, s.path(&format!("inbox/walt/new/{m}.md"))).is_err() {
            break;
        }
        delivered.push(m);
    }
    assert!(!delivered.is_empty());
    // The daemon pauses: it says why (the log may be on the full disk too; stderr mirrors it)
    // and keeps running.
    let said = |what: &str| s.daemon_err().contains(what);
    wait_for("the daemon says it is paused", || {
        said("the disk is full") && said("daemon.paused")
    });
    let mut d = d;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "a full disk stopped the daemon: {}",
        s.daemon_err()
    );
    // `walt status` says so, when the log on the full disk could take the line (a line the
    // full disk cut short does not count).
    let logged = s.log().iter().any(|r| r["event"] == "daemon.paused");
    let status = s.walt(&["status"]);
    let status = format!("{}{}", stdout(&status), stderr(&status));
    if logged {
        assert!(status.contains("paused: the disk is full"), "{status}");
    }
    // A second daemon is refused meanwhile: the paused one holds the lock.
    let second = s.walt(&["daemon"]);
    assert_eq!(second.status.code(), Some(3));
    assert!(stderr(&second).contains("holds state/walt.lock"));
    // Killed while paused, a daemon started on the still-full disk pauses too (it does not
    // give up with exit 3).
    let pauses = || s.daemon_err().matches("daemon.paused").count();
    let before = pauses();
    d.kill9();
    let mut d = Daemon::spawn(&s);
    wait_for("the new daemon to pause", || pauses() > before);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "a daemon started on a full disk gave up: {}",
        s.daemon_err()
    );
    // Space comes back: the paused daemon resumes by itself and takes everything.
    s.remount("remount,size=64m");
    wait_for("everything taken once space is back", || {
        s.ls("inbox/walt/new").is_empty()
    });
    assert!(said("resumed after a full disk"));
    // The pause is an attention item once it could be journaled.
    wait_for("the paused item", || {
        s.status()["attention"]["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|i| i["key"] == "paused"))
    });
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon is still the same"
    );
    assert_eq!(d.stop(), Some(0));
    let mut markers: Vec<String> = Vec::new();
    for folder in ["inbox/walt/active", "inbox/walt/held"] {
        for n in s.ls(folder) {
            if !n.ends_with(".why.md") {
                markers.push(marker_of(
                    &std::fs::read_to_string(s.path(&format!("{folder}/{n}"))).unwrap_or_default(),
                ));
            }
        }
    }
    markers.sort();
    let total = markers.len();
    markers.dedup();
    assert_eq!(total, markers.len(), "a request is there twice");
    for m in &delivered {
        assert!(markers.contains(m), "{m} was lost");
    }
}

/// fsync failing (EIO) on the journal: the daemon stops (fail-stop, exit 3) rather than
/// acknowledge what may not be on disk; restarted without the fault, it loses nothing.
#[test]
fn an_fsync_error_stops_the_daemon_and_a_restart_loses_nothing() {
    let strace = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(strace) = strace else {
        eprintln!("skipped: strace is not installed (.ci/run installs it)");
        return;
    };
    let s = Studio::new();
    let err = std::fs::File::create(s.err_path()).unwrap();
    // Every fdatasync from the 3rd on fails with EIO (the journal uses fdatasync).
    let mut d = Command::new(strace)
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=fdatasync",
            "-e",
            "inject=fdatasync:error=EIO:when=3+",
            &*WALT,
            "--root",
        ])
        .arg(s.root())
        .arg("daemon")
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    wait_for("start", || s.path("state/logs/walt.jsonl").exists());
    for i in 0..20 {
        s.deliver(
            "walt",
            &format!("e{i:02}.md"),
            &order_own(&format!("e{i:02}"), "to: chip\n"),
        );
    }
    let status = loop {
        if let Some(st) = d.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(3), "{}", s.daemon_err());
    assert!(
        s.daemon_err().contains("could not be made durable"),
        "{}",
        s.daemon_err()
    );
    let d = Daemon::start(&s);
    wait_for("all routed", || s.ls("inbox/chip/new").len() == 20);
    d.stop();
    let mut markers: Vec<String> = s
        .ls("inbox/chip/new")
        .iter()
        .map(|n| marker_of(&s.read(&format!("inbox/chip/new/{n}"))))
        .collect();
    markers.sort();
    markers.dedup();
    assert_eq!(markers.len(), 20);
}

/// A kernel inotify queue that overflows (fs.inotify.max_queued_events lowered to 16) loses
/// events, not orders: the overflow wakes the loop, which reads the folders.
#[test]
fn an_inotify_queue_overflow_loses_no_order() {
    const KNOB: &str = "/proc/sys/fs/inotify/max_queued_events";
    let Ok(old) = std::fs::read_to_string(KNOB) else {
        return;
    };
    if std::fs::write(KNOB, "16").is_err() {
        eprintln!("skipped: cannot lower {KNOB} (not root)");
        return;
    }
    let s = Studio::new();
    let d = Daemon::start(&s);
    // The limit applies to inotify instances created while it is low: put it back at once.
    std::fs::write(KNOB, old.trim()).unwrap();
    for i in 0..400 {
        s.deliver(
            "walt",
            &format!("o{i:03}.md"),
            &order_own(&format!("o{i:03}"), "to: chip\n"),
        );
    }
    wait_for("all 400 taken", || s.ls("inbox/chip/new").len() == 400);
    d.stop();
}

/// A read-only studio: the daemon cannot take its lock or write its journal, so it does not
/// start (exit 3, saying the studio is not writable); made writable again, it takes what was
/// waiting.
#[test]
fn a_read_only_studio_is_refused_clearly_and_resumes_when_writable() {
    let s = tmpfs_studio!("8m");
    s.deliver("walt", "r.md", &order("m-ro", "to: chip\n"));
    s.remount("remount,ro");
    let o = s.walt(&["daemon"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("Read-only file system") && stderr(&o).contains("writable"),
        "{}",
        stderr(&o)
    );
    assert!(s.path("inbox/walt/new/r.md").exists(), "nothing moved");
    s.remount("remount,rw");
    let d = Daemon::start(&s);
    wait_for("taken once writable", || s.ls("inbox/chip/new").len() == 1);
    d.stop();
}

/// A full disk while a command agent runs: the pause ends the run with its process group (a
/// daemon that starts over in process would otherwise find it interrupted and run it a second
/// time, at once), and once there is space the same daemon resumes, the order runs again,
/// once, and is done.
#[test]
fn a_full_disk_ends_command_agents_runs_which_run_again_once_when_space_is_back() {
    let s = tmpfs_studio!("2m");
    let agent = s.script("slow.sh", &slow_agent("m-full", 5));
    s.chip_command(&agent, "");
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    let d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-full", ""));
    let starts = || {
        s.run_log("chip", "0001")
            .lines()
            .filter_map(|l| l.strip_prefix("start "))
            .map(|p| p.trim().parse::<u32>().unwrap())
            .collect::<Vec<u32>>()
    };
    wait_for("the run to start", || !starts().is_empty());
    // Requests staged while there is room, then the disk filled, then the requests delivered:
    // taking them needs the journal, which cannot grow.
    for i in 0..20 {
        s.write(
            &format!("inbox/walt/tmp/r{i}.md"),
            &order_own(&format!("r{i:02}"), "to: rex\n"),
        );
    }
    {
        use std::io::Write;
        let mut filler = std::fs::File::create(s.path("filler")).unwrap();
        let block = vec![0u8; 4096];
        while filler.write_all(&block).is_ok() {}
        while filler.write_all(&[0u8]).is_ok() {}
    }
    for i in 0..20 {
        std::fs::rename(
            s.path(&format!("inbox/walt/tmp/r{i}.md")),
            s.path(&format!("inbox/walt/new/r{i}.md")),
        )
        .unwrap();
    }
    wait_for("the daemon to pause", || {
        s.daemon_err().contains("daemon.paused")
    });
    let sleep = format!("sleep {}", slow_sleep("m-full", 5));
    wait_for("the run to be ended with the pause", || {
        none_running(&sleep)
    });
    let mut d = d;
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "a full disk stopped the daemon"
    );
    // Space comes back: the order runs again, once, and is done; the requests are taken.
    std::fs::remove_file(s.path("filler")).unwrap();
    wait_for("the order done after the pause", || {
        s.events("0001").contains(&"order.done".to_string())
    });
    wait_for("every request taken", || s.ls("inbox/walt/new").is_empty());
    assert_eq!(d.stop(), Some(0));
    let runs = starts();
    assert_eq!(
        runs.len(),
        2,
        "run once before the pause and once after: {runs:?}"
    );
    assert_eq!(
        s.read("repos/app/src/widget.rs").matches("// run ").count(),
        1,
        "only the run after the pause did its work"
    );
}

/// Regression: the report of a command agent's run was written with any error taken as "not
/// durable", so a run that ended on a full disk stopped the daemon (exit 3) instead of pausing
/// it. The agent itself fills the disk through its one File, then reports.
#[test]
fn a_run_that_ends_on_a_full_disk_pauses_the_daemon_instead_of_stopping_it() {
    let s = tmpfs_studio!("2m");
    s.write("repos/app/src/widget.rs", "fn widget() {}\n");
    s.write("repos/app/FILL", "the first run fills the disk\n");
    let fill = "if [ -e app/FILL ]; then\n  dd if=/dev/zero of=app/src/widget.rs bs=4096 2>/dev/null\n  dd if=/dev/zero of=app/src/widget.rs bs=1 oflag=append conv=notrunc 2>/dev/null\nfi\n";
    let agent = s.script("fill.sh", &format!("{fill}{}", slow_agent("m-fill", 0)));
    s.chip_command(&agent, "");
    let mut d = Daemon::start(&s);
    s.deliver("walt", "a.md", &order("m-fill", ""));
    wait_for("the daemon to pause when filing the run's report", || {
        s.daemon_err().contains("daemon.paused")
    });
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "a full disk met while filing a run's report stopped the daemon: {}",
        s.daemon_err()
    );
    // Space comes back: the interrupted order runs again (without filling) and is done.
    std::fs::remove_file(s.path("repos/app/FILL")).unwrap();
    std::fs::write(s.path("repos/app/src/widget.rs"), "fn widget() {}\n").unwrap();
    wait_for("the order done after the pause", || {
        s.events("0001").contains(&"order.done".to_string())
    });
    assert_eq!(d.stop(), Some(0));
    assert_eq!(
        s.ls("inbox/chip/done").len(),
        3,
        "the order, its report and its run's log"
    );
}
