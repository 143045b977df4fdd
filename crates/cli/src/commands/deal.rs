//! `poco deal` and `poco task`: following deals and tasks, and claiming refunds after the
//! final deadline.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use clap::Subcommand;
use eyre::{eyre, Result};
use poco_chain::{task_status, FastDealRecord, PocoClient, TaskView};
use poco_scheduler::SchedulerClient;
use poco_types::TaskStatus;
use serde_json::{json, Value};

use super::{amount, market::MarketOpt};
use crate::{
    context::Context,
    hints::{explain_claim, Explain},
};

/// How often `--watch` looks at the chain.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// `poco deal ...`
#[derive(Subcommand, Debug)]
pub(crate) enum DealCommand {
    /// Show a deal and the state of each of its tasks.
    Show {
        /// The deal id.
        dealid: B256,
        /// Wait until every task is completed, failed or past its final deadline.
        #[arg(long)]
        watch: bool,
    },
    /// Get the refund of every task of the deal past its final deadline and not completed.
    Claim {
        /// The deal id.
        dealid: B256,
    },
    /// Follow a deal at its pool's scheduler, then download and verify each result not yet
    /// downloaded (what `poco run` does after the match).
    #[command(after_help = super::run::EXIT_CODES)]
    Follow {
        /// The deal id.
        dealid: B256,
        #[command(flatten)]
        follow: super::run::FollowArgs,
    },
}

/// `poco task ...`
#[derive(Subcommand, Debug)]
pub(crate) enum TaskCommand {
    /// Show a task: status, deadlines, contributors, result.
    Show {
        /// The task id.
        taskid: B256,
        /// Wait until the task is completed, failed or past its final deadline.
        #[arg(long)]
        watch: bool,
        /// Download the result into a folder [default: ./results/<taskid>] and check it
        /// against the digest certified on chain.
        #[arg(long, value_name = "DIR", num_args = 0..=1)]
        download: Option<Option<std::path::PathBuf>>,
        /// The task's deal (narrows the search for a fast-path task; finds a classic task not
        /// initialized yet).
        #[arg(long, value_name = "DEALID")]
        deal: Option<B256>,
        /// Sign in to the deal's pool (as its requester or beneficiary) and print each
        /// replicate's full stdout, stderr and failure reason.
        #[arg(long)]
        logs: bool,
        /// The pool's scheduler URL [default: the workerpool order's, from the local order
        /// files or the market].
        #[arg(long, value_name = "URL")]
        scheduler: Option<String>,
        #[command(flatten)]
        market: MarketOpt,
    },
    /// Get the refund of a task past its final deadline and not completed.
    Claim {
        /// The task id.
        taskid: B256,
        /// The task's deal (narrows the search for a fast-path task; needed for a classic task
        /// not initialized yet).
        #[arg(long, value_name = "DEALID")]
        deal: Option<B256>,
    },
}

/// Shows a view once, or with `watch` polls it until it says it is settled.
async fn show<F, Fut>(ctx: &Context, watch: bool, what: String, view: F) -> Result<Value>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(Value, bool)>>,
{
    if !watch {
        return Ok(view().await?.0);
    }
    ctx.out
        .wait(what, async {
            loop {
                let (value, settled) = view().await?;
                if settled {
                    return Ok(value);
                }
                tokio::time::sleep(WATCH_INTERVAL).await;
            }
        })
        .await
}

fn settled(task: &TaskView, now: U256) -> bool {
    task.status.is_final() || task.final_deadline <= now
}

fn task_json(task: &TaskView) -> Value {
    json!({
        "taskid": task.taskid,
        "idx": task.idx.to_string(),
        "status": task.status,
        "finalDeadline": task.final_deadline.to_string(),
        "contributors": task.contributors,
        "resultDigest": task.result_digest,
        "results": task.results,
    })
}

/// A fast deal as `deal show` prints it (the classic keys, with `fast: true`).
async fn fast_deal_json(client: &PocoClient, record: &FastDealRecord) -> Result<(Value, bool)> {
    let tasks = client.fast_tasks(record).await.explain(client)?;
    let now = U256::from(client.chain_time().await.explain(client)?);
    let done = tasks.iter().all(|t| settled(t, now));
    let d = &record.deal;
    let value = json!({
        "dealid": record.dealid,
        "fast": true,
        "app": record.app,
        "appPrice": amount(d.appPrice),
        "dataset": record.dataset,
        "datasetPrice": amount(d.datasetPrice),
        "workerpool": record.workerpool,
        "workerpoolPrice": amount(d.workerpoolPrice),
        "requester": record.requester,
        "sponsor": d.sponsor,
        "beneficiary": record.beneficiary,
        "callback": d.callback,
        "category": record.category.to_string(),
        "trust": record.trust.map(|t| t.to_string()),
        "tag": d.tag,
        "params": record.params,
        "startTime": d.startTime.to_string(),
        "volume": d.botSize.to_string(),
        "contributionDeadline": record.contribution_deadline().to_string(),
        "finalDeadline": record.final_deadline().to_string(),
        "tasks": task_rows(&tasks),
    });
    Ok((value, done))
}

/// A deal's tasks as `deal show` lists them.
fn task_rows(tasks: &[TaskView]) -> Vec<Value> {
    tasks
        .iter()
        .map(|t| {
            json!({
                "idx": t.idx.to_string(),
                "taskid": t.taskid,
                "status": t.status,
                "finalDeadline": t.final_deadline.to_string(),
            })
        })
        .collect()
}

async fn deal_json(client: &PocoClient, dealid: B256) -> Result<(Value, bool)> {
    let deal = match client.deal(dealid).await {
        Ok(deal) => deal,
        Err(poco_chain::Error::UnknownDeal(_)) => {
            match client.fast_deal(dealid).await.explain(client)? {
                Some(record) => return fast_deal_json(client, &record).await,
                None => {
                    return Err(poco_chain::Error::UnknownDeal(dealid)).explain(client);
                }
            }
        }
        Err(e) => return Err(e).explain(client),
    };
    let tasks = client.deal_tasks(dealid, &deal).await.explain(client)?;
    let now = U256::from(client.chain_time().await.explain(client)?);
    let done = tasks.iter().all(|t| settled(t, now));
    let value = json!({
        "dealid": dealid,
        "fast": false,
        "app": deal.app.pointer,
        "appPrice": amount(deal.app.price),
        "dataset": deal.dataset.pointer,
        "datasetPrice": amount(deal.dataset.price),
        "workerpool": deal.workerpool.pointer,
        "workerpoolPrice": amount(deal.workerpool.price),
        "requester": deal.requester,
        "beneficiary": deal.beneficiary,
        "callback": deal.callback,
        "category": deal.category.to_string(),
        "trust": deal.trust.to_string(),
        "tag": deal.tag,
        "params": deal.params,
        "startTime": deal.startTime.to_string(),
        "volume": deal.botSize.to_string(),
        "tasks": task_rows(&tasks),
    });
    Ok((value, done))
}

impl DealCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Show { dealid, watch } => {
                let client = ctx.reader().await?;
                let what = format!("watching deal {dealid}");
                show(ctx, watch, what, || deal_json(&client, dealid)).await
            }
            Self::Claim { dealid } => {
                let client = ctx.sender().await?;
                let claimed = ctx
                    .out
                    .wait(format!("claiming deal {dealid}"), client.claim_deal(dealid))
                    .await;
                let claimed = explain_claim(claimed, &client).await?;
                Ok(json!({ "dealid": dealid, "claimed": claimed }))
            }
            Self::Follow { dealid, follow } => super::run::follow_deal(ctx, dealid, follow).await,
        }
    }
}

/// Where a task lives: its deal and, for the pool's view, the workerpool.
struct Located {
    value: Value,
    settled: bool,
    completed: bool,
    dealid: Option<B256>,
    workerpool: Option<Address>,
    fast: Option<FastDealRecord>,
}

/// A task's state from the chain: classic (initialized, or found through `deal`) or fast.
async fn locate_task(client: &PocoClient, taskid: B256, deal: Option<B256>) -> Result<Located> {
    let task = client.task(taskid).await.explain(client)?;
    let now = U256::from(client.chain_time().await.explain(client)?);
    // A claimed fast task is FAILED in the hub's task table, without a deal.
    let status = task_status(task.status).explain(client)?;
    if status != TaskStatus::Unset && task.dealid != B256::ZERO {
        let view = TaskView {
            taskid,
            idx: task.idx,
            status,
            contribution_deadline: task.contributionDeadline,
            final_deadline: task.finalDeadline,
            contributors: task.contributors.clone(),
            result_digest: task.resultDigest,
            results: String::from_utf8_lossy(&task.results).into_owned(),
        };
        let mut value = task_json(&view);
        value["dealid"] = json!(task.dealid);
        value["fast"] = json!(false);
        value["contributionDeadline"] = json!(task.contributionDeadline.to_string());
        value["revealDeadline"] = json!(task.revealDeadline.to_string());
        value["consensus"] = json!(task.consensusValue);
        let workerpool = client
            .deal(task.dealid)
            .await
            .ok()
            .map(|d| d.workerpool.pointer);
        return Ok(Located {
            value,
            settled: settled(&view, now),
            completed: view.status == TaskStatus::Completed,
            dealid: Some(task.dealid),
            workerpool,
            fast: None,
        });
    }
    if let Some((record, idx)) = client
        .fast_deal_of_task(taskid, deal)
        .await
        .explain(client)?
    {
        let tasks = client.fast_tasks(&record).await.explain(client)?;
        let view = tasks
            .into_iter()
            .find(|t| t.idx == idx)
            .ok_or_else(|| eyre!("task {taskid} is not in its fast deal"))?;
        let mut value = task_json(&view);
        value["dealid"] = json!(record.dealid);
        value["fast"] = json!(true);
        value["contributionDeadline"] = json!(view.contribution_deadline.to_string());
        return Ok(Located {
            value,
            settled: settled(&view, now),
            completed: view.status == TaskStatus::Completed,
            dealid: Some(record.dealid),
            workerpool: Some(record.workerpool),
            fast: Some(record),
        });
    }
    // A classic task nobody initialized: its deal gives its deadline.
    if let Some(dealid) = deal {
        if let Ok(d) = client.deal(dealid).await {
            let tasks = client.deal_tasks(dealid, &d).await.explain(client)?;
            if let Some(view) = tasks.into_iter().find(|t| t.taskid == taskid) {
                let mut value = task_json(&view);
                value["dealid"] = json!(dealid);
                value["fast"] = json!(false);
                return Ok(Located {
                    value,
                    settled: settled(&view, now),
                    completed: false,
                    dealid: Some(dealid),
                    workerpool: Some(d.workerpool.pointer),
                    fast: None,
                });
            }
        }
    }
    eyre::bail!(
        "task {taskid} is not initialized and no fast deal holds it{}; a deal's tasks are listed \
         by `poco deal show <dealid>`, and `poco task show {taskid} --deal <dealid>` shows a task \
         not initialized yet",
        deal.map(|d| format!(" (looked in deal {d})"))
            .unwrap_or_default()
    )
}

/// The scheduler URL of a workerpool: the workerpool order's (`workerpoolApi`) in the local
/// order files, else on the market.
async fn scheduler_url(
    ctx: &Context,
    client: &PocoClient,
    market: &MarketOpt,
    workerpool: Address,
    dealid: B256,
    fast: Option<&FastDealRecord>,
) -> Option<String> {
    let hash = fast.and_then(|f| f.workerpool_hash);
    let pools = super::run::local_orders(client.chain_id())
        .map(|local| local.pools)
        .unwrap_or_default();
    let mut by_pool = None;
    for (order, api) in pools {
        let Some(api) = api else { continue };
        if hash.is_some_and(|h| order.order_hash(&client.domain()) == h) {
            return Some(api);
        }
        if order.order.workerpool == workerpool {
            by_pool = Some(api);
        }
    }
    if by_pool.is_some() {
        return by_pool;
    }
    let market = poco_market::MarketClient::new(&market.configured(ctx)?).ok()?;
    let hash = match hash {
        Some(hash) => hash,
        None => market.deal(dealid).await.ok()?.workerpool_hash,
    };
    market
        .order(poco_types::OrderKind::Workerpool, hash)
        .await
        .ok()?
        .workerpool_api
}

/// Prints the task and its replicates' logs as text: each replicate's fields, then its long
/// texts (stdout, stderr, error) as blocks.
fn print_logs(ctx: &Context, mut value: Value) {
    let logs = value
        .as_object_mut()
        .and_then(|m| m.remove("logs"))
        .unwrap_or(Value::Null);
    ctx.out.print(&value);
    // Fields of the answer besides the task id and the replicates (if the pool adds some).
    if let Some(fields) = logs.as_object() {
        for (key, field) in fields {
            if !matches!(key.as_str(), "taskid" | "replicas") && !field.is_null() {
                match field {
                    Value::String(text) => println!("{key}: {text}"),
                    other => println!("{key}: {other}"),
                }
            }
        }
    }
    let replicas = logs["replicas"].as_array().cloned().unwrap_or_default();
    if replicas.is_empty() {
        println!("logs: no replicate ran");
    }
    for (i, replica) in replicas.iter().enumerate() {
        let Some(fields) = replica.as_object() else {
            continue;
        };
        let mut head = Vec::new();
        let mut blocks = Vec::new();
        for (key, field) in fields {
            match field {
                Value::String(text)
                    if text.contains('\n')
                        || matches!(key.as_str(), "stdout" | "stderr" | "error") =>
                {
                    blocks.push((key, text.clone()))
                }
                Value::String(text) => head.push(format!("{key}: {text}")),
                Value::Null => {}
                other => head.push(format!("{key}: {other}")),
            }
        }
        println!("── replicate {} ── {}", i + 1, head.join(", "));
        for (key, text) in blocks {
            if text.is_empty() {
                println!("{key}: (empty)");
            } else {
                println!("{key}:\n{}", text.trim_end());
            }
        }
    }
}

impl TaskCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Show {
                taskid,
                watch,
                download,
                deal,
                logs,
                scheduler,
                market,
            } => {
                let client = ctx.reader().await?;
                let what = format!("watching task {taskid}");
                let located = std::cell::RefCell::new(None);
                let (reader, cell) = (&client, &located);
                let mut value = show(ctx, watch, what, move || async move {
                    let l = locate_task(reader, taskid, deal).await?;
                    let out = (l.value.clone(), l.settled);
                    *cell.borrow_mut() = Some(l);
                    Ok(out)
                })
                .await?;
                let located = located
                    .into_inner()
                    .ok_or_else(|| eyre!("task {taskid} was not read"))?;
                // The pool's view: its reason for a task it failed or gave up.
                if !located.completed || logs {
                    let url = match (&scheduler, located.workerpool, located.dealid) {
                        (Some(url), _, _) => Some(url.clone()),
                        (None, Some(pool), Some(dealid)) => {
                            scheduler_url(
                                ctx,
                                &client,
                                &market,
                                pool,
                                dealid,
                                located.fast.as_ref(),
                            )
                            .await
                        }
                        _ => None,
                    };
                    match url {
                        Some(url) => {
                            let mut pool = SchedulerClient::new(&url)?;
                            if let Some(workerpool) = located.workerpool {
                                pool = pool.expect_pool(workerpool);
                            }
                            match pool.task(taskid).await {
                                Ok(info) => {
                                    let over = matches!(info.status.as_str(), "FAILED" | "EXPIRED");
                                    if over && !logs && !ctx.opts.json {
                                        eprintln!(
                                            "the pool gave the task up; its requester or beneficiary \
                                             reads the replicates' logs with `poco task show \
                                             {taskid} --logs`"
                                        );
                                    }
                                    if over && !located.settled && !ctx.opts.json {
                                        if let Some(dealid) = located.dealid {
                                            let deadline = located.value["finalDeadline"]
                                                .as_str()
                                                .and_then(|d| d.parse::<U256>().ok())
                                                .unwrap_or_default();
                                            let now = client.chain_time().await.ok().map(U256::from);
                                            eprintln!(
                                                "its refund can be claimed from its final deadline, \
                                                 {}, with `poco deal claim {dealid}`",
                                                poco_chain::deadline_in_words(deadline, now)
                                            );
                                        }
                                    }
                                    value["poolStatus"] = json!(info.status);
                                    value["failure"] = json!(info.failure);
                                }
                                Err(e) if !logs => {
                                    eprintln!("the pool's scheduler {url} does not tell the task's state: {e}")
                                }
                                Err(e) => {
                                    return Err(eyre!(
                                        "the pool's scheduler {url} does not know task {taskid}: {e}"
                                    ))
                                }
                            }
                            if logs {
                                value["logs"] = task_logs(ctx, &pool, taskid).await?;
                            }
                        }
                        None if logs => eyre::bail!(
                            "cannot find the scheduler of the task's pool (no workerpool order with \
                             its URL in the local order files or on the market): pass --scheduler URL"
                        ),
                        None => {}
                    }
                }
                if let Some(dir) = download {
                    let dir = dir.unwrap_or_else(|| {
                        std::path::PathBuf::from("results").join(format!("{taskid:x}"))
                    });
                    let fast_deal = located.fast.as_ref().map(|f| f.dealid).or(deal);
                    let (digest, link) =
                        super::run::onchain_result(&client, taskid, fast_deal).await?;
                    // The requester's (or beneficiary's) wallet signs in to read the result.
                    let signer = ctx.signer(None).ok();
                    super::run::download(ctx, signer.as_ref(), &link, digest, &dir).await?;
                    value["downloaded"] = json!(dir);
                }
                if logs && !ctx.opts.json {
                    print_logs(ctx, value);
                    return Ok(json!({}));
                }
                Ok(value)
            }
            Self::Claim { taskid, deal } => {
                let client = ctx.sender().await?;
                let receipt = ctx
                    .out
                    .wait(
                        format!("claiming task {taskid}"),
                        client.claim_any_task(taskid, deal),
                    )
                    .await;
                let receipt = explain_claim(receipt, &client).await?;
                Ok(json!({ "taskid": taskid, "tx": receipt.transaction_hash }))
            }
        }
    }
}

/// The replicates' logs of a task, read after signing in with the selected wallet (the deal's
/// requester or beneficiary).
async fn task_logs(ctx: &Context, pool: &SchedulerClient, taskid: B256) -> Result<Value> {
    let signer = ctx.signer(None).map_err(|e| {
        eyre!(
            "reading a task's logs needs the wallet of its requester or beneficiary ({e:#}): \
             pass --account, --wallet-file or --keystoredir"
        )
    })?;
    pool.login(&signer).await.map_err(|e| {
        eyre!(
            "cannot sign in at the pool's scheduler {} as {}: {e}",
            pool.base_url(),
            signer.address()
        )
    })?;
    let logs = pool.task_logs(taskid).await.map_err(|e| {
        eyre!(
            "the pool's scheduler {} refuses the logs of task {taskid} to {}: {e}",
            pool.base_url(),
            signer.address()
        )
    })?;
    // The whole answer, so that what the pool adds to it is shown too.
    Ok(serde_json::to_value(&logs)?)
}
