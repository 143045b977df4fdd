//! Matching a request and following its deal: an unreachable chain or scheduler is waited out
//! for up to the patience (exponential back-off), a match whose transaction went astray is
//! looked for in the hub's logs before it is tried again, and every result is downloaded and
//! checked against the digest on chain. What happens on the way is reported to an
//! [`Observer`]; this crate prints nothing.

use std::{
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::{primitives::B256, providers::Provider};
use poco_chain::{MatchedDeal, PocoClient};
use poco_scheduler_api::{SchedulerClient, TaskInfo};
use poco_types::{SignedAppOrder, SignedDatasetOrder, SignedRequestOrder, SignedWorkerpoolOrder};

use crate::{
    download::{download, onchain_result, DownloadError},
    Error, Result,
};

/// Longest wait between two attempts while the chain or the scheduler is away.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// What the workflow reports while it runs (a command prints it; a service logs it).
pub trait Observer: Send + Sync {
    /// One event.
    fn report(&self, event: Event<'_>);
}

/// An observer that ignores every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn report(&self, _: Event<'_>) {}
}

/// What happened.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The chain does not answer; retrying for up to `patience`.
    ChainAway {
        /// The chain's RPC URL.
        rpc_url: &'a str,
        /// What was being read.
        what: &'a str,
        /// How long it is waited for.
        patience: Duration,
    },
    /// The chain answers again after [`Event::ChainAway`].
    ChainBack {
        /// The chain's RPC URL.
        rpc_url: &'a str,
    },
    /// Sending the match failed in a way that may still have mined it: the hub's logs are
    /// read to find out.
    MatchUncertain {
        /// What went wrong.
        error: &'a poco_chain::Error,
    },
    /// The match was found mined after [`Event::MatchUncertain`].
    MatchMined,
    /// A task's result was already downloaded and still matches the digest on chain.
    AlreadyVerified {
        /// The task.
        taskid: B256,
        /// Where the result is.
        dir: &'a Path,
    },
    /// Following starts: `done` of `total` tasks need no more work.
    Following {
        /// The tasks followed.
        total: usize,
        /// The tasks already downloaded and verified.
        done: usize,
    },
    /// The scheduler does not answer about a task; retrying for up to `patience`.
    SchedulerAway {
        /// The scheduler's URL.
        api: &'a str,
        /// The task asked about.
        taskid: B256,
        /// What went wrong.
        error: &'a poco_scheduler_api::Error,
        /// How long it is waited for.
        patience: Duration,
    },
    /// The scheduler answers again after [`Event::SchedulerAway`].
    SchedulerBack {
        /// The scheduler's URL.
        api: &'a str,
    },
    /// A task reached its end at the scheduler (completed, failed, expired or claimed).
    TaskEnded {
        /// The task.
        taskid: B256,
    },
    /// Following stops (every task ended, or it was given up); downloads come next.
    Stopped,
    /// Every task ended, after `elapsed`.
    Finished {
        /// How long following took.
        elapsed: Duration,
    },
    /// A task failed or its pool gave it up.
    TaskFailed {
        /// The task.
        taskid: B256,
        /// Its deal.
        dealid: B256,
        /// Why.
        reason: &'a str,
    },
    /// A result was downloaded and matches the digest on chain.
    Verified {
        /// The task.
        taskid: B256,
        /// Where the result is.
        dir: &'a Path,
    },
    /// A downloaded result does not match the digest on chain.
    Unverified {
        /// The task.
        taskid: B256,
        /// The mismatch.
        error: &'a DownloadError,
    },
    /// The pool's store does not answer; retrying for up to `patience`.
    StoreAway {
        /// What went wrong, with its causes.
        error: &'a str,
        /// How long it is waited for.
        patience: Duration,
    },
    /// Signing in at the pool's scheduler failed: the download goes on without it.
    SignInFailed {
        /// The scheduler's URL.
        api: &'a str,
        /// What went wrong.
        error: &'a poco_scheduler_api::Error,
    },
}

/// Whether a chain error is an outage (worth waiting out) rather than an answer.
pub fn is_outage(e: &poco_chain::Error) -> bool {
    match e {
        poco_chain::Error::Unreachable { .. } => true,
        poco_chain::Error::Rpc(message) => {
            let message = message.to_ascii_lowercase();
            [
                "error sending request",
                "connect",
                "connection",
                "timed out",
                "broken pipe",
                "429",
                "502",
                "503",
                "504",
            ]
            .iter()
            .any(|needle| message.contains(needle))
        }
        _ => false,
    }
}

/// A deal to follow: its tasks, where its scheduler is, where its results go.
#[derive(Clone, Debug)]
pub struct Following {
    /// The deal.
    pub dealid: B256,
    /// Its tasks.
    pub tasks: Vec<B256>,
    /// Matched on the fast path (trust 1).
    pub fast: bool,
    /// The pool's scheduler URL.
    pub api: String,
    /// Where results go: `<folder>/<taskid>/` and `<folder>/<taskid>.zip`.
    pub folder: PathBuf,
}

/// How a task ended for the requester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Completed; its result is in `folder` and matches the digest on chain.
    Verified {
        /// The digest the chain certified.
        digest: B256,
        /// Where the result is.
        folder: PathBuf,
    },
    /// Completed, but the result does not match the digest on chain.
    Unverified {
        /// The digest the chain certified.
        digest: B256,
        /// The mismatch.
        failure: String,
    },
    /// Failed, expired or claimed without a result.
    Failed {
        /// The scheduler's status.
        status: String,
        /// Why (the status when the pool gave no reason).
        reason: String,
    },
}

/// One task's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskOutcome {
    /// The task.
    pub taskid: B256,
    /// How it ended.
    pub outcome: Outcome,
}

impl TaskOutcome {
    fn verified(taskid: B256, digest: B256, folder: PathBuf) -> Self {
        Self {
            taskid,
            outcome: Outcome::Verified { digest, folder },
        }
    }
}

/// The requester's side of a run against one chain: patience with outages, matching,
/// following, downloading.
pub struct Requester<'a> {
    client: &'a PocoClient,
    patience: Duration,
    observer: &'a dyn Observer,
}

impl<'a> Requester<'a> {
    /// A requester on `client` (its wallet signs in at pools for private results) that waits
    /// out outages for up to `patience`.
    pub fn new(client: &'a PocoClient, patience: Duration, observer: &'a dyn Observer) -> Self {
        Self {
            client,
            patience,
            observer,
        }
    }

    /// The error that ends waiting: [`Error::GaveUp`].
    fn give_up(&self, why: String) -> Error {
        Error::GaveUp(why)
    }

    /// Runs a chain read until it answers, waiting out an outage (exponential back-off) for
    /// up to the patience.
    pub async fn chain<T, F, Fut>(&self, what: &str, mut read: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = poco_chain::Result<T>>,
    {
        let rpc_url = self.client.rpc_url();
        let started = Instant::now();
        let mut wait = Duration::from_millis(250);
        let mut warned = false;
        loop {
            match read().await {
                Ok(value) => {
                    if warned {
                        self.observer.report(Event::ChainBack { rpc_url });
                    }
                    return Ok(value);
                }
                Err(e) if is_outage(&e) => {
                    let waited = started.elapsed();
                    if waited >= self.patience {
                        return Err(self.give_up(format!(
                            "the chain at {rpc_url} did not answer for {} ({what}: {e})",
                            humantime::format_duration(self.patience)
                        )));
                    }
                    if !warned {
                        self.observer.report(Event::ChainAway {
                            rpc_url,
                            what,
                            patience: self.patience,
                        });
                        warned = true;
                    }
                    tokio::time::sleep(wait.min(self.patience - waited)).await;
                    wait = (wait * 2).min(MAX_RETRY_WAIT);
                }
                Err(e) => return Err(Error::Chain(e)),
            }
        }
    }

    /// Matches the orders (on the fast path when `fast`). When the chain goes away meanwhile,
    /// it waits for it (up to the patience) and looks for the deal of this request among the
    /// matches since it started: found, the match was mined; not found, it tries again. A
    /// signed request matches at most its volume, so trying again never pays twice.
    pub async fn match_orders(
        &self,
        fast: bool,
        app: &SignedAppOrder,
        dataset: Option<&SignedDatasetOrder>,
        pool: &SignedWorkerpoolOrder,
        request: &SignedRequestOrder,
    ) -> Result<MatchedDeal> {
        let client = self.client;
        let from = self
            .chain("reading the block number", || async {
                client
                    .provider()
                    .get_block_number()
                    .await
                    .map_err(|e| poco_chain::Error::Rpc(e.to_string()))
            })
            .await?;
        let request_hash = request.order_hash(&client.domain());
        let started = Instant::now();
        let look = || async {
            self.chain("looking for the deal", || {
                client.find_match(fast, pool.order.workerpool, request_hash, from)
            })
            .await
            .map_err(|e| Error::MatchUnknown {
                request_hash,
                error: Box::new(e),
            })
        };
        // Whether an earlier attempt may have been mined although its answer was lost.
        let mut uncertain = false;
        loop {
            let attempt = if fast {
                client
                    .match_orders_fast(app, dataset, pool, request)
                    .await
                    .map(|(deal, _)| deal)
            } else {
                client.match_orders(app, dataset, pool, request).await
            };
            let error = match attempt {
                Ok(deal) => return Ok(deal),
                // Refused before anything was sent. After a lost answer the refusal may be
                // the earlier attempt's own doing (its match used the volume up, mined after
                // the first look): that match is the run's.
                Err(
                    e @ (poco_chain::Error::Revert { .. }
                    | poco_chain::Error::GasFunds { .. }
                    | poco_chain::Error::NoWallet),
                ) => {
                    if uncertain {
                        if let Some(deal) = look().await? {
                            self.observer.report(Event::MatchMined);
                            return Ok(deal);
                        }
                    }
                    return Err(Error::Chain(e));
                }
                Err(e) => e,
            };
            uncertain = true;
            self.observer
                .report(Event::MatchUncertain { error: &error });
            if let Some(deal) = look().await? {
                self.observer.report(Event::MatchMined);
                return Ok(deal);
            }
            // Not mined: only an outage is worth another try.
            let outage = is_outage(&error) || matches!(error, poco_chain::Error::Timeout { .. });
            if !outage || started.elapsed() >= self.patience {
                return Err(Error::Chain(error));
            }
        }
    }

    /// A task's result already downloaded into `dir` that still matches the digest on chain.
    async fn already_downloaded(
        &self,
        target: &Following,
        taskid: B256,
        dir: &Path,
    ) -> Result<Option<B256>> {
        let Ok(bytes) = std::fs::read(dir.with_extension("zip")) else {
            return Ok(None);
        };
        let fast_deal = target.fast.then_some(target.dealid);
        let Some((digest, _)) = self
            .chain("reading the result", || {
                onchain_result(self.client, taskid, fast_deal)
            })
            .await?
        else {
            return Ok(None);
        };
        Ok(crate::download::unpack(&bytes, digest, dir)
            .ok()
            .map(|_| digest))
    }

    /// Follows the tasks at their scheduler until each is completed or given up, then
    /// downloads and checks every result not downloaded yet. An outage of the chain or of the
    /// scheduler is waited out for up to the patience. The outcomes are in the order of the
    /// tasks.
    pub async fn follow(&self, target: &Following) -> Result<Vec<TaskOutcome>> {
        let Following {
            dealid,
            tasks,
            fast,
            api,
            folder,
        } = target;
        let (dealid, fast) = (*dealid, *fast);
        let client = self.client;
        let scheduler = SchedulerClient::new(api).map_err(Error::Scheduler)?;
        let mut results: Vec<Option<TaskOutcome>> = vec![None; tasks.len()];
        for (i, taskid) in tasks.iter().enumerate() {
            let dir = folder.join(format!("{taskid:x}"));
            if let Some(digest) = self.already_downloaded(target, *taskid, &dir).await? {
                self.observer.report(Event::AlreadyVerified {
                    taskid: *taskid,
                    dir: &dir,
                });
                results[i] = Some(TaskOutcome::verified(*taskid, digest, dir));
            }
        }
        self.observer.report(Event::Following {
            total: tasks.len(),
            done: results.iter().filter(|r| r.is_some()).count(),
        });
        let started = Instant::now();
        let outcomes = self.wait_for_tasks(target, &scheduler, &results).await;
        self.observer.report(Event::Stopped);
        let mut outcomes = outcomes?;
        self.observer.report(Event::Finished {
            elapsed: started.elapsed(),
        });
        for (i, taskid) in tasks.iter().enumerate() {
            let Some(info) = outcomes[i].take() else {
                continue;
            };
            if info.status != "COMPLETED" {
                let reason = info
                    .failure
                    .clone()
                    .unwrap_or_else(|| info.status.to_string());
                self.observer.report(Event::TaskFailed {
                    taskid: *taskid,
                    dealid,
                    reason: &reason,
                });
                results[i] = Some(TaskOutcome {
                    taskid: *taskid,
                    outcome: Outcome::Failed {
                        status: info.status.to_string(),
                        reason,
                    },
                });
                continue;
            }
            let dir = folder.join(format!("{taskid:x}"));
            let fast_deal = fast.then_some(dealid);
            // The scheduler saw it completed: the chain shows it (the node we read may lag).
            let waiting = Instant::now();
            let (digest, link) = loop {
                let found = self
                    .chain("reading the result", || {
                        onchain_result(client, *taskid, fast_deal)
                    })
                    .await?;
                if let Some(found) = found {
                    break found;
                }
                if waiting.elapsed() >= self.patience {
                    return Err(self.give_up(format!(
                        "the scheduler says task {taskid} completed, but the chain at {} shows \
                         no result for it after {}",
                        client.rpc_url(),
                        humantime::format_duration(self.patience)
                    )));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            };
            match self.download(&link, digest, &dir).await {
                Ok(()) => {
                    self.observer.report(Event::Verified {
                        taskid: *taskid,
                        dir: &dir,
                    });
                    results[i] = Some(TaskOutcome::verified(*taskid, digest, dir));
                }
                Err(Error::Download(e)) if e.is_mismatch() => {
                    self.observer.report(Event::Unverified {
                        taskid: *taskid,
                        error: &e,
                    });
                    results[i] = Some(TaskOutcome {
                        taskid: *taskid,
                        outcome: Outcome::Unverified {
                            digest,
                            failure: e.to_string(),
                        },
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// Polls the scheduler until every task not in `results` has ended; the scheduler's view
    /// of each (`None` for those in `results`).
    async fn wait_for_tasks(
        &self,
        target: &Following,
        scheduler: &SchedulerClient,
        results: &[Option<TaskOutcome>],
    ) -> Result<Vec<Option<TaskInfo>>> {
        let (api, tasks) = (target.api.as_str(), &target.tasks);
        let client = self.client;
        let mut outcomes: Vec<Option<TaskInfo>> = vec![None; tasks.len()];
        let deal_deadline = self.chain("reading the time", || client.now()).await? + 3600;
        let mut scheduler_away: Option<Instant> = None;
        loop {
            for (i, taskid) in tasks.iter().enumerate() {
                if outcomes[i].is_some() || results[i].is_some() {
                    continue;
                }
                match scheduler.task(*taskid).await {
                    Ok(info) => {
                        if scheduler_away.take().is_some() {
                            self.observer.report(Event::SchedulerBack { api });
                        }
                        if matches!(
                            info.status.as_str(),
                            "COMPLETED" | "FAILED" | "EXPIRED" | "CLAIMED"
                        ) {
                            outcomes[i] = Some(info);
                            self.observer.report(Event::TaskEnded { taskid: *taskid });
                        }
                    }
                    // It answers, without the task yet (it has not seen the deal).
                    Err(poco_scheduler_api::Error::Refused { status, .. })
                        if status < 500 && status != 429 =>
                    {
                        scheduler_away = None;
                    }
                    Err(e) => {
                        let since = *scheduler_away.get_or_insert_with(|| {
                            self.observer.report(Event::SchedulerAway {
                                api,
                                taskid: *taskid,
                                error: &e,
                                patience: self.patience,
                            });
                            Instant::now()
                        });
                        if since.elapsed() >= self.patience {
                            return Err(self.give_up(format!(
                                "the scheduler at {api} did not answer about task {taskid} for \
                                 {} ({e})",
                                humantime::format_duration(self.patience)
                            )));
                        }
                        break;
                    }
                }
            }
            if outcomes
                .iter()
                .zip(results)
                .all(|(o, r)| o.is_some() || r.is_some())
            {
                return Ok(outcomes);
            }
            let now = self.chain("reading the time", || client.now()).await?;
            if now > deal_deadline {
                return Err(
                    self.give_up("the tasks did not finish within an hour of chain time".into())
                );
            }
            let pause = if scheduler_away.is_some() {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(200)
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// [`download`], retried for up to the patience while the pool's store does not answer.
    pub async fn download(&self, link: &str, digest: B256, dir: &Path) -> Result<()> {
        let started = Instant::now();
        let mut wait = Duration::from_millis(500);
        let mut warned = false;
        loop {
            let error = match download(self.client.signer(), link, digest, dir, self.observer).await
            {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let text = with_causes(&error);
            let lower = text.to_ascii_lowercase();
            let away = !error.is_mismatch()
                && [
                    "error sending request",
                    "connect",
                    "timed out",
                    "502",
                    "503",
                    "504",
                ]
                .iter()
                .any(|needle| lower.contains(needle));
            if !away {
                return Err(Error::Download(error));
            }
            if started.elapsed() >= self.patience {
                return Err(self.give_up(format!(
                    "the pool's store did not answer for {} ({text})",
                    humantime::format_duration(self.patience)
                )));
            }
            if !warned {
                self.observer.report(Event::StoreAway {
                    error: &text,
                    patience: self.patience,
                });
                warned = true;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_RETRY_WAIT);
        }
    }
}

/// An error and its causes, joined by `": "`.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
