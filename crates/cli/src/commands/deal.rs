//! `poco deal` and `poco task`: following deals and tasks, and claiming refunds after the
//! final deadline.

use std::time::Duration;

use alloy::primitives::{B256, U256};
use clap::Subcommand;
use eyre::Result;
use poco_chain::{task_status_name, PocoClient, TaskView};
use serde_json::{json, Value};

use super::amount;
use crate::{context::Context, hints::Explain};

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
        /// The deal of a fast-path task (narrows the search for its result).
        #[arg(long, value_name = "DEALID")]
        deal: Option<B256>,
    },
    /// Get the refund of a task past its final deadline and not completed.
    Claim {
        /// The task id.
        taskid: B256,
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
    matches!(task.status, "COMPLETED" | "FAILED") || task.final_deadline <= now
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

async fn deal_json(client: &PocoClient, dealid: B256) -> Result<(Value, bool)> {
    let deal = client.deal(dealid).await.explain(client)?;
    let tasks = client.deal_tasks(dealid, &deal).await.explain(client)?;
    let now = U256::from(client.now().await.explain(client)?);
    let done = tasks.iter().all(|t| settled(t, now));
    let value = json!({
        "dealid": dealid,
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
        "tasks": tasks.iter().map(|t| json!({
            "idx": t.idx.to_string(),
            "taskid": t.taskid,
            "status": t.status,
            "finalDeadline": t.final_deadline.to_string(),
        })).collect::<Vec<_>>(),
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
                    .await
                    .explain(&client)?;
                Ok(json!({ "dealid": dealid, "claimed": claimed }))
            }
        }
    }
}

async fn task_view(client: &PocoClient, taskid: B256) -> Result<(Value, bool)> {
    let task = client.task(taskid).await.explain(client)?;
    if task.status == 0 {
        eyre::bail!(
            "task {taskid} is not initialized (or does not exist); a deal's tasks are listed by \
             `poco deal show <dealid>`, which also shows the deadline of uninitialized ones"
        );
    }
    let view = TaskView {
        taskid,
        idx: task.idx,
        status: task_status_name(task.status),
        contribution_deadline: task.contributionDeadline,
        final_deadline: task.finalDeadline,
        contributors: task.contributors.clone(),
        result_digest: task.resultDigest,
        results: String::from_utf8_lossy(&task.results).into_owned(),
    };
    let now = U256::from(client.now().await.explain(client)?);
    let mut value = task_json(&view);
    value["dealid"] = json!(task.dealid);
    value["contributionDeadline"] = json!(task.contributionDeadline.to_string());
    value["revealDeadline"] = json!(task.revealDeadline.to_string());
    value["consensus"] = json!(task.consensusValue);
    Ok((value, settled(&view, now)))
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
            } => {
                let client = ctx.reader().await?;
                let classic = client.task(taskid).await.explain(&client)?.status != 0;
                let mut value = if classic {
                    let what = format!("watching task {taskid}");
                    show(ctx, watch, what, || task_view(&client, taskid)).await?
                } else {
                    match client.fast_result(taskid, deal).await.explain(&client)? {
                        Some((dealid, idx, digest, results)) => json!({
                            "taskid": taskid, "dealid": dealid, "idx": idx.to_string(),
                            "status": "COMPLETED", "fastPath": true,
                            "resultDigest": digest, "results": results,
                        }),
                        // Neither initialized nor pushed: the classic message explains.
                        None => task_view(&client, taskid).await?.0,
                    }
                };
                if let Some(dir) = download {
                    let dir = dir.unwrap_or_else(|| {
                        std::path::PathBuf::from("results").join(format!("{taskid:x}"))
                    });
                    let (digest, link) = super::run::onchain_result(&client, taskid, deal).await?;
                    // The requester's (or beneficiary's) wallet signs in to read the result.
                    let signer = ctx.signer(None).ok();
                    super::run::download(&client, signer.as_ref(), &link, digest, &dir).await?;
                    value["downloaded"] = json!(dir);
                }
                Ok(value)
            }
            Self::Claim { taskid } => {
                let client = ctx.sender().await?;
                let receipt = ctx
                    .out
                    .wait(format!("claiming task {taskid}"), client.claim_task(taskid))
                    .await
                    .explain(&client)?;
                Ok(json!({ "taskid": taskid, "tx": receipt.transaction_hash }))
            }
        }
    }
}
