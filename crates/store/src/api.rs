//! The HTTP API, defined once for the server and the client: header names, the upload message,
//! object keys and the JSON bodies.

use alloy_primitives::{hex, keccak256, B256};
use poco_types::ResultLink;
use serde::{Deserialize, Serialize};

/// Header carrying the scheduler's [`poco_types::WorkerAuthorization`] signature (0x hex,
/// 65 bytes) over `authorization_hash(worker, taskid, 0x0)`.
pub const AUTHORIZATION_HEADER: &str = "x-poco-authorization";
/// Header carrying the task's enclave challenge (0x hex address) when the scheduler's
/// authorization covers one (a TEE task: `authorization_hash(worker, taskid, challenge)`);
/// without it, `0x0`.
pub const ENCLAVE_HEADER: &str = "x-poco-enclave";
/// Header carrying the uploading worker's address (0x hex).
pub const WORKER_HEADER: &str = "x-poco-worker";
/// Header carrying the worker's personal signature (0x hex, 65 bytes) of [`upload_hash`].
pub const SIGNATURE_HEADER: &str = "x-poco-signature";

/// The `storage` value of the result links this store hands out.
pub const STORAGE_KIND: &str = "poco";

/// Domain tag of [`upload_hash`], so that an upload signature can never be taken for a
/// signature of another poco or iExec message (such as the `resultHash`, which is
/// `keccak256(taskid ‖ digest)` without a tag).
pub const UPLOAD_DOMAIN: &[u8] = b"poco-store/upload/v1";

/// What a worker personal-signs to upload a result archive:
/// `keccak256("poco-store/upload/v1" ‖ taskid ‖ sha256(body))`.
pub fn upload_hash(task_id: B256, body_sha256: B256) -> B256 {
    keccak256([UPLOAD_DOMAIN, task_id.as_slice(), body_sha256.as_slice()].concat())
}

/// The object key of an archive: `results/{taskid}/{sha256}.zip`, the task id as `0x` hex and the
/// digest as 64 hex digits, both lowercase.
pub fn object_key(task_id: B256, sha256: B256) -> String {
    format!("{}/{}", task_prefix(task_id), object_name(sha256))
}

/// The key prefix of a task's archives: `results/{taskid}`.
pub fn task_prefix(task_id: B256) -> String {
    format!("results/{task_id}")
}

/// The file name of an archive: `{sha256}.zip`, 64 lowercase hex digits without `0x`.
pub fn object_name(sha256: B256) -> String {
    format!("{}.zip", hex::encode(sha256))
}

/// Parses an archive file name `{sha256}.zip` (64 hex digits, an optional `0x`).
pub fn parse_object_name(name: &str) -> Option<B256> {
    let stem = name.strip_suffix(".zip")?;
    let digits = stem.strip_prefix("0x").unwrap_or(stem);
    if digits.len() != 64 {
        return None;
    }
    digits.parse().ok()
}

/// The answer to an accepted upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReceipt {
    /// Always [`STORAGE_KIND`].
    pub storage: String,
    /// The archive's URL: `<public_url>/results/<taskid>/<sha256>.zip`.
    pub location: String,
    /// `sha256` of the archive: the result digest of a task without callback.
    pub sha256: B256,
    /// Size of the archive in bytes.
    pub size: u64,
}

impl UploadReceipt {
    /// The on-chain result link (`results` of `finalize`): `{"storage":"poco","location":..}`.
    pub fn result_link(&self) -> ResultLink {
        ResultLink::new(self.storage.clone(), self.location.clone())
    }
}

/// One stored archive in a [`TaskObjects`] listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    /// The archive's URL.
    pub location: String,
    /// `sha256` of the archive.
    pub sha256: B256,
    /// Size in bytes.
    pub size: u64,
    /// When it was written, RFC 3339.
    pub last_modified: String,
}

/// The answer to `GET /results/{taskid}`: the archives stored for a task, sorted by digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskObjects {
    /// The task.
    pub task_id: B256,
    /// Its archives (empty if none was uploaded).
    pub objects: Vec<StoredObject>,
}

/// The body of every error answer: `{"error": "<what went wrong and how to fix it>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The message.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    #[test]
    fn keys_and_names() {
        let task = b256!("0x00000000000000000000000000000000000000000000000000000000000000ab");
        let sha = b256!("0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(
            object_key(task, sha),
            "results/0x00000000000000000000000000000000000000000000000000000000000000ab/\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.zip"
        );
        assert_eq!(parse_object_name(&object_name(sha)), Some(sha));
        assert_eq!(parse_object_name(&format!("{sha}.zip")), Some(sha));
        assert_eq!(parse_object_name(&hex::encode(sha)), None);
        assert_eq!(parse_object_name("e3b0.zip"), None);
        assert_eq!(
            parse_object_name(&format!("{}.zip#1", hex::encode(sha))),
            None
        );
    }

    #[test]
    fn upload_hash_is_tagged() {
        let task = B256::repeat_byte(1);
        let sha = B256::repeat_byte(2);
        let expected =
            keccak256([b"poco-store/upload/v1".as_slice(), &[1u8; 32], &[2u8; 32]].concat());
        assert_eq!(upload_hash(task, sha), expected);
        assert_ne!(
            upload_hash(task, sha),
            poco_types::result::result_hash(task, sha)
        );
    }

    #[test]
    fn receipt_is_a_result_link() {
        let receipt = UploadReceipt {
            storage: STORAGE_KIND.into(),
            location: "http://store/results/0x01/ab.zip".into(),
            sha256: B256::ZERO,
            size: 3,
        };
        assert_eq!(
            &receipt.result_link().to_bytes()[..],
            br#"{"storage":"poco","location":"http://store/results/0x01/ab.zip"}"#
        );
    }
}
