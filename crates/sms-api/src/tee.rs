//! The TEE routes' wire format (poco's own: the iExec SDK does not call them).
//!
//! * `POST /tee/challenges` ([`ChallengeRequest`] → [`ChallengeResponse`]): the scheduler asks
//!   for a task's enclave challenge. The SMS makes one secp256k1 key per task, once, and
//!   answers its address; the scheduler signs its authorization of (worker, task, challenge).
//! * `POST /tee/sessions` ([`SessionRequest`] → [`SessionResponse`]): the enclave asks for the
//!   task's secrets with that authorization and an attestation report binding its fresh key
//!   ([`poco_attest::report_data`]). The SMS checks the authorization's signer is the deal's
//!   workerpool owner, the deal is TEE-tagged and the task active, verifies the report, and
//!   answers the secrets sealed to the enclave key ([`poco_attest::seal`]) under the labels
//!   below.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, B256};
use poco_attest::{Evidence, Platform, Sealed};
use serde::{Deserialize, Serialize};

/// The seal label of the enclave challenge's private key (32 bytes).
pub const LABEL_CHALLENGE: &str = "enclave-challenge";
/// The seal label of the dataset key (the 32 raw bytes of the AES-256 key).
pub const LABEL_DATASET: &str = "dataset-key";
/// The seal label of the app developer's secret.
pub const LABEL_APP: &str = "app-secret";
/// The seal label prefix of a requester secret: `requester-secret/<index>`.
pub const LABEL_REQUESTER: &str = "requester-secret/";

/// `POST /tee/challenges` body: the task, by deal and index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRequest {
    /// The deal.
    pub dealid: B256,
    /// The task's index in the deal.
    pub idx: u64,
}

/// `POST /tee/challenges` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// The task id.
    pub taskid: B256,
    /// The address of the task's enclave challenge.
    pub enclave_challenge: Address,
}

/// `POST /tee/sessions` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    /// The deal.
    pub dealid: B256,
    /// The task's index in the deal.
    pub idx: u64,
    /// The worker the scheduler authorized.
    pub worker: Address,
    /// The task's enclave challenge (from `POST /tee/challenges`).
    pub enclave_challenge: Address,
    /// The scheduler's personal signature of `keccak256(worker ‖ taskid ‖ enclaveChallenge)`.
    pub authorization: Bytes,
    /// The enclave's fresh public key (compressed SEC1).
    pub enclave_key: Bytes,
    /// The attestation report; its user data is
    /// `report_data(taskid, enclave_challenge, enclave_key)`.
    pub evidence: Evidence,
}

/// `POST /tee/sessions` answer: the task's secrets, sealed to the enclave key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The platform the report came from.
    pub platform: Platform,
    /// The verified launch measurement.
    pub measurement: String,
    /// False when the report came from the development provider: nothing of this task is
    /// confidential.
    pub confidential: bool,
    /// The enclave challenge's private key ([`LABEL_CHALLENGE`]): it signs the result.
    pub enclave_challenge_key: Sealed,
    /// The dataset key ([`LABEL_DATASET`]), when the deal has a dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_key: Option<Sealed>,
    /// The app developer's secret ([`LABEL_APP`]), when the app's owner pushed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<Sealed>,
    /// The requester secrets the deal's params name (`iexec_secrets`), by index
    /// ([`LABEL_REQUESTER`] + index).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requester_secrets: BTreeMap<String, Sealed>,
    /// The beneficiary's result encryption key (RSA public key, PEM), when the deal's params
    /// ask for result encryption (`iexec_result_encryption`). Public: not sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_encryption_key: Option<String>,
}
