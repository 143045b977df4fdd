//! A typed client of one poco deployment over any JSON-RPC URL.
//!
//! [`PocoClient`] reads the hub and sends transactions from one wallet with:
//! - **nonce management**: nonces are handed out under a lock from the larger of the last one
//!   used and the node's pending count, so concurrent sends never collide and a transaction sent
//!   elsewhere from the same account is taken into account;
//! - **gas estimation**: every transaction is estimated first, which also turns a revert into an
//!   error before anything is sent, and gets a 20 % margin;
//! - **retries on transient errors**: rate limiting (HTTP 429), unavailability (503) and refused
//!   or reset connections are retried with back-off by the transport;
//! - **readable reverts**: revert data is decoded into [`Revert`], which names the broken rule;
//! - **hub events**: [`PocoClient::hub_events`] reads and decodes one event of the hub over a
//!   block range, in smaller chunks when the node limits the range of one `eth_getLogs`.

use std::{sync::Arc, time::Duration};

use alloy::{
    eips::BlockId,
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::{
        client::ClientBuilder,
        types::{Filter, FilterBlockOption, Log, TransactionReceipt, TransactionRequest},
    },
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
    transports::{
        layers::{RateLimitRetryPolicy, RetryBackoffLayer, RetryPolicy},
        RpcError, TransportError, TransportErrorKind,
    },
};
use poco_types::Domain;
use tokio::sync::Mutex;

use crate::{
    bindings::{
        app::AppRegistry, dataset::DatasetRegistry, hub::IPoco, rlc::RLC,
        workerpool::WorkerpoolRegistry,
    },
    Deployment, Error, Result, Revert,
};

/// Gas margin added to estimates, in percent.
const GAS_MARGIN_PERCENT: u64 = 20;

/// Default longest wait for one JSON-RPC request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for the TCP (and TLS) connection to the JSON-RPC endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a [`PocoClient`] reaches the chain.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The JSON-RPC endpoint.
    pub rpc_url: String,
    /// The hub address.
    pub hub: Address,
    /// Blocks to wait on top of the one including a transaction before it counts as done.
    pub confirmations: u64,
    /// How long to wait for a transaction to be mined.
    pub receipt_timeout: Duration,
    /// Retries of a request that failed for a transient reason.
    pub max_retries: u32,
    /// Longest wait for one JSON-RPC request (connection included): a node that accepts the
    /// connection and never answers cannot hold a caller forever.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with one confirmation (the including block), a 2-minute receipt
    /// timeout and 5 retries.
    pub fn new(rpc_url: impl Into<String>, hub: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            hub,
            confirmations: 1,
            receipt_timeout: Duration::from_secs(120),
            max_retries: 5,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Retries what the rate-limit policy retries, and connections that failed or were reset; not a
/// log range refused as too wide (some nodes answer it with the rate limit's code, -32005):
/// asking again would be refused again, and [`PocoClient::hub_events`] splits the range.
#[derive(Debug, Clone, Copy)]
struct TransientPolicy;

impl RetryPolicy for TransientPolicy {
    fn should_retry(&self, error: &TransportError) -> bool {
        (RateLimitRetryPolicy::default().should_retry(error) && !is_range_limit(error))
            || is_connection_error(error)
    }

    fn backoff_hint(&self, error: &TransportError) -> Option<Duration> {
        RateLimitRetryPolicy::default().backoff_hint(error)
    }
}

fn is_connection_error(error: &TransportError) -> bool {
    match error {
        RpcError::Transport(TransportErrorKind::Custom(e)) => {
            let text = format!("{e:?}").to_ascii_lowercase();
            ["connect", "connection reset", "broken pipe", "timed out"]
                .iter()
                .any(|needle| text.contains(needle))
        }
        _ => false,
    }
}

/// Why a transport failed, in a few words.
fn unreachable_reason(e: &TransportError, retries: u32) -> String {
    let text = e.to_string();
    if text.contains("error sending request") || is_connection_error(e) {
        format!("no connection after {retries} retries")
    } else {
        text
    }
}

struct Inner {
    provider: DynProvider,
    config: ClientConfig,
    signer: Option<PrivateKeySigner>,
    deployment: Deployment,
    chain_id: u64,
    next_nonce: Mutex<Option<u64>>,
}

/// A client of one poco deployment (cheap to clone).
#[derive(Clone)]
pub struct PocoClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PocoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PocoClient")
            .field("rpc_url", &self.inner.config.rpc_url)
            .field("chain_id", &self.inner.chain_id)
            .field("deployment", &self.inner.deployment)
            .field("sender", &self.inner.signer.as_ref().map(|s| s.address()))
            .finish()
    }
}

impl PocoClient {
    /// Connects to the hub at `config.hub`; transactions are sent from `signer`'s account (a
    /// client without a signer only reads). Fails when the endpoint is unreachable or no hub is
    /// deployed at that address.
    pub async fn connect(config: ClientConfig, signer: Option<PrivateKeySigner>) -> Result<Self> {
        let url: alloy::transports::http::reqwest::Url =
            config.rpc_url.parse().map_err(|e| Error::Unreachable {
                url: config.rpc_url.clone(),
                reason: format!("not a valid URL ({e})"),
            })?;
        let http = alloy::transports::http::reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| Error::Unreachable {
                url: config.rpc_url.clone(),
                reason: format!("cannot build an HTTP client ({e})"),
            })?;
        let client = ClientBuilder::default()
            .layer(RetryBackoffLayer::new_with_policy(
                config.max_retries,
                200,
                u64::MAX,
                TransientPolicy,
            ))
            .http_with_client(http, url);
        let provider = match signer.clone() {
            Some(signer) => ProviderBuilder::new()
                .wallet(EthereumWallet::new(signer))
                .connect_client(client)
                .erased(),
            None => ProviderBuilder::new().connect_client(client).erased(),
        };
        let unreachable = |e: TransportError| Error::Unreachable {
            url: config.rpc_url.clone(),
            reason: unreachable_reason(&e, config.max_retries),
        };
        let chain_id = provider.get_chain_id().await.map_err(unreachable)?;
        let code = provider
            .get_code_at(config.hub)
            .await
            .map_err(unreachable)?;
        if code.is_empty() {
            return Err(Error::NotAContract(config.hub));
        }
        let hub = IPoco::new(config.hub, &provider);
        let read = |what: &'static str| move |e| Error::call(what, e);
        let deployment = Deployment {
            hub: config.hub,
            token: hub.token().call().await.map_err(read("token()"))?,
            app_registry: hub
                .appregistry()
                .call()
                .await
                .map_err(read("appregistry()"))?,
            dataset_registry: hub
                .datasetregistry()
                .call()
                .await
                .map_err(read("datasetregistry()"))?,
            workerpool_registry: hub
                .workerpoolregistry()
                .call()
                .await
                .map_err(read("workerpoolregistry()"))?,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                provider,
                config,
                signer,
                deployment,
                chain_id,
                next_nonce: Mutex::new(None),
            }),
        })
    }

    /// The provider (with the wallet, when there is one).
    pub fn provider(&self) -> &DynProvider {
        &self.inner.provider
    }

    /// The JSON-RPC URL.
    pub fn rpc_url(&self) -> &str {
        &self.inner.config.rpc_url
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// The deployment's addresses.
    pub fn deployment(&self) -> &Deployment {
        &self.inner.deployment
    }

    /// The EIP-712 domain orders are signed for.
    pub fn domain(&self) -> Domain {
        Domain::new(self.inner.chain_id, self.inner.deployment.hub)
    }

    /// The account transactions are sent from.
    pub fn sender(&self) -> Result<Address> {
        self.signer().map(|s| s.address()).ok_or(Error::NoWallet)
    }

    /// The wallet transactions are sent from (and orders can be signed with).
    pub fn signer(&self) -> Option<&PrivateKeySigner> {
        self.inner.signer.as_ref()
    }

    /// The hub.
    pub fn hub(&self) -> IPoco::IPocoInstance<&DynProvider> {
        IPoco::new(self.inner.deployment.hub, &self.inner.provider)
    }

    /// The RLC token.
    pub fn token(&self) -> RLC::RLCInstance<&DynProvider> {
        RLC::new(self.inner.deployment.token, &self.inner.provider)
    }

    /// The app registry.
    pub fn apps(&self) -> AppRegistry::AppRegistryInstance<&DynProvider> {
        AppRegistry::new(self.inner.deployment.app_registry, &self.inner.provider)
    }

    /// The dataset registry.
    pub fn datasets(&self) -> DatasetRegistry::DatasetRegistryInstance<&DynProvider> {
        DatasetRegistry::new(self.inner.deployment.dataset_registry, &self.inner.provider)
    }

    /// The workerpool registry.
    pub fn workerpools(&self) -> WorkerpoolRegistry::WorkerpoolRegistryInstance<&DynProvider> {
        WorkerpoolRegistry::new(
            self.inner.deployment.workerpool_registry,
            &self.inner.provider,
        )
    }

    /// The hash of block 0: with the chain id and the hub, it names one chain history (a
    /// devnet started afresh has the same id and addresses but another genesis). Services key
    /// their databases on it.
    pub async fn genesis(&self) -> Result<B256> {
        let block = self
            .inner
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(0))
            .await
            .map_err(|e| self.rpc(e))?
            .ok_or_else(|| Error::Rpc("the node returned no genesis block".into()))?;
        Ok(block.header.hash)
    }

    /// `<chain id>:<hub>:<genesis hash>`: what a service's database belongs to.
    pub async fn history_key(&self) -> Result<String> {
        Ok(format!(
            "{}:{}:{}",
            self.chain_id(),
            self.deployment().hub,
            self.genesis().await?
        ))
    }

    /// The latest block's timestamp.
    pub async fn now(&self) -> Result<u64> {
        let block = self
            .inner
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| self.rpc(e))?
            .ok_or_else(|| Error::Rpc("the node returned no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    /// Sends a transaction from the client's wallet and waits until it is mined with the
    /// configured confirmations. `what` names it in errors (`"deposit"`,
    /// `"matchOrders"`). A transaction that would revert is not sent: the estimate fails
    /// with the decoded [`Revert`].
    pub async fn send(
        &self,
        tx: impl Into<TransactionRequest>,
        what: &str,
    ) -> Result<TransactionReceipt> {
        let from = self.sender()?;
        let mut tx: TransactionRequest = tx.into();
        tx.set_from(from);
        let estimate = self
            .inner
            .provider
            .estimate_gas(tx.clone())
            .await
            .map_err(|e| self.tx_error(e, what, from))?;
        tx.set_gas_limit(estimate + estimate * GAS_MARGIN_PERCENT / 100);

        let pending = {
            let mut next = self.inner.next_nonce.lock().await;
            let pending_count = self
                .inner
                .provider
                .get_transaction_count(from)
                .pending()
                .await
                .map_err(|e| self.rpc(e))?;
            let nonce = next.map_or(pending_count, |n| n.max(pending_count));
            tx.set_nonce(nonce);
            let sent = self
                .inner
                .provider
                .send_transaction(tx.clone())
                .await
                .map_err(|e| self.tx_error(e, what, from))?;
            *next = Some(nonce + 1);
            sent
        };
        let tx_hash = *pending.tx_hash();
        let receipt = pending
            .with_required_confirmations(self.inner.config.confirmations.max(1))
            .with_timeout(Some(self.inner.config.receipt_timeout))
            .get_receipt()
            .await
            .map_err(|e| match e {
                alloy::providers::PendingTransactionError::TxWatcher(_) => Error::Timeout {
                    what: what.into(),
                    tx_hash,
                    waited: self.inner.config.receipt_timeout,
                },
                other => Error::Rpc(format!("waiting for {what} ({tx_hash}): {other}")),
            })?;
        if !receipt.status() {
            // Replay the call at the block that included it to learn why it failed.
            let reason = match receipt.block_number {
                Some(block) => match self.inner.provider.call(tx).block(block.into()).await {
                    Err(e) => e.as_error_resp().and_then(|p| p.as_revert_data()),
                    Ok(_) => None,
                },
                None => None,
            };
            return Err(Error::Reverted {
                what: what.into(),
                tx_hash: tx_hash.to_string(),
                reason: reason.map(|data| Box::new(Revert::decode(&data))),
            });
        }
        Ok(receipt)
    }

    fn rpc(&self, e: TransportError) -> Error {
        if e.is_transport_error() {
            Error::Unreachable {
                url: self.inner.config.rpc_url.clone(),
                reason: unreachable_reason(&e, self.inner.config.max_retries),
            }
        } else {
            Error::Rpc(e.to_string())
        }
    }

    fn tx_error(&self, e: TransportError, what: &str, from: Address) -> Error {
        if let Some(payload) = e.as_error_resp() {
            if let Some(data) = payload.as_revert_data() {
                return Error::Revert {
                    what: what.into(),
                    reason: Box::new(Revert::decode(&data)),
                };
            }
            let message = payload.message.to_ascii_lowercase();
            if message.contains("insufficient funds") {
                return Error::GasFunds {
                    account: from,
                    what: what.into(),
                };
            }
            if message.contains("revert") {
                return Error::Revert {
                    what: what.into(),
                    reason: Box::new(Revert::Message(payload.message.to_string())),
                };
            }
        }
        self.rpc(e)
    }

    /// The free and locked (frozen) balances of an account in the hub, in nRLC.
    pub async fn account(&self, account: Address) -> Result<(U256, U256)> {
        let hub = self.hub();
        let free = hub
            .balanceOf(account)
            .call()
            .await
            .map_err(|e| Error::call("balanceOf", e))?;
        let frozen = hub
            .frozenOf(account)
            .call()
            .await
            .map_err(|e| Error::call("frozenOf", e))?;
        Ok((free, frozen))
    }

    /// A worker's score in the hub's consensus rule (its weight is derived from it); saturated
    /// to `u64::MAX`, which no real score reaches.
    pub async fn score(&self, worker: Address) -> Result<u64> {
        let score = self
            .hub()
            .viewScore(worker)
            .call()
            .await
            .map_err(|e| Error::call("viewScore", e))?;
        Ok(score.saturating_to())
    }

    /// The hub's TEE broker: when set (non-zero), it signs the authorizations of TEE tasks in
    /// place of the workerpools' owners.
    pub async fn teebroker(&self) -> Result<Address> {
        self.hub()
            .teebroker()
            .call()
            .await
            .map_err(|e| Error::call("teebroker", e))
    }

    /// The RLC held by a wallet (outside the hub), in nRLC.
    pub async fn wallet_rlc(&self, account: Address) -> Result<U256> {
        self.token()
            .balanceOf(account)
            .call()
            .await
            .map_err(|e| Error::call("RLC balanceOf", e))
    }

    /// An account's free and locked balances in the hub at `block` (`viewAccount`), in nRLC.
    pub async fn account_at(&self, account: Address, block: u64) -> Result<(U256, U256)> {
        let view = self
            .hub()
            .viewAccount(account)
            .block(BlockId::number(block))
            .call()
            .await
            .map_err(|e| self.call_error("viewAccount", e))?;
        Ok((view.stake, view.locked))
    }

    /// Sends `amount` nRLC from the wallet to `to` (a token transfer outside the hub).
    pub async fn transfer_rlc(&self, to: Address, amount: U256) -> Result<TransactionReceipt> {
        let token = self.token();
        let call = token.transfer(to, amount);
        self.send(call.into_transaction_request(), "RLC transfer")
            .await
    }

    /// The hub's owner (who may create categories).
    pub async fn hub_owner(&self) -> Result<Address> {
        self.hub()
            .owner()
            .call()
            .await
            .map_err(|e| self.call_error("owner", e))
    }

    /// The number of the latest block.
    pub async fn block_number(&self) -> Result<u64> {
        self.inner
            .provider
            .get_block_number()
            .await
            .map_err(|e| self.rpc(e))
    }

    /// The timestamp of block `number`; `None` when the node does not have it.
    pub async fn block_timestamp(&self, number: u64) -> Result<Option<u64>> {
        Ok(self
            .inner
            .provider
            .get_block_by_number(number.into())
            .await
            .map_err(|e| self.rpc(e))?
            .map(|block| block.header.timestamp))
    }

    /// Moves `amount` nRLC from the wallet into its hub account, in one transaction
    /// (`approveAndCall` on the token).
    pub async fn deposit(&self, amount: U256) -> Result<TransactionReceipt> {
        let token = self.token();
        let call = token.approveAndCall(self.inner.deployment.hub, amount, Bytes::new());
        self.send(call.into_transaction_request(), "deposit").await
    }

    /// Moves `amount` nRLC from the hub account back to the wallet.
    pub async fn withdraw(&self, amount: U256) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let call = hub.withdraw(amount);
        self.send(call.into_transaction_request(), "withdraw").await
    }

    /// The address the app registry gives `app` registered by `owner` (its CREATE2 address,
    /// whether or not it is registered yet).
    pub async fn predict_app(&self, owner: Address, app: &AppSpec) -> Result<Address> {
        self.apps()
            .predictApp(
                owner,
                app.name.clone(),
                app.kind.clone(),
                Bytes::copy_from_slice(app.multiaddr.as_bytes()),
                app.checksum,
                app.mrenclave.clone(),
            )
            .call()
            .await
            .map_err(|e| Error::call("predictApp", e))
    }

    /// Registers an app owned by the sender; returns its address.
    pub async fn create_app(&self, app: &AppSpec) -> Result<Address> {
        let owner = self.sender()?;
        let apps = self.apps();
        let call = apps.createApp(
            owner,
            app.name.clone(),
            app.kind.clone(),
            Bytes::copy_from_slice(app.multiaddr.as_bytes()),
            app.checksum,
            app.mrenclave.clone(),
        );
        let address = call.call().await.map_err(|e| Error::call("createApp", e))?;
        self.send(call.into_transaction_request(), "createApp")
            .await?;
        Ok(address)
    }

    /// Registers a dataset owned by the sender; returns its address.
    pub async fn create_dataset(
        &self,
        name: &str,
        multiaddr: &str,
        checksum: B256,
    ) -> Result<Address> {
        let owner = self.sender()?;
        let datasets = self.datasets();
        let call = datasets.createDataset(
            owner,
            name.into(),
            Bytes::copy_from_slice(multiaddr.as_bytes()),
            checksum,
        );
        let address = call
            .call()
            .await
            .map_err(|e| Error::call("createDataset", e))?;
        self.send(call.into_transaction_request(), "createDataset")
            .await?;
        Ok(address)
    }

    /// Registers a workerpool owned (scheduled) by the sender; returns its address.
    pub async fn create_workerpool(&self, description: &str) -> Result<Address> {
        let owner = self.sender()?;
        let pools = self.workerpools();
        let call = pools.createWorkerpool(owner, description.into());
        let address = call
            .call()
            .await
            .map_err(|e| Error::call("createWorkerpool", e))?;
        self.send(call.into_transaction_request(), "createWorkerpool")
            .await?;
        Ok(address)
    }
}

impl PocoClient {
    /// The hub's events `E` that `filter` selects (its block range, default from block 0 to the
    /// latest, and its topics after the signature), decoded, with their logs' metadata (block,
    /// transaction), in chain order. The filter's address and signature topic are set here: the
    /// hub's address and `E`'s signature. When the node refuses the range as too wide (a
    /// public endpoint's `eth_getLogs` limit), the range is read again in chunks, halved until
    /// the node accepts them. A log that does not decode as `E` is an error: the hub address is
    /// not a poco hub.
    pub async fn hub_events<E: SolEvent>(&self, filter: Filter) -> Result<Vec<Log<E>>> {
        let filter = filter
            .address(self.deployment().hub)
            .event_signature(E::SIGNATURE_HASH);
        let logs = match self.provider().get_logs(&filter).await {
            Ok(logs) => logs,
            Err(e) if is_range_limit(&e) && is_block_range(&filter) => {
                let from = filter.get_from_block().unwrap_or(0);
                let to = match filter.get_to_block() {
                    Some(to) => to,
                    None => self
                        .provider()
                        .get_block_number()
                        .await
                        .map_err(Error::rpc)?,
                };
                in_chunks(from, to, is_range_limit, |from, to| {
                    let chunk = filter.clone().from_block(from).to_block(to);
                    async move { self.provider().get_logs(&chunk).await }
                })
                .await
                .map_err(Error::rpc)?
            }
            Err(e) => return Err(Error::rpc(e)),
        };
        logs.iter()
            .map(|log| {
                log.log_decode::<E>().map_err(|e| {
                    Error::Rpc(format!(
                        "the hub {} emitted a {} log that does not decode ({e}); check that the \
                         hub address is a poco hub",
                        self.deployment().hub,
                        E::SIGNATURE
                    ))
                })
            })
            .collect()
    }
}

/// Whether a filter selects a block range (not one block by hash).
fn is_block_range(filter: &Filter) -> bool {
    matches!(filter.block_option, FilterBlockOption::Range { .. })
}

/// Whether a node refused an `eth_getLogs` for its range or its number of results (the
/// messages of geth, erigon, Alchemy, Infura, QuickNode and others).
fn is_range_limit(error: &TransportError) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    [
        "block range",
        "range too",
        "range is too",
        "range exceeds",
        "query returned more than",
        "too many results",
        "too many logs",
        "response size",
        "exceed maximum",
        "exceeds max",
        "limited to",
        "max range",
        "range limit",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Reads the blocks `from..=to` with `fetch`, one request for the whole range first; when a
/// request fails with an error `limited` says is about its range, the chunk size is halved and
/// the rest read with it (so a node's limit costs a few failed requests, not one per block). A
/// one-block chunk refused, or any other error, ends the read.
async fn in_chunks<T, E, Fut>(
    from: u64,
    to: u64,
    limited: impl Fn(&E) -> bool,
    mut fetch: impl FnMut(u64, u64) -> Fut,
) -> std::result::Result<Vec<T>, E>
where
    Fut: std::future::Future<Output = std::result::Result<Vec<T>, E>>,
{
    let mut found = Vec::new();
    let mut span = to.saturating_sub(from).saturating_add(1);
    let mut start = from;
    while start <= to {
        let end = to.min(start.saturating_add(span - 1));
        match fetch(start, end).await {
            Ok(items) => found.extend(items),
            Err(e) if limited(&e) && end > start => {
                span = (end - start).div_ceil(2).max(1);
                continue;
            }
            Err(e) => return Err(e),
        }
        match end.checked_add(1) {
            Some(next) => start = next,
            None => break,
        }
    }
    Ok(found)
}

/// What registers an app.
#[derive(Clone, Debug)]
pub struct AppSpec {
    /// Its name.
    pub name: String,
    /// Its type: `WASM` for poco's runtime (iExec apps are `DOCKER`).
    pub kind: String,
    /// Where the module is (`https://...`, `file://...`).
    pub multiaddr: String,
    /// The sha256 of the module's bytes.
    pub checksum: B256,
    /// The TEE enclave measurement (empty for standard apps).
    pub mrenclave: Bytes,
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use alloy::transports::{RpcError, TransportErrorKind};

    use super::{in_chunks, is_range_limit, RetryPolicy, TransientPolicy};

    #[test]
    fn range_limits_of_public_nodes_are_told_from_other_errors() {
        // A node's error answer, as the transport decodes it.
        let answer = |message: &str| {
            RpcError::ErrorResp(
                serde_json::from_value(serde_json::json!({ "code": -32005, "message": message }))
                    .unwrap(),
            )
        };
        for message in [
            "query returned more than 10000 results",
            "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block \
             range and no limit on the response size",
            "eth_getLogs is limited to a 10,000 range",
            "block range is too wide",
            "exceed maximum block range: 50000",
            "query exceeds max block range 1000",
        ] {
            assert!(is_range_limit(&answer(message)), "{message}");
        }
        for message in [
            "execution reverted",
            "invalid params",
            "header not found",
            "rate limited",
        ] {
            assert!(!is_range_limit(&answer(message)), "{message}");
        }
        assert!(!is_range_limit(&TransportErrorKind::custom_str(
            "error sending request: connection refused"
        )));
        // With the rate limit's code, a range refusal is not retried; a rate limit is.
        assert!(!TransientPolicy.should_retry(&answer("query returned more than 10000 results")));
        assert!(TransientPolicy.should_retry(&answer("project ID request rate exceeded")));
    }

    /// A node that refuses ranges wider than `limit` blocks and holds one item per block.
    async fn read_with_limit(from: u64, to: u64, limit: u64) -> (Result<Vec<u64>, String>, usize) {
        let calls = Mutex::new(Vec::new());
        let found = in_chunks(
            from,
            to,
            |e: &String| e.contains("block range"),
            |a, b| {
                calls.lock().unwrap().push((a, b));
                async move {
                    if b - a + 1 > limit {
                        Err(format!("block range {a}..{b} is wider than {limit}"))
                    } else {
                        Ok((a..=b).collect())
                    }
                }
            },
        )
        .await;
        let calls = calls.into_inner().unwrap();
        // Every accepted chunk follows the previous one: nothing read twice or skipped.
        let accepted: Vec<_> = calls.iter().filter(|(a, b)| b - a < limit).collect();
        for pair in accepted.windows(2) {
            assert_eq!(pair[1].0, pair[0].1 + 1, "{calls:?}");
        }
        (found, calls.len())
    }

    #[tokio::test]
    async fn a_range_the_node_accepts_is_read_in_one_request() {
        let (found, calls) = read_with_limit(5, 104, 1_000).await;
        assert_eq!(found.unwrap(), (5..=104).collect::<Vec<_>>());
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn a_limited_node_is_read_in_halved_chunks_without_gaps() {
        let (found, calls) = read_with_limit(0, 9_999, 1_000).await;
        assert_eq!(found.unwrap(), (0..=9_999).collect::<Vec<_>>());
        // 10,000 blocks, halved 4 times to 625-block chunks: 4 refusals and 16 chunks.
        assert_eq!(calls, 4 + 16);
    }

    #[tokio::test]
    async fn a_node_refusing_even_one_block_fails_after_a_bounded_number_of_requests() {
        let (found, calls) = read_with_limit(0, 1_000_000, 0).await;
        let error = found.unwrap_err();
        assert!(error.contains("block range"), "{error}");
        // log2 of a million, and the one-block request.
        assert!(calls <= 22, "{calls} requests");
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = Mutex::new(0);
        let found: Result<Vec<u64>, String> = in_chunks(
            0,
            100,
            |e: &String| e.contains("block range"),
            |_, _| {
                *calls.lock().unwrap() += 1;
                async { Err("connection refused".to_string()) }
            },
        )
        .await;
        assert_eq!(found.unwrap_err(), "connection refused");
        assert_eq!(*calls.lock().unwrap(), 1);
    }
}
