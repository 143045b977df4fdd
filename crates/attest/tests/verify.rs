//! Real attestation verification on genuine samples (see testdata/README.md): Intel TDX and
//! SGX DCAP quotes with their PCCS collateral, an AMD SEV-SNP (Milan) report with its VCEK and
//! AMD's Milan ARK/ASK. Each test runs at a fixed time inside the collateral's validity.
//! Expected values are read from the samples at the offsets the Intel and AMD specifications
//! give, not from the verifier.

use std::path::{Path, PathBuf};

use poco_attest::{
    verify, verify_binding, AllowedTcb, DevProvider, Error, Evidence, Measurement, Platform,
    Policy, Provider, SevTcb,
};

/// 2025-07-01T00:00:00Z: inside the samples' TCB info, QE identity and CRL windows
/// (2025-06-19 to 2025-07-19) and the Milan VCEK's validity (2023-04-03 to 2030-04-03).
const NOW: u64 = 1_751_328_000;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap()
}

/// TDX quote v4: a 48-byte header, then the TD report body: MRTD at 136 of the body, RTMR0..2
/// at 328, 376 and 424, REPORTDATA at 520 (Intel TDX DCAP Quoting Library API, A.3.2).
fn tdx() -> (Evidence, String, [u8; 64]) {
    let q = read("tdx_quote.bin");
    let body = 48;
    let mut m = q[body + 136..body + 184].to_vec();
    m.extend_from_slice(&q[body + 328..body + 472]);
    let data = q[body + 520..body + 584].try_into().unwrap();
    (evidence(Platform::Tdx, q, None), hex::encode(m), data)
}

/// SGX quote v3: a 48-byte header, then the enclave report: MRENCLAVE at 64, report_data at
/// 320 (Intel SGX ECDSA Quote Library API, A.4).
fn sgx() -> (Evidence, String, [u8; 64]) {
    let q = read("sgx_quote.bin");
    let body = 48;
    let m = hex::encode(&q[body + 64..body + 96]);
    let data = q[body + 320..body + 384].try_into().unwrap();
    (evidence(Platform::Sgx, q, None), m, data)
}

/// SEV-SNP report: REPORT_DATA at 0x50, MEASUREMENT at 0x90 (AMD SEV-SNP ABI, table 22).
fn snp(certificates: Option<Vec<u8>>) -> (Evidence, String, [u8; 64]) {
    let r = read("snp_report_milan.bin");
    let m = hex::encode(&r[0x90..0xc0]);
    let data = r[0x50..0x90].try_into().unwrap();
    (evidence(Platform::SevSnp, r, certificates), m, data)
}

fn evidence(platform: Platform, report: Vec<u8>, certificates: Option<Vec<u8>>) -> Evidence {
    Evidence {
        platform,
        report,
        certificates,
    }
}

/// The collateral directory's policy, accepting the three samples' measurements.
fn policy() -> Policy {
    let mut policy = Policy {
        measurements: [tdx(), sgx(), snp(None)]
            .into_iter()
            .map(|(e, m, _)| Measurement {
                platform: e.platform,
                value: m,
            })
            .collect(),
        ..Default::default()
    };
    policy.load_collateral(&testdata("collateral")).unwrap();
    policy
}

fn sgx_policy() -> Policy {
    Policy {
        allow_tcb: vec![AllowedTcb::ConfigurationAndSwHardeningNeeded],
        ..policy()
    }
}

/// An extended report's certificate table holding `vcek` (GHCB specification, table 8).
fn cert_table(vcek: &[u8]) -> Vec<u8> {
    let guid: [u8; 16] = [
        0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
        0xcd,
    ];
    let mut table = guid.to_vec();
    table.extend_from_slice(&48u32.to_le_bytes());
    table.extend_from_slice(&(vcek.len() as u32).to_le_bytes());
    table.extend_from_slice(&[0; 24]);
    table.extend_from_slice(vcek);
    table
}

fn flipped(e: &Evidence, at: usize) -> Evidence {
    let mut e = e.clone();
    e.report[at] ^= 0x01;
    e
}

#[test]
fn genuine_tdx_quote_is_accepted_with_its_measurement_and_report_data() {
    let (e, m, data) = tdx();
    let v = verify_binding(&policy(), &e, &data, NOW).unwrap();
    assert_eq!(v.platform, Platform::Tdx);
    assert_eq!(v.measurement, m);
    assert_eq!(v.measurement.len(), 4 * 48 * 2);
    assert_eq!(v.report_data, data);
    assert!(v.confidential);
    assert_eq!(v.tcb_status, "UpToDate");
}

#[test]
fn genuine_sgx_quote_is_accepted_only_when_its_tcb_status_is_allowed() {
    let (e, m, data) = sgx();
    // the sample's platform is rated ConfigurationAndSWHardeningNeeded: strict refuses it
    let err = verify(&policy(), &e, NOW).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { platform: Platform::Sgx, reason } if reason.contains("not acceptable")),
        "{err}"
    );
    let v = verify_binding(&sgx_policy(), &e, &data, NOW).unwrap();
    assert_eq!(v.platform, Platform::Sgx);
    assert_eq!(v.measurement, m);
    assert_eq!(v.report_data, data);
    assert_eq!(v.tcb_status, "ConfigurationAndSWHardeningNeeded");
}

#[test]
fn genuine_snp_report_is_accepted_with_the_vcek_configured_or_carried() {
    let (e, m, data) = snp(None);
    let v = verify_binding(&policy(), &e, &data, NOW).unwrap();
    assert_eq!(v.platform, Platform::SevSnp);
    assert_eq!(v.measurement, m);
    assert_eq!(v.report_data, data);
    assert!(v.confidential);

    // the VCEK from the evidence's certificate table, none configured
    let carried = Policy {
        vceks: vec![],
        ..policy()
    };
    let (e, _, _) = snp(Some(cert_table(&read("collateral/vcek/milan.der"))));
    assert_eq!(verify(&carried, &e, NOW).unwrap().measurement, m);
    // no VCEK anywhere
    let (bare, _, _) = snp(None);
    assert!(matches!(
        verify(&carried, &bare, NOW),
        Err(Error::NoCollateral(Platform::SevSnp))
    ));
}

#[test]
fn a_modified_quote_or_report_is_refused() {
    let tdx_sig = 48 + 584 + 4; // the ECDSA signature follows the body and its length
    let sgx_sig = 48 + 384 + 4;
    let cases = [
        (tdx().0, policy(), 48 + 136, tdx_sig + 5),
        (sgx().0, sgx_policy(), 48 + 64, sgx_sig + 5),
        (snp(None).0, policy(), 0x90, 0x2a0 + 5),
    ];
    for (e, policy, body, signature) in cases {
        for at in [body, signature] {
            let err = verify(&policy, &flipped(&e, at), NOW).unwrap_err();
            assert!(
                matches!(err, Error::Invalid { .. } | Error::Malformed { .. }),
                "{} byte {at}: {err}",
                e.platform
            );
        }
    }
    // user data changed in the report: the signature no longer covers it
    let (e, _, _) = tdx();
    assert!(verify(&policy(), &flipped(&e, 48 + 520), NOW).is_err());
}

#[test]
fn a_measurement_not_accepted_is_refused() {
    for (e, m, _) in [tdx(), sgx(), snp(None)] {
        let policy = Policy {
            measurements: vec![Measurement {
                platform: e.platform,
                value: "00".repeat(m.len() / 2),
            }],
            ..sgx_policy()
        };
        match verify(&policy, &e, NOW) {
            Err(Error::Measurement { platform, found }) => {
                assert_eq!(platform, e.platform);
                assert_eq!(found, m);
            }
            other => panic!("{}: {other:?}", e.platform),
        }
    }
    // the right value for another platform does not count
    let (e, m, _) = tdx();
    let policy = Policy {
        measurements: vec![Measurement {
            platform: Platform::SevSnp,
            value: m,
        }],
        ..policy()
    };
    assert!(matches!(
        verify(&policy, &e, NOW),
        Err(Error::Measurement { .. })
    ));
}

#[test]
fn expired_collateral_and_certificates_are_refused() {
    // 2025-07-20: the TCB info and QE identity are past their next update (2025-07-19)
    let later = 1_752_969_600;
    for (e, policy) in [(tdx().0, policy()), (sgx().0, sgx_policy())] {
        let err = verify(&policy, &e, later).unwrap_err();
        assert!(
            matches!(err, Error::Expired { now, .. } if now == later),
            "{err}"
        );
        // and before it was issued
        assert!(matches!(
            verify(&policy, &e, 1_700_000_000),
            Err(Error::Expired { .. })
        ));
    }
    // 2033: the Milan VCEK expired on 2030-04-03
    let err = verify(&policy(), &snp(None).0, 2_000_000_000).unwrap_err();
    match err {
        Error::Expired {
            what, not_after, ..
        } => {
            assert!(what.contains("VCEK"), "{what}");
            assert_eq!(not_after, 1_901_474_623);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tampered_revocation_list_is_refused() {
    // A genuine CRL naming the samples' certificates cannot be had (Intel signs its CRLs and
    // revoked none of them); what is checked instead: a PCK CRL whose signature is broken,
    // and a root CA CRL replaced by the PCK CRL (another issuer), are refused.
    let (e, _, _) = tdx();
    let mut policy = policy();
    for c in &mut policy.dcap_collateral {
        let last = c.pck_crl.len() - 3;
        c.pck_crl[last] ^= 0x01;
    }
    assert!(matches!(
        verify(&policy, &e, NOW),
        Err(Error::Invalid { .. })
    ));
    let mut policy = self::policy();
    for c in &mut policy.dcap_collateral {
        c.root_ca_crl = c.pck_crl.clone();
    }
    assert!(verify(&policy, &e, NOW).is_err());
}

#[test]
fn no_collateral_for_the_platform_is_refused() {
    let empty = Policy::default();
    for (e, _, _) in [tdx(), sgx(), snp(None)] {
        assert!(matches!(verify(&empty, &e, NOW), Err(Error::NoCollateral(p)) if p == e.platform));
    }
    // the SGX collateral alone does not verify a TDX quote
    let mut sgx_only = Policy::default();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        testdata("collateral/sgx.dcap.json"),
        dir.path().join("sgx.dcap.json"),
    )
    .unwrap();
    sgx_only.load_collateral(dir.path()).unwrap();
    assert_eq!(sgx_only.dcap_collateral.len(), 1);
    assert!(matches!(
        verify(&sgx_only, &tdx().0, NOW),
        Err(Error::NoCollateral(Platform::Tdx))
    ));
}

#[test]
fn a_quote_sent_as_another_platform_is_refused() {
    let (mut e, _, _) = tdx();
    e.platform = Platform::Sgx;
    assert!(matches!(
        verify(&sgx_policy(), &e, NOW),
        Err(Error::Malformed { .. })
    ));
    let (mut e, _, _) = snp(None);
    e.platform = Platform::Tdx;
    assert!(matches!(
        verify(&policy(), &e, NOW),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn an_snp_vcek_must_chain_to_the_configured_root() {
    let (e, _, _) = snp(None);
    // the ASK given as root: not self-signed, does not sign the ASK
    let mut policy = policy();
    for ca in &mut policy.sev_ca {
        ca.ark = ca.ask.clone();
    }
    assert!(matches!(
        verify(&policy, &e, NOW),
        Err(Error::Invalid { .. })
    ));
    // a certificate table that lies about its VCEK's length
    let mut table = cert_table(&read("collateral/vcek/milan.der"));
    table[20..24].copy_from_slice(&100_000u32.to_le_bytes());
    let (e, _, _) = snp(Some(table));
    assert!(matches!(
        verify(&self::policy(), &e, NOW),
        Err(Error::Malformed { .. })
    ));
    // a table without its terminating entry
    let (e, _, _) = snp(Some(vec![0x63; 30]));
    assert!(matches!(
        verify(&self::policy(), &e, NOW),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn an_snp_reported_tcb_below_the_minimum_is_refused() {
    // REPORTED_TCB at 0x180 (Milan): bootloader, tee, 4 reserved, snp, microcode
    let r = read("snp_report_milan.bin");
    let t = &r[0x180..0x188];
    let reported = SevTcb {
        bootloader: t[0],
        tee: t[1],
        snp: t[6],
        microcode: t[7],
    };
    let (e, _, _) = snp(None);
    let at = |min: SevTcb| Policy {
        sev_min_tcb: Some(min),
        ..policy()
    };
    verify(&at(reported), &e, NOW).unwrap();
    let higher = SevTcb {
        snp: reported.snp + 1,
        ..reported
    };
    assert!(matches!(
        verify(&at(higher), &e, NOW),
        Err(Error::Invalid { reason, .. }) if reason.contains("below the minimum")
    ));
}

#[test]
fn user_data_that_does_not_bind_the_key_is_refused() {
    for (e, _, data) in [tdx(), sgx(), snp(None)] {
        let mut other = data;
        other[0] ^= 0xff;
        assert!(matches!(
            verify_binding(&sgx_policy(), &e, &other, NOW),
            Err(Error::Binding)
        ));
    }
}

#[test]
fn dev_evidence_is_refused_without_allow_dev() {
    let data = [3u8; 64];
    let e = DevProvider.attest(&data).unwrap();
    assert!(matches!(
        verify_binding(&policy(), &e, &data, NOW),
        Err(Error::DevRefused)
    ));
    let dev = Policy {
        allow_dev: true,
        ..policy()
    };
    assert!(!verify_binding(&dev, &e, &data, NOW).unwrap().confidential);
}

#[test]
fn loading_collateral_reads_the_documented_files_and_refuses_broken_ones() {
    let p = policy();
    assert_eq!(p.dcap_collateral.len(), 2);
    assert_eq!(p.sev_ca.len(), 1);
    assert_eq!(p.vceks.len(), 1);

    let dir = tempfile::tempdir().unwrap();
    let err = Policy::default().load_collateral(dir.path()).unwrap_err();
    assert!(err.to_string().contains("no collateral found"), "{err}");
    // an ARK without its ASK
    std::fs::copy(
        testdata("collateral/milan.ark.pem"),
        dir.path().join("milan.ark.pem"),
    )
    .unwrap();
    let err = Policy::default().load_collateral(dir.path()).unwrap_err();
    assert!(err.to_string().contains("milan.ask.pem"), "{err}");
    // an ASK that is not a certificate
    std::fs::write(dir.path().join("milan.ask.pem"), b"not a certificate").unwrap();
    assert!(matches!(
        Policy::default().load_collateral(dir.path()),
        Err(Error::Collateral { .. })
    ));
    // a DCAP collateral that is not JSON
    std::fs::remove_file(dir.path().join("milan.ark.pem")).unwrap();
    std::fs::write(dir.path().join("x.dcap.json"), b"{").unwrap();
    assert!(matches!(
        Policy::default().load_collateral(dir.path()),
        Err(Error::Collateral { .. })
    ));
}
