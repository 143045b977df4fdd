//! `poco info` and `poco category`.

use alloy::primitives::U256;
use clap::Subcommand;
use eyre::{bail, Result};
use serde_json::{json, Value};

use crate::{context::Context, hints::Explain};

/// `poco category ...`
#[derive(Subcommand, Debug)]
pub(crate) enum CategoryCommand {
    /// Show a category: name, description and the reference time its tasks get.
    Show {
        /// The category index (0 = XS, ..., 4 = XL on a devnet).
        index: U256,
    },
    /// Count the categories.
    Count,
    /// Create a category (hub owner only).
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// Its description.
        #[arg(long, default_value = "")]
        description: String,
        /// The reference time of its tasks, in seconds (the contribution deadline is 7 times
        /// it, the final deadline 10 times it).
        #[arg(long, value_name = "SECONDS")]
        work_clock_time_ref: u64,
    },
}

impl CategoryCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Show { index } => {
                let client = ctx.reader().await?;
                let count = client.category_count().await.explain(&client)?;
                if index >= count {
                    bail!(
                        "there is no category {index}: this hub has {count} (0 to {})",
                        count.saturating_sub(U256::from(1))
                    );
                }
                let c = client.category(index).await.explain(&client)?;
                Ok(json!({
                    "index": index.to_string(),
                    "name": c.name,
                    "description": c.description,
                    "workClockTimeRef": c.work_clock_time_ref,
                }))
            }
            Self::Count => {
                let client = ctx.reader().await?;
                let count = client.category_count().await.explain(&client)?;
                Ok(json!({ "count": count.to_string() }))
            }
            Self::Create {
                name,
                description,
                work_clock_time_ref,
            } => {
                if work_clock_time_ref == 0 {
                    bail!("--work-clock-time-ref must be at least 1 second");
                }
                let client = ctx.sender().await?;
                let owner = client.hub_owner().await.explain(&client)?;
                let me = client.sender()?;
                if owner != me {
                    bail!(
                        "only the hub owner {owner} may create categories, and the wallet is \
                         {me} (devnet: --account admin)"
                    );
                }
                ctx.out
                    .wait(
                        "creating the category",
                        client.create_category(&name, &description, work_clock_time_ref),
                    )
                    .await
                    .explain(&client)?;
                let index = client.category_count().await.explain(&client)? - U256::from(1);
                Ok(json!({ "index": index.to_string(), "name": name }))
            }
        }
    }
}

/// `poco info`: the chain and deployment in use.
pub(crate) async fn info(ctx: &Context) -> Result<Value> {
    let (_, name, _) = ctx.chain_entry()?;
    let client = ctx.reader().await?;
    let d = client.deployment();
    let block = client
        .block_number()
        .await
        .map_err(|e| eyre::eyre!("reading the block number: {e}"))?;
    Ok(json!({
        "chain": name,
        "rpcUrl": client.rpc_url(),
        "chainId": client.chain_id(),
        "block": block,
        "hub": d.hub,
        "token": d.token,
        "appRegistry": d.app_registry,
        "datasetRegistry": d.dataset_registry,
        "workerpoolRegistry": d.workerpool_registry,
        "owner": client.hub_owner().await.explain(&client)?,
        "categories": client.category_count().await.explain(&client)?.to_string(),
        "domainSeparator": client.domain().separator(),
    }))
}
