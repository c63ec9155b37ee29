//! `contrib/walt.service`: its install steps run as written (in a throwaway root: `useradd
//! --root`, paths under a temporary folder, the steps' users by number), then the daemon runs
//! as that unprivileged user and confines a command agent's run; a person in the service's
//! group submits and reads status; `systemd-analyze verify` accepts the unit.

use std::path::Path;
use std::process::Command;

use crate::common::*;

const UNIT: &str = include_str!("../../contrib/walt.service");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn steps() -> Vec<String> {
    let start = UNIT.find("# install-steps:start\n").unwrap() + "# install-steps:start\n".len();
    let end = UNIT.find("# install-steps:end").unwrap();
    UNIT[start..end]
        .lines()
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

fn id_of(root: &Path, name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in the throwaway root's passwd"));
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

#[test]
fn the_install_steps_work_as_written_and_the_service_user_runs_confined_agents() {
    if unsafe { libc::geteuid() } != 0 || sh("command -v useradd").stdout.is_empty() {
        eprintln!("skipped: needs root and useradd");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    for f in ["passwd", "group", "shadow", "gshadow", "login.defs"] {
        let _ = std::fs::copy(Path::new("/etc").join(f), root.join("etc").join(f));
    }
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(root.join("srv")).unwrap();
    std::fs::create_dir_all(root.join("var/lib")).unwrap();
    let r = root.display().to_string();
    let walt = &*WALT;
    let steps = steps();
    assert!(steps.len() >= 6, "{steps:?}");
    for step in &steps {
        if step.starts_with("systemctl") {
            // No systemd here: the unit is verified below instead, and the README's known
            // limits say how to check the rest by hand.
            continue;
        }
        let mut cmd = step
            .replace("target/release/walt", walt)
            .replace(
                "contrib/walt.service",
                &format!("{ROOT}/contrib/walt.service"),
            )
            .replace("/usr/local/bin/walt", &format!("{r}/usr/local/bin/walt"))
            .replace("/etc/systemd/system/", &format!("{r}/etc/systemd/system/"))
            .replace("/srv/studio", &format!("{r}/srv/studio"));
        if cmd.starts_with("useradd ") {
            // Into the throwaway root's passwd; its home, in there too.
            cmd = cmd.replacen("useradd ", &format!("useradd --root {r} "), 1);
        } else {
            cmd = cmd.replace("/var/lib/walt", &format!("{r}/var/lib/walt"));
        }
        if cmd.contains("-o walt") || cmd.contains("--reuid=walt") {
            let (uid, gid) = id_of(root, "walt");
            cmd = cmd
                .replace("-o walt -g walt", &format!("-o {uid} -g {gid}"))
                .replace(
                    "--reuid=walt --regid=walt --init-groups",
                    &format!("--reuid={uid} --regid={gid} --clear-groups"),
                );
        }
        let out = sh(&cmd);
        assert!(
            out.status.success(),
            "step failed as written: {step}\n(run as: {cmd})\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (uid, gid) = id_of(root, "walt");
    let studio = root.join("srv/studio");
    let home = root.join("var/lib/walt");
    assert!(studio.join("config/walt.toml").exists());
    assert!(home.is_dir(), "the service user has a HOME, not the studio");
    assert!(root.join("etc/systemd/system/walt.service").exists());
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(studio.join("inbox/walt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    assert_ne!(
        meta.mode() & 0o2000,
        0,
        "setgid, so what people drop in is group walt"
    );

    // The unit, with its ExecStart pointing at this build.
    if !sh("command -v systemd-analyze").stdout.is_empty() {
        let unit = root.join("walt.service");
        std::fs::write(&unit, UNIT.replace("/usr/local/bin/walt", walt)).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("note: systemd-analyze is not installed; the unit was not verified");
    }
    for needed in [
        "AF_INET",
        "AF_INET6",
        "ReadWritePaths=/srv/studio /var/lib/walt",
        "Environment=HOME=/var/lib/walt",
    ] {
        assert!(UNIT.contains(needed), "the unit lacks {needed}");
    }

    // The daemon as the service's user, with the unit's umask, runs a confined agent.
    let config = std::fs::read_to_string(studio.join("config/walt.toml")).unwrap();
    std::fs::create_dir_all(studio.join("contrib")).unwrap();
    std::fs::copy(
        format!("{ROOT}/contrib/chip-agent.sh"),
        studio.join("contrib/chip-agent.sh"),
    )
    .unwrap();
    std::fs::write(
        studio.join("config/walt.toml"),
        config.replacen(
            "# command = [\"contrib/chip-agent.sh\"]",
            "command = [\"contrib/chip-agent.sh\"]\n#",
            1,
        ),
    )
    .unwrap();
    std::fs::create_dir_all(studio.join("repos/app")).unwrap();
    std::fs::write(studio.join("repos/app/notes.txt"), "notes\n").unwrap();
    sh(&format!(
        "chown -R {uid}:{gid} {} && chmod -R g+rwX {}",
        studio.display(),
        studio.display()
    ));
    let as_walt = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg("umask 0007; exec \"$@\"")
        .arg("sh")
        .arg(walt)
        .arg("--root")
        .arg(&studio)
        .args(args)
        .env("HOME", &home);
        c
    };
    let err = std::fs::File::create(root.join("daemon.err")).unwrap();
    let mut daemon = as_walt(&["daemon"]).stderr(err).spawn().unwrap();
    // A person in group walt, with a usual umask, submits and reads status.
    let person = |args: &[&str]| {
        Command::new("setpriv")
            .args([
                "--reuid=4242",
                "--regid=4242",
                &format!("--groups={gid}"),
                "sh",
                "-c",
            ])
            .arg("umask 0022; exec \"$@\"")
            .arg("sh")
            .arg(walt)
            .arg("--root")
            .arg(&studio)
            .args(args)
            .env("HOME", root)
            .output()
            .unwrap()
    };
    let order_file = root.join("order.md");
    std::fs::write(
        &order_file,
        "---\nto: chip\n---\n**Objective:** The notes are complete.\n\n**Acceptance:**\n- the notes name the widget\n- the notes are spelled right\n- nothing else changes\n\n**Files:**\n- repos/app/notes.txt\n\n**Branching:**\n- halt-with-note if the notes are gone\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &order_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let journal = studio.join("state/journal.jsonl");
    wait_for("the daemon to start", || {
        std::fs::read_to_string(studio.join("state/logs/walt.jsonl"))
            .is_ok_and(|l| l.contains("daemon.started"))
    });
    let out = person(&["submit", &order_file.to_string_lossy()]);
    assert!(
        out.status.success(),
        "a person in group walt submits: {}",
        stderr(&out)
    );
    wait_for("the order done by the confined agent", || {
        std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"order.done\""))
    });
    let out = person(&["status"]);
    assert!(
        out.status.success(),
        "a person in group walt reads status: {}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("daemon: running"), "{}", stdout(&out));
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    assert!(std::fs::read_to_string(studio.join("repos/app/notes.txt"))
        .unwrap()
        .contains("-- order 0001: The notes are complete."));
}
