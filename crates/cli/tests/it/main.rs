//! The `poco` binary: the whole flow against a real devnet with `--json`, and snapshots of the
//! help texts and of the error messages.

mod flow;
mod market;
mod snapshots;
mod worker;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;
use tempfile::TempDir;

/// Environment variables that would change what the binary does.
const CLEARED_ENV: &[&str] = &[
    "POCO_CHAIN",
    "POCO_RPC_URL",
    "POCO_HUB",
    "POCO_CHAIN_CONFIG",
    "POCO_ACCOUNT",
    "POCO_WALLET_PASSWORD",
    "POCO_PRIVATE_KEY",
    "POCO_LOG",
];

/// A `poco` home and a project folder of its own; stops its devnet when dropped.
struct Poco {
    home: TempDir,
    project: TempDir,
}

impl Poco {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("temp home"),
            project: tempfile::tempdir().expect("temp project"),
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn project(&self) -> &Path {
        self.project.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_poco"));
        for var in CLEARED_ENV {
            command.env_remove(var);
        }
        command
            .env("POCO_HOME", self.home())
            .current_dir(self.project())
            .args(args);
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run poco")
    }

    /// Runs `poco --json <args>`, expects success and returns the JSON on stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.output(&all);
        assert!(
            out.status.success(),
            "poco {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "poco {args:?} printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs `poco <args>`, expects failure and returns stderr with the folders and ports
    /// replaced by placeholders.
    fn error(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            !out.status.success(),
            "poco {args:?} succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            out.stdout.is_empty(),
            "an error printed on stdout without --json"
        );
        self.redact(&String::from_utf8_lossy(&out.stderr))
    }

    fn redact(&self, text: &str) -> String {
        let text = text
            .replace(&self.home().display().to_string(), "[HOME]")
            .replace(&self.project().display().to_string(), "[PROJECT]");
        // Ports of local chains change from run to run.
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("127.0.0.1:") {
            out.push_str(&rest[..at + 10]);
            rest = rest[at + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
            out.push_str("[PORT]");
        }
        out.push_str(rest);
        out
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.project().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for Poco {
    fn drop(&mut self) {
        let running = self.home().join("devnet/devnet.json");
        if running.exists() {
            let _ = self.output(&["devnet", "stop"]);
        }
    }
}

/// `value[key]` as a string.
fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {value}"))
        .to_string()
}
