//! The verifier's configuration read from a directory ([`Policy::load_collateral`]): Intel
//! DCAP collaterals, AMD root certificates and VCEKs, all files an operator downloads once
//! (and refreshes before the collateral's next update); nothing is fetched at run time.

use std::{fs, path::Path};

use dcap_qvl::QuoteCollateralV3;
use x509_cert::der::{Decode, DecodePem, Encode};

use crate::{Error, Policy, Result, SevCa};

fn error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Collateral {
        what: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// A certificate file, PEM or DER, as DER.
fn certificate(path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).map_err(|e| error(path, e))?;
    let cert = if bytes.starts_with(b"-----BEGIN") {
        x509_cert::Certificate::from_pem(&bytes)
    } else {
        x509_cert::Certificate::from_der(&bytes)
    }
    .map_err(|e| error(path, format!("not an X.509 certificate (PEM or DER): {e}")))?;
    cert.to_der().map_err(|e| error(path, e))
}

fn sorted_entries(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut paths = fs::read_dir(dir)
        .map_err(|e| error(dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| error(dir, e))?;
    paths.sort();
    Ok(paths)
}

impl Policy {
    /// Adds the collateral in `dir` to this policy:
    ///
    /// - `*.dcap.json`: an Intel DCAP collateral (TCB info, QE identity, PCK and root CA CRLs
    ///   and their issuer chains) for one FMSPC, in `dcap-qvl`'s `QuoteCollateralV3` JSON;
    /// - `<name>.ark.pem` with `<name>.ask.pem` (PEM or DER): an AMD product's root key and
    ///   signing key (e.g. `milan.ark.pem`, `milan.ask.pem`; AMD KDS serves them as the
    ///   product's `cert_chain`);
    /// - `vcek/*` (DER or PEM): chips' VCEKs, for workers whose evidence carries none.
    ///
    /// Other files are ignored. Every file named so must parse, or loading fails.
    pub fn load_collateral(&mut self, dir: &Path) -> Result<()> {
        let mut found = 0;
        for path in sorted_entries(dir)? {
            let name = match path.file_name().and_then(|n| n.to_str()) {
                Some(name) if path.is_file() => name.to_owned(),
                _ => continue,
            };
            if name.ends_with(".dcap.json") {
                let bytes = fs::read(&path).map_err(|e| error(&path, e))?;
                let collateral: QuoteCollateralV3 =
                    serde_json::from_slice(&bytes).map_err(|e| {
                        error(&path, format!("not a dcap-qvl QuoteCollateralV3 JSON: {e}"))
                    })?;
                self.dcap_collateral.push(collateral);
                found += 1;
            } else if let Some(product) = name.strip_suffix("ark.pem") {
                let ask = dir.join(format!("{product}ask.pem"));
                if !ask.is_file() {
                    return Err(error(
                        &path,
                        format!("no {} beside it: add the product's ASK", ask.display()),
                    ));
                }
                self.sev_ca.push(SevCa {
                    ark: certificate(&path)?,
                    ask: certificate(&ask)?,
                });
                found += 1;
            }
        }
        let vceks = dir.join("vcek");
        if vceks.is_dir() {
            for path in sorted_entries(&vceks)? {
                if path.is_file() {
                    self.vceks.push(certificate(&path)?);
                    found += 1;
                }
            }
        }
        if found == 0 {
            return Err(error(
                dir,
                "no collateral found: put *.dcap.json, <product>.ark.pem with \
                 <product>.ask.pem, or vcek/* files there",
            ));
        }
        Ok(())
    }
}
