//! A temporary studio and the real `walt` binary, for every end-to-end test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const WALT: &str = env!("CARGO_BIN_EXE_walt");

pub struct Studio {
    pub dir: tempfile::TempDir,
}

impl Studio {
    /// `walt init` on a fresh temporary folder.
    pub fn new() -> Studio {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(WALT)
            .arg("init")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Studio { dir }
    }

    /// A studio whose config is the given text.
    pub fn with_config(config: &str) -> Studio {
        let s = Studio::new();
        s.write("config/walt.toml", config);
        s
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Runs `walt --root <studio> args…`.
    pub fn walt(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(WALT);
        c.arg("--root").arg(self.root()).args(args);
        c.env_remove("WALT_ROOT");
        c.stdin(Stdio::null());
        c
    }

    /// File names in a studio folder, sorted.
    pub fn ls(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = match std::fs::read_dir(self.path(rel)) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Replaces the temporary studio path in output so snapshots are stable.
pub fn scrub(text: &str, studio: &Studio) -> String {
    text.replace(&studio.root().display().to_string(), "[studio]")
}
