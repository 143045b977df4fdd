//! AMD SEV-SNP attestation reports, verified with the `sev` crate (RustCrypto backend): the
//! configured ARK (pinned, self-signed) signs the ASK, the ASK signs the chip's VCEK, every
//! certificate is valid at `now`, and the VCEK signs the report. The VCEK comes from the
//! evidence's certificate table (configfs-tsm `auxblob`) or from the configured VCEKs. The VCEK
//! must have been issued for the report's chip and TCB (its AMD extensions: hwID and the SPLs,
//! compared with `CHIP_ID` and `REPORTED_TCB`), so that a key of older, vulnerable firmware
//! cannot vouch for a report claiming a newer TCB. Debug guests, a report from a VMPL above
//! [`Policy::sev_max_vmpl`] and a TCB below [`Policy::sev_min_tcb`] are refused.

use crate::{Error, Evidence, Platform, Policy, Result, SevTcb, Verified};
use p384::ecdsa::{signature::Verifier, VerifyingKey};
use sev::{
    certs::snp::{ca, Certificate, Chain, Verifiable},
    firmware::guest::AttestationReport,
    parser::ByteParser,
};
use x509_cert::der::{asn1::OctetString, oid::ObjectIdentifier, Decode};

/// The size of an SEV-SNP attestation report.
pub(crate) const REPORT_LEN: usize = 0x4a0;
/// The report's bytes the signature covers.
const SIGNED_LEN: usize = 0x2a0;
/// The VCEK's GUID in the extended report's certificate table (GHCB specification).
pub(crate) const VCEK_GUID: [u8; 16] = [
    0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd,
];

const P: Platform = Platform::SevSnp;

/// The VCEK extensions (AMD's KDS specification) naming what it was issued for: the SPLs of
/// the TCB parts and the chip's hardware id.
const OID_BOOTLOADER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_MICROCODE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const OID_FMC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const OID_HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// What a VCEK was issued for, from its extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct IssuedFor {
    tcb: SevTcb,
    /// The firmware loader's SPL (Turin and later).
    fmc: Option<u8>,
    /// The chip's id: 64 bytes (Milan, Genoa) or 8 (Turin), a prefix of the report's `CHIP_ID`.
    hw_id: Vec<u8>,
}

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
            Ok((key, issued)) => match key.verify(&raw[..SIGNED_LEN], &signature) {
                Ok(()) => return accept(policy, &report, &issued),
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
/// its public key and what it was issued for.
fn chain_to_root(policy: &Policy, vcek: &[u8], now: u64) -> Result<(VerifyingKey, IssuedFor)> {
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
        let key = VerifyingKey::from_sec1_bytes(chain.vek.public_key_sec1())
            .map_err(|e| invalid(format!("the VCEK's key is not a P-384 key: {e}")))?;
        return Ok((key, issued_for(&chain.vek.clone().into())?));
    }
    Err(invalid(format!(
        "the VCEK does not chain to a configured AMD root ({})",
        failures.join("; ")
    )))
}

/// What `vcek` was issued for: its SPL and hwID extensions (a VCEK without them, such as a
/// VLEK, is refused).
fn issued_for(vcek: &x509_cert::Certificate) -> Result<IssuedFor> {
    let extensions = vcek
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default();
    let value = |oid: ObjectIdentifier| {
        extensions
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    };
    let spl = |oid: ObjectIdentifier, name: &str| -> Result<Option<u8>> {
        value(oid)
            .map(|der| {
                u8::from_der(der).map_err(|e| {
                    invalid(format!(
                        "the VCEK's {name} SPL extension is not a small integer: {e}"
                    ))
                })
            })
            .transpose()
    };
    let required = |oid: ObjectIdentifier, name: &str| {
        spl(oid, name)?.ok_or_else(|| {
            invalid(format!(
                "the certificate has no {name} SPL extension: it is not a VCEK (VLEK-signed \
                 reports are not accepted)"
            ))
        })
    };
    let tcb = SevTcb {
        bootloader: required(OID_BOOTLOADER, "bootloader")?,
        tee: required(OID_TEE, "TEE")?,
        snp: required(OID_SNP, "SNP")?,
        microcode: required(OID_MICROCODE, "microcode")?,
    };
    let hw_id = value(OID_HW_ID).ok_or_else(|| {
        invalid("the VCEK has no hwID extension (VLEK-signed reports are not accepted)")
    })?;
    // the raw id (as AMD's KDS issues it), or the id as a DER OCTET STRING
    let hw_id = match hw_id.len() {
        8 | 64 => hw_id.to_vec(),
        _ => OctetString::from_der(hw_id)
            .map(OctetString::into_bytes)
            .ok()
            .filter(|id| matches!(id.len(), 8 | 64))
            .ok_or_else(|| {
                invalid(format!(
                    "the VCEK's hwID has {} bytes, not 8 or 64",
                    hw_id.len()
                ))
            })?,
    };
    let fmc = spl(OID_FMC, "FMC")?;
    // the short id comes with the FMC SPL (Turin and later), the long one without
    if (hw_id.len() == 8) != fmc.is_some() {
        return Err(invalid(format!(
            "the VCEK's hwID has {} bytes, which its {} FMC SPL does not go with",
            hw_id.len(),
            if fmc.is_some() { "present" } else { "missing" }
        )));
    }
    Ok(IssuedFor { tcb, fmc, hw_id })
}

fn accept(policy: &Policy, report: &AttestationReport, vcek: &IssuedFor) -> Result<Verified> {
    if report.policy.debug_allowed() {
        return Err(invalid(
            "the guest policy allows debugging (the hypervisor can read its memory): launch \
             the worker's guest with the DEBUG policy bit clear",
        ));
    }
    if report.vmpl > policy.sev_max_vmpl {
        return Err(invalid(format!(
            "the report was requested at VMPL {}, above the accepted {}: a less privileged \
             part of the guest asked for it; request it from the worker's kernel at VMPL {}",
            report.vmpl, policy.sev_max_vmpl, policy.sev_max_vmpl
        )));
    }
    let t = &report.reported_tcb;
    let reported = SevTcb {
        bootloader: t.bootloader,
        tee: t.tee,
        snp: t.snp,
        microcode: t.microcode,
    };
    if reported != vcek.tcb || t.fmc != vcek.fmc {
        return Err(invalid(format!(
            "the report claims the TCB {reported} but its VCEK was issued for {}: a report \
             must be signed by the VCEK of its own TCB",
            vcek.tcb
        )));
    }
    // MASK_CHIP_ID (a zero CHIP_ID) hides the chip: the TCB above still binds the VCEK
    let masked = report.chip_id.iter().all(|&b| b == 0);
    if !masked && !report.chip_id.starts_with(&vcek.hw_id) {
        return Err(invalid(
            "the VCEK was issued for another chip than the one in the report (hwID and \
             CHIP_ID differ)",
        ));
    }
    if let Some(min) = &policy.sev_min_tcb {
        if !reported.at_least(min) {
            return Err(invalid(format!(
                "the reported TCB {reported} is below the minimum {min}: update the host's \
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

    /// What the genuine sample's VCEK was issued for, read from its extensions.
    fn sample_vcek() -> IssuedFor {
        let der = include_bytes!("../testdata/collateral/vcek/milan.der");
        issued_for(&x509_cert::Certificate::from_der(der).unwrap()).unwrap()
    }

    /// The signature covers the policy, the VMPL, the TCB and the chip id, so none of them can
    /// be changed in the genuine sample: the checks after the signature are exercised on the
    /// parsed report.
    #[test]
    fn a_guest_that_allows_debugging_is_refused() {
        let mut report = sample();
        assert!(!report.policy.debug_allowed());
        accept(&Policy::default(), &report, &sample_vcek()).unwrap();
        report.policy.set_debug_allowed(true);
        let err = accept(&Policy::default(), &report, &sample_vcek()).unwrap_err();
        assert!(err.to_string().contains("allows debugging"), "{err}");
    }

    #[test]
    fn the_sample_vcek_was_issued_for_the_sample_report() {
        let vcek = sample_vcek();
        // the extensions as `openssl asn1parse` shows them in the sample VCEK
        assert_eq!(
            vcek.tcb,
            SevTcb {
                bootloader: 3,
                tee: 0,
                snp: 8,
                microcode: 0x73
            }
        );
        assert_eq!(vcek.fmc, None);
        assert_eq!(vcek.hw_id, sample().chip_id.to_vec());
    }

    #[test]
    fn a_report_from_a_less_privileged_vmpl_is_refused_unless_allowed() {
        let mut report = sample();
        report.vmpl = 2;
        let err = accept(&Policy::default(), &report, &sample_vcek()).unwrap_err();
        assert!(
            err.to_string().contains("VMPL 2, above the accepted 0"),
            "{err}"
        );
        let policy = Policy {
            sev_max_vmpl: 2,
            ..Policy::default()
        };
        accept(&policy, &report, &sample_vcek()).unwrap();
    }

    /// A VCEK of older firmware (whose key may be known) cannot vouch for a report claiming
    /// a newer TCB, nor a VCEK of another chip for this one.
    #[test]
    fn a_vcek_of_another_tcb_or_chip_is_refused() {
        let report = sample();
        let older = IssuedFor {
            tcb: SevTcb {
                snp: 7,
                ..sample_vcek().tcb
            },
            ..sample_vcek()
        };
        let err = accept(&Policy::default(), &report, &older).unwrap_err();
        assert!(err.to_string().contains("its VCEK was issued for"), "{err}");
        let turin = IssuedFor {
            fmc: Some(1),
            ..sample_vcek()
        };
        assert!(accept(&Policy::default(), &report, &turin).is_err());
        let other_chip = IssuedFor {
            hw_id: vec![0x5a; 64],
            ..sample_vcek()
        };
        let err = accept(&Policy::default(), &report, &other_chip).unwrap_err();
        assert!(err.to_string().contains("another chip"), "{err}");
        // an 8-byte id (Turin) is compared with the start of CHIP_ID
        let mut turin_report = sample();
        turin_report.reported_tcb.fmc = Some(1);
        let short = IssuedFor {
            hw_id: report.chip_id[..8].to_vec(),
            fmc: Some(1),
            ..sample_vcek()
        };
        accept(&Policy::default(), &turin_report, &short).unwrap();
        // a masked CHIP_ID binds by the TCB alone
        let mut masked = sample();
        masked.chip_id = [0; 64];
        accept(&Policy::default(), &masked, &other_chip).unwrap();
    }

    #[test]
    fn a_certificate_without_the_vcek_extensions_is_refused() {
        // the ASK: signed by AMD, but not issued for a chip
        let pem = include_str!("../testdata/collateral/milan.ask.pem");
        let ask = x509_cert::Certificate::load_pem_chain(pem.as_bytes()).unwrap();
        let err = issued_for(&ask[0]).unwrap_err();
        assert!(err.to_string().contains("not a VCEK"), "{err}");
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
