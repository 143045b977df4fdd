//! AMD SEV-SNP attestation reports, verified with the `sev` crate (RustCrypto backend): the
//! configured ARK (pinned, self-signed) signs the ASK, the ASK signs the chip's VCEK, every
//! certificate is valid at `now`, and the VCEK signs the report. The VCEK comes from the
//! evidence's certificate table (configfs-tsm `auxblob`) or from the configured VCEKs. Debug
//! guests and a reported TCB below [`Policy::sev_min_tcb`] are refused.

use crate::{Error, Evidence, Platform, Policy, Result, SevTcb, Verified};
use p384::ecdsa::{signature::Verifier, VerifyingKey};
use sev::{
    certs::snp::{ca, Certificate, Chain, Verifiable},
    firmware::guest::AttestationReport,
    parser::ByteParser,
};

/// The size of an SEV-SNP attestation report.
pub(crate) const REPORT_LEN: usize = 0x4a0;
/// The report's bytes the signature covers.
const SIGNED_LEN: usize = 0x2a0;
/// The VCEK's GUID in the extended report's certificate table (GHCB specification).
pub(crate) const VCEK_GUID: [u8; 16] = [
    0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd,
];

const P: Platform = Platform::SevSnp;

fn invalid(reason: impl Into<String>) -> Error {
    Error::Invalid {
        platform: P,
        reason: reason.into(),
    }
}

pub(crate) fn verify(policy: &Policy, evidence: &Evidence, now: u64) -> Result<Verified> {
    let raw = &evidence.report;
    if raw.len() != REPORT_LEN {
        return Err(Error::Malformed {
            platform: P,
            reason: format!("{} bytes, an SEV-SNP report has {REPORT_LEN}", raw.len()),
        });
    }
    let report = AttestationReport::from_bytes(raw).map_err(|e| Error::Malformed {
        platform: P,
        reason: e.to_string(),
    })?;
    if policy.sev_ca.is_empty() {
        return Err(Error::NoCollateral(P));
    }
    let mut vceks = Vec::new();
    if let Some(table) = &evidence.certificates {
        vceks.extend(vcek_in_table(table)?);
    }
    vceks.extend(policy.vceks.iter().cloned());
    if vceks.is_empty() {
        return Err(Error::NoCollateral(P));
    }
    // the report is signed over its own bytes, not over a re-encoding of what was parsed
    let signature = p384::ecdsa::Signature::try_from(&report.signature)
        .map_err(|e| invalid(format!("the report's signature is malformed: {e}")))?;
    let mut failures = Vec::new();
    for vcek in &vceks {
        match chain_to_root(policy, vcek, now) {
            Ok(key) => match key.verify(&raw[..SIGNED_LEN], &signature) {
                Ok(()) => return accept(policy, &report),
                Err(_) => failures.push("the VCEK does not sign this report".to_owned()),
            },
            Err(e @ Error::Expired { .. }) => return Err(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    Err(invalid(format!(
        "no VCEK chained to a configured AMD root signs the report ({})",
        failures.join("; ")
    )))
}

/// Checks `vcek` chains to a configured ARK through its ASK, all valid at `now`, and returns
/// its public key.
fn chain_to_root(policy: &Policy, vcek: &[u8], now: u64) -> Result<VerifyingKey> {
    let vek = Certificate::from_der(vcek)
        .map_err(|e| invalid(format!("a VCEK is not a DER certificate: {e}")))?;
    let mut failures = Vec::new();
    for root in &policy.sev_ca {
        let parse = |what: &str, der: &[u8]| {
            Certificate::from_der(der).map_err(|e| Error::Collateral {
                what: format!("the configured AMD {what}"),
                reason: e.to_string(),
            })
        };
        let chain = Chain {
            ca: ca::Chain {
                ark: parse("ARK", &root.ark)?,
                ask: parse("ASK", &root.ask)?,
            },
            vek: vek.clone(),
        };
        if let Err(e) = (&chain).verify() {
            failures.push(e.to_string());
            continue;
        }
        for (what, cert) in [
            ("ARK", &chain.ca.ark),
            ("ASK", &chain.ca.ask),
            ("VCEK", &chain.vek),
        ] {
            let x509: x509_cert::Certificate = cert.clone().into();
            let validity = &x509.tbs_certificate.validity;
            let not_before = validity.not_before.to_unix_duration().as_secs();
            let not_after = validity.not_after.to_unix_duration().as_secs();
            if now < not_before || now > not_after {
                return Err(Error::Expired {
                    platform: P,
                    what: format!("the AMD {what} certificate"),
                    not_before,
                    not_after,
                    now,
                });
            }
        }
        return VerifyingKey::from_sec1_bytes(chain.vek.public_key_sec1())
            .map_err(|e| invalid(format!("the VCEK's key is not a P-384 key: {e}")));
    }
    Err(invalid(format!(
        "the VCEK does not chain to a configured AMD root ({})",
        failures.join("; ")
    )))
}

fn accept(policy: &Policy, report: &AttestationReport) -> Result<Verified> {
    if report.policy.debug_allowed() {
        return Err(invalid(
            "the guest policy allows debugging (the hypervisor can read its memory): launch \
             the worker's guest with the DEBUG policy bit clear",
        ));
    }
    if let Some(min) = &policy.sev_min_tcb {
        let t = &report.reported_tcb;
        let found = SevTcb {
            bootloader: t.bootloader,
            tee: t.tee,
            snp: t.snp,
            microcode: t.microcode,
        };
        if !found.at_least(min) {
            return Err(invalid(format!(
                "the reported TCB {found} is below the minimum {min}: update the host's \
                 firmware and microcode"
            )));
        }
    }
    Ok(Verified {
        platform: P,
        measurement: hex::encode(report.measurement),
        report_data: report.report_data,
        confidential: true,
        tcb_status: String::new(),
    })
}

/// The VCEK in an extended report's certificate table: 24-byte entries (GUID, offset and
/// length little-endian, offsets from the table's start) ended by a zero GUID. Parsed here
/// with bounds checks: the table comes from the host, which the verifier does not trust.
fn vcek_in_table(table: &[u8]) -> Result<Option<Vec<u8>>> {
    let malformed = |reason: String| Error::Malformed {
        platform: P,
        reason: format!("the certificate table: {reason}"),
    };
    let mut entries = table.chunks(24);
    loop {
        let entry = entries
            .next()
            .filter(|e| e.len() == 24)
            .ok_or_else(|| malformed("no terminating zero entry".into()))?;
        let guid = &entry[..16];
        if guid.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if guid != VCEK_GUID {
            continue;
        }
        let word = |at: usize| {
            u32::from_le_bytes([entry[at], entry[at + 1], entry[at + 2], entry[at + 3]]) as usize
        };
        let (offset, len) = (word(16), word(20));
        let data = offset
            .checked_add(len)
            .and_then(|end| table.get(offset..end))
            .ok_or_else(|| {
                malformed(format!(
                    "the VCEK entry ({len} bytes at {offset}) is outside the {}-byte table",
                    table.len()
                ))
            })?;
        return Ok(Some(data.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AttestationReport {
        let raw = include_bytes!("../testdata/snp_report_milan.bin");
        AttestationReport::from_bytes(raw).unwrap()
    }

    /// The signature covers the policy, so a debug guest cannot be made from the genuine
    /// sample: the check after the signature is exercised on the parsed report.
    #[test]
    fn a_guest_that_allows_debugging_is_refused() {
        let mut report = sample();
        assert!(!report.policy.debug_allowed());
        accept(&Policy::default(), &report).unwrap();
        report.policy.set_debug_allowed(true);
        let err = accept(&Policy::default(), &report).unwrap_err();
        assert!(err.to_string().contains("allows debugging"), "{err}");
    }

    #[test]
    fn the_vcek_is_found_among_other_table_entries() {
        let mut table = Vec::new();
        let ark_guid = [0xc0; 16];
        for (guid, offset, len) in [(ark_guid, 72u32, 2u32), (VCEK_GUID, 74, 3)] {
            table.extend_from_slice(&guid);
            table.extend_from_slice(&offset.to_le_bytes());
            table.extend_from_slice(&len.to_le_bytes());
        }
        table.extend_from_slice(&[0; 24]);
        table.extend_from_slice(&[1, 1, 7, 8, 9]);
        assert_eq!(vcek_in_table(&table).unwrap(), Some(vec![7, 8, 9]));
        // a table without a VCEK entry
        let mut no_vcek = table.clone();
        no_vcek[24..40].copy_from_slice(&[0xc1; 16]);
        assert_eq!(vcek_in_table(&no_vcek).unwrap(), None);
        // an offset so large the end overflows
        table[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        table[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(vcek_in_table(&table).is_err());
    }
}
