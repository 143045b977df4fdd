#![doc = include_str!("../README.md")]

mod collateral;
mod dcap;
mod dev;
mod error;
mod provider;
mod seal;
mod snp;

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

pub use dcap_qvl::QuoteCollateralV3;
pub use error::{Error, Result};
pub use provider::{ConfigfsTsm, DevProvider, Provider};
pub use seal::{check_recipient, seal, EnclaveKey, Sealed};

/// The length of the user data an attestation report carries (TDX `REPORTDATA`, SGX
/// `report_data`, SEV-SNP `REPORT_DATA`).
pub const REPORT_DATA_LEN: usize = 64;

/// The kind of trusted execution environment a report comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// An Intel TDX trust domain (DCAP quote v4).
    Tdx,
    /// An Intel SGX enclave (DCAP quote v3).
    Sgx,
    /// An AMD SEV-SNP guest.
    SevSnp,
    /// The development provider: no hardware, no security.
    Dev,
}

impl Platform {
    /// The name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tdx => "tdx",
            Self::Sgx => "sgx",
            Self::SevSnp => "sev-snp",
            Self::Dev => "dev",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An attestation report as a worker sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Where it comes from.
    pub platform: Platform,
    /// The report (TDX/SGX: the quote; SEV-SNP: the 1184-byte report), base64 in JSON.
    #[serde(with = "b64")]
    pub report: Vec<u8>,
    /// Certificates the platform gave with the report (SEV-SNP: the extended report's
    /// certificate table from `auxblob`, which holds the chip's VCEK), base64 in JSON.
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<u8>>,
}

/// What a verified report proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The platform.
    pub platform: Platform,
    /// The launch measurement, lowercase hex (TDX: `MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2`, 192 bytes;
    /// SGX: `MRENCLAVE`; SEV-SNP: `MEASUREMENT`; development: `dev`). See the crate docs.
    pub measurement: String,
    /// The report's user data.
    #[serde(with = "hex_64")]
    pub report_data: [u8; REPORT_DATA_LEN],
    /// Whether the report comes from real hardware (false for the development provider).
    pub confidential: bool,
    /// The platform's TCB status as Intel's collateral rates it (`UpToDate`, ...; empty for
    /// SEV-SNP, whose TCB is checked against [`Policy::sev_min_tcb`], and for the development
    /// provider).
    pub tcb_status: String,
}

/// A launch measurement the SMS accepts: that of a released poco TEE worker image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measurement {
    /// The platform it applies to.
    pub platform: Platform,
    /// The measurement, hex (case and a `0x` prefix are ignored).
    pub value: String,
}

/// What a verifier accepts.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// The accepted launch measurements; a report measuring anything else is refused.
    pub measurements: Vec<Measurement>,
    /// Accept the development provider (insecure: for a devnet only).
    pub allow_dev: bool,
    /// Intel DCAP collateral as a PCCS serves it, one per platform family (FMSPC) and TEE
    /// type; a TDX or SGX quote is verified against the ones whose TCB info is for its type.
    pub dcap_collateral: Vec<QuoteCollateralV3>,
    /// TCB statuses accepted besides `UpToDate` (default: none). `OutOfDate` and `Revoked`
    /// are never accepted.
    pub allow_tcb: Vec<AllowedTcb>,
    /// AMD root certificates (ARK, pinned) and signing keys (ASK), one pair per product.
    pub sev_ca: Vec<SevCa>,
    /// Chips' VCEKs (DER), used when the evidence does not carry its own.
    pub vceks: Vec<Vec<u8>>,
    /// The lowest SEV-SNP `REPORTED_TCB` accepted, if any.
    pub sev_min_tcb: Option<SevTcb>,
    /// The highest VMPL an SEV-SNP report may come from (default 0: the guest's most
    /// privileged level, where its kernel runs without an SVSM).
    pub sev_max_vmpl: u32,
}

/// A TCB status below `UpToDate` that a [`Policy`] may accept for Intel platforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AllowedTcb {
    /// `SWHardeningNeeded`: up to date; the enclave software must mitigate some advisories.
    #[serde(rename = "SWHardeningNeeded")]
    SwHardeningNeeded,
    /// `ConfigurationNeeded`: up to date; the platform's configuration needs a change.
    ConfigurationNeeded,
    /// `ConfigurationAndSWHardeningNeeded`: both of the above.
    #[serde(rename = "ConfigurationAndSWHardeningNeeded")]
    ConfigurationAndSwHardeningNeeded,
}

impl std::str::FromStr for AllowedTcb {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "SWHardeningNeeded" => Ok(Self::SwHardeningNeeded),
            "ConfigurationNeeded" => Ok(Self::ConfigurationNeeded),
            "ConfigurationAndSWHardeningNeeded" => Ok(Self::ConfigurationAndSwHardeningNeeded),
            other => Err(Error::Collateral {
                what: "the accepted TCB statuses".into(),
                reason: format!(
                    "{other:?} cannot be accepted: give SWHardeningNeeded, ConfigurationNeeded \
                     or ConfigurationAndSWHardeningNeeded"
                ),
            }),
        }
    }
}

/// An AMD product's certificate authority: the pinned root key certificate and the signing
/// key certificate it issued (which issues the chips' VCEKs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SevCa {
    /// The AMD Root Key certificate (DER), self-signed.
    pub ark: Vec<u8>,
    /// The AMD SEV Key certificate (DER), signed by the ARK.
    pub ask: Vec<u8>,
}

/// An SEV-SNP TCB version: the security version numbers of the platform's firmware parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SevTcb {
    /// The PSP bootloader's SVN.
    pub bootloader: u8,
    /// The PSP operating system's SVN.
    pub tee: u8,
    /// The SNP firmware's SVN.
    pub snp: u8,
    /// The lowest microcode patch level of the cores.
    pub microcode: u8,
}

impl SevTcb {
    /// Whether every part is at least `min`'s.
    pub fn at_least(&self, min: &SevTcb) -> bool {
        self.bootloader >= min.bootloader
            && self.tee >= min.tee
            && self.snp >= min.snp
            && self.microcode >= min.microcode
    }
}

impl std::fmt::Display for SevTcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bootloader {} tee {} snp {} microcode {}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

/// The 64 bytes of user data that bind an enclave's fresh key to one task and its enclave
/// challenge: `sha512("poco-tee-v1" ‖ taskid ‖ enclaveChallenge ‖ key)`, `key` the
/// compressed SEC1 encoding of the enclave's public key.
pub fn report_data(
    taskid: B256,
    enclave_challenge: Address,
    enclave_key: &[u8],
) -> [u8; REPORT_DATA_LEN] {
    let mut h = Sha512::new();
    h.update(b"poco-tee-v1");
    h.update(taskid);
    h.update(enclave_challenge);
    h.update(enclave_key);
    h.finalize().into()
}

/// Verifies `evidence` under `policy` at `now` (unix seconds): the signature chain, the
/// collateral, and the measurement. The caller compares [`Verified::report_data`] with what
/// it expects, or calls [`verify_binding`].
pub fn verify(policy: &Policy, evidence: &Evidence, now: u64) -> Result<Verified> {
    let verified = match evidence.platform {
        Platform::Dev if policy.allow_dev => dev::verify(evidence)?,
        Platform::Dev => return Err(Error::DevRefused),
        Platform::Tdx | Platform::Sgx => dcap::verify(policy, evidence, now)?,
        Platform::SevSnp => snp::verify(policy, evidence, now)?,
    };
    accept_measurement(policy, &verified)?;
    Ok(verified)
}

/// [`verify`], then checks the report's user data is `expected` (see [`report_data`]).
pub fn verify_binding(
    policy: &Policy,
    evidence: &Evidence,
    expected: &[u8; REPORT_DATA_LEN],
    now: u64,
) -> Result<Verified> {
    let verified = verify(policy, evidence, now)?;
    if &verified.report_data != expected {
        return Err(Error::Binding);
    }
    Ok(verified)
}

fn accept_measurement(policy: &Policy, verified: &Verified) -> Result<()> {
    if verified.platform == Platform::Dev {
        return Ok(());
    }
    let normal = |s: &str| s.trim_start_matches("0x").to_ascii_lowercase();
    let found = normal(&verified.measurement);
    if policy
        .measurements
        .iter()
        .any(|m| m.platform == verified.platform && normal(&m.value) == found)
    {
        Ok(())
    } else {
        Err(Error::Measurement {
            platform: verified.platform,
            found,
        })
    }
}

mod b64 {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::b64::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super::b64")] Vec<u8>);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

mod hex_64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = String::deserialize(d)?;
        let bytes = hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("report data must be 64 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_data_binds_task_challenge_and_key() {
        let key = EnclaveKey::generate();
        let pubkey = key.public();
        let a = report_data(B256::repeat_byte(1), Address::repeat_byte(2), &pubkey);
        assert_ne!(
            a,
            report_data(B256::repeat_byte(3), Address::repeat_byte(2), &pubkey)
        );
        assert_ne!(
            a,
            report_data(B256::repeat_byte(1), Address::repeat_byte(4), &pubkey)
        );
        assert_ne!(
            a,
            report_data(
                B256::repeat_byte(1),
                Address::repeat_byte(2),
                &EnclaveKey::generate().public()
            )
        );
    }

    #[test]
    fn dev_evidence_needs_the_insecure_flag_and_is_not_confidential() {
        let data = [7u8; 64];
        let evidence = DevProvider.attest(&data).unwrap();
        assert!(matches!(
            verify(&Policy::default(), &evidence, 0),
            Err(Error::DevRefused)
        ));
        let policy = Policy {
            allow_dev: true,
            ..Default::default()
        };
        let v = verify_binding(&policy, &evidence, &data, 0).unwrap();
        assert!(!v.confidential);
        assert!(matches!(
            verify_binding(&policy, &evidence, &[8u8; 64], 0),
            Err(Error::Binding)
        ));
    }

    #[test]
    fn evidence_round_trips_as_json() {
        let e = Evidence {
            platform: Platform::SevSnp,
            report: vec![1, 2, 3],
            certificates: Some(vec![4]),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"sev-snp\""), "{json}");
        assert_eq!(serde_json::from_str::<Evidence>(&json).unwrap(), e);
    }
}
