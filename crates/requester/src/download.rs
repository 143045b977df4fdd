//! Reading a task's result on chain, downloading it from the pool's store and checking it
//! against the digest the chain certified.

use std::path::Path;

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use poco_chain::PocoClient;
use poco_scheduler_api::SchedulerClient;

use crate::{Event, Observer};

/// Why a result was not downloaded and verified.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The result link on chain does not parse.
    #[error("the on-chain result link is unreadable: {0}")]
    Link(String),
    /// The result link does not point into a poco store.
    #[error("the result location {0} is not a poco store URL")]
    NotAStore(String),
    /// The store or scheduler URL is not usable.
    #[error(transparent)]
    Store(#[from] poco_store::Error),
    /// The scheduler URL is not usable.
    #[error(transparent)]
    Scheduler(#[from] poco_scheduler_api::Error),
    /// The store did not serve the result.
    #[error("cannot download the result at {location}: {error}")]
    Fetch {
        /// The result's location.
        location: String,
        /// What the store answered.
        error: String,
    },
    /// The archive is not a valid result archive.
    #[error("{0}")]
    Archive(String),
    /// The result is not the one the chain certified: do not trust it.
    #[error("{0}")]
    DigestMismatch(String),
}

impl DownloadError {
    /// Whether the result is there but not the certified one.
    pub fn is_mismatch(&self) -> bool {
        matches!(self, Self::DigestMismatch(_))
    }
}

/// The digest and result link of a task, when the chain has its result (classic, or pushed on
/// the fast path of `fast_deal`).
pub async fn onchain_result(
    client: &PocoClient,
    taskid: B256,
    fast_deal: Option<B256>,
) -> poco_chain::Result<Option<(B256, String)>> {
    let task = client.task(taskid).await?;
    if poco_chain::task_status(task.status)? == poco_types::TaskStatus::Completed {
        return Ok(Some((
            task.resultDigest,
            String::from_utf8_lossy(&task.results).into_owned(),
        )));
    }
    Ok(client
        .fast_result(taskid, fast_deal)
        .await?
        .map(|(_, _, digest, link)| (digest, link)))
}

/// Downloads a result from its link into `dir` (unpacked; the archive next to it as
/// `dir.zip`) and checks it against the on-chain digest. With `signer` (the requester's or
/// beneficiary's wallet), it signs in at the pool's scheduler first: a pool serves results
/// only to them, unless the deal asked for public results.
pub async fn download(
    signer: Option<&PrivateKeySigner>,
    link: &str,
    digest: B256,
    dir: &Path,
    observer: &dyn Observer,
) -> Result<(), DownloadError> {
    let link = poco_types::ResultLink::from_bytes(link.as_bytes())
        .map_err(|e| DownloadError::Link(e.to_string()))?;
    let (base, _) = link
        .location
        .split_once("/results/")
        .ok_or_else(|| DownloadError::NotAStore(link.location.clone()))?;
    let mut store = poco_store::StoreClient::new(base)?;
    if let (Some(signer), Some(api)) = (signer, base.strip_suffix("/store")) {
        let scheduler = SchedulerClient::new(api)?;
        match scheduler.login(signer).await {
            Ok(()) => {
                if let Some(token) = scheduler.token().await {
                    store = store.with_bearer_token(token);
                }
            }
            Err(error) => observer.report(Event::SignInFailed { api, error: &error }),
        }
    }
    let bytes = store.download(&link.location).await.map_err(|e| match e {
        poco_store::Error::DigestMismatch { .. } => DownloadError::DigestMismatch(e.to_string()),
        e => DownloadError::Fetch {
            location: link.location.clone(),
            error: e.to_string(),
        },
    })?;
    unpack(&bytes, digest, dir).map_err(|e| match e {
        DownloadError::DigestMismatch(why) => {
            DownloadError::DigestMismatch(format!("the result at {}: {why}", link.location))
        }
        e => e,
    })?;
    std::fs::write(dir.with_extension("zip"), &bytes).ok();
    Ok(())
}

/// What a result archive that matches its on-chain digest holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unpacked {
    /// A result archive, unpacked.
    Plain,
    /// A result encrypted for the beneficiary (iExec's format: `aes-key.rsa` and
    /// `iexec_out.zip.aes`), left packed: `poco result decrypt` opens it.
    Encrypted,
}

/// Checks a result archive against the digest the chain certified and unpacks it into `dir`
/// (emptied first). The digest is either the result's own (the digest of its deterministic
/// output, as a standard worker settles it) or the sha256 of the archive (a TEE task's
/// archive, which holds `tee.json` and may be encrypted for the beneficiary): either way the
/// chain certified these very bytes.
pub fn unpack(bytes: &[u8], digest: B256, dir: &Path) -> Result<Unpacked, DownloadError> {
    let _ = std::fs::remove_dir_all(dir);
    let archive_sha256 = poco_types::sha256_digest(bytes);
    if archive_sha256 == digest {
        if is_encrypted_result(bytes) {
            std::fs::create_dir_all(dir).map_err(|e| {
                DownloadError::Archive(format!("cannot create {}: {e}", dir.display()))
            })?;
            return Ok(Unpacked::Encrypted);
        }
        poco_runtime::archive_digest(bytes, dir)
            .map_err(|e| DownloadError::Archive(e.to_string()))?;
        return Ok(Unpacked::Plain);
    }
    let actual = poco_runtime::archive_digest(bytes, dir)
        .map_err(|e| DownloadError::Archive(e.to_string()))?;
    if actual != digest {
        return Err(DownloadError::DigestMismatch(format!(
            "the result has digest {actual} (archive sha256 {archive_sha256}), but the chain \
             certified {digest}: it is not the certified result (do not trust it)"
        )));
    }
    Ok(Unpacked::Plain)
}

/// Whether `bytes` is a result encrypted for its beneficiary (a zip of `aes-key.rsa` and
/// `iexec_out.zip.aes`).
pub fn is_encrypted_result(bytes: &[u8]) -> bool {
    use poco_sms_api::result_crypto::{KEY_ENTRY, RESULT_ENTRY};
    zip::ZipArchive::new(std::io::Cursor::new(bytes)).is_ok_and(|zip| {
        let names: Vec<&str> = zip.file_names().collect();
        names.len() == 2 && names.contains(&KEY_ENTRY) && names.contains(&RESULT_ENTRY)
    })
}
