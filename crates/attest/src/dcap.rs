//! Intel TDX (quote v4) and SGX (quote v3) DCAP quotes, verified with `dcap-qvl` against the
//! configured PCCS collateral at a given time: Intel's root (pinned in `dcap-qvl`) → PCK chain
//! carried by the quote → QE report → the quote's signature, the TCB info and QE identity with
//! their signatures and issuer chains, the CRLs (revoked certificates are refused), the TCB
//! status under [`Policy::allow_tcb`], and no debug TD or enclave.

use dcap_qvl::{quote::Quote, verify::QuoteVerifier, QuoteCollateralV3, QuotePolicy, TcbStatus};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use x509_cert::{crl::CertificateList, der::Decode};

use crate::{AllowedTcb, Error, Evidence, Platform, Policy, Result, Verified};

/// The `id` Intel's TCB info carries for each platform.
fn tcb_info_id(platform: Platform) -> &'static str {
    match platform {
        Platform::Sgx => "SGX",
        _ => "TDX",
    }
}

pub(crate) fn verify(policy: &Policy, evidence: &Evidence, now: u64) -> Result<Verified> {
    let platform = evidence.platform;
    let quote = Quote::parse(&evidence.report).map_err(|e| Error::Malformed {
        platform,
        reason: format!("{e:#}"),
    })?;
    let tdx = quote.header.tee_type == 0x81;
    if tdx != (platform == Platform::Tdx) {
        return Err(Error::Malformed {
            platform,
            reason: format!(
                "the quote's TEE type is {:#x}, not {platform}",
                quote.header.tee_type
            ),
        });
    }
    let candidates: Vec<&QuoteCollateralV3> = policy
        .dcap_collateral
        .iter()
        .filter(|c| collateral_id(c).as_deref() == Some(tcb_info_id(platform)))
        .collect();
    if candidates.is_empty() {
        return Err(Error::NoCollateral(platform));
    }
    // One collateral per FMSPC: try each configured one for the platform; each try is a full
    // verification, so the order cannot weaken it.
    let mut failures = Vec::new();
    for collateral in candidates {
        match verify_with(policy, platform, &evidence.report, collateral, now) {
            Ok(verified) => return Ok(verified),
            Err(e) => failures.push(e),
        }
    }
    if failures.len() == 1 {
        return Err(failures.remove(0));
    }
    Err(Error::Invalid {
        platform,
        reason: failures
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    })
}

fn verify_with(
    policy: &Policy,
    platform: Platform,
    quote: &[u8],
    collateral: &QuoteCollateralV3,
    now: u64,
) -> Result<Verified> {
    check_fresh(platform, collateral, now)?;
    let mut appraisal = QuotePolicy::strict(now)
        // the PCK certificate's platform flags say how the platform was provisioned (multi-
        // package, cached keys, hyperthreading), not what it runs: cloud hosts set them
        .allow_dynamic_platform(true)
        .allow_cached_keys(true)
        .allow_smt(true);
    for allowed in &policy.allow_tcb {
        appraisal = appraisal.allow_status(match allowed {
            AllowedTcb::SwHardeningNeeded => TcbStatus::SWHardeningNeeded,
            AllowedTcb::ConfigurationNeeded => TcbStatus::ConfigurationNeeded,
            AllowedTcb::ConfigurationAndSwHardeningNeeded => {
                TcbStatus::ConfigurationAndSWHardeningNeeded
            }
        });
    }
    let claims = QuoteVerifier::new_prod()
        .verify_with_policy(quote, collateral.clone(), now, &appraisal)
        .map_err(|e| Error::Invalid {
            platform,
            reason: format!("{e:#}"),
        })?;
    let report = &claims.report;
    let (measurement, report_data) = match (platform, report.as_td10(), report.as_sgx()) {
        (Platform::Tdx, Some(td), _) => {
            let mut m = Vec::with_capacity(4 * 48);
            for part in [&td.mr_td, &td.rt_mr0, &td.rt_mr1, &td.rt_mr2] {
                m.extend_from_slice(part);
            }
            (hex::encode(m), td.report_data)
        }
        (Platform::Sgx, _, Some(enclave)) => (hex::encode(enclave.mr_enclave), enclave.report_data),
        _ => {
            return Err(Error::Malformed {
                platform,
                reason: "the quote's report body does not match its platform".into(),
            })
        }
    };
    Ok(Verified {
        platform,
        measurement,
        report_data,
        confidential: true,
        tcb_status: claims.tcb.status.to_string(),
    })
}

/// The `id` field of a collateral's TCB info (`TDX` or `SGX`).
fn collateral_id(collateral: &QuoteCollateralV3) -> Option<String> {
    let info: serde_json::Value = serde_json::from_str(&collateral.tcb_info).ok()?;
    info.get("id")?.as_str().map(str::to_owned)
}

/// Refuses collateral whose TCB info, QE identity or CRLs are past their next update (or not
/// yet issued), with an error that says which and what to do.
fn check_fresh(platform: Platform, collateral: &QuoteCollateralV3, now: u64) -> Result<()> {
    let malformed = |reason: String| Error::Collateral {
        what: format!("{platform} collateral"),
        reason,
    };
    let mut windows = Vec::new();
    for (what, json) in [
        ("TCB info", &collateral.tcb_info),
        ("QE identity", &collateral.qe_identity),
    ] {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| malformed(format!("the {what} is not JSON: {e}")))?;
        let date = |field: &str| -> Result<u64> {
            let text = value
                .get(field)
                .and_then(|v| v.as_str())
                .ok_or_else(|| malformed(format!("the {what} has no {field}")))?;
            let t = OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|e| malformed(format!("the {what}'s {field} {text:?}: {e}")))?;
            Ok(u64::try_from(t.unix_timestamp()).unwrap_or(0))
        };
        windows.push((what, date("issueDate")?, date("nextUpdate")?));
    }
    for (what, der) in [
        ("root CA CRL", &collateral.root_ca_crl),
        ("PCK CRL", &collateral.pck_crl),
    ] {
        let crl = CertificateList::from_der(der)
            .map_err(|e| malformed(format!("the {what} is not a DER CRL: {e}")))?;
        let this = crl.tbs_cert_list.this_update.to_unix_duration().as_secs();
        let next = crl
            .tbs_cert_list
            .next_update
            .map(|t| t.to_unix_duration().as_secs())
            .ok_or_else(|| malformed(format!("the {what} has no nextUpdate")))?;
        windows.push((what, this, next));
    }
    for (what, issued, next_update) in windows {
        if now < issued || now > next_update {
            return Err(Error::Expired {
                platform,
                what: format!("the {what}"),
                not_before: issued,
                not_after: next_update,
                now,
            });
        }
    }
    Ok(())
}
