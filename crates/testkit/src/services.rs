//! The services in the test's own process, with test defaults, stopped when dropped.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use poco_market::{MarketClient, MarketConfig};
use poco_runtime::{Executor, WasmConfig, WasmExecutor};
use poco_scheduler::SchedulerConfig;
use poco_store::StoreConfig;
use poco_types::SignedWorkerpoolOrder;
use poco_worker::WorkerConfig;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{Chain, Error, Result, Role};

/// The in-process WASM executor with its default limits.
pub fn wasm_executor() -> Arc<dyn Executor> {
    Arc::new(WasmExecutor::new(WasmConfig::default()).expect("the WASM executor starts"))
}

/// `sqlite://dir/file?mode=rwc`.
fn sqlite(dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl Chain {
    /// The scheduler of `workerpool` for tests: SQLite `scheduler.db` and its store under
    /// `dir`, any free port, 100 ms polling, a 60 s lease, the chain read from block 0.
    pub fn scheduler_config(&self, workerpool: Address, dir: &Path) -> SchedulerConfig {
        let mut config = SchedulerConfig::new(self.endpoint(), self.hub(), workerpool);
        config.database_url = sqlite(dir, "scheduler.db");
        config.listen = any_port();
        config.store_dir = dir.join("store");
        config.poll_interval = Chain::POLL;
        config.lease = Duration::from_secs(60);
        config.start_block = Some(0);
        config
    }

    /// Starts a scheduler signing as [`Role::Scheduler`].
    pub async fn start_scheduler(&self, config: SchedulerConfig) -> Result<Scheduler> {
        Scheduler::start(config, self.key(Role::Scheduler).clone()).await
    }

    /// Worker `n` for tests, of the scheduler at `scheduler_url`: the WASM executor, its work
    /// folder `dir/worker{n}`, 2 slots, a 500 ms heartbeat, 2 s long polls, `file://` apps
    /// allowed.
    pub fn worker_config(&self, n: usize, scheduler_url: &str, dir: &Path) -> WorkerConfig {
        let mut config = WorkerConfig::new(
            scheduler_url.to_owned(),
            self.endpoint(),
            self.hub(),
            dir.join(format!("worker{n}")),
            wasm_executor(),
        );
        config.slots = 2;
        config.heartbeat = Duration::from_millis(500);
        config.poll_wait = Duration::from_secs(2);
        config.allow_local_fetch = true;
        config
    }

    /// Starts worker `n` ([`Role::Worker`]`(n)`) with `config`.
    pub fn start_worker(&self, n: usize, config: WorkerConfig) -> Worker {
        Worker::start(config, self.key(Role::Worker(n)).clone())
    }

    /// A standalone result store for tests: archives under `dir/store`, the worker
    /// authorizations of [`Role::Scheduler`] accepted.
    pub fn store_config(&self, dir: &Path) -> StoreConfig {
        StoreConfig {
            path: dir.join("store"),
            trusted_schedulers: vec![self.address(Role::Scheduler)],
            ..StoreConfig::default()
        }
    }

    /// The market for tests: SQLite `db` under `dir`, any free port, 100 ms polling.
    pub fn market_config(&self, dir: &Path, db: &str) -> MarketConfig {
        let mut config = MarketConfig::new(self.endpoint(), self.hub());
        config.database_url = sqlite(dir, db);
        config.listen = any_port();
        config.poll_interval = Chain::POLL;
        config
    }

    /// Starts a market.
    pub async fn start_market(&self, config: MarketConfig) -> Result<Market> {
        let running = poco_market::start(config).await?;
        Ok(Market {
            url: running.url.clone(),
            addr: running.addr,
            client: MarketClient::new(&running.url)
                .map_err(|e| Error::MarketClient(e.to_string()))?,
            running,
        })
    }
}

/// A scheduler running in this process.
pub struct Scheduler {
    running: Option<poco_scheduler::Running>,
    config: SchedulerConfig,
    key: PrivateKeySigner,
    /// The base URL of its API.
    pub url: String,
    /// Where its API listens (kept over restarts).
    pub addr: SocketAddr,
    /// The workerpool order it signed at its last start, when its configuration asks for one.
    pub workerpool_order: Option<SignedWorkerpoolOrder>,
}

impl Scheduler {
    /// Starts a scheduler signing with `key`.
    pub async fn start(config: SchedulerConfig, key: PrivateKeySigner) -> Result<Self> {
        let started = poco_scheduler::start(config.clone(), key.clone()).await?;
        Ok(Self {
            url: started.running.url.clone(),
            addr: started.running.addr,
            workerpool_order: started.workerpool_order,
            running: Some(started.running),
            config,
            key,
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// The running service (`None` once stopped).
    pub fn running(&mut self) -> Option<&mut poco_scheduler::Running> {
        self.running.as_mut()
    }

    /// Kills it like a crash: its task is aborted and awaited, its port released. Returns
    /// where it listened.
    pub async fn kill(&mut self) -> SocketAddr {
        if let Some(mut running) = self.running.take() {
            running.task.abort();
            let _ = (&mut running.task).await;
        }
        self.addr
    }

    /// Stops it gracefully (requests in flight finish); returns how its task ended.
    pub async fn stop(&mut self) -> Result<()> {
        let running = self.running.take().ok_or(Error::Stopped("scheduler"))?;
        match running.shutdown().await {
            Ok(ended) => Ok(ended?),
            Err(e) => Err(Error::Io(std::io::Error::other(e))),
        }
    }

    /// Starts it again on the same port and database (killing it first if it still runs).
    pub async fn restart(&mut self) -> Result<()> {
        self.restart_with(|_| {}).await
    }

    /// [`Scheduler::restart`] with the configuration changed by `change` first.
    pub async fn restart_with(&mut self, change: impl FnOnce(&mut SchedulerConfig)) -> Result<()> {
        self.kill().await;
        self.config.listen = self.addr;
        change(&mut self.config);
        let restarted = Self::start(self.config.clone(), self.key.clone()).await?;
        *self = restarted;
        Ok(())
    }
}

/// A worker running in this process; aborted when dropped.
pub struct Worker {
    task: JoinHandle<poco_worker::Result<()>>,
}

impl Worker {
    /// Starts a worker signing with `key`.
    pub fn start(config: WorkerConfig, key: PrivateKeySigner) -> Self {
        Self {
            task: tokio::spawn(poco_worker::run(config, key)),
        }
    }

    /// Kills it like a crash (its task is aborted).
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Whether it has stopped (ended, failed or been aborted).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits until it stops by itself and returns how it ended (`None` when it panicked or
    /// was aborted).
    pub async fn join(mut self) -> Option<poco_worker::Result<()>> {
        (&mut self.task).await.ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A market running in this process; stopped when dropped.
pub struct Market {
    /// The running service.
    pub running: poco_market::Running,
    /// The base URL of its API.
    pub url: String,
    /// Where its API listens.
    pub addr: SocketAddr,
    /// A client of its API.
    pub client: MarketClient,
}

impl Market {
    /// Kills it like a crash: its task is aborted and awaited.
    pub async fn kill(mut self) {
        self.running.task.abort();
        let _ = (&mut self.running.task).await;
    }
}

/// A standalone result store running in this process (a scheduler serves its own under
/// `/store`); stopped when dropped.
pub struct Store {
    /// The base URL of its API.
    pub url: String,
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<poco_store::Result<()>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Store {
    /// Serves `config` on a free local port.
    pub async fn start(config: StoreConfig) -> Result<Self> {
        let listener = TcpListener::bind(any_port()).await?;
        let addr = listener.local_addr()?;
        let url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        // Checked here so that a bad configuration fails the start, not the first request.
        poco_store::StoreState::new(&StoreConfig {
            public_url: Some(url.clone()),
            ..config.clone()
        })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(poco_store::serve_with_shutdown(config, listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            url,
            addr,
            task,
            stop: Some(stop),
        })
    }

    /// Stops it gracefully (requests in flight finish); returns how it ended.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(ended) => Ok(ended?),
            Err(e) => Err(Error::Io(std::io::Error::other(e))),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256};
    use poco_store::StoreClient;
    use poco_types::WorkerAuthorization;

    use super::*;

    fn authorization(
        scheduler: &PrivateKeySigner,
        worker: Address,
        task: B256,
    ) -> WorkerAuthorization {
        WorkerAuthorization::sign(scheduler, worker, task, Address::ZERO).expect("signing")
    }

    #[tokio::test]
    async fn the_store_takes_uploads_its_scheduler_authorized_only() {
        let dir = tempfile::tempdir().unwrap();
        let (scheduler, stranger, worker) = (
            PrivateKeySigner::random(),
            PrivateKeySigner::random(),
            PrivateKeySigner::random(),
        );
        let store = Store::start(StoreConfig {
            path: dir.path().join("store"),
            trusted_schedulers: vec![scheduler.address()],
            ..StoreConfig::default()
        })
        .await
        .unwrap();
        let client = StoreClient::new(&store.url).unwrap();
        let task = B256::repeat_byte(9);
        let archive = b"PK\x05\x06 not much of a zip".to_vec();

        let refused = client
            .upload(
                task,
                archive.clone(),
                &authorization(&stranger, worker.address(), task),
                &worker,
            )
            .await;
        assert!(refused.is_err(), "a stranger's authorization was accepted");

        let receipt = client
            .upload(
                task,
                archive,
                &authorization(&scheduler, worker.address(), task),
                &worker,
            )
            .await
            .unwrap();
        assert!(
            receipt.location.starts_with(&store.url),
            "{} is not under {}",
            receipt.location,
            store.url
        );
        store.stop().await.unwrap();
        let stored = std::fs::read_dir(dir.path().join("store")).unwrap().count();
        assert!(stored > 0, "nothing written under the store's folder");
    }
}
