//! The `poco` binary run as its users run it: in a home and a project folder of its own, with
//! its background services killed when the test lets go of them.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Output, Stdio},
};

use serde_json::Value;
use tempfile::TempDir;

/// Environment variables that would change what the binary does; [`Home::command`] clears
/// them so that the developer's own settings never leak into a test.
pub const CLEARED_ENV: &[&str] = &[
    "POCO_CHAIN",
    "POCO_RPC_URL",
    "POCO_HUB",
    "POCO_CHAIN_CONFIG",
    "POCO_ACCOUNT",
    "POCO_WALLET_PASSWORD",
    "POCO_PRIVATE_KEY",
    "POCO_LOG",
];

/// A `poco` home (`POCO_HOME`) and a project folder (the working directory) of its own, for
/// the binary at a given path; stops its devnet when dropped.
pub struct Home {
    binary: PathBuf,
    home: TempDir,
    project: TempDir,
}

impl Home {
    /// A fresh home for the `poco` binary at `binary` (a test passes
    /// `env!("CARGO_BIN_EXE_poco")`).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            home: tempfile::tempdir().expect("a temporary POCO_HOME (is /tmp writable?)"),
            project: tempfile::tempdir().expect("a temporary project folder (is /tmp writable?)"),
        }
    }

    /// The `POCO_HOME` folder.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The project folder the binary runs in.
    pub fn project(&self) -> &Path {
        self.project.path()
    }

    /// `poco <args>` in this home, with [`CLEARED_ENV`] cleared.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        for var in CLEARED_ENV {
            command.env_remove(var);
        }
        command
            .env("POCO_HOME", self.home())
            .current_dir(self.project())
            .args(args);
        command
    }

    /// Runs `poco <args>` to its end.
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.binary.display()))
    }

    /// Runs `poco --json <args>`, expects success and returns the JSON on stdout.
    pub fn json(&self, args: &[&str]) -> Value {
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

    /// Runs `poco <args>`, expects failure with nothing on stdout and returns stderr
    /// [redacted](Home::redact).
    pub fn error(&self, args: &[&str]) -> String {
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

    /// `text` with this home's folders replaced by `[HOME]` and `[PROJECT]` and local ports
    /// by `[PORT]` (they change from run to run).
    pub fn redact(&self, text: &str) -> String {
        let text = text
            .replace(&self.home().display().to_string(), "[HOME]")
            .replace(&self.project().display().to_string(), "[PROJECT]");
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

    /// Writes `text` to `name` in the project folder; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.project().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Starts `poco --json <args>` in the background (stdout piped, stderr to `stderr`): the
    /// service, its start record (the first line on stdout) and the rest of its stdout.
    pub fn start_service(
        &self,
        args: &[&str],
        stderr: Stdio,
    ) -> (Service, Value, BufReader<ChildStdout>) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let mut child = self
            .command(&all)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start poco {args:?}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let service = Service(child);
        let started = start_record(&mut stdout);
        (service, started, stdout)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if self.home().join("devnet/devnet.json").exists() {
            let _ = self.output(&["devnet", "stop"]);
        }
    }
}

/// A background `poco` process, killed (and reaped) when dropped.
pub struct Service(pub Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line a service prints on its piped stdout (its `--json` start record).
pub fn first_line(child: &mut Child) -> Value {
    start_record(&mut BufReader::new(
        child.stdout.take().expect("piped stdout"),
    ))
}

/// Reads a service's `--json` start record, one line.
pub fn start_record(stdout: &mut impl BufRead) -> Value {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a start line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_folders_and_local_ports() {
        let home = Home::new("/bin/true");
        let text = format!(
            "{}/keystore and {}/orders.json at http://127.0.0.1:8545/ and 127.0.0.1:1",
            home.home().display(),
            home.project().display()
        );
        assert_eq!(
            home.redact(&text),
            "[HOME]/keystore and [PROJECT]/orders.json at http://127.0.0.1:[PORT]/ and \
             127.0.0.1:[PORT]"
        );
    }

    #[test]
    fn a_service_is_killed_when_dropped() {
        let home = Home::new("/bin/sleep");
        let child = home.command(&["600"]).spawn().expect("sleep starts");
        let pid = child.id();
        drop(Service(child));
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        assert!(!alive, "sleep {pid} still runs");
    }
}
