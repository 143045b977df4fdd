#![doc = include_str!("../README.md")]

mod fetch;
mod secrets;
mod tee;

pub use secrets::{forget_secret_env, SECRET_ENV};
pub use tee::{check_scratch, is_memory_backed, tags_of, TeeReport, TEE_JSON};

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use poco_chain::{
    bindings::hub::IPoco, classify_chain_error, ClientConfig, ContributionStatus, PocoClient,
    WorkerResult,
};
use poco_runtime::{
    AppSource, BagOfTasks, Dataset, ExecutionRequest, Executor, Limits, TaskWorkspace,
};
use poco_scheduler_api::{
    AppLogs, Assignment, Fault, Mode, Registration, ReplicateState, Report, SchedulerClient,
    Standing,
};
use poco_types::{DealParams, ResultLink, TaskStatus, WorkerAuthorization};
use tracing::{info, warn};

/// Errors that stop the worker (a task's failure is reported, not returned).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] poco_chain::Error),
    /// The scheduler failed or refused.
    #[error(transparent)]
    Scheduler(#[from] poco_scheduler_api::Error),
    /// The HTTP client cannot be built (TLS roots).
    #[error("cannot build the worker's HTTP client: {0}")]
    Http(String),
    /// TEE mode cannot start (no attestation, a scratch on disk).
    #[error("TEE mode: {0}")]
    Tee(String),
    /// The work folder is unusable.
    #[error("work folder {path}: {reason}")]
    WorkDir {
        /// The work folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The worker's configuration.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The scheduler's base URL.
    pub scheduler_url: String,
    /// JSON-RPC URL of the chain.
    pub rpc_url: String,
    /// The hub.
    pub hub: Address,
    /// Where tasks, apps and datasets are kept.
    pub work_dir: PathBuf,
    /// Tasks run at once.
    pub slots: usize,
    /// What runs the apps.
    pub executor: Arc<dyn Executor>,
    /// Seconds between heartbeats.
    pub heartbeat: Duration,
    /// Longest wait of one request for work.
    pub poll_wait: Duration,
    /// Largest app, dataset or input file downloaded.
    pub max_download_bytes: u64,
    /// Longest time the fetches of one task may take together (also bounded by the time left
    /// until the task's deadline).
    pub max_fetch_time: Duration,
    /// Development only (devnet apps live in `file://` URLs): let apps, datasets and input
    /// files be read from local regular files (never /proc, /sys or /dev) and downloaded from
    /// loopback and private addresses (never link-local or cloud metadata ones). A worker of a
    /// public pool never sets it: requesters name those URLs.
    pub allow_local_fetch: bool,
    /// The largest worker stake (nRLC) this worker locks for a replicated task; tasks asking
    /// for more are declined before anything is fetched. `None`: [`DEFAULT_STAKE_MULTIPLE`]
    /// times the task's worker reward, so a pool cannot raise its stake ratio to make honest
    /// workers risk far more than they earn.
    pub max_stake: Option<U256>,
    /// TEE mode: the attestation provider of the enclave this worker runs in (`None`: a
    /// standard worker, which refuses TEE tasks). With the development provider nothing is
    /// confidential.
    pub tee: Option<Arc<dyn poco_attest::Provider>>,
}

/// Without [`WorkerConfig::max_stake`], the worker locks at most this many times the task's
/// worker reward (the pool's price minus the scheduler's share).
pub const DEFAULT_STAKE_MULTIPLE: u64 = 3;

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("scheduler_url", &self.scheduler_url)
            .field("work_dir", &self.work_dir)
            .field("slots", &self.slots)
            .field("executor", &self.executor.name())
            .field("allow_local_fetch", &self.allow_local_fetch)
            .field("tee", &self.tee)
            .finish()
    }
}

impl WorkerConfig {
    /// A configuration with one slot per core, 5 s heartbeats, 20 s polls, 256 MiB downloads
    /// fetched in at most 10 minutes per task, public addresses only.
    pub fn new(
        scheduler_url: impl Into<String>,
        rpc_url: impl Into<String>,
        hub: Address,
        work_dir: impl Into<PathBuf>,
        executor: Arc<dyn Executor>,
    ) -> Self {
        Self {
            scheduler_url: scheduler_url.into(),
            rpc_url: rpc_url.into(),
            hub,
            work_dir: work_dir.into(),
            slots: std::thread::available_parallelism().map_or(1, |n| n.get()),
            executor,
            heartbeat: Duration::from_secs(5),
            poll_wait: Duration::from_secs(20),
            max_download_bytes: 256 * 1024 * 1024,
            max_fetch_time: Duration::from_secs(600),
            allow_local_fetch: false,
            max_stake: None,
            tee: None,
        }
    }
}

struct Worker {
    config: WorkerConfig,
    signer: PrivateKeySigner,
    chain: PocoClient,
    scheduler: SchedulerClient,
    /// The client of every fetch (see [`fetch::http_client`]).
    http: reqwest::Client,
    fetch_policy: fetch::Policy,
}

/// Runs the worker until it is aborted or cannot go on (scheduler or chain gone for good).
pub async fn run(config: WorkerConfig, signer: PrivateKeySigner) -> Result<()> {
    std::fs::create_dir_all(config.work_dir.join("tasks")).map_err(|e| Error::WorkDir {
        path: config.work_dir.clone(),
        reason: e.to_string(),
    })?;
    let chain = PocoClient::connect(
        ClientConfig::new(config.rpc_url.clone(), config.hub),
        Some(signer.clone()),
    )
    .await?;
    let tags = match &config.tee {
        None => poco_types::Tag::NONE,
        Some(provider) => {
            let platform = provider.platform().map_err(|e| Error::Tee(e.to_string()))?;
            let confidential = platform != poco_attest::Platform::Dev;
            if let Some(warning) =
                check_scratch(&config.work_dir.join("tasks"), confidential).map_err(Error::Tee)?
            {
                warn!("{warning}");
            }
            if !confidential {
                warn!("{DEV_TEE_WARNING}");
            }
            info!(%platform, "TEE mode");
            tags_of(platform)
        }
    };
    let scheduler = SchedulerClient::new(&config.scheduler_url)?;
    sign_in(&scheduler, &signer).await;
    scheduler
        .register(&Registration {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as u32,
            memory_bytes: 0,
            tags: tags.0,
            slots: config.slots as u32,
        })
        .await?;
    let (free, _) = chain.account(signer.address()).await?;
    // Its score and weight in the hub's consensus rule, and where it stands in the pool (older
    // schedulers do not say): whether the pool trusts it with unreplicated tasks.
    let score = chain.score(signer.address()).await?;
    let standing = scheduler.standing().await;
    info!(
        worker = %signer.address(),
        slots = config.slots,
        free_rlc = %poco_types::format_rlc(free),
        score,
        weight = Standing::weight_of(score),
        trusted = standing.as_ref().is_some_and(|s| s.trusted),
        admission = %standing.as_ref().map_or("unknown", |s| s.admission.as_str()),
        "worker signed in"
    );
    let fetch_policy = fetch::Policy {
        allow_local: config.allow_local_fetch,
        exempt: Vec::new(),
    };
    if config.allow_local_fetch {
        warn!("development worker: apps and input files may be local files and local addresses");
    }
    let worker = Arc::new(Worker {
        http: fetch::http_client(&fetch_policy).map_err(|e| Error::Http(e.to_string()))?,
        fetch_policy,
        config,
        signer,
        chain,
        scheduler,
    });

    // Every task of the worker lives in this set: dropping `run` (the worker killed) stops
    // them all.
    let mut tasks = tokio::task::JoinSet::new();
    // Finish what was in flight before a restart.
    for taskid in worker.scheduler.replicates().await? {
        let saved = worker.task_dir(taskid).join("assignment.json");
        match std::fs::read(&saved)
            .ok()
            .and_then(|b| serde_json::from_slice::<Assignment>(&b).ok())
        {
            Some(assignment) => {
                info!(%taskid, "resuming a task from before the restart");
                let w = worker.clone();
                tasks.spawn(async move {
                    w.handle(assignment).await;
                    Ok(())
                });
            }
            None => {
                let report = failure(format!("the worker lost task {taskid} in a restart"), false);
                worker.scheduler.report(taskid, &report).await?;
            }
        }
    }

    {
        let w = worker.clone();
        tasks.spawn(async move {
            loop {
                tokio::time::sleep(w.config.heartbeat).await;
                // A refused session is renewed by the client itself.
                if let Err(e) = w.scheduler.heartbeat().await {
                    warn!("heartbeat: {e}");
                }
            }
            #[allow(unreachable_code)]
            Ok(())
        });
    }
    {
        // Reveals the worker's contributions that the scheduler leaves unrevealed.
        let w = worker.clone();
        tasks.spawn(async move {
            loop {
                w.reveal_pending().await;
                tokio::time::sleep(w.config.heartbeat).await;
            }
            #[allow(unreachable_code)]
            Ok(())
        });
    }
    for _ in 0..worker.config.slots {
        let w = worker.clone();
        tasks.spawn(async move { w.slot().await });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => result?,
            Err(e) if e.is_cancelled() => {}
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    Ok(())
}

/// Signs in, retrying with a growing delay until it works: a failed sign-in is never fatal (a
/// stranger may overwrite or delete this worker's challenge, the scheduler may be restarting).
/// The client keeps the signer and signs in again by itself when a later call is refused with
/// `401`.
async fn sign_in(scheduler: &SchedulerClient, signer: &PrivateKeySigner) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match scheduler.login(signer).await {
            Ok(()) => return,
            Err(e) => {
                warn!("cannot sign in to the scheduler: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn failure(error: String, app_fault: bool) -> Report {
    Failed::from((error, app_fault)).report()
}

/// What a worker with the development TEE provider says at start and on every TEE task.
pub const DEV_TEE_WARNING: &str = "development TEE provider: no enclave, no attestation \
    hardware; nothing of a TEE task is confidential (datasets and secrets are in the clear in \
    this worker's memory, and its operator can read them); for a devnet only";

/// Why the deal's callback cannot be fed: the chain refuses the settlement of such a task.
pub const NO_CALLBACK_DATA: &str = "the app wrote no callback data but the deal has a callback: \
    the app must write \"callback-data\" in /iexec_out/computed.json, or the request must name \
    no callback contract";

/// Why a replica was dropped on the scheduler's word.
const STOPPED: &str = "stopped: the scheduler no longer needs this replica (the task reached \
    consensus, or the other replicas reach its trust); nothing was contributed";

/// A replicate that failed: the reason sent to the scheduler, whose fault it is, and what the
/// app printed if it ran.
#[derive(Debug)]
struct Failed {
    error: String,
    fault: Fault,
    logs: Option<AppLogs>,
}

impl From<(String, bool)> for Failed {
    fn from((error, app_fault): (String, bool)) -> Self {
        Self {
            error,
            fault: if app_fault { Fault::App } else { Fault::Worker },
            logs: None,
        }
    }
}

impl From<(String, Fault)> for Failed {
    fn from((error, fault): (String, Fault)) -> Self {
        Self {
            error,
            fault,
            logs: None,
        }
    }
}

impl Failed {
    fn report(self) -> Report {
        Report {
            state: ReplicateState::Failed,
            result_digest: None,
            location: None,
            callback_data: None,
            tx: None,
            error: Some(self.error),
            app_fault: self.fault == Fault::App,
            fault: Some(self.fault),
            logs: self.logs,
        }
    }

    fn with_logs(mut self, logs: &Option<AppLogs>) -> Self {
        self.logs = logs.clone();
        self
    }
}

/// The app's output as reported to the scheduler: lossy UTF-8, the tail of each stream
/// (at most `MAX_LOG_BYTES`), and no path of the worker's machine.
fn app_logs(logs: &poco_runtime::Logs, work_dir: &Path) -> AppLogs {
    let scrub = |text: std::borrow::Cow<'_, str>| {
        let dir = work_dir.display().to_string();
        if dir.len() > 1 && text.contains(&dir) {
            text.replace(&dir, "<worker>")
        } else {
            text.into_owned()
        }
    };
    AppLogs {
        stdout: scrub(logs.stdout_lossy()),
        stderr: scrub(logs.stderr_lossy()),
        stdout_truncated: logs.stdout_dropped > 0,
        stderr_truncated: logs.stderr_dropped > 0,
    }
    .bounded()
}

/// What the scheduler is told of a settlement the chain refused, and whose fault it is
/// ([`classify_chain_error`]): decoded reverts as they are (public facts of the chain);
/// nothing of the worker's RPC endpoint (its URL may hold a key), which goes to its log.
fn settle_failure(taskid: B256, what: &str, e: &poco_chain::Error) -> Failed {
    let fault = classify_chain_error(e);
    let error = match e {
        poco_chain::Error::Revert { .. } | poco_chain::Error::Reverted { .. } => {
            let text = e.to_string();
            match fault {
                Fault::Deal => format!("{text}; no worker can settle this task"),
                _ => text,
            }
        }
        _ => {
            warn!(%taskid, "{what}: {e}");
            match fault {
                Fault::Transient => format!(
                    "the worker could not send {what}: its chain endpoint failed (a passing \
                     problem; see its log)"
                ),
                _ => format!(
                    "the worker could not send {what} (a problem of this worker; see its log)"
                ),
            }
        }
    };
    Failed {
        error,
        fault,
        logs: None,
    }
}

impl Worker {
    /// Declines a replicated task whose worker stake is above the ceiling
    /// ([`WorkerConfig::max_stake`]); a task's failure, not the app's.
    async fn check_stake(&self, a: &Assignment) -> std::result::Result<(), Failed> {
        let deal = self.chain.deal(a.dealid).await.map_err(|e| {
            warn!(taskid = %a.taskid, "cannot read the deal: {e}");
            Failed {
                error: "the worker cannot read the deal on chain (a problem of its chain \
                        endpoint; see its log)"
                    .into(),
                fault: classify_chain_error(&e),
                logs: None,
            }
        })?;
        let ceiling = self.config.max_stake.unwrap_or_else(|| {
            let share = U256::from(100u64).saturating_sub(deal.schedulerRewardRatio);
            deal.workerpool.price.saturating_mul(share) / U256::from(100u64)
                * U256::from(DEFAULT_STAKE_MULTIPLE)
        });
        if deal.workerStake > ceiling {
            return Err(Failed::from((
                format!(
                    "the worker declines the task: its worker stake of {} RLC is above the {} RLC \
                     this worker locks (--max-stake)",
                    poco_types::format_rlc(deal.workerStake),
                    poco_types::format_rlc(ceiling)
                ),
                false,
            )));
        }
        Ok(())
    }

    fn reveals_dir(&self) -> PathBuf {
        self.config.work_dir.join("reveals")
    }

    /// Reveals this worker's contributions that are still unrevealed at half the reveal window
    /// (the scheduler did not `revealAndFinalize`), so a scheduler cannot `reopen` the task
    /// and take the stakes of honest workers. Pending reveals are files in the work folder,
    /// kept across restarts; each is dropped once nothing is left to do.
    async fn reveal_pending(&self) {
        let Ok(entries) = std::fs::read_dir(self.reveals_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(pending) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<PendingReveal>(&b).ok())
            else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            match self.reveal_one(&pending).await {
                Ok(true) => {
                    let _ = std::fs::remove_file(&path);
                }
                Ok(false) => {}
                Err(e) => warn!(taskid = %pending.taskid, "revealing: {e}"),
            }
        }
    }

    /// One pending reveal: `true` when it is done with (revealed, or nothing to reveal).
    async fn reveal_one(&self, p: &PendingReveal) -> Result<bool> {
        let task = self.chain.task(p.taskid).await?;
        let status = TaskStatus::try_from(task.status);
        let now = U256::from(self.chain.now().await?);
        if status.is_ok_and(TaskStatus::is_final)
            || (!task.finalDeadline.is_zero() && now >= task.finalDeadline)
        {
            return Ok(true);
        }
        let mine = self
            .chain
            .contribution(p.taskid, self.signer.address())
            .await?;
        if status != Ok(TaskStatus::Revealing) {
            // Not contributed yet (the transaction may be on its way) or reopened.
            return Ok(matches!(
                mine.status,
                ContributionStatus::Proved | ContributionStatus::Rejected
            ));
        }
        if mine.status != ContributionStatus::Contributed || mine.result_hash != task.consensusValue
        {
            // Revealed or rejected already, or not in the consensus: nothing to reveal.
            return Ok(mine.status != ContributionStatus::Unset);
        }
        // The window is REVEAL_DEADLINE_RATIO (2) × timeref long: its half is one timeref.
        let half = task.revealDeadline.saturating_sub(task.timeref);
        if now < half || now >= task.revealDeadline {
            return Ok(false);
        }
        info!(taskid = %p.taskid, "the scheduler has not revealed at half the reveal window: revealing");
        self.chain.reveal(p.taskid, p.digest).await?;
        Ok(true)
    }

    fn task_dir(&self, taskid: B256) -> PathBuf {
        self.config
            .work_dir
            .join("tasks")
            .join(format!("{taskid:x}"))
    }

    async fn slot(&self) -> Result<()> {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.scheduler.next_work(self.config.poll_wait).await {
                Ok(Some(assignment)) => {
                    backoff = Duration::from_millis(200);
                    self.handle(assignment).await;
                }
                Ok(None) => {}
                Err(e) => {
                    warn!("asking for work: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Runs one replicate to the end and reports it.
    async fn handle(&self, a: Assignment) {
        let taskid = a.taskid;
        let dir = self.task_dir(taskid);
        let report = match self.process(&a, &dir).await {
            Ok(report) => report,
            Err(failed) => {
                warn!(%taskid, fault = failed.fault.as_str(), "task failed: {}", failed.error);
                failed.report()
            }
        };
        // The scheduler needs the report (a restart, a network cut): retry until the task's
        // deadline.
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.scheduler.report(taskid, &report).await {
                Ok(()) => break,
                // The client signed in again and failed: try again after the backoff.
                Err(e) if e.is_unauthorized() => warn!(%taskid, "cannot sign in to report: {e}"),
                Err(e @ poco_scheduler_api::Error::Refused { .. }) => {
                    warn!(%taskid, "the scheduler refused the report: {e}");
                    break;
                }
                Err(e) => warn!(%taskid, "cannot report yet: {e}"),
            }
            if unix_now() > a.deadline {
                warn!(%taskid, "giving up reporting: the task's deadline passed");
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    async fn process(&self, a: &Assignment, dir: &Path) -> std::result::Result<Report, Failed> {
        let infra = |e: String| Failed::from((e, false));
        // A local failure: the detail (paths, OS errors) stays in the worker's log.
        let local = |what: &str, e: &dyn std::fmt::Display| {
            warn!(taskid = %a.taskid, "cannot {what}: {e}");
            Failed::from((
                format!("the worker cannot {what} (a problem of this worker; see its log)"),
                false,
            ))
        };
        let tee_task = tee::check_assignment(a, self.config.tee.as_ref()).map_err(Failed::from)?;
        std::fs::create_dir_all(dir).map_err(|e| local("create the task's folder", &e))?;
        std::fs::write(
            dir.join("assignment.json"),
            serde_json::to_vec(a).unwrap_or_default(),
        )
        .map_err(|e| local("keep the assignment", &e))?;
        if let Some(report) = self.already_settled(a).await {
            return Ok(report);
        }
        if !matches!(a.mode, Mode::Fast) {
            // Before anything is fetched.
            self.check_stake(a).await?;
        }
        let root = dir.join("run");
        let _ = std::fs::remove_dir_all(&root);
        let workspace =
            TaskWorkspace::create(&root).map_err(|e| local("create the task's workspace", &e))?;

        let params = DealParams::parse(&a.params).map_err(|e| Failed {
            error: format!("the deal's params are invalid: {e}"),
            fault: Fault::Deal,
            logs: None,
        })?;
        let session = match (&self.config.tee, tee_task) {
            (Some(provider), true) => {
                let session = tee::open_session(provider.clone(), a, self.signer.address())
                    .await
                    .map_err(Failed::from)?;
                if !session.report.confidential {
                    warn!(taskid = %a.taskid, "{DEV_TEE_WARNING}");
                }
                if params.result_encryption() && session.result_key.is_none() {
                    return Err(Failed {
                        error: "the deal asks for result encryption but the SMS holds no result \
                                key of its beneficiary: the beneficiary must push one (`poco \
                                result push-encryption-key`)"
                            .into(),
                        fault: Fault::Deal,
                        logs: None,
                    });
                }
                info!(taskid = %a.taskid, platform = %session.report.platform, "TEE session opened");
                Some(session)
            }
            _ => None,
        };
        let time_left = Duration::from_secs(a.deadline.saturating_sub(unix_now()));
        let fetcher = fetch::Fetcher::new(
            &self.http,
            self.config.max_download_bytes,
            &self.fetch_policy,
            time_left.min(self.config.max_fetch_time),
        );
        let app = fetcher
            .app(
                &self.config.work_dir.join("apps"),
                &a.app.multiaddr,
                a.app.checksum,
            )
            .await?;
        let dataset = match &a.dataset {
            Some(d) => {
                let key = session.as_ref().and_then(|s| s.dataset_key.as_ref());
                let name = fetcher
                    .dataset(
                        &workspace.input_dir(),
                        &d.multiaddr,
                        d.checksum,
                        d.address,
                        key,
                    )
                    .await?;
                Some(Dataset {
                    address: d.address,
                    filename: name,
                })
            }
            None => None,
        };
        let mut input_files = Vec::new();
        for url in params.input_files() {
            input_files.push(fetcher.input_file(&workspace.input_dir(), url).await?);
        }
        let mut request =
            ExecutionRequest::new(a.taskid, AppSource::Path(app), a.app.checksum, workspace);
        request.deal_id = Some(a.dealid);
        request.args = params.args().to_string();
        request.dataset = dataset;
        request.input_files = input_files;
        request.bot = BagOfTasks {
            size: a.bot_size,
            first_index: a.bot_first,
            task_index: a.idx,
        };
        request.limits = Limits::for_category(a.max_execution_time.max(1));
        request.clock_start = Some(UNIX_EPOCH + Duration::from_secs(a.start_time));
        if let Some(session) = &session {
            request.secrets = session.secrets.clone();
        }
        let output = self
            .config
            .executor
            .execute(request)
            .await
            .map_err(|e| Failed {
                error: public_error(a.taskid, &e),
                fault: if e.is_app_fault() {
                    Fault::App
                } else {
                    Fault::Worker
                },
                logs: e.logs().map(|l| app_logs(l, &self.config.work_dir)),
            })?;
        let logs = Some(app_logs(&output.logs, &self.config.work_dir));
        let result = output.result;
        if a.callback != Address::ZERO && result.callback_data.as_ref().is_none_or(|c| c.is_empty())
        {
            // The chain refuses the settlement of such a task, for any worker.
            return Err(Failed {
                error: NO_CALLBACK_DATA.into(),
                fault: Fault::Deal,
                logs,
            });
        }

        if matches!(a.mode, Mode::Contribute) {
            // The scheduler may no longer need this replica (the task reached consensus, or
            // the other replicas asked reach its trust without it): dropped before anything is
            // uploaded or contributed, no gas spent on a refused or useless contribution.
            match self.scheduler.heartbeat().await {
                Ok(stop) if stop.contains(&a.taskid) => {
                    info!(taskid = %a.taskid, "the scheduler no longer needs this replica: dropped");
                    return Err(Failed {
                        error: STOPPED.into(),
                        fault: Fault::Transient,
                        logs,
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(taskid = %a.taskid, "cannot ask whether to go on: {e}; contributing")
                }
            }
        }
        let mut archive = std::fs::read(&result.archive)
            .map_err(|e| local("read the result archive", &e).with_logs(&logs))?;
        let mut digest = result.digest;
        if let Some(session) = &session {
            archive = tee::seal_result(archive, &session.report, session.result_key.as_deref())
                .map_err(|e| local("seal the result", &e).with_logs(&logs))?;
            if result.callback_data.is_none() {
                // What the requester downloads is what the chain certifies.
                digest = tee::uploaded_digest(&archive);
            }
        }
        let authorization = WorkerAuthorization {
            worker: self.signer.address(),
            task_id: a.taskid,
            enclave_challenge: a.enclave_challenge,
            sign: a.authorization.clone(),
        };
        let store = poco_store::StoreClient::new(&a.store_url).map_err(|e| infra(e.to_string()))?;
        // The store may be briefly away (a restart): retry until the task's deadline.
        let mut backoff = Duration::from_millis(200);
        let receipt = loop {
            let upload = if session.is_some() {
                store
                    .upload_tee(a.taskid, archive.clone(), &authorization, &self.signer)
                    .await
            } else {
                store
                    .upload(a.taskid, archive.clone(), &authorization, &self.signer)
                    .await
            };
            match upload {
                Ok(receipt) => break receipt,
                Err(e) if e.is_retryable() && unix_now() < a.deadline => {
                    warn!(taskid = %a.taskid, "cannot upload the result yet: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    return Err(infra(format!("cannot upload the result: {e}")).with_logs(&logs))
                }
            }
        };
        let link = ResultLink::new(receipt.storage.clone(), receipt.location.clone());
        let callback: Bytes = result.callback_data.clone().unwrap_or_default().into();
        // What a restart needs to report this replicate once it is settled.
        let settled = Settled {
            digest,
            location: link.location.clone(),
            callback: callback.clone(),
        };
        std::fs::write(
            dir.join(SETTLED),
            serde_json::to_vec(&settled).unwrap_or_default(),
        )
        .map_err(|e| local("keep the result digest", &e).with_logs(&logs))?;

        let pushed = WorkerResult {
            digest,
            results: link.to_bytes(),
            callback: callback.clone(),
        };
        // A TEE task: the enclave challenge's key signs the result (the hub checks it).
        let enclave = match &session {
            None => None,
            Some(session) => {
                let me = self.signer.address();
                let sign = match a.mode {
                    Mode::Fast => {
                        poco_types::sign_enclave_fast(&session.enclave, me, a.taskid, digest)
                    }
                    _ => {
                        let c = poco_types::Contribution::new(me, a.taskid, digest);
                        poco_types::sign_enclave(&session.enclave, c.result_hash, c.result_seal)
                    }
                }
                .map_err(|e| local("sign the result with the enclave key", &e).with_logs(&logs))?;
                Some(poco_chain::Enclave {
                    challenge: a.enclave_challenge,
                    sign,
                })
            }
        };
        let (tx, state, what) = match a.mode {
            Mode::Fast => {
                let deal = a
                    .fast_deal
                    .as_ref()
                    .and_then(|b| IPoco::FastDeal::abi_decode(b).ok())
                    .ok_or_else(|| {
                        infra("the assignment has no fast deal".into()).with_logs(&logs)
                    })?;
                (
                    self.chain
                        .push_result_fast(
                            deal,
                            a.dealid,
                            U256::from(a.idx),
                            &pushed,
                            a.authorization.clone(),
                            enclave.as_ref(),
                        )
                        .await,
                    ReplicateState::Done,
                    "pushResultFast",
                )
            }
            Mode::ContributeAndFinalize => (
                self.chain
                    .contribute_and_finalize(
                        a.taskid,
                        &pushed,
                        a.authorization.clone(),
                        enclave.as_ref(),
                    )
                    .await,
                ReplicateState::Done,
                "contributeAndFinalize",
            ),
            Mode::Contribute => {
                // Kept before contributing, so that even a restarted worker reveals it.
                let pending = PendingReveal {
                    taskid: a.taskid,
                    digest,
                };
                let reveals = self.reveals_dir();
                std::fs::create_dir_all(&reveals)
                    .and_then(|()| {
                        std::fs::write(
                            reveals.join(format!("{:x}.json", a.taskid)),
                            serde_json::to_vec(&pending).unwrap_or_default(),
                        )
                    })
                    .map_err(|e| local("keep the result digest", &e).with_logs(&logs))?;
                (
                    self.chain
                        .contribute(a.taskid, digest, a.authorization.clone(), enclave.as_ref())
                        .await,
                    ReplicateState::Contributed,
                    "contribute",
                )
            }
        };
        let receipt = tx.map_err(|e| settle_failure(a.taskid, what, &e).with_logs(&logs))?;
        info!(taskid = %a.taskid, ?state, "task settled by this worker");
        Ok(Report {
            state,
            result_digest: Some(digest),
            location: Some(settled.location),
            callback_data: (!settled.callback.is_empty()).then_some(settled.callback),
            tx: Some(receipt.transaction_hash),
            error: None,
            app_fault: false,
            fault: None,
            logs,
        })
    }

    /// After a restart: what this worker already did on chain for the task, if anything.
    async fn already_settled(&self, a: &Assignment) -> Option<Report> {
        let me = self.signer.address();
        let done = match a.mode {
            Mode::Fast => {
                let deal = a
                    .fast_deal
                    .as_ref()
                    .and_then(|b| IPoco::FastDeal::abi_decode(b).ok())?;
                let status = self
                    .chain
                    .fast_task_state(deal, a.dealid, U256::from(a.idx))
                    .await
                    .ok()?;
                (status == TaskStatus::Completed).then_some(ReplicateState::Done)
            }
            _ => {
                let c = self.chain.contribution(a.taskid, me).await.ok()?;
                let task = self.chain.task(a.taskid).await.ok()?;
                match (c.status, a.mode) {
                    (ContributionStatus::Unset, _) => None,
                    (_, Mode::ContributeAndFinalize)
                        if TaskStatus::try_from(task.status) == Ok(TaskStatus::Completed) =>
                    {
                        Some(ReplicateState::Done)
                    }
                    _ => Some(ReplicateState::Contributed),
                }
            }
        }?;
        let settled: Settled = std::fs::read(self.task_dir(a.taskid).join(SETTLED))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())?;
        Some(Report {
            state: done,
            result_digest: Some(settled.digest),
            location: Some(settled.location),
            callback_data: (!settled.callback.is_empty()).then_some(settled.callback),
            tx: None,
            error: None,
            app_fault: false,
            fault: None,
            logs: None,
        })
    }
}

/// What the scheduler (and anyone reading it) is told of an execution's failure: the app's own
/// failures as they are; nothing of the worker's files, hashes or OS errors, which go to the
/// worker's log.
fn public_error(taskid: B256, e: &poco_runtime::Error) -> String {
    use poco_runtime::Error as E;
    match e {
        E::ChecksumMismatch { .. } => {
            warn!(%taskid, "{e}");
            "the app's bytes do not match its on-chain checksum; refusing to run it".into()
        }
        e if e.is_app_fault() => e.to_string(),
        e => {
            warn!(%taskid, "the execution failed: {e}");
            "the worker could not run the task (a problem of this worker; see its log)".into()
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The file recording a result about to be settled on chain.
const SETTLED: &str = "settled.json";

/// A contribution this worker may have to reveal itself.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingReveal {
    taskid: B256,
    digest: B256,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Settled {
    digest: B256,
    location: String,
    callback: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_logs_hide_the_worker_s_paths_and_stay_bounded() {
        let work = Path::new("/srv/poco/worker-7");
        let logs = poco_runtime::Logs {
            stdout: b"wrote /srv/poco/worker-7/tasks/ab/run/out\n".to_vec(),
            stderr: vec![b'x'; 3 * poco_scheduler_api::MAX_LOG_BYTES],
            stdout_dropped: 0,
            stderr_dropped: 10,
        };
        let out = app_logs(&logs, work);
        assert_eq!(out.stdout, "wrote <worker>/tasks/ab/run/out\n");
        assert!(!out.stdout_truncated);
        assert_eq!(out.stderr.len(), poco_scheduler_api::MAX_LOG_BYTES);
        assert!(out.stderr_truncated);
    }
}
