//! TEE mode: what a worker started with an attestation provider does for a TEE task.
//!
//! For each TEE task (an assignment with a non-zero enclave challenge) the worker makes a fresh
//! [`EnclaveKey`], attests with `report_data(taskid, challenge, key)` and asks the task's SMS
//! for a session ([`open_session`]): the SMS checks the scheduler's authorization and the
//! report, and answers the task's secrets sealed to the enclave key. The worker opens them
//! (the enclave challenge's key, which signs the result; the dataset key; the app developer's
//! and the requester's secrets; the beneficiary's result key), decrypts the dataset into the
//! task's own scratch (memory: [`check_scratch`]), runs the app with the secrets in its
//! environment, adds `tee.json` to the result archive ([`seal_result`]) and encrypts it for the
//! beneficiary when the deal asks.
//!
//! Nothing opened here is logged or reported: errors name what failed, never a value.

use std::{
    io::{Cursor, Write},
    path::Path,
    sync::Arc,
};

use alloy::{
    primitives::{Address, B256},
    signers::local::PrivateKeySigner,
};
use poco_attest::{report_data, EnclaveKey, Platform, Provider};
use poco_runtime::AppSecrets;
use poco_scheduler_api::{Assignment, Fault};
use poco_sms_api::{
    dataset::DatasetKey,
    tee::{SessionRequest, LABEL_APP, LABEL_CHALLENGE, LABEL_DATASET, LABEL_REQUESTER},
    SmsClient,
};
use poco_types::Tag;
use serde::Serialize;
use zeroize::Zeroizing;

/// The file added to a TEE task's result archive: how the task ran.
pub const TEE_JSON: &str = "tee.json";

/// What a TEE task's result says of its run ([`TEE_JSON`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TeeReport {
    /// The platform the attestation came from (`tdx`, `sev-snp`, `dev`).
    pub platform: Platform,
    /// The launch measurement the SMS verified.
    pub measurement: String,
    /// Whether the run was confidential (false for the development provider).
    pub confidential: bool,
}

/// The tag bits a worker with this provider registers: `tee`, plus `tdx` for a TDX guest and
/// for the development provider (the official SDK tags every TEE order tee+tdx, so a devnet
/// pool must serve them).
pub fn tags_of(platform: Platform) -> Tag {
    match platform {
        Platform::Tdx | Platform::Dev => Tag::TEE | Tag::TDX,
        Platform::Sgx | Platform::SevSnp => Tag::TEE,
    }
}

/// A TEE task's session: what the SMS released to this enclave, opened.
pub(crate) struct Session {
    /// How the task runs.
    pub(crate) report: TeeReport,
    /// The enclave challenge's key: it signs the result.
    pub(crate) enclave: PrivateKeySigner,
    /// The dataset key, when the deal has a dataset.
    pub(crate) dataset_key: Option<DatasetKey>,
    /// The app's secrets.
    pub(crate) secrets: AppSecrets,
    /// The beneficiary's RSA public key (PEM), when the deal asks for result encryption.
    pub(crate) result_key: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("report", &self.report)
            .field("enclave", &self.enclave.address())
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// Why a TEE task cannot go on: the reason told to the scheduler and whose fault it is.
pub(crate) type TeeFailure = (String, Fault);

/// Checks the assignment is one this worker may run: a TEE task only in TEE mode, and in TEE
/// mode with both the TEE tag and an enclave challenge from an SMS.
pub(crate) fn check_assignment(
    a: &Assignment,
    provider: Option<&Arc<dyn Provider>>,
) -> Result<bool, TeeFailure> {
    let tee_tag = Tag(a.tag).is_tee();
    let challenge = a.enclave_challenge != Address::ZERO;
    match (provider.is_some(), tee_tag || challenge) {
        (_, false) => Ok(false),
        (false, true) => Err((
            "this worker was given a TEE task but runs without --tee (it registered no TEE \
             capability): the scheduler must give TEE tasks to TEE workers only; nothing was run"
                .into(),
            Fault::Worker,
        )),
        (true, true) if !challenge || a.sms_url.is_none() => Err((
            "the TEE task has no enclave challenge or no SMS: the scheduler must be started \
             with --sms to run TEE tasks; nothing was run"
                .into(),
            Fault::Worker,
        )),
        (true, true) => Ok(true),
    }
}

/// Attests for the task and opens the session the SMS answers.
pub(crate) async fn open_session(
    provider: Arc<dyn Provider>,
    a: &Assignment,
    worker: Address,
) -> Result<Session, TeeFailure> {
    let sms_url = a.sms_url.clone().unwrap_or_default();
    let key = EnclaveKey::generate();
    let public = key.public();
    let data = report_data(a.taskid, a.enclave_challenge, &public);
    let evidence = tokio::task::spawn_blocking(move || provider.attest(&data))
        .await
        .map_err(|e| {
            (
                format!("the attestation did not finish: {e}"),
                Fault::Worker,
            )
        })?
        .map_err(|e| {
            (
                format!("this worker cannot attest: {e}"),
                // A worker that cannot attest fails every TEE task: its own fault.
                Fault::Worker,
            )
        })?;
    let request = SessionRequest {
        dealid: a.dealid,
        idx: a.idx,
        worker,
        enclave_challenge: a.enclave_challenge,
        authorization: a.authorization.clone(),
        enclave_key: public.into(),
        evidence,
    };
    let answer = SmsClient::new(&sms_url)
        .tee_session(&request)
        .await
        .map_err(|e| {
            let fault = if e.is_transient() {
                Fault::Transient
            } else {
                Fault::Worker
            };
            (
                format!("the SMS at {sms_url} refused the task's session: {e}"),
                fault,
            )
        })?;
    let open = |label: &str, sealed: &poco_attest::Sealed| {
        key.open(label, sealed).map_err(|e| {
            (
                format!("the SMS's sealed {label} does not open: {e}"),
                Fault::Worker,
            )
        })
    };
    let challenge_key = open(LABEL_CHALLENGE, &answer.enclave_challenge_key)?;
    let enclave = PrivateKeySigner::from_slice(&challenge_key).map_err(|_| {
        (
            "the SMS's enclave challenge key is not a secp256k1 secret key".to_owned(),
            Fault::Worker,
        )
    })?;
    if enclave.address() != a.enclave_challenge {
        return Err((
            format!(
                "the SMS released the key of {}, not of the task's enclave challenge {}: the \
                 scheduler and the SMS disagree on the task's challenge",
                enclave.address(),
                a.enclave_challenge
            ),
            Fault::Worker,
        ));
    }
    let dataset_key = match (&a.dataset, &answer.dataset_key) {
        (Some(_), Some(sealed)) => Some(dataset_key(&open(LABEL_DATASET, sealed)?)?),
        (Some(d), None) => {
            return Err((
                format!(
                    "the SMS has no key for dataset {}: its owner must push it (`poco dataset \
                     push-secret` or `iexec dataset push-secret`)",
                    d.address
                ),
                Fault::Deal,
            ))
        }
        (None, _) => None,
    };
    let mut secrets = AppSecrets::default();
    if let Some(sealed) = &answer.app_secret {
        secrets.app_developer = Some(text(LABEL_APP, &open(LABEL_APP, sealed)?)?);
    }
    for (index, sealed) in &answer.requester_secrets {
        let label = format!("{LABEL_REQUESTER}{index}");
        let n: u32 = index.parse().map_err(|_| {
            (
                format!("the SMS named a requester secret {index:?}, not a number"),
                Fault::Worker,
            )
        })?;
        secrets
            .requester
            .insert(n, text(&label, &open(&label, sealed)?)?);
    }
    let result_key = answer
        .result_encryption_key
        .as_deref()
        .map(result_key_pem)
        .transpose()?;
    Ok(Session {
        report: TeeReport {
            platform: answer.platform,
            measurement: answer.measurement,
            confidential: answer.confidential,
        },
        enclave,
        dataset_key,
        secrets,
        result_key,
    })
}

/// A dataset key as the SMS seals it: the 32 raw bytes (or, from an SMS that seals the value
/// as pushed, its base64 text).
fn dataset_key(bytes: &[u8]) -> Result<DatasetKey, TeeFailure> {
    if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
        return Ok(DatasetKey::from_bytes(raw));
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| DatasetKey::from_base64(t).ok())
        .ok_or_else(|| {
            (
                "the dataset key the SMS holds is not an AES-256 key (32 bytes, or their \
                 base64): its owner must push the key file `poco dataset encrypt` wrote"
                    .into(),
                Fault::Deal,
            )
        })
}

fn text(label: &str, bytes: &Zeroizing<Vec<u8>>) -> Result<String, TeeFailure> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| (format!("the SMS's {label} is not UTF-8 text"), Fault::Deal))
}

/// The beneficiary's key as the SMS answers it: PEM, or PEM in base64 (as the SDK pushes it).
fn result_key_pem(value: &str) -> Result<String, TeeFailure> {
    use base64::Engine;
    let value = value.trim();
    if value.starts_with("-----BEGIN") {
        return Ok(value.to_owned());
    }
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|pem| pem.trim_start().starts_with("-----BEGIN"))
        .ok_or_else(|| {
            (
                "the beneficiary's result key at the SMS is neither PEM nor PEM in base64: \
                 push it again with `poco result push-encryption-key`"
                    .into(),
                Fault::Deal,
            )
        })
}

/// The filesystem magic numbers of memory-backed filesystems (statfs `f_type`).
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Whether `dir` is on a memory-backed filesystem (tmpfs or ramfs): in a confidential VM its
/// content is in encrypted guest memory and never reaches a disk.
pub fn is_memory_backed(dir: &Path) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("the path holds a NUL byte"))?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a valid statfs to fill.
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    let kind = stat.f_type as i64;
    Ok(kind == TMPFS_MAGIC || kind == RAMFS_MAGIC)
}

/// Checks the task scratch of a TEE worker: where decrypted datasets go must be memory. On
/// hardware (`confidential`) anything else is refused; with the development provider it is a
/// warning (`Ok(Some(reason))`).
pub fn check_scratch(dir: &Path, confidential: bool) -> Result<Option<String>, String> {
    let memory = is_memory_backed(dir).map_err(|e| {
        format!(
            "cannot tell which filesystem {} is on ({e}); give a work folder on a tmpfs",
            dir.display()
        )
    })?;
    if memory {
        return Ok(None);
    }
    let reason = format!(
        "the work folder {} is not on a tmpfs: decrypted datasets would be written to disk; \
         mount one (mount -t tmpfs -o size=2g,mode=0700 tmpfs DIR) and give it with --work-dir",
        dir.display()
    );
    if confidential {
        Err(reason)
    } else {
        Ok(Some(reason))
    }
}

/// The result a TEE task uploads: `archive` with [`TEE_JSON`] added, encrypted for the
/// beneficiary when `result_key` is set (iExec's format, [`poco_sms_api::result_crypto`]).
pub(crate) fn seal_result(
    archive: Vec<u8>,
    report: &TeeReport,
    result_key: Option<&str>,
) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipWriter::new_append(Cursor::new(archive))
        .map_err(|e| format!("the result archive cannot be reopened: {e}"))?;
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    zip.start_file(TEE_JSON, options)
        .and_then(|()| zip.write_all(&json).map_err(Into::into))
        .map_err(|e| format!("cannot add {TEE_JSON} to the result archive: {e}"))?;
    let archive = zip
        .finish()
        .map_err(|e| format!("cannot finish the result archive: {e}"))?
        .into_inner();
    match result_key {
        None => Ok(archive),
        Some(pem) => poco_sms_api::result_crypto::encrypt_result(&archive, pem)
            .map_err(|e| format!("cannot encrypt the result for the beneficiary: {e}")),
    }
}

/// The digest a TEE task settles: the sha256 of the archive uploaded (its content may be
/// encrypted, and holds [`TEE_JSON`]); the requester checks the downloaded bytes against it.
pub(crate) fn uploaded_digest(uploaded: &[u8]) -> B256 {
    use sha2::Digest;
    B256::from(<[u8; 32]>::from(sha2::Sha256::digest(uploaded)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Bytes;
    use poco_scheduler_api::{AppRef, Mode};
    use std::io::Read;

    fn assignment(tag: Tag, challenge: Address, sms: Option<&str>) -> Assignment {
        Assignment {
            taskid: B256::repeat_byte(1),
            dealid: B256::repeat_byte(2),
            idx: 0,
            mode: Mode::Fast,
            app: AppRef {
                address: Address::ZERO,
                multiaddr: String::new(),
                checksum: B256::ZERO,
                kind: "WASM".into(),
            },
            dataset: None,
            params: String::new(),
            bot_first: 0,
            bot_size: 1,
            max_execution_time: 10,
            start_time: 0,
            deadline: 0,
            authorization: Bytes::new(),
            fast_deal: None,
            callback: Address::ZERO,
            store_url: String::new(),
            tag: tag.0,
            enclave_challenge: challenge,
            sms_url: sms.map(str::to_owned),
        }
    }

    #[test]
    fn a_standard_worker_refuses_tee_tasks_and_a_tee_worker_needs_a_challenge() {
        let tee: Arc<dyn Provider> = Arc::new(poco_attest::DevProvider);
        let c = Address::repeat_byte(9);
        let plain = assignment(Tag::NONE, Address::ZERO, None);
        assert_eq!(check_assignment(&plain, None), Ok(false));
        assert_eq!(check_assignment(&plain, Some(&tee)), Ok(false));
        let task = assignment(Tag::TEE | Tag::TDX, c, Some("http://sms"));
        let (why, fault) = check_assignment(&task, None).unwrap_err();
        assert!(why.contains("without --tee"), "{why}");
        assert_eq!(fault, Fault::Worker);
        // a challenge without the tag is a TEE task all the same
        assert!(check_assignment(&assignment(Tag::NONE, c, Some("x")), None).is_err());
        assert_eq!(check_assignment(&task, Some(&tee)), Ok(true));
        let (why, _) =
            check_assignment(&assignment(Tag::TEE, Address::ZERO, None), Some(&tee)).unwrap_err();
        assert!(why.contains("--sms"), "{why}");
        assert!(check_assignment(&assignment(Tag::TEE, c, None), Some(&tee)).is_err());
    }

    #[test]
    fn tags_follow_the_platform() {
        assert_eq!(tags_of(Platform::Dev), Tag::TEE | Tag::TDX);
        assert_eq!(tags_of(Platform::Tdx), Tag::TEE | Tag::TDX);
        assert_eq!(tags_of(Platform::SevSnp), Tag::TEE);
    }

    #[test]
    fn keys_come_raw_or_in_base64_and_garbage_is_refused() {
        let key = DatasetKey::from_bytes([7; 32]);
        assert_eq!(dataset_key(&[7; 32]).unwrap().as_bytes(), key.as_bytes());
        let b64 = key.to_base64();
        assert_eq!(
            dataset_key(b64.as_bytes()).unwrap().as_bytes(),
            key.as_bytes()
        );
        assert_eq!(dataset_key(&[1; 5]).unwrap_err().1, Fault::Deal);
        let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(result_key_pem(pem).unwrap(), pem.trim());
        assert_eq!(result_key_pem(&encoded).unwrap(), pem);
        assert!(result_key_pem("bm90IGEga2V5").is_err());
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in files {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn entry(archive: &[u8], name: &str) -> Vec<u8> {
        let mut zip = zip::ZipArchive::new(Cursor::new(archive)).unwrap();
        let mut out = Vec::new();
        zip.by_name(name).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn the_result_gets_tee_json_and_is_encrypted_for_the_beneficiary() {
        let archive = zip_of(&[("result.txt", b"the prediction")]);
        let report = TeeReport {
            platform: Platform::Dev,
            measurement: "dev".into(),
            confidential: false,
        };
        let plain = seal_result(archive.clone(), &report, None).unwrap();
        assert_eq!(entry(&plain, "result.txt"), b"the prediction");
        let json: serde_json::Value = serde_json::from_slice(&entry(&plain, TEE_JSON)).unwrap();
        assert_eq!(json["confidential"], false);
        assert_eq!(json["platform"], "dev");
        assert_eq!(json["measurement"], "dev");

        let keys = poco_sms_api::result_crypto::generate_keypair().unwrap();
        let sealed = seal_result(archive, &report, Some(&keys.public_pem)).unwrap();
        assert!(!sealed
            .windows(b"the prediction".len())
            .any(|w| w == b"the prediction"));
        let opened =
            poco_sms_api::result_crypto::decrypt_result(&sealed, &keys.private_pem).unwrap();
        assert_eq!(entry(&opened, "result.txt"), b"the prediction");
        assert_eq!(entry(&opened, TEE_JSON), entry(&plain, TEE_JSON));
        assert_ne!(uploaded_digest(&sealed), uploaded_digest(&plain));
    }

    #[test]
    fn a_tee_scratch_must_be_memory_on_hardware() {
        let dir = tempfile::tempdir().unwrap();
        let memory = is_memory_backed(dir.path()).unwrap();
        match check_scratch(dir.path(), true) {
            Ok(None) => assert!(memory),
            Err(why) => {
                assert!(!memory);
                assert!(why.contains("tmpfs"), "{why}");
                assert!(check_scratch(dir.path(), false).unwrap().is_some());
            }
            Ok(Some(_)) => panic!("a warning on hardware"),
        }
        if Path::new("/dev/shm").is_dir() {
            assert!(is_memory_backed(Path::new("/dev/shm")).unwrap());
            assert_eq!(check_scratch(Path::new("/dev/shm"), true), Ok(None));
        }
        assert!(is_memory_backed(Path::new("/no/such/dir")).is_err());
    }
}
