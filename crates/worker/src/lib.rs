#![doc = include_str!("../README.md")]

mod fetch;

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
use poco_chain::{bindings::hub::IPoco, ClientConfig, PocoClient};
use poco_runtime::{
    AppSource, BagOfTasks, Dataset, ExecutionRequest, Executor, Limits, TaskWorkspace,
};
use poco_scheduler::{
    api::{Assignment, Mode, Registration, ReplicateState, Report},
    SchedulerClient,
};
use poco_types::{result_hash, result_seal, DealParams, ResultLink, WorkerAuthorization};
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
    Scheduler(#[from] poco_scheduler::Error),
    /// The work folder is unusable.
    #[error("work folder {path}: {reason}")]
    WorkDir { path: PathBuf, reason: String },
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
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("scheduler_url", &self.scheduler_url)
            .field("work_dir", &self.work_dir)
            .field("slots", &self.slots)
            .field("executor", &self.executor.name())
            .finish()
    }
}

impl WorkerConfig {
    /// A configuration with one slot per core, 5 s heartbeats, 20 s polls and 256 MiB
    /// downloads.
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
        }
    }
}

struct Worker {
    config: WorkerConfig,
    signer: PrivateKeySigner,
    chain: PocoClient,
    scheduler: SchedulerClient,
    http: reqwest::Client,
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
    let scheduler = SchedulerClient::new(&config.scheduler_url)?;
    scheduler.login(&signer).await?;
    scheduler
        .register(&Registration {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as u32,
            memory_bytes: 0,
            tags: B256::ZERO,
            slots: config.slots as u32,
        })
        .await?;
    let (free, _) = chain.account(signer.address()).await?;
    info!(worker = %signer.address(), slots = config.slots, free_rlc = %poco_types::format_rlc(free), "worker signed in");
    let worker = Arc::new(Worker {
        http: reqwest::Client::new(),
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
                if let Err(e) = w.scheduler.heartbeat().await {
                    warn!("heartbeat: {e}");
                    if matches!(e, poco_scheduler::Error::Refused { status: 401, .. }) {
                        let _ = w.scheduler.login(&w.signer).await;
                    }
                }
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

fn failure(error: String, app_fault: bool) -> Report {
    Report {
        state: ReplicateState::Failed,
        result_digest: None,
        location: None,
        callback_data: None,
        tx: None,
        error: Some(error),
        app_fault,
    }
}

impl Worker {
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
                Err(poco_scheduler::Error::Refused { status: 401, .. }) => {
                    self.scheduler.login(&self.signer).await?;
                }
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
            Err((error, app_fault)) => {
                warn!(%taskid, app_fault, "task failed: {error}");
                failure(error, app_fault)
            }
        };
        // The scheduler needs the report (a restart, a network cut): retry until the task's
        // deadline.
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.scheduler.report(taskid, &report).await {
                Ok(()) => break,
                Err(poco_scheduler::Error::Refused { status: 401, .. }) => {
                    let _ = self.scheduler.login(&self.signer).await;
                }
                Err(e @ poco_scheduler::Error::Refused { .. }) => {
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

    async fn process(
        &self,
        a: &Assignment,
        dir: &Path,
    ) -> std::result::Result<Report, (String, bool)> {
        let infra = |e: String| (e, false);
        std::fs::create_dir_all(dir).map_err(|e| infra(e.to_string()))?;
        std::fs::write(
            dir.join("assignment.json"),
            serde_json::to_vec(a).unwrap_or_default(),
        )
        .map_err(|e| infra(e.to_string()))?;
        if let Some(report) = self.already_settled(a).await {
            return Ok(report);
        }
        let root = dir.join("run");
        let _ = std::fs::remove_dir_all(&root);
        let workspace = TaskWorkspace::create(&root).map_err(|e| infra(e.to_string()))?;

        let params = DealParams::parse(&a.params)
            .map_err(|e| (format!("the deal's params are invalid: {e}"), true))?;
        let fetcher = fetch::Fetcher::new(&self.http, self.config.max_download_bytes);
        let app = fetcher
            .app(
                &self.config.work_dir.join("apps"),
                &a.app.multiaddr,
                a.app.checksum,
            )
            .await?;
        let dataset = match &a.dataset {
            Some(d) => {
                let name = fetcher
                    .dataset(&workspace.input_dir(), &d.multiaddr, d.checksum, d.address)
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
        let output = self
            .config
            .executor
            .execute(request)
            .await
            .map_err(|e| (e.to_string(), e.is_app_fault()))?;
        let result = output.result;

        let archive = std::fs::read(&result.archive)
            .map_err(|e| infra(format!("cannot read the result archive: {e}")))?;
        let authorization = WorkerAuthorization {
            worker: self.signer.address(),
            task_id: a.taskid,
            enclave_challenge: Address::ZERO,
            sign: a.authorization.clone(),
        };
        let store = poco_store::StoreClient::new(&a.store_url).map_err(|e| infra(e.to_string()))?;
        // The store may be briefly away (a restart): retry until the task's deadline.
        let mut backoff = Duration::from_millis(200);
        let receipt = loop {
            match store
                .upload(a.taskid, archive.clone(), &authorization, &self.signer)
                .await
            {
                Ok(receipt) => break receipt,
                Err(e) if e.is_retryable() && unix_now() < a.deadline => {
                    warn!(taskid = %a.taskid, "cannot upload the result yet: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(infra(format!("cannot upload the result: {e}"))),
            }
        };
        let link = ResultLink::new(receipt.storage.clone(), receipt.location.clone());
        let callback: Bytes = result.callback_data.clone().unwrap_or_default().into();
        let digest = result.digest;
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
        .map_err(|e| infra(e.to_string()))?;

        let hub = self.chain.hub();
        let me = self.signer.address();
        let (tx, state) = match a.mode {
            Mode::Fast => {
                let deal = a
                    .fast_deal
                    .as_ref()
                    .and_then(|b| IPoco::FastDeal::abi_decode(b).ok())
                    .ok_or_else(|| infra("the assignment has no fast deal".into()))?;
                let call = hub.pushResultFast(
                    deal,
                    a.dealid,
                    U256::from(a.idx),
                    digest,
                    link.to_bytes(),
                    callback.clone(),
                    Address::ZERO,
                    Bytes::new(),
                    a.authorization.clone(),
                );
                (
                    self.chain
                        .send(call.into_transaction_request(), "pushResultFast")
                        .await,
                    ReplicateState::Done,
                )
            }
            Mode::ContributeAndFinalize => {
                let call = hub.contributeAndFinalize(
                    a.taskid,
                    digest,
                    link.to_bytes(),
                    callback.clone(),
                    Address::ZERO,
                    Bytes::new(),
                    a.authorization.clone(),
                );
                (
                    self.chain
                        .send(call.into_transaction_request(), "contributeAndFinalize")
                        .await,
                    ReplicateState::Done,
                )
            }
            Mode::Contribute => {
                let call = hub.contribute(
                    a.taskid,
                    result_hash(a.taskid, digest),
                    result_seal(me, a.taskid, digest),
                    Address::ZERO,
                    Bytes::new(),
                    a.authorization.clone(),
                );
                (
                    self.chain
                        .send(call.into_transaction_request(), "contribute")
                        .await,
                    ReplicateState::Contributed,
                )
            }
        };
        let receipt = tx.map_err(|e| infra(e.to_string()))?;
        info!(taskid = %a.taskid, ?state, "task settled by this worker");
        Ok(Report {
            state,
            result_digest: Some(digest),
            location: Some(settled.location),
            callback_data: (!settled.callback.is_empty()).then_some(settled.callback),
            tx: Some(receipt.transaction_hash),
            error: None,
            app_fault: false,
        })
    }

    /// After a restart: what this worker already did on chain for the task, if anything.
    async fn already_settled(&self, a: &Assignment) -> Option<Report> {
        let hub = self.chain.hub();
        let me = self.signer.address();
        let done = match a.mode {
            Mode::Fast => {
                let deal = a
                    .fast_deal
                    .as_ref()
                    .and_then(|b| IPoco::FastDeal::abi_decode(b).ok())?;
                let status = hub
                    .viewTaskFast(deal, a.dealid, U256::from(a.idx))
                    .call()
                    .await
                    .ok()?;
                (status == 3).then_some(ReplicateState::Done)
            }
            _ => {
                let c = hub.viewContribution(a.taskid, me).call().await.ok()?;
                let task = self.chain.task(a.taskid).await.ok()?;
                match (c.status, a.mode) {
                    (0, _) => None,
                    (_, Mode::ContributeAndFinalize) if task.status == 3 => {
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
        })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The file recording a result about to be settled on chain.
const SETTLED: &str = "settled.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct Settled {
    digest: B256,
    location: String,
    callback: Bytes,
}
