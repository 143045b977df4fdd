//! What an executor is asked to run: [`ExecutionRequest`] and its parts.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    logs::DEFAULT_LOG_TAIL_BYTES,
};

/// Where the app sees its input files.
pub const IEXEC_IN: &str = "/iexec_in";
/// Where the app writes its results.
pub const IEXEC_OUT: &str = "/iexec_out";
/// The file the app must write in [`IEXEC_OUT`].
pub const COMPUTED_JSON: &str = "computed.json";

/// Default wall-time limit: iExec's smallest category (XS) allows 5 minutes.
pub const DEFAULT_WALL_TIME: Duration = Duration::from_secs(5 * 60);
/// Default memory cap of the app's linear memories.
pub const DEFAULT_MEMORY_BYTES: u64 = 512 * 1024 * 1024;
/// Default cap on what the app may write to /iexec_out.
pub const DEFAULT_OUTPUT_BYTES: u64 = 64 * 1024 * 1024;

/// The app module to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppSource {
    /// The module's bytes.
    Bytes(Vec<u8>),
    /// A file holding the module.
    Path(PathBuf),
}

impl AppSource {
    pub(crate) fn load(&self) -> Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            Self::Bytes(bytes) => Ok(bytes.as_slice().into()),
            Self::Path(path) => {
                fs::read(path)
                    .map(Into::into)
                    .map_err(|source| Error::AppUnreadable {
                        path: path.clone(),
                        source,
                    })
            }
        }
    }
}

/// The dataset of the deal, already downloaded into /iexec_in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// Dataset address (`IEXEC_DATASET_ADDRESS`).
    pub address: Address,
    /// File name inside /iexec_in (`IEXEC_DATASET_FILENAME`).
    pub filename: String,
}

/// Position of the task in its bag of tasks (BoT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BagOfTasks {
    /// Number of tasks in the deal (`IEXEC_BOT_SIZE`).
    pub size: u64,
    /// Index of the deal's first task (`IEXEC_BOT_FIRST_INDEX`).
    pub first_index: u64,
    /// Index of this task (`IEXEC_BOT_TASK_INDEX`, also `IEXEC_TASK_INDEX`).
    pub task_index: u64,
}

impl Default for BagOfTasks {
    /// A deal of one task.
    fn default() -> Self {
        Self {
            size: 1,
            first_index: 0,
            task_index: 0,
        }
    }
}

/// Resource limits of one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-time limit (the category's maximum execution time).
    pub wall_time: Duration,
    /// Cap on the app's linear memory, in bytes.
    pub memory_bytes: u64,
    /// Fuel budget, when the executor meters fuel. `None`: unmetered.
    pub fuel: Option<u64>,
    /// Cap on the bytes the app writes to /iexec_out.
    pub output_bytes: u64,
    /// Bytes of stdout and of stderr kept (the last ones).
    pub log_tail_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            wall_time: DEFAULT_WALL_TIME,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            fuel: None,
            output_bytes: DEFAULT_OUTPUT_BYTES,
            log_tail_bytes: DEFAULT_LOG_TAIL_BYTES,
        }
    }
}

impl Limits {
    /// Default limits with the wall time of a deal category (its
    /// `workClockTimeRef`, the maximum execution time, in seconds).
    pub fn for_category(max_execution_time_secs: u64) -> Self {
        Self {
            wall_time: Duration::from_secs(max_execution_time_secs),
            ..Self::default()
        }
    }
}

/// The folders of one task on the worker's disk.
///
/// `root/iexec_in` is mounted read-only as /iexec_in, `root/iexec_out`
/// read-write as /iexec_out, and the result archive is written to
/// `root/iexec_out.zip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskWorkspace {
    root: PathBuf,
}

impl TaskWorkspace {
    /// Creates `root`, `root/iexec_in` and an empty `root/iexec_out`.
    ///
    /// Fails if `root/iexec_out` exists and is not empty: a result must only
    /// hold what this run wrote.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self> {
        let workspace = Self { root: root.into() };
        for dir in [workspace.input_dir(), workspace.output_dir()] {
            fs::create_dir_all(&dir)
                .map_err(|e| Error::io("cannot create the task workspace", &dir, e))?;
        }
        workspace.check_output_empty()?;
        Ok(workspace)
    }

    /// Uses an existing workspace without touching it.
    pub fn open(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The workspace folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Host folder mounted as /iexec_in.
    pub fn input_dir(&self) -> PathBuf {
        self.root.join("iexec_in")
    }

    /// Host folder mounted as /iexec_out.
    pub fn output_dir(&self) -> PathBuf {
        self.root.join("iexec_out")
    }

    /// Where the result archive is written.
    pub fn archive_path(&self) -> PathBuf {
        self.root.join("iexec_out.zip")
    }

    pub(crate) fn check_output_empty(&self) -> Result<()> {
        let dir = self.output_dir();
        let mut entries =
            fs::read_dir(&dir).map_err(|e| Error::io("cannot read the output folder", &dir, e))?;
        if entries.next().is_some() {
            return Err(Error::InvalidRequest {
                reason: format!("the output folder {} is not empty", dir.display()),
            });
        }
        Ok(())
    }
}

/// Everything needed to run one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionRequest {
    /// Task id (`IEXEC_TASK_ID`); also seeds the deterministic clock and RNG.
    pub task_id: B256,
    /// Deal id (`IEXEC_DEAL_ID`), when known.
    pub deal_id: Option<B256>,
    /// The app module.
    pub app: AppSource,
    /// The app's on-chain checksum (sha256 of the module); checked before use.
    pub app_checksum: B256,
    /// The deal's `iexec_args`, split with shell-like quoting.
    pub args: String,
    /// The task's folders; inputs must already be in its input folder.
    pub workspace: TaskWorkspace,
    /// The dataset, if the deal has one.
    pub dataset: Option<Dataset>,
    /// Names of the input files in the input folder, in the deal's order
    /// (`IEXEC_INPUT_FILE_NAME_1..n`).
    pub input_files: Vec<String>,
    /// Position in the bag of tasks.
    pub bot: BagOfTasks,
    /// Resource limits.
    pub limits: Limits,
    /// Start of the app's (deterministic) wall clock. `None`: derived from
    /// the task id. A worker may pass a value every replica agrees on, such as
    /// the deal's block timestamp.
    pub clock_start: Option<SystemTime>,
    /// The secrets of a TEE task, given to the app as environment variables (never printed).
    // Always written: the runner protocol (postcard) is not self-describing.
    #[serde(default)]
    pub secrets: AppSecrets,
}

/// The secrets a TEE task's app gets in its environment, as iExec names them: the app
/// developer's secret (`IEXEC_APP_DEVELOPER_SECRET`) and the requester secrets by index
/// (`IEXEC_REQUESTER_SECRET_<n>`). `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSecrets {
    /// The app developer's secret.
    pub app_developer: Option<String>,
    /// The requester secrets, by index (`1`, `2`, ...).
    pub requester: std::collections::BTreeMap<u32, String>,
}

impl std::fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSecrets")
            .field("app_developer", &self.app_developer.as_ref().map(|_| ".."))
            .field("requester", &self.requester.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AppSecrets {
    /// Whether there is no secret.
    pub fn is_empty(&self) -> bool {
        self.app_developer.is_none() && self.requester.is_empty()
    }

    /// The environment variables of the secrets.
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(secret) = &self.app_developer {
            env.push(("IEXEC_APP_DEVELOPER_SECRET".to_owned(), secret.clone()));
        }
        for (index, secret) in &self.requester {
            env.push((format!("IEXEC_REQUESTER_SECRET_{index}"), secret.clone()));
        }
        env
    }
}

impl ExecutionRequest {
    /// A request with no dataset, no input files, no arguments, a one-task
    /// deal and default limits.
    pub fn new(
        task_id: B256,
        app: AppSource,
        app_checksum: B256,
        workspace: TaskWorkspace,
    ) -> Self {
        Self {
            task_id,
            deal_id: None,
            app,
            app_checksum,
            args: String::new(),
            workspace,
            dataset: None,
            input_files: Vec::new(),
            bot: BagOfTasks::default(),
            limits: Limits::default(),
            clock_start: None,
            secrets: AppSecrets::default(),
        }
    }

    /// The iExec environment of the app, in a fixed order. Ids and addresses
    /// are `0x`-prefixed lowercase hex.
    ///
    /// Without a dataset, `IEXEC_DATASET_ADDRESS` and `IEXEC_DATASET_FILENAME`
    /// are set to the empty string, so apps can test them without a lookup
    /// failure. A TEE task's secrets come last ([`AppSecrets::environment`]).
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut env = vec![("IEXEC_TASK_ID".to_owned(), format!("{:#x}", self.task_id))];
        if let Some(deal_id) = self.deal_id {
            env.push(("IEXEC_DEAL_ID".to_owned(), format!("{deal_id:#x}")));
        }
        let (dataset_address, dataset_filename) = match &self.dataset {
            Some(d) => (format!("{:#x}", d.address), d.filename.clone()),
            None => (String::new(), String::new()),
        };
        env.extend([
            (
                "IEXEC_TASK_INDEX".to_owned(),
                self.bot.task_index.to_string(),
            ),
            ("IEXEC_IN".to_owned(), IEXEC_IN.to_owned()),
            ("IEXEC_OUT".to_owned(), IEXEC_OUT.to_owned()),
            ("IEXEC_BOT_SIZE".to_owned(), self.bot.size.to_string()),
            (
                "IEXEC_BOT_FIRST_INDEX".to_owned(),
                self.bot.first_index.to_string(),
            ),
            (
                "IEXEC_BOT_TASK_INDEX".to_owned(),
                self.bot.task_index.to_string(),
            ),
            ("IEXEC_DATASET_ADDRESS".to_owned(), dataset_address),
            ("IEXEC_DATASET_FILENAME".to_owned(), dataset_filename),
            ("IEXEC_INPUT_FILES_FOLDER".to_owned(), IEXEC_IN.to_owned()),
            (
                "IEXEC_INPUT_FILES_NUMBER".to_owned(),
                self.input_files.len().to_string(),
            ),
        ]);
        for (i, name) in self.input_files.iter().enumerate() {
            env.push((format!("IEXEC_INPUT_FILE_NAME_{}", i + 1), name.clone()));
        }
        env.extend(self.secrets.environment());
        env
    }

    /// Checks the request against the workspace before anything runs.
    pub(crate) fn validate(&self) -> Result<()> {
        let input_dir = self.workspace.input_dir();
        let names = self
            .input_files
            .iter()
            .map(|n| ("input file", n))
            .chain(self.dataset.iter().map(|d| ("dataset file", &d.filename)));
        for (what, name) in names {
            if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
                return Err(Error::InvalidRequest {
                    reason: format!("{what} name {name:?} must be a plain file name"),
                });
            }
            let path = input_dir.join(name);
            match fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => {
                    return Err(Error::InvalidRequest {
                        reason: format!("{what} {} is not a regular file", path.display()),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::InvalidRequest {
                        reason: format!("{what} {} was not downloaded", path.display()),
                    })
                }
                Err(e) => return Err(Error::io("cannot read an input file", path, e)),
            }
        }
        if self.bot.task_index < self.bot.first_index
            || self.bot.task_index - self.bot.first_index >= self.bot.size
        {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "task index {} is outside the bag of tasks [{}, {} + {})",
                    self.bot.task_index, self.bot.first_index, self.bot.first_index, self.bot.size
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_follows_iexec_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = ExecutionRequest::new(
            B256::repeat_byte(0xab),
            AppSource::Bytes(Vec::new()),
            B256::ZERO,
            TaskWorkspace::create(dir.path()).unwrap(),
        );
        req.input_files = vec!["a.txt".into(), "b.bin".into()];
        req.bot = BagOfTasks {
            size: 4,
            first_index: 2,
            task_index: 3,
        };
        req.dataset = Some(Dataset {
            address: Address::repeat_byte(0x11),
            filename: "data".into(),
        });
        let env = req.environment();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("IEXEC_TASK_ID"),
            Some(format!("0x{}", "ab".repeat(32)).as_str())
        );
        assert_eq!(get("IEXEC_DEAL_ID"), None);
        assert_eq!(get("IEXEC_IN"), Some("/iexec_in"));
        assert_eq!(get("IEXEC_OUT"), Some("/iexec_out"));
        assert_eq!(get("IEXEC_BOT_SIZE"), Some("4"));
        assert_eq!(get("IEXEC_BOT_FIRST_INDEX"), Some("2"));
        assert_eq!(get("IEXEC_BOT_TASK_INDEX"), Some("3"));
        assert_eq!(get("IEXEC_TASK_INDEX"), Some("3"));
        assert_eq!(get("IEXEC_DATASET_FILENAME"), Some("data"));
        assert_eq!(
            get("IEXEC_DATASET_ADDRESS"),
            Some("0x1111111111111111111111111111111111111111")
        );
        assert_eq!(get("IEXEC_INPUT_FILES_NUMBER"), Some("2"));
        assert_eq!(get("IEXEC_INPUT_FILE_NAME_1"), Some("a.txt"));
        assert_eq!(get("IEXEC_INPUT_FILE_NAME_2"), Some("b.bin"));
        assert_eq!(get("IEXEC_INPUT_FILE_NAME_3"), None);
        assert_eq!(get("IEXEC_APP_DEVELOPER_SECRET"), None);
        req.secrets.app_developer = Some("dev-secret".into());
        req.secrets.requester.insert(2, "req-secret".into());
        let env = req.environment();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("IEXEC_APP_DEVELOPER_SECRET"), Some("dev-secret"));
        assert_eq!(get("IEXEC_REQUESTER_SECRET_2"), Some("req-secret"));
        assert_eq!(get("IEXEC_REQUESTER_SECRET_1"), None);
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("dev-secret") && !shown.contains("req-secret"),
            "{shown}"
        );
    }

    #[test]
    fn validate_checks_inputs_and_bot() {
        let dir = tempfile::tempdir().unwrap();
        let ws = TaskWorkspace::create(dir.path()).unwrap();
        fs::write(ws.input_dir().join("in.txt"), b"x").unwrap();
        let mut req =
            ExecutionRequest::new(B256::ZERO, AppSource::Bytes(Vec::new()), B256::ZERO, ws);
        req.input_files = vec!["in.txt".into()];
        req.validate().unwrap();

        req.input_files = vec!["missing.txt".into()];
        assert!(matches!(req.validate(), Err(Error::InvalidRequest { .. })));
        req.input_files = vec!["../etc/passwd".into()];
        assert!(matches!(req.validate(), Err(Error::InvalidRequest { .. })));
        req.input_files.clear();
        req.bot = BagOfTasks {
            size: 2,
            first_index: 5,
            task_index: 7,
        };
        assert!(matches!(req.validate(), Err(Error::InvalidRequest { .. })));
    }

    #[test]
    fn workspace_refuses_a_dirty_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let ws = TaskWorkspace::create(dir.path()).unwrap();
        fs::write(ws.output_dir().join("stale"), b"x").unwrap();
        assert!(matches!(
            TaskWorkspace::create(dir.path()),
            Err(Error::InvalidRequest { .. })
        ));
    }
}
