//! The development provider's evidence: a fixed marker then the 64 bytes of user data,
//! unsigned. It proves nothing and is accepted only under [`crate::Policy::allow_dev`].

use crate::{Error, Evidence, Platform, Result, Verified, REPORT_DATA_LEN};

/// What starts a development report.
pub(crate) const MAGIC: &[u8] = b"POCO-DEV-ATTESTATION-NOT-CONFIDENTIAL\0";

pub(crate) fn report(report_data: &[u8; REPORT_DATA_LEN]) -> Evidence {
    let mut report = MAGIC.to_vec();
    report.extend_from_slice(report_data);
    Evidence {
        platform: Platform::Dev,
        report,
        certificates: None,
    }
}

pub(crate) fn verify(evidence: &Evidence) -> Result<Verified> {
    let data = evidence
        .report
        .strip_prefix(MAGIC)
        .and_then(|d| <[u8; REPORT_DATA_LEN]>::try_from(d).ok())
        .ok_or_else(|| Error::Malformed {
            platform: Platform::Dev,
            reason: format!(
                "expected the development marker then {REPORT_DATA_LEN} bytes of user data"
            ),
        })?;
    Ok(Verified {
        platform: Platform::Dev,
        measurement: "dev".into(),
        report_data: data,
        confidential: false,
        tcb_status: String::new(),
    })
}
