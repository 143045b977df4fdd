//! `poco run`: a requester's one command. It checks everything it can before money moves (the
//! module, the input-file URLs, the assets, the deposit), then deploys and publishes the app
//! itself when given a module file on a devnet, signs the request, matches, follows the tasks,
//! downloads each result and checks it against the digest on chain. A run given up while
//! following (the chain or the scheduler away for longer than `--rpc-patience`, or a killed
//! command) is resumed with `poco run --resume DEALID` or `poco deal follow DEALID`. A TEE run
//! (`--tag tee`, with `--secret` and `--encrypt-result`) is checked at the SMS before paying;
//! its encrypted result is decrypted after download with the beneficiary's key file when it is
//! there, and whether the run was confidential is read from its `tee.json`.
//!
//! The work is poco-requester's (the checks before money moves are its `Plan` and `Prepared`,
//! the choice of orders its `best_offer`, matching and following its `Requester`); this module
//! parses the arguments, fetches the candidate orders from a market or the local order files,
//! prints what the library reports and turns the outcome into the command's JSON and exit code.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::primitives::{Address, B256, U256};
use clap::Args;
use eyre::{bail, eyre, Result, WrapErr};
use poco_chain::PocoClient;
use poco_market::MarketClient;
use poco_requester::{
    check_input_files, local::LocalOrders, source, AppInput, AppToRun, Event, Following, Observer,
    OfferError, OfferQuery, Outcome, Plan, Prepared, RequestBuilder, Requester, SourceError,
    Sourced, TaskOutcome,
};
use poco_types::{format_rlc, ChainOrders, DealParams};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{market::MarketOpt, sms::SmsOpt};
use crate::{
    context::Context,
    files,
    hints::{chain_error, Explain},
    output::Exit,
};

/// Exit code: a task failed or its pool gave it up.
const EXIT_TASK_FAILED: u8 = 3;
/// Exit code: a downloaded result does not match the digest the chain certified.
const EXIT_UNVERIFIED: u8 = 4;
/// Exit code: following was given up (chain or scheduler away too long, or out of time).
const EXIT_GAVE_UP: u8 = 5;

/// The exit codes, in `poco run --help` and `poco deal follow --help`.
pub(crate) const EXIT_CODES: &str = "Exit codes:
  0  every task completed; its result was downloaded and matches the digest on chain
  1  an error before or while running (nothing was paid when it came before the match)
  2  bad usage (unknown flag, missing argument)
  3  a task failed or its pool gave it up (the other results are downloaded); claim the refund
     after its final deadline with `poco deal claim DEALID`
  4  a result does not match the digest the chain certified (do not trust it)
  5  gave up following: the chain or the scheduler did not answer within --rpc-patience, or the
     tasks did not finish in time; the deal goes on: resume with `poco run --resume DEALID`";

/// How `poco run` and `poco deal follow` follow a deal.
#[derive(Args, Debug, Clone)]
pub(crate) struct FollowArgs {
    /// How long to ride out a chain or scheduler that does not answer (retrying with growing
    /// waits) before giving up with exit code 5; the deal can be resumed then (e.g. 30s, 5m,
    /// 1h).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    rpc_patience: Duration,
    /// The pool's scheduler URL, to resume a deal `poco run` did not start on this machine
    /// [default: the one `poco run` recorded, else the pool's order in the local order files].
    #[arg(long, value_name = "URL")]
    scheduler: Option<String>,
    /// Where results go [default: ./results/<dealid>/, or where `poco run` put them].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

/// `poco run`
#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct RunArgs {
    /// The app: a WASM module file (deployed and published on a devnet) or an app address.
    #[arg(required_unless_present = "resume")]
    app: Option<String>,
    /// Follow a deal matched before (by a `poco run` that was stopped or gave up): wait for
    /// its tasks, download and verify the results not downloaded yet.
    #[arg(long, value_name = "DEALID", conflicts_with = "app")]
    resume: Option<B256>,
    /// The app's arguments (`iexec_args`).
    #[arg(long, default_value = "")]
    args: String,
    /// A dataset to run on.
    #[arg(long, value_name = "ADDRESS")]
    dataset: Option<Address>,
    /// The deal's params as a JSON object (`{"poco_public_results":true}`, ...); --args,
    /// --input-files, --secret and --encrypt-result override its keys.
    #[arg(long, value_name = "JSON")]
    params: Option<String>,
    /// The request's tag: the features the workerpool must offer (`tee`, `tee,tdx`, `gpu`, or
    /// a 0x hex bitmap); a `tee` run goes to a TEE pool, whose workers get the dataset key and
    /// the secrets from the SMS inside an attested enclave.
    #[arg(long, value_name = "TAG")]
    tag: Option<poco_types::Tag>,
    /// A requester secret given to the app of a TEE run as IEXEC_REQUESTER_SECRET_<INDEX>
    /// (`iexec_secrets`), pushed before with `poco requester push-secret NAME`; repeatable.
    #[arg(long = "secret", value_name = "INDEX=NAME")]
    secrets: Vec<String>,
    /// Have a TEE run encrypt its result for the beneficiary (`iexec_result_encryption`): its
    /// public key must be at the SMS (`poco result push-encryption-key`); the result is
    /// decrypted after download with .secrets/beneficiary/<address>_key when it is there.
    #[arg(long)]
    encrypt_result: bool,
    /// Input files, comma-separated http(s) URLs (`iexec_input_files`; `#sha256=<hex>` is
    /// checked).
    #[arg(long, value_delimiter = ',', value_name = "URL,...")]
    input_files: Vec<String>,
    /// The trust asked: 1 runs once (fast path), more replicates the task until the votes
    /// reach 1 − 1/trust.
    #[arg(long, default_value_t = 1)]
    trust: u64,
    /// The category [default: the lowest one a workerpool order offers].
    #[arg(long)]
    category: Option<u64>,
    /// The number of tasks (a bag of tasks: IEXEC_BOT_* tell each its index).
    #[arg(long, default_value_t = 1)]
    volume: u64,
    /// A contract to receive the result (`callback-data`).
    #[arg(long, value_name = "ADDRESS")]
    callback: Option<Address>,
    /// Only this workerpool.
    #[arg(long, value_name = "ADDRESS")]
    workerpool: Option<Address>,
    #[command(flatten)]
    follow: FollowArgs,
    /// Follow the tasks until their results are downloaded (the default; iExec's flag).
    #[arg(long, conflicts_with = "no_watch")]
    watch: bool,
    /// Match and print the deal without following it.
    #[arg(long)]
    no_watch: bool,
    #[command(flatten)]
    market: MarketOpt,
    #[command(flatten)]
    sms: SmsOpt,
}

/// The orders of the local order files, with the scheduler URL of each workerpool order.
pub(crate) fn local_orders(chain_id: u64) -> Result<LocalOrders> {
    Ok(LocalOrders::read(&files::local_order_files()?, chain_id))
}

impl RunArgs {
    /// What to look for among the orders.
    fn offer_query(&self, app: Address, requester: Address, volume: u64) -> OfferQuery {
        OfferQuery {
            app,
            dataset: self.dataset,
            workerpool: self.workerpool,
            category: self.category,
            trust: self.trust,
            tag: self.tag.unwrap_or_default(),
            volume,
            requester,
        }
    }

    /// Picks the orders from the market, or from the local order files when there is none
    /// (a new app order of the wallet's own when no source offers one).
    async fn choose(
        &self,
        client: &PocoClient,
        market: Option<&MarketClient>,
        plan: &Plan,
    ) -> Result<Sourced> {
        let query = self.offer_query(plan.app.address(), client.sender()?, self.volume);
        let sourced = match market {
            Some(market) => source::from_market(client, market, plan, &query).await,
            None => {
                let local = local_orders(client.chain_id())?;
                source::from_local(client, &local, plan, &query).await
            }
        };
        sourced.map_err(|e| match e {
            SourceError::Requester(e) => requester_error(*e, client, None),
            SourceError::Chain(e) => chain_error(e, client.rpc_url()),
            SourceError::Offer(e) => match market {
                Some(market) => eyre!("on the market {}: {e}", market.url()),
                None => self.no_local_offer(e, query.app),
            },
            e => eyre::Report::new(e),
        })
    }

    /// Why the local order files offer nothing, with where orders come from.
    fn no_local_offer(&self, error: OfferError, address: Address) -> eyre::Report {
        let volume = self.volume;
        match error {
            OfferError::NoAppOrder { .. } => eyre!(
                "no app order for {address} in the local order files; ask its owner to publish \
                 one (orders.json or $POCO_HOME/orders/), or use a market with --market"
            ),
            OfferError::NoDatasetOrder { dataset, .. } => eyre!(
                "no dataset order for {dataset} with {volume} tasks left in the local order \
                 files; ask the dataset owner to publish one"
            ),
            OfferError::NoWorkerpoolOrder { .. } => eyre!(
                "no workerpool order offers trust {} for {volume} tasks{} in the local order \
                 files; start a pool with `poco scheduler --publish-price ...`, or put a signed \
                 workerpool order in orders.json",
                self.trust,
                self.category
                    .map(|c| format!(" in category {c}"))
                    .unwrap_or_default()
            ),
        }
    }

    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        if let Some(dealid) = self.resume {
            return follow_deal(ctx, dealid, self.follow).await;
        }
        let Some(app_arg) = self.app.as_deref() else {
            bail!("give the app to run (a module file or an app address), or --resume DEALID");
        };
        // What can be checked without the chain, first.
        if self.volume == 0 {
            bail!("--volume must be at least 1");
        }
        let mut params = match &self.params {
            None => DealParams::default(),
            Some(text) => {
                let parsed: serde_json::Map<String, Value> = serde_json::from_str(text)
                    .map_err(|e| eyre!("--params is not a JSON object: {e}"))?;
                DealParams::parse(&Value::Object(parsed).to_string())
                    .map_err(|e| eyre!("--params: {e}"))?
            }
        };
        if self.encrypt_result {
            params.iexec_result_encryption = Some(true);
        }
        for secret in &self.secrets {
            let (index, name) = secret
                .split_once('=')
                .filter(|(i, n)| !i.trim().is_empty() && !n.trim().is_empty())
                .ok_or_else(|| {
                    eyre!("--secret {secret:?} is not INDEX=NAME: give e.g. --secret 1=my-api-key")
                })?;
            params
                .iexec_secrets
                .get_or_insert_with(Default::default)
                .insert(index.trim().to_owned(), name.trim().to_owned());
        }
        let tee = self.tag.is_some_and(|t| t.is_tee());
        if !tee && (params.result_encryption() || params.iexec_secrets.is_some()) {
            bail!(
                "secrets and result encryption are for TEE runs, whose enclave gets them from the \
                 SMS: add --tag tee (or tee,tdx for the official SDK's pools)"
            );
        }
        if tee && self.trust > 1 && params.result_encryption() {
            bail!(
                "an encrypted TEE result cannot be replicated: with --trust {} several enclaves \
                 would each encrypt their result under a key of their own, and their votes would \
                 never agree; use --trust 1 (the attestation vouches for the run), or replicate \
                 without --encrypt-result",
                self.trust
            );
        }
        if !self.args.is_empty() || params.iexec_args.is_none() {
            params.iexec_args = Some(self.args.clone());
        }
        if !self.input_files.is_empty() {
            params.iexec_input_files = Some(self.input_files.clone());
        }
        let input_files = params.iexec_input_files.clone().unwrap_or_default();
        check_input_files(&input_files, None).map_err(eyre::Report::new)?;
        let app_input = AppInput::read(app_arg).map_err(eyre::Report::new)?;

        // Then what the chain knows, still without sending anything.
        let client = ctx.sender().await?;
        let me = client.sender()?;
        let plan = Plan::new(
            &client,
            app_input,
            self.dataset,
            self.workerpool,
            &input_files,
        )
        .await
        .map_err(|e| requester_error(e, &client, None))?;
        let market = match self.market.configured(ctx) {
            None => None,
            Some(url) => {
                let market = MarketClient::new(&url)?;
                match market.metrics().await {
                    Ok(_) => Some(market),
                    Err(e) if self.market.market.is_some() => {
                        bail!("the market {url} does not answer: {e}")
                    }
                    Err(_) => {
                        eprintln!("no market answers at {url}; using the local order files");
                        None
                    }
                }
            }
        };
        let Sourced { offer, publish_app } = self.choose(&client, market.as_ref(), &plan).await?;
        let (app, dataset, pool, api) = (
            offer.app.order,
            offer.dataset.map(|d| d.order),
            offer.workerpool.order,
            offer.workerpool.meta,
        );
        let prepared = plan
            .prepare(&client, app, dataset, pool, self.volume)
            .await
            .map_err(|e| requester_error(e, &client, None))?;
        if params.result_encryption() || params.iexec_secrets.is_some() {
            // What the enclave will ask the SMS for is there, before anything is paid.
            let secrets = params.iexec_secrets.clone().unwrap_or_default();
            poco_requester::check_sms(
                &self.sms.client(ctx)?,
                me,
                me,
                &secrets,
                params.result_encryption(),
            )
            .await
            .map_err(|e| requester_error(e, &client, None))?;
        }

        // Every check passed: deploy, publish, sign and match.
        if let Some(spec) = prepared.app.to_deploy() {
            let deployed = ctx
                .out
                .wait(format!("deploying {}", spec.name), prepared.deploy(&client))
                .await
                .map_err(|e| requester_error(e, &client, None))?;
            if let (Some(deployed), AppToRun::File { path, .. }) = (deployed, &prepared.app) {
                eprintln!("deployed app {deployed} from {}", path.display());
            }
        }
        let Prepared {
            app: to_run,
            app_order: app,
            dataset_order: dataset,
            workerpool_order: pool,
            price,
            ..
        } = prepared;
        if publish_app {
            let address = to_run.address();
            match &market {
                Some(market) => {
                    let signer = client.signer().ok_or_else(|| eyre!("no wallet"))?;
                    let entry = market
                        .publish(signer, &app, None)
                        .await
                        .wrap_err("cannot publish an app order for your app")?;
                    eprintln!(
                        "published app order {} on {}",
                        entry.order_hash,
                        market.url()
                    );
                }
                None => files::publish_orders(
                    &format!("app-{address:x}"),
                    client.chain_id(),
                    ChainOrders {
                        apporder: Some(app.clone()),
                        ..Default::default()
                    },
                )?,
            }
        }
        let volume = U256::from(self.volume);
        let request = RequestBuilder::new(
            &app.order,
            dataset.as_ref().map(|d| &d.order),
            &pool.order,
            me,
        )
        .volume(volume)
        .trust(self.trust)
        .callback(self.callback.unwrap_or_default())
        .tag(self.tag.unwrap_or_default())
        .params(params.to_json_string())
        .sign(
            &client.domain(),
            client.signer().ok_or_else(|| eyre!("no wallet"))?,
        )?;

        let fast = self.trust <= 1;
        let printer = Printer::new(ctx.opts.json);
        let requester = Requester::new(&client, self.follow.rpc_patience, &printer);
        let deal = ctx
            .out
            .wait(
                if fast {
                    "matching (fast path)"
                } else {
                    "matching"
                },
                requester.match_orders(fast, &app, dataset.as_ref(), &pool, &request),
            )
            .await
            .map_err(|e| requester_error(e, &client, None))?;
        let dealid = deal.dealid;
        // The ids first, so that the deal can be followed again whatever happens next.
        eprintln!(
            "deal {dealid} with workerpool {} ({} task{}, {} each)",
            pool.order.workerpool,
            deal.tasks.len(),
            if deal.tasks.len() == 1 { "" } else { "s" },
            format_rlc(price)
        );
        for taskid in &deal.tasks {
            eprintln!("task {taskid}");
        }
        let folder = self
            .follow
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(format!("{dealid:x}")));
        let record = RunRecord {
            dealid,
            chain_id: client.chain_id(),
            workerpool: pool.order.workerpool,
            fast,
            tasks: deal.tasks.clone(),
            scheduler: api.clone(),
            folder: std::path::absolute(&folder).unwrap_or_else(|_| folder.clone()),
        };
        if let Err(e) = record.save() {
            eprintln!("warning: cannot record the deal for --resume ({e:#})");
        }
        let out = json!({
            "ok": true,
            "dealid": dealid,
            "app": app.order.app,
            "workerpool": pool.order.workerpool,
            "trust": self.trust,
            "fast": fast,
            "tasks": deal.tasks,
        });
        if self.no_watch {
            return Ok(out);
        }
        eprintln!("if this command stops, resume with `poco run --resume {dealid}`");
        let Some(api) = api.or(self.follow.scheduler.clone()) else {
            bail!(
                "the workerpool order does not say where its scheduler is; follow the deal with \
                 `poco deal follow {dealid} --scheduler URL`, or `poco deal show {dealid} --watch`"
            );
        };
        let target = Following {
            dealid,
            tasks: deal.tasks,
            fast,
            api,
            folder,
        };
        let results = follow(ctx, &client, self.follow.rpc_patience, &target)
            .await
            .map_err(|e| with_deal(e, &out))?;
        verdict(out, results, dealid)
    }
}

/// Gives an exit without a result (following given up) the deal's ids, so that a script can
/// resume it.
fn with_deal(error: eyre::Report, out: &Value) -> eyre::Report {
    match error.downcast::<Exit>() {
        Ok(mut exit) => {
            if exit.value.is_none() {
                let mut value = out.clone();
                value["ok"] = json!(false);
                value["error"] = json!(exit.message);
                exit.value = Some(value);
            }
            exit.into()
        }
        Err(error) => error,
    }
}

/// What `poco run` records about a deal it matched, for `--resume` and `poco deal follow`
/// (`$POCO_HOME/runs/<chain id>-<dealid>.json`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunRecord {
    dealid: B256,
    chain_id: u64,
    workerpool: Address,
    fast: bool,
    tasks: Vec<B256>,
    scheduler: Option<String>,
    folder: PathBuf,
}

impl RunRecord {
    fn path(chain_id: u64, dealid: B256) -> Result<PathBuf> {
        Ok(crate::config::poco_home()?
            .join("runs")
            .join(format!("{chain_id}-{dealid:x}.json")))
    }

    fn save(&self) -> Result<()> {
        let path = Self::path(self.chain_id, self.dealid)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")
            .wrap_err_with(|| format!("cannot write {}", path.display()))
    }

    fn load(chain_id: u64, dealid: B256) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(chain_id, dealid).ok()?).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// `poco run --resume DEALID` and `poco deal follow DEALID`: follows a deal matched before,
/// downloads and verifies the results not downloaded yet.
pub(crate) async fn follow_deal(ctx: &Context, dealid: B256, args: FollowArgs) -> Result<Value> {
    // With the wallet, to sign in at the pool for private results; without, public ones only.
    let client = match ctx.sender().await {
        Ok(client) => client,
        Err(_) => ctx.reader().await?,
    };
    let printer = Printer::new(ctx.opts.json);
    let requester = Requester::new(&client, args.rpc_patience, &printer);
    let record = RunRecord::load(client.chain_id(), dealid);
    let (workerpool, fast, tasks, recorded_api, recorded_folder) = match record {
        Some(r) => (r.workerpool, r.fast, r.tasks, r.scheduler, Some(r.folder)),
        None => {
            let classic = requester
                .chain("reading the deal", || client.deal(dealid))
                .await;
            match classic {
                Ok(deal) => (
                    deal.workerpool.pointer,
                    false,
                    poco_chain::task_ids(dealid, deal.botFirst, deal.botSize),
                    None,
                    None,
                ),
                Err(_) => {
                    let notice = requester
                        .chain("reading the deal", || client.fast_deal(dealid))
                        .await
                        .map_err(|e| requester_error(e, &client, Some(dealid)))?;
                    let Some(deal) = notice else {
                        bail!(
                            "there is no deal {dealid} on chain {} (neither classic nor fast): \
                             check the deal id and the chain (--chain, --rpc-url)",
                            client.chain_id()
                        );
                    };
                    (deal.workerpool, true, deal.task_ids(), None, None)
                }
            }
        }
    };
    let api = match args.scheduler.or(recorded_api) {
        Some(api) => api,
        None => local_orders(client.chain_id())?
            .pools
            .into_iter()
            .filter(|(o, _)| o.order.workerpool == workerpool)
            .find_map(|(_, api)| api)
            .ok_or_else(|| {
                eyre!(
                    "where is the scheduler of workerpool {workerpool}? No `poco run` of this \
                     machine recorded it and no local order names it: pass --scheduler URL"
                )
            })?,
    };
    let folder = args
        .out
        .or(recorded_folder)
        .unwrap_or_else(|| PathBuf::from("results").join(format!("{dealid:x}")));
    let target = Following {
        dealid,
        tasks: tasks.clone(),
        fast,
        api,
        folder,
    };
    let out = json!({
        "ok": true,
        "dealid": dealid,
        "workerpool": workerpool,
        "fast": fast,
        "tasks": tasks,
    });
    let results = follow(ctx, &client, args.rpc_patience, &target)
        .await
        .map_err(|e| with_deal(e, &out))?;
    verdict(out, results, dealid)
}

/// The command's result: `ok` and the exit code say whether every task completed with a
/// verified result.
fn verdict(mut out: Value, results: Vec<Value>, dealid: B256) -> Result<Value> {
    let total = results.len();
    let failed = results
        .iter()
        .filter(|r| r["status"] != "COMPLETED")
        .count();
    let unverified = results.iter().filter(|r| r["verified"] == false).count();
    out["ok"] = json!(failed == 0 && unverified == 0);
    out["results"] = Value::Array(results);
    if unverified > 0 {
        return Err(Exit {
            code: EXIT_UNVERIFIED,
            message: format!(
                "{unverified} of {total} result(s) do not match the digest the chain certified: \
                 do not trust them"
            ),
            value: Some(out),
        }
        .into());
    }
    if failed > 0 {
        return Err(Exit {
            code: EXIT_TASK_FAILED,
            message: format!(
                "{failed} of {total} task(s) failed; claim their refund after the final deadline \
                 with `poco deal claim {dealid}`"
            ),
            value: Some(out),
        }
        .into());
    }
    Ok(out)
}

/// The error that ends following: exit code 5 with how to resume (a plain error before the
/// match).
fn give_up(why: String, dealid: Option<B256>) -> eyre::Report {
    match dealid {
        Some(dealid) => Exit {
            code: EXIT_GAVE_UP,
            message: format!(
                "{why}; gave up following deal {dealid}, which goes on without this command: \
                 resume with `poco run --resume {dealid}` (or `poco deal follow {dealid}`)"
            ),
            value: None,
        }
        .into(),
        None => eyre!(why),
    }
}

/// A requester error with the command's fixes: chain errors explained, waiting given up as
/// exit code 5 once there is a deal to resume.
fn requester_error(
    error: poco_requester::Error,
    client: &PocoClient,
    dealid: Option<B256>,
) -> eyre::Report {
    match error {
        poco_requester::Error::Chain(e) => chain_error(e, client.rpc_url()),
        poco_requester::Error::GaveUp(why) => give_up(why, dealid),
        poco_requester::Error::MatchUnknown {
            request_hash,
            error,
        } => eyre!(
            "{:#}; the request {request_hash} may have been matched: look for its deal with \
             `poco order show --request` once the chain answers",
            requester_error(*error, client, dealid)
        ),
        e => eyre::Report::new(e),
    }
}

/// Prints what the requester library reports on stderr, with a progress bar while following
/// (hidden with `--json`).
struct Printer {
    json: bool,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Printer {
    fn new(json: bool) -> Self {
        Self {
            json,
            bar: std::sync::Mutex::new(None),
        }
    }

    /// Prints a line above the progress bar.
    fn line(&self, text: String) {
        match &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Clears the progress bar, if any.
    fn clear(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Printer {
    fn report(&self, event: Event<'_>) {
        let patience = |d: Duration| humantime::format_duration(d).to_string();
        match event {
            Event::ChainAway {
                rpc_url,
                what,
                patience: bound,
            } => eprintln!(
                "warning: the chain at {rpc_url} does not answer ({what}); retrying for up to {} \
                 (--rpc-patience)",
                patience(bound)
            ),
            Event::ChainBack { rpc_url } => eprintln!("the chain at {rpc_url} answers again"),
            Event::MatchUncertain { error } => eprintln!(
                "warning: matching did not end well ({error}); finding out whether the match was \
                 mined"
            ),
            Event::MatchMined => eprintln!("the match was mined"),
            Event::AlreadyVerified { taskid, dir } => eprintln!(
                "task {taskid}: already downloaded and verified in {}",
                dir.display()
            ),
            Event::Following { total, done } => {
                let bar = if self.json {
                    indicatif::ProgressBar::hidden()
                } else {
                    let bar = indicatif::ProgressBar::new(total as u64);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(100));
                    bar
                };
                bar.set_message("running");
                bar.inc(done as u64);
                *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
            }
            Event::SchedulerAway {
                api,
                taskid,
                error,
                patience: bound,
            } => self.line(format!(
                "warning: the scheduler at {api} does not answer about task {taskid} ({error}); \
                 retrying for up to {} (--rpc-patience)",
                patience(bound)
            )),
            Event::SchedulerBack { api } => {
                self.line(format!("the scheduler at {api} answers again"))
            }
            Event::TaskEnded { .. } => {
                if let Some(bar) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
                    bar.inc(1);
                }
            }
            Event::Stopped => self.clear(),
            Event::Finished { elapsed } => {
                eprintln!("done in {:.1} s", elapsed.as_secs_f64())
            }
            Event::TaskFailed {
                taskid,
                dealid,
                reason,
            } => eprintln!(
                "task {taskid} failed: {reason}; claim the refund after its final deadline with \
                 `poco deal claim {dealid}`"
            ),
            Event::Verified { dir, .. } => print_result(self.json, dir),
            Event::Unverified { taskid, error } => eprintln!("task {taskid}: {error}"),
            Event::StoreAway {
                error,
                patience: bound,
            } => eprintln!(
                "warning: {error}; retrying for up to {} (--rpc-patience)",
                patience(bound)
            ),
            Event::SignInFailed { api, error } => eprintln!(
                "cannot sign in at the pool's scheduler {api} ({error}); downloading without"
            ),
            _ => {}
        }
    }
}

/// Follows the tasks at their scheduler, downloads and checks each result not downloaded yet
/// (the requester library), and gives each task's outcome as the command's JSON.
async fn follow(
    ctx: &Context,
    client: &PocoClient,
    patience: Duration,
    target: &Following,
) -> Result<Vec<Value>> {
    let printer = Printer::new(ctx.opts.json);
    let outcomes = Requester::new(client, patience, &printer)
        .follow(target)
        .await;
    printer.clear();
    let outcomes = outcomes.map_err(|e| requester_error(e, client, Some(target.dealid)))?;
    // Where `poco result generate-keypair` writes the beneficiary's private key.
    let key = client.sender().ok().map(|b| {
        PathBuf::from(super::sms::BENEFICIARY_KEY_DIR)
            .join(poco_sms::result_crypto::private_key_file_name(&b))
    });
    Ok(outcomes
        .into_iter()
        .map(|TaskOutcome { taskid, outcome }| match outcome {
            Outcome::Verified { digest, folder } => {
                let mut out = json!({
                    "taskid": taskid, "status": "COMPLETED", "resultDigest": digest,
                    "verified": true, "folder": folder,
                });
                if let (Some(map), Value::Object(tee)) = (
                    out.as_object_mut(),
                    open_tee_result(ctx.opts.json, key.as_deref(), &folder),
                ) {
                    map.extend(tee);
                }
                out
            }
            Outcome::Unverified { digest, failure } => json!({
                "taskid": taskid, "status": "COMPLETED", "resultDigest": digest,
                "verified": false, "failure": failure,
            }),
            Outcome::Failed { status, reason } => json!({
                "taskid": taskid, "status": status, "failure": reason, "verified": Value::Null,
            }),
        })
        .collect())
}

/// A TEE task's result after download: an encrypted one is decrypted into its folder with the
/// beneficiary's private key `key` when the file is there (else the command that decrypts it
/// is printed); `tee.json` tells whether the run was confidential. Nothing for a standard
/// task's result.
fn open_tee_result(json: bool, key: Option<&Path>, folder: &Path) -> Value {
    use poco_sms::result_crypto;
    let mut out = serde_json::Map::new();
    let archive = folder.with_extension("zip");
    let Ok(bytes) = std::fs::read(&archive) else {
        return Value::Object(out);
    };
    if poco_requester::is_encrypted_result(&bytes) {
        out.insert("encrypted".into(), json!(true));
        let decrypt_command = format!(
            "poco result decrypt {} --key <the beneficiary's private key> --out results.zip",
            archive.display()
        );
        match key.filter(|k| k.is_file()) {
            None => eprintln!(
                "the result is encrypted for the beneficiary; decrypt it with `{decrypt_command}`"
            ),
            Some(key) => {
                let opened = std::fs::read_to_string(key)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| {
                        result_crypto::decrypt_result(&bytes, &pem).map_err(|e| e.to_string())
                    })
                    .and_then(|plain| {
                        poco_runtime::archive_digest(&plain, folder).map_err(|e| e.to_string())
                    });
                match opened {
                    Ok(_) => {
                        out.insert("decrypted".into(), json!(true));
                        eprintln!("decrypted the result with {}", key.display());
                        print_result(json, folder);
                    }
                    Err(e) => {
                        out.insert("decrypted".into(), json!(false));
                        eprintln!(
                            "warning: the result does not decrypt with {} ({e}); decrypt it with \
                             `{decrypt_command}`",
                            key.display()
                        )
                    }
                }
            }
        }
    }
    let tee = std::fs::read(folder.join(poco_worker::TEE_JSON))
        .ok()
        .and_then(|b| serde_json::from_slice::<poco_worker::TeeReport>(&b).ok());
    if let Some(tee) = tee {
        out.insert("confidential".into(), json!(tee.confidential));
        out.insert("platform".into(), json!(tee.platform));
        if tee.confidential {
            eprintln!(
                "the run was confidential: an attested {} enclave (measurement {})",
                tee.platform, tee.measurement
            );
        } else {
            eprintln!(
                "the run was NOT confidential: the worker used the development TEE provider \
                 (no enclave; its operator could read the dataset, the secrets and the result)"
            );
        }
    }
    Value::Object(out)
}

fn print_result(json: bool, dir: &Path) {
    if json {
        return;
    }
    let text = std::fs::read_to_string(dir.join("result.txt"))
        .ok()
        .filter(|t| t.len() <= 4096);
    match text {
        Some(text) => eprintln!(
            "── {} ──\n{}",
            dir.join("result.txt").display(),
            text.trim_end()
        ),
        None => eprintln!("result in {}", dir.display()),
    }
}

/// The digest and result link of a completed task, from the chain.
pub(crate) async fn onchain_result(
    client: &PocoClient,
    taskid: B256,
    fast_deal: Option<B256>,
) -> Result<(B256, String)> {
    match poco_requester::onchain_result(client, taskid, fast_deal)
        .await
        .explain(client)?
    {
        Some(found) => Ok(found),
        None => {
            let task = client.task(taskid).await.explain(client)?;
            bail!(
                "task {taskid} has no result on chain yet (status {})",
                poco_types::TaskStatus::name_of(task.status)
            )
        }
    }
}

/// Downloads a result from its link into `dir` and checks it against the on-chain digest,
/// signing in at the pool's scheduler with `signer` first (the requester library).
pub(crate) async fn download(
    ctx: &Context,
    signer: Option<&alloy::signers::local::PrivateKeySigner>,
    link: &str,
    digest: B256,
    dir: &Path,
) -> Result<()> {
    let printer = Printer::new(ctx.opts.json);
    poco_requester::download(signer, link, digest, dir, &printer)
        .await
        .map_err(eyre::Report::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in files {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    /// An encrypted result is decrypted into its folder with the beneficiary's key, and its
    /// tee.json read; without the key it stays packed; a standard result gets nothing.
    #[test]
    fn a_tee_result_is_decrypted_with_the_beneficiary_s_key() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("task");
        let result = zip_of(&[
            (
                "computed.json",
                br#"{"deterministic-output-path":"/iexec_out/result.txt"}"#,
            ),
            ("result.txt", b"42 quokkas"),
            (
                "tee.json",
                br#"{"platform":"dev","measurement":"dev","confidential":false}"#,
            ),
        ]);
        let keys = poco_sms::result_crypto::generate_keypair().unwrap();
        let sealed = poco_sms::result_crypto::encrypt_result(&result, &keys.public_pem).unwrap();
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.with_extension("zip"), &sealed).unwrap();

        let missing = dir.path().join("no_key");
        let out = open_tee_result(true, Some(&missing), &folder);
        assert_eq!(out, json!({ "encrypted": true }));
        assert!(!folder.join("result.txt").exists());

        let key = dir.path().join("key");
        std::fs::write(&key, keys.private_pem.as_bytes()).unwrap();
        let out = open_tee_result(true, Some(&key), &folder);
        assert_eq!(
            out,
            json!({ "encrypted": true, "decrypted": true, "confidential": false, "platform": "dev" })
        );
        assert_eq!(
            std::fs::read(folder.join("result.txt")).unwrap(),
            b"42 quokkas"
        );

        let other = dir.path().join("other");
        std::fs::write(&other, b"not a key").unwrap();
        let out = open_tee_result(true, Some(&other), &folder);
        assert_eq!(out["decrypted"], false);

        let plain = dir.path().join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.with_extension("zip"), zip_of(&[("result.txt", b"x")])).unwrap();
        assert_eq!(open_tee_result(true, Some(&key), &plain), json!({}));
    }
}
