//! `poco devnet`: a local chain for development and demos.
//!
//! `start` runs anvil (the project's pinned build) in the background, deploys poco with the
//! default categories on first start, gives RLC to named accounts and writes the `devnet` chain
//! into the chain configuration file. It also starts the devnet's SMS (`poco sms` on a free port,
//! logging to `$POCO_HOME/devnet/sms.log`) with `--insecure-dev-attestation`, since a devnet
//! has no TEE hardware (its output says so), writes its URL as the chain's `sms` in chain.json,
//! where the iExec SDK and `poco ... push-secret` find it, and `stop` stops it with anvil.
//! anvil dumps its state to `$POCO_HOME/devnet/state.json` every two seconds and when stopped,
//! and loads it on the next start, so a stopped devnet
//! resumes where it was. The port it listened on is kept in `$POCO_HOME/devnet/port.json` and
//! used again on the next start (even when the first start asked for `--port 0`), so the RPC URL
//! in chain.json, and in every service started against it, stays the same.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    primitives::U256,
    providers::{ext::AnvilApi, Provider, ProviderBuilder},
};
use clap::Subcommand;
use eyre::{bail, eyre, Result, WrapErr};
use poco_chain::{ClientConfig, PocoClient};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    config::{chain_file_path, poco_home, ChainEntry, ChainFile, NamedAccount},
    context::Context,
    hints::Explain,
};

/// The devnet's name in the chain configuration.
pub(crate) const DEVNET: &str = "devnet";

/// The names given to anvil's ten accounts, in order; the first deploys poco and owns the hub.
pub(crate) const ACCOUNT_NAMES: [&str; 10] = [
    "admin",
    "requester",
    "app-owner",
    "dataset-owner",
    "scheduler",
    "worker1",
    "worker2",
    "worker3",
    "worker4",
    "beneficiary",
];

/// RLC given to each named account but the admin, in nRLC (1,000,000 RLC).
const FUNDING: u64 = 1_000_000 * poco_types::NRLC_PER_RLC;

/// `poco devnet ...`
#[derive(Subcommand, Debug)]
pub(crate) enum DevnetCommand {
    /// Start the devnet in the background (or resume it from its saved state).
    Start {
        /// The port to listen on [default: the port of the devnet's last start, else 8545]; 0
        /// picks a free one, which later starts keep.
        #[arg(long)]
        port: Option<u16>,
        /// Seconds between blocks [default: a block per transaction].
        #[arg(long, value_name = "SECONDS")]
        block_time: Option<u64>,
        /// Forget the saved state and deploy a new poco.
        #[arg(long)]
        fresh: bool,
        /// Stay in the foreground until Ctrl-C, then stop the devnet.
        #[arg(long)]
        foreground: bool,
    },
    /// Stop the devnet (its state is saved for the next start).
    Stop,
    /// Show whether the devnet runs, where, and its deployment.
    Status,
    /// Move the devnet's clock forward (to reach deadlines) and mine a block.
    AdvanceTime {
        /// Seconds to add.
        seconds: u64,
    },
}

/// What a running devnet leaves in `$POCO_HOME/devnet/devnet.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Running {
    pid: u32,
    rpc_url: String,
    log_file: PathBuf,
    state_file: PathBuf,
    /// The devnet's SMS (`poco sms`, started beside anvil).
    #[serde(default)]
    sms_pid: Option<u32>,
}

struct Paths {
    dir: PathBuf,
    state: PathBuf,
    log: PathBuf,
    running: PathBuf,
    /// The port of the last start ([`SavedPort`]).
    port: PathBuf,
}

/// What `$POCO_HOME/devnet/port.json` keeps between starts.
#[derive(Debug, Serialize, Deserialize)]
struct SavedPort {
    port: u16,
}

impl Paths {
    fn new() -> Result<Self> {
        let dir = poco_home()?.join("devnet");
        Ok(Self {
            state: dir.join("state.json"),
            log: dir.join("anvil.log"),
            running: dir.join("devnet.json"),
            port: dir.join("port.json"),
            dir,
        })
    }

    /// The port of the devnet's last start, if any.
    fn saved_port(&self) -> Option<u16> {
        let text = std::fs::read_to_string(&self.port).ok()?;
        serde_json::from_str::<SavedPort>(&text)
            .ok()
            .map(|s| s.port)
            .filter(|p| *p != 0)
    }

    fn running(&self) -> Result<Option<Running>> {
        match std::fs::read_to_string(&self.running) {
            Ok(text) => Ok(serde_json::from_str(&text).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).wrap_err_with(|| format!("cannot read {}", self.running.display())),
        }
    }
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

impl DevnetCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Start {
                port,
                block_time,
                fresh,
                foreground,
            } => start(ctx, port, block_time, fresh, foreground).await,
            Self::Stop => stop(ctx).await,
            Self::Status => status(ctx).await,
            Self::AdvanceTime { seconds } => advance(ctx, seconds).await,
        }
    }
}

/// Reads anvil's log until it listens; returns its URL and the private keys it printed.
fn wait_for_anvil(log: &Path, pid: u32, from: u64) -> Result<(String, Vec<String>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut file =
            File::open(log).wrap_err_with(|| format!("cannot read {}", log.display()))?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(from))?;
        let (mut keys, mut url) = (Vec::new(), None);
        let mut all = String::new();
        for line in BufReader::new(file).lines() {
            let line = line?;
            let trimmed = line.trim();
            if let Some(rest) = trimmed.strip_prefix('(') {
                if let Some((_, key)) = rest.split_once(") ") {
                    if key.starts_with("0x") && key.len() == 66 {
                        keys.push(key.to_string());
                    }
                }
            }
            if let Some(address) = trimmed.strip_prefix("Listening on ") {
                url = Some(format!("http://{address}"));
            }
            all.push_str(&line);
            all.push('\n');
        }
        if let Some(url) = url {
            return Ok((url, keys));
        }
        if !alive(pid) {
            let hint = if all.contains("Address already in use") {
                "the port is in use: pass --port N, or --port 0 for a free one".to_string()
            } else {
                format!("see {}", log.display())
            };
            bail!("anvil stopped at start ({hint}):\n{}", all.trim_end());
        }
        if Instant::now() > deadline {
            bail!("anvil did not start within 30 s; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn start(
    ctx: &Context,
    port: Option<u16>,
    block_time: Option<u64>,
    fresh: bool,
    foreground: bool,
) -> Result<Value> {
    let paths = Paths::new()?;
    if let Some(running) = paths.running()? {
        if alive(running.pid) {
            if fresh {
                bail!(
                    "the devnet is running (pid {}); stop it with `poco devnet stop` before \
                     starting it --fresh",
                    running.pid
                );
            }
            let mut value = status(ctx).await?;
            value["started"] = json!(false);
            return Ok(value);
        }
    }
    // What is left of a devnet that is not running any more names processes that are gone
    // (their pids may be anyone's now).
    let _ = std::fs::remove_file(&paths.running);
    std::fs::create_dir_all(&paths.dir)
        .wrap_err_with(|| format!("cannot create {}", paths.dir.display()))?;
    let chain_path = chain_file_path(ctx.opts.chain_config.as_deref())?;
    let mut chains = ChainFile::load(&chain_path)?;
    if fresh {
        let _ = std::fs::remove_file(&paths.state);
        chains.chains.remove(DEVNET);
    }

    // The port of the last start, unless another one is asked for: the RPC URL in chain.json
    // and in the running services stays the same.
    let saved = paths.saved_port();
    let port = match (port, saved) {
        (None | Some(0), Some(saved)) => {
            if std::net::TcpListener::bind(("127.0.0.1", saved)).is_err() {
                bail!(
                    "port {saved} of the devnet (its RPC URL http://127.0.0.1:{saved}, which \
                     chain.json and the services started against it use) is taken by another \
                     process; free it and start again, or start the devnet on another port with \
                     `poco devnet start --port N` and restart those services"
                );
            }
            saved
        }
        (Some(port), _) => port,
        (None, None) => 8545,
    };
    let anvil = poco_chain::devchain::anvil_path()?;
    let log_start = std::fs::metadata(&paths.log).map(|m| m.len()).unwrap_or(0);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .wrap_err_with(|| format!("cannot write {}", paths.log.display()))?;
    let mut command = Command::new(&anvil);
    command
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--accounts", "10", "--state-interval", "2"])
        .arg("--state")
        .arg(&paths.state)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(seconds) = block_time {
        command.args(["--block-time", &seconds.to_string()]);
    }
    if !foreground {
        // Its own process group: Ctrl-C in this terminal does not stop the background devnet.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
    }
    let mut child = command.spawn().wrap_err_with(|| {
        format!(
            "cannot run anvil at {}; install the pinned tools with `npm ci` at the repository \
             root, or set POCO_ANVIL",
            anvil.display()
        )
    })?;
    let pid = child.id();
    let mut sms = None;
    let started = bring_up(
        ctx,
        &paths,
        &chain_path,
        chains,
        pid,
        log_start,
        foreground,
        &mut sms,
    );
    let value = match started.await {
        Ok(value) => value,
        Err(e) => {
            // Nothing half-started is left behind: a later `start` would take the bare anvil
            // for a running devnet.
            abort_start(&paths, &mut child, sms);
            return Err(e.wrap_err(
                "the devnet did not start, and what it had started was stopped; fix the cause \
                 below and run `poco devnet start` again",
            ));
        }
    };
    if foreground {
        ctx.out.print(&value);
        let rpc_url = value["rpcUrl"].as_str().unwrap_or_default().to_owned();
        eprintln!("devnet running at {rpc_url}; Ctrl-C stops it");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            status = tokio::task::spawn_blocking(move || child.wait()) => {
                bail!("anvil exited: {status:?}; see {}", paths.log.display());
            }
        }
        return stop(ctx).await;
    }
    Ok(value)
}

/// Stops what a failed start started (the SMS if it got that far, then anvil, which saves its
/// state on SIGINT) and forgets it.
fn abort_start(paths: &Paths, anvil: &mut std::process::Child, sms: Option<u32>) {
    if let Some(sms) = sms.filter(|&pid| alive(pid)) {
        // SAFETY: sending a signal to a process id has no memory-safety requirement.
        unsafe {
            libc::kill(sms as libc::pid_t, libc::SIGTERM);
        }
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(anvil.id() as libc::pid_t, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while matches!(anvil.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = anvil.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = anvil.wait();
    let _ = std::fs::remove_file(&paths.running);
}

/// What `start` does once anvil runs: waits for it, deploys poco (or resumes the saved
/// deployment), writes chain.json and starts the SMS (its pid goes to `sms` as soon as it
/// runs). Returns the command's output.
#[allow(clippy::too_many_arguments)]
async fn bring_up(
    ctx: &Context,
    paths: &Paths,
    chain_path: &Path,
    mut chains: ChainFile,
    pid: u32,
    log_start: u64,
    foreground: bool,
    sms: &mut Option<u32>,
) -> Result<Value> {
    let (rpc_url, keys) = wait_for_anvil(&paths.log, pid, log_start)?;
    if keys.len() < ACCOUNT_NAMES.len() {
        bail!(
            "anvil printed {} private keys, 10 were expected; see {}",
            keys.len(),
            paths.log.display()
        );
    }
    let mut running = Running {
        pid,
        rpc_url: rpc_url.clone(),
        log_file: paths.log.clone(),
        state_file: paths.state.clone(),
        sms_pid: None,
    };
    std::fs::write(&paths.running, serde_json::to_string_pretty(&running)?)?;
    if let Some(listening) = rpc_url
        .rsplit_once(':')
        .and_then(|(_, p)| p.trim_end_matches('/').parse::<u16>().ok())
    {
        std::fs::write(
            &paths.port,
            serde_json::to_string(&SavedPort { port: listening })?,
        )
        .wrap_err_with(|| format!("cannot write {}", paths.port.display()))?;
    }

    let resumed = resume(&chains, &rpc_url).await;
    let was_resumed = resumed.is_some();
    let entry = match resumed {
        Some(mut entry) => {
            entry.host = Some(rpc_url.clone());
            entry
        }
        None => {
            ctx.out
                .wait("deploying poco", deploy(&rpc_url, &keys))
                .await?
        }
    };
    chains.chains.insert(DEVNET.into(), entry.clone());
    if chains.default.is_none() {
        chains.default = Some(DEVNET.into());
    }
    chains.save(chain_path)?;

    // The devnet's SMS, once the chain is in chain.json; its URL is the chain's `sms`, where
    // the iExec SDK and `poco ... push-secret` find it.
    let (sms_pid, sms_url) =
        super::sms::spawn_for_devnet(&paths.dir, chain_path, foreground).await?;
    *sms = Some(sms_pid);
    running.sms_pid = Some(sms_pid);
    std::fs::write(&paths.running, serde_json::to_string_pretty(&running)?)?;
    let mut entry = entry;
    entry
        .other
        .insert("sms".into(), serde_json::Value::String(sms_url.clone()));
    chains.chains.insert(DEVNET.into(), entry.clone());
    chains.save(chain_path)?;

    Ok(json!({
        "started": true,
        "resumed": was_resumed,
        "pid": pid,
        "rpcUrl": rpc_url,
        "sms": sms_url,
        "smsAttestation": "insecure development attestation accepted (a devnet has no TEE \
                           hardware): nothing run there is confidential",
        "chainId": entry.id,
        "hub": entry.hub,
        "chainConfig": chain_path,
        "stateFile": paths.state,
        "accounts": entry.accounts.iter().map(|(name, a)| json!({ "name": name, "address": a.address })).collect::<Vec<_>>(),
    }))
}

/// The saved devnet entry when its hub still exists on the restarted chain.
async fn resume(chains: &ChainFile, rpc_url: &str) -> Option<ChainEntry> {
    let entry = chains.chains.get(DEVNET)?.clone();
    let hub = entry.hub?;
    let client = PocoClient::connect(ClientConfig::new(rpc_url, hub), None)
        .await
        .ok()?;
    (client.deployment().token == entry.token?).then_some(entry)
}

async fn deploy(rpc_url: &str, keys: &[String]) -> Result<ChainEntry> {
    let admin = poco_wallet::parse_private_key(&keys[0])?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::new(admin.clone()))
        .connect_http(rpc_url.parse()?);
    let deployment = poco_chain::deploy_poco(&provider, admin.address(), None)
        .await
        .wrap_err("deploying poco on the devnet")?;
    let client =
        PocoClient::connect(ClientConfig::new(rpc_url, deployment.hub), Some(admin)).await?;
    let mut accounts = std::collections::BTreeMap::new();
    for (name, key) in ACCOUNT_NAMES.iter().zip(keys) {
        let address = poco_wallet::parse_private_key(key)?.address();
        if *name != "admin" {
            client
                .transfer_rlc(address, U256::from(FUNDING))
                .await
                .explain(&client)?;
        }
        accounts.insert(
            name.to_string(),
            NamedAccount {
                address,
                private_key: key.clone(),
            },
        );
    }
    Ok(ChainEntry {
        host: Some(rpc_url.into()),
        id: Some(client.chain_id()),
        hub: Some(deployment.hub),
        token: Some(deployment.token),
        app_registry: Some(deployment.app_registry),
        dataset_registry: Some(deployment.dataset_registry),
        workerpool_registry: Some(deployment.workerpool_registry),
        accounts,
        // Where `poco market` listens by default: the market commands find it here.
        other: [(
            "iexecGateway".to_string(),
            serde_json::Value::String("http://127.0.0.1:3000".into()),
        )]
        .into_iter()
        .collect(),
    })
}

async fn stop(_ctx: &Context) -> Result<Value> {
    let paths = Paths::new()?;
    let Some(running) = paths.running()?.filter(|r| alive(r.pid)) else {
        let _ = std::fs::remove_file(&paths.running);
        bail!("the devnet is not running; start it with `poco devnet start`");
    };
    if let Some(sms) = running.sms_pid.filter(|&pid| alive(pid)) {
        // SAFETY: sending a signal to a process id has no memory-safety requirement.
        unsafe {
            libc::kill(sms as libc::pid_t, libc::SIGTERM);
        }
    }
    // SIGINT: anvil saves its state and exits, as on Ctrl-C.
    // SAFETY: sending a signal to a process id has no memory-safety requirement.
    unsafe {
        libc::kill(running.pid as libc::pid_t, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(running.pid) && !is_zombie(running.pid) {
        if Instant::now() > deadline {
            bail!(
                "anvil (pid {}) did not stop within 20 s; stop it with `kill {}`",
                running.pid,
                running.pid
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_file(&paths.running);
    Ok(json!({ "stopped": true, "pid": running.pid, "stateFile": running.state_file }))
}

/// A process that exited but was not reaped yet (its parent is this process).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

async fn status(ctx: &Context) -> Result<Value> {
    let paths = Paths::new()?;
    let running = paths.running()?.filter(|r| alive(r.pid));
    let Some(running) = running else {
        return Ok(json!({
            "running": false,
            "savedState": paths.state.is_file(),
            "stateFile": paths.state,
        }));
    };
    let chain_path = chain_file_path(ctx.opts.chain_config.as_deref())?;
    let chains = ChainFile::load(&chain_path)?;
    let entry = chains.chains.get(DEVNET).cloned().unwrap_or_default();
    let provider = ProviderBuilder::new().connect_http(running.rpc_url.parse()?);
    let block = provider.get_block_number().await.map_err(|e| {
        eyre!(
            "the devnet (pid {}) does not answer at {}: {e}",
            running.pid,
            running.rpc_url
        )
    })?;
    Ok(json!({
        "running": true,
        "pid": running.pid,
        "rpcUrl": running.rpc_url,
        "chainId": entry.id,
        "block": block,
        "hub": entry.hub,
        "token": entry.token,
        "chainConfig": chain_path,
        "stateFile": running.state_file,
        "accounts": entry.accounts.iter().map(|(name, a)| json!({ "name": name, "address": a.address })).collect::<Vec<_>>(),
    }))
}

async fn advance(ctx: &Context, seconds: u64) -> Result<Value> {
    let paths = Paths::new()?;
    let rpc_url = match (&ctx.opts.rpc_url, paths.running()?.filter(|r| alive(r.pid))) {
        (Some(url), _) => url.clone(),
        (None, Some(running)) => running.rpc_url,
        (None, None) => bail!("the devnet is not running; start it with `poco devnet start`"),
    };
    let provider = ProviderBuilder::new().connect_http(rpc_url.parse()?);
    provider
        .anvil_increase_time(seconds)
        .await
        .map_err(|e| eyre!("advancing the clock at {rpc_url}: {e}"))?;
    provider
        .evm_mine(None)
        .await
        .map_err(|e| eyre!("mining at {rpc_url}: {e}"))?;
    let block = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await?
        .ok_or_else(|| eyre!("no latest block"))?;
    Ok(
        json!({ "advanced": seconds, "block": block.header.number, "timestamp": block.header.timestamp }),
    )
}
