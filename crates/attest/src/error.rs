//! The crate's errors: each names what was refused and what to do.

use crate::Platform;

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why evidence was refused, or could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The report is not well formed.
    #[error("the {platform} attestation report is malformed: {reason}")]
    Malformed {
        /// Its platform.
        platform: Platform,
        /// What is wrong.
        reason: String,
    },
    /// The report's signature chain, or the collateral, does not verify.
    #[error("the {platform} attestation report does not verify: {reason}")]
    Invalid {
        /// Its platform.
        platform: Platform,
        /// What failed.
        reason: String,
    },
    /// No collateral (or root certificate) is configured for the platform.
    #[error(
        "no {0} collateral is configured: give the verifier the vendor's collateral and root \
         certificates for this platform"
    )]
    NoCollateral(Platform),
    /// The collateral, or a certificate of the chain, is not valid at the verification time.
    #[error(
        "the {platform} attestation is refused: {what} is valid from {not_before} to \
         {not_after} (unix seconds), not at {now}: refresh the collateral from the vendor \
         (PCCS or AMD KDS) and check the verifier's clock"
    )]
    Expired {
        /// The platform.
        platform: Platform,
        /// Which collateral or certificate.
        what: String,
        /// When it starts being valid (unix seconds).
        not_before: u64,
        /// When it stops being valid: its next update or its expiry (unix seconds).
        not_after: u64,
        /// The verification time (unix seconds).
        now: u64,
    },
    /// A collateral file or setting cannot be used.
    #[error("cannot use the attestation collateral {what}: {reason}")]
    Collateral {
        /// Which file or setting.
        what: String,
        /// What is wrong, and what to give instead.
        reason: String,
    },
    /// The verifier cannot check reports of this platform.
    #[error("{0} attestation is not supported by this verifier")]
    Unsupported(Platform),
    /// The launch measurement is not an accepted one.
    #[error(
        "the {platform} launch measurement {found} is not accepted: run a released poco TEE \
         worker image, or add its measurement to the SMS's accepted measurements"
    )]
    Measurement {
        /// The platform.
        platform: Platform,
        /// The measurement found in the report.
        found: String,
    },
    /// The report's user data does not bind the key (and task) the request names.
    #[error(
        "the attestation report's user data does not bind the enclave key and task of this \
         request: attest again with report_data(taskid, enclave challenge, key)"
    )]
    Binding,
    /// Development evidence sent to a verifier that does not accept it.
    #[error(
        "development attestation is refused: it proves nothing; run the worker in a TDX or \
         SEV-SNP guest, or start the SMS with --insecure-dev-attestation (devnets only)"
    )]
    DevRefused,
    /// The platform's attestation interface failed.
    #[error("cannot get an attestation report from {what}: {reason}")]
    Provider {
        /// Which interface.
        what: String,
        /// What failed.
        reason: String,
    },
    /// A sealed secret does not open, or a key is malformed.
    #[error("sealed secret: {0}")]
    Seal(String),
}
