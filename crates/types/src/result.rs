//! Task results: digest, hash and seal, the scheduler's worker authorization, the enclave
//! signature, and the on-chain result link.
//!
//! * `resultDigest`: the `sha256` of the result file ([`sha256_digest`]), or
//!   `keccak256(callbackData)` when the deal has a callback ([`callback_digest`]);
//! * `resultHash = keccak256(abi.encodePacked(taskid, resultDigest))`, the vote
//!   ([`result_hash`]);
//! * `resultSeal = keccak256(abi.encodePacked(worker, taskid, resultDigest))`, the commitment
//!   ([`result_seal`]);
//! * authorization: the scheduler personal-signs
//!   `keccak256(abi.encodePacked(worker, taskid, enclaveChallenge))` ([`WorkerAuthorization`]);
//! * enclave: the enclave challenge key personal-signs
//!   `keccak256(abi.encodePacked(resultHash, resultSeal))` ([`sign_enclave`]) in `contribute`
//!   and `contributeAndFinalize`, and
//!   `keccak256(abi.encodePacked(worker, taskid, resultDigest))` ([`sign_enclave_fast`]) in
//!   the fast path's `pushResultFast`.

use crate::{
    signature::{check_signer, recover_personal, sign_personal, sign_personal_async},
    Error, Result,
};
use alloy_primitives::{keccak256, Address, Bytes, B256};
use alloy_signer::{Signer, SignerSync};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `sha256(data)`: the result digest of a single result file.
pub fn sha256_digest(data: &[u8]) -> B256 {
    B256::new(Sha256::digest(data).into())
}

/// `keccak256(callbackData)`: the result digest of a deal with a callback, checked by
/// `finalize` against the `resultsCallback` bytes.
pub fn callback_digest(callback_data: &[u8]) -> B256 {
    keccak256(callback_data)
}

/// `keccak256(abi.encodePacked(taskid, resultDigest))`: the contributed vote.
pub fn result_hash(task_id: B256, result_digest: B256) -> B256 {
    keccak256([task_id.0, result_digest.0].concat())
}

/// `keccak256(abi.encodePacked(worker, taskid, resultDigest))`: the worker's commitment.
pub fn result_seal(worker: Address, task_id: B256, result_digest: B256) -> B256 {
    keccak256(
        [
            worker.as_slice(),
            task_id.as_slice(),
            result_digest.as_slice(),
        ]
        .concat(),
    )
}

/// `keccak256(abi.encodePacked(resultHash, resultSeal))`: what the enclave personal-signs.
pub fn enclave_hash(result_hash: B256, result_seal: B256) -> B256 {
    keccak256([result_hash.0, result_seal.0].concat())
}

/// `keccak256(abi.encodePacked(worker, taskid, enclaveChallenge))`: what the scheduler
/// personal-signs to authorize a worker (`enclaveChallenge` = `0x0` for standard tasks).
pub fn authorization_hash(worker: Address, task_id: B256, enclave_challenge: Address) -> B256 {
    keccak256(
        [
            worker.as_slice(),
            task_id.as_slice(),
            enclave_challenge.as_slice(),
        ]
        .concat(),
    )
}

/// The enclave's personal signature of [`enclave_hash`].
pub fn sign_enclave<S: SignerSync + ?Sized>(
    enclave: &S,
    result_hash: B256,
    result_seal: B256,
) -> Result<Bytes> {
    sign_personal(enclave, &enclave_hash(result_hash, result_seal))
}

/// Async variant of [`sign_enclave`].
pub async fn sign_enclave_async<S: Signer + ?Sized>(
    enclave: &S,
    result_hash: B256,
    result_seal: B256,
) -> Result<Bytes> {
    sign_personal_async(enclave, &enclave_hash(result_hash, result_seal)).await
}

/// The account whose signature `sign` is over [`enclave_hash`].
pub fn recover_enclave(result_hash: B256, result_seal: B256, sign: &[u8]) -> Result<Address> {
    recover_personal(&enclave_hash(result_hash, result_seal), sign)
}

/// Checks that the enclave challenge `enclave` signed this result hash and seal (the
/// `contribute` check).
pub fn verify_enclave(
    result_hash: B256,
    result_seal: B256,
    sign: &[u8],
    enclave: Address,
) -> Result<()> {
    check_signer(enclave, recover_enclave(result_hash, result_seal, sign)?)
}

/// `keccak256(abi.encodePacked(worker, taskid, resultDigest))`: what the enclave personal-signs
/// for `pushResultFast` (the fast path has no vote: its message is the worker's commitment,
/// [`result_seal`]).
pub fn fast_enclave_hash(worker: Address, task_id: B256, result_digest: B256) -> B256 {
    result_seal(worker, task_id, result_digest)
}

/// The enclave's personal signature of [`fast_enclave_hash`] (`pushResultFast`).
pub fn sign_enclave_fast<S: SignerSync + ?Sized>(
    enclave: &S,
    worker: Address,
    task_id: B256,
    result_digest: B256,
) -> Result<Bytes> {
    sign_personal(enclave, &fast_enclave_hash(worker, task_id, result_digest))
}

/// The values a worker contributes for a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contribution {
    /// `resultDigest`, revealed after consensus.
    pub result_digest: B256,
    /// `resultHash`, the vote.
    pub result_hash: B256,
    /// `resultSeal`, the commitment.
    pub result_seal: B256,
}

impl Contribution {
    /// Computes the hash and seal of `result_digest` for `worker` on `task_id`.
    pub fn new(worker: Address, task_id: B256, result_digest: B256) -> Self {
        Self {
            result_digest,
            result_hash: result_hash(task_id, result_digest),
            result_seal: result_seal(worker, task_id, result_digest),
        }
    }

    /// What the enclave signs for this contribution.
    pub fn enclave_hash(&self) -> B256 {
        enclave_hash(self.result_hash, self.result_seal)
    }

    /// Whether this contribution is a correct reveal of `result_digest` by `worker` (the
    /// `reveal` check).
    pub fn reveals(&self, worker: Address, task_id: B256, result_digest: B256) -> bool {
        *self == Self::new(worker, task_id, result_digest)
    }
}

/// A scheduler's authorization for `worker` to contribute to `task_id`, bound to an enclave
/// challenge (`0x0` for a standard task). The same signature serves on chain
/// (`authorizationSign`) and off chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerAuthorization {
    /// The authorized worker wallet.
    #[serde(with = "crate::serde_util::checksummed")]
    pub worker: Address,
    /// The task.
    pub task_id: B256,
    /// The enclave challenge address, `0x0` for a standard task.
    #[serde(with = "crate::serde_util::checksummed")]
    pub enclave_challenge: Address,
    /// The scheduler's (or TEE broker's) personal signature of [`Self::hash`].
    pub sign: Bytes,
}

impl WorkerAuthorization {
    /// Signs an authorization with the scheduler's key.
    pub fn sign<S: SignerSync + ?Sized>(
        scheduler: &S,
        worker: Address,
        task_id: B256,
        enclave_challenge: Address,
    ) -> Result<Self> {
        let sign = sign_personal(
            scheduler,
            &authorization_hash(worker, task_id, enclave_challenge),
        )?;
        Ok(Self {
            worker,
            task_id,
            enclave_challenge,
            sign,
        })
    }

    /// Async variant of [`WorkerAuthorization::sign`].
    pub async fn sign_async<S: Signer + ?Sized>(
        scheduler: &S,
        worker: Address,
        task_id: B256,
        enclave_challenge: Address,
    ) -> Result<Self> {
        let hash = authorization_hash(worker, task_id, enclave_challenge);
        let sign = sign_personal_async(scheduler, &hash).await?;
        Ok(Self {
            worker,
            task_id,
            enclave_challenge,
            sign,
        })
    }

    /// The signed hash, before the personal-sign prefix.
    pub fn hash(&self) -> B256 {
        authorization_hash(self.worker, self.task_id, self.enclave_challenge)
    }

    /// The account that signed.
    pub fn recover(&self) -> Result<Address> {
        recover_personal(&self.hash(), &self.sign)
    }

    /// Checks that `scheduler` (the workerpool owner of the deal, or the TEE broker) signed.
    pub fn verify(&self, scheduler: Address) -> Result<()> {
        check_signer(scheduler, self.recover()?)
    }
}

/// Where a task's result lives: the on-chain `results` bytes of `finalize`, as the UTF-8
/// JSON `{"storage":"ipfs","location":"/ipfs/<cid>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResultLink {
    /// The storage kind: [`ResultLink::IPFS`], [`ResultLink::ETHEREUM`] (callback), ….
    pub storage: String,
    /// Where to find the result in that storage.
    pub location: String,
}

impl ResultLink {
    /// Storage kind for IPFS (`location` = `/ipfs/<cid>`).
    pub const IPFS: &'static str = "ipfs";
    /// Storage kind for Dropbox.
    pub const DROPBOX: &'static str = "dropbox";
    /// Storage kind of a callback result (`location` = the callback contract).
    pub const ETHEREUM: &'static str = "ethereum";

    /// A link to `location` in `storage`.
    pub fn new(storage: impl Into<String>, location: impl Into<String>) -> Self {
        Self {
            storage: storage.into(),
            location: location.into(),
        }
    }

    /// `{"storage":"ipfs","location":"/ipfs/<cid>"}`.
    pub fn ipfs(cid: &str) -> Self {
        Self::new(Self::IPFS, format!("/ipfs/{cid}"))
    }

    /// `{"storage":"ethereum","location":"<callback>"}` for a deal with a callback.
    pub fn ethereum(callback: Address) -> Self {
        Self::new(Self::ETHEREUM, callback.to_checksum(None))
    }

    /// The `results` bytes for `finalize`.
    pub fn to_bytes(&self) -> Bytes {
        serde_json::to_vec(self)
            .expect("two strings always serialise")
            .into()
    }

    /// Reads the on-chain `results` bytes.
    pub fn from_bytes(results: &[u8]) -> Result<Self> {
        serde_json::from_slice(results).map_err(Error::ResultLink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256};
    use alloy_signer_local::PrivateKeySigner;
    use alloy_sol_types::SolValue;

    #[test]
    fn formulas_are_packed_encodings() {
        let task = b256!("0xdf70c5ef9b6ef2c0a48e1bc84507b41be06ddabd3054adc14f3259a4d37863b3");
        let worker = address!("0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc");
        let digest = sha256_digest(b"42\n");
        assert_eq!(
            result_hash(task, digest),
            keccak256((task, digest).abi_encode_packed())
        );
        assert_eq!(
            result_seal(worker, task, digest),
            keccak256((worker, task, digest).abi_encode_packed())
        );
        assert_eq!(
            authorization_hash(worker, task, Address::ZERO),
            keccak256((worker, task, Address::ZERO).abi_encode_packed())
        );
        let c = Contribution::new(worker, task, digest);
        assert!(c.reveals(worker, task, digest));
        assert!(!c.reveals(Address::ZERO, task, digest));
        assert!(!c.reveals(worker, task, B256::ZERO));
        assert_eq!(c.enclave_hash(), enclave_hash(c.result_hash, c.result_seal));
    }

    #[test]
    fn authorization_and_enclave_round_trip() {
        let scheduler = PrivateKeySigner::random();
        let enclave = PrivateKeySigner::random();
        let worker = Address::repeat_byte(7);
        let task = keccak256("task");
        let auth = WorkerAuthorization::sign(&scheduler, worker, task, enclave.address()).unwrap();
        auth.verify(scheduler.address()).unwrap();
        // Another worker cannot reuse it.
        let stolen = WorkerAuthorization {
            worker: Address::repeat_byte(8),
            ..auth.clone()
        };
        assert!(stolen.verify(scheduler.address()).is_err());
        let json = serde_json::to_value(&auth).unwrap();
        assert!(json.get("enclaveChallenge").is_some() && json.get("taskId").is_some());
        assert_eq!(
            serde_json::from_value::<WorkerAuthorization>(json).unwrap(),
            auth
        );

        let c = Contribution::new(worker, task, sha256_digest(b"out"));
        let sign = sign_enclave(&enclave, c.result_hash, c.result_seal).unwrap();
        verify_enclave(c.result_hash, c.result_seal, &sign, enclave.address()).unwrap();
        let err = verify_enclave(c.result_seal, c.result_hash, &sign, enclave.address());
        assert!(matches!(err, Err(Error::WrongSigner { .. })));

        // The fast path's message is another one: a contribute signature does not serve there.
        let digest = sha256_digest(b"out");
        assert_eq!(
            fast_enclave_hash(worker, task, digest),
            keccak256((worker, task, digest).abi_encode_packed())
        );
        assert_ne!(fast_enclave_hash(worker, task, digest), c.enclave_hash());
        let fast = sign_enclave_fast(&enclave, worker, task, digest).unwrap();
        let signer = recover_personal(&fast_enclave_hash(worker, task, digest), &fast).unwrap();
        assert_eq!(signer, enclave.address());
        assert_ne!(
            recover_enclave(c.result_hash, c.result_seal, &fast).ok(),
            Some(enclave.address())
        );
    }

    #[test]
    fn result_link_bytes() {
        let link = ResultLink::ipfs("QmHash");
        assert_eq!(
            &link.to_bytes()[..],
            br#"{"storage":"ipfs","location":"/ipfs/QmHash"}"#
        );
        assert_eq!(ResultLink::from_bytes(&link.to_bytes()).unwrap(), link);
        // Whitespace as the Java worker writes it is fine too.
        let spaced = br#"{ "storage": "ethereum", "location": "0x0000000000000000000000000000000000000001" }"#;
        let parsed = ResultLink::from_bytes(spaced).unwrap();
        assert_eq!(parsed, ResultLink::ethereum(Address::with_last_byte(1)));
        assert!(matches!(
            ResultLink::from_bytes(b"/ipfs/Qm"),
            Err(Error::ResultLink(_))
        ));
    }
}
