//! Where a worker gets its evidence: the kernel's `configfs-tsm` report interface (TDX and
//! SEV-SNP guests, Linux 6.7 and later) or the development provider.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::{dev, Error, Evidence, Platform, Result, REPORT_DATA_LEN};

/// Something that produces attestation evidence for given user data.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The platform its evidence comes from.
    fn platform(&self) -> Result<Platform>;
    /// A fresh report carrying `report_data`.
    fn attest(&self, report_data: &[u8; REPORT_DATA_LEN]) -> Result<Evidence>;
}

/// The development provider: no hardware, no security (see the crate docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct DevProvider;

impl Provider for DevProvider {
    fn platform(&self) -> Result<Platform> {
        Ok(Platform::Dev)
    }

    fn attest(&self, report_data: &[u8; REPORT_DATA_LEN]) -> Result<Evidence> {
        Ok(dev::report(report_data))
    }
}

/// The kernel's `configfs-tsm` report interface: a report is made by creating a directory
/// under `<root>/report`, writing the user data to its `inblob` and reading `outblob` (the
/// quote or report), `provider` (`tdx_guest` or `sev_guest`) and, when present, `auxblob`
/// (SEV-SNP's certificate table).
#[derive(Clone, Debug)]
pub struct ConfigfsTsm {
    root: PathBuf,
}

impl Default for ConfigfsTsm {
    fn default() -> Self {
        Self::new("/sys/kernel/config/tsm")
    }
}

impl ConfigfsTsm {
    /// The interface mounted at `root` (normally `/sys/kernel/config/tsm`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn error(&self, reason: impl std::fmt::Display) -> Error {
        Error::Provider {
            what: format!("configfs-tsm at {}", self.root.display()),
            reason: reason.to_string(),
        }
    }

    fn platform_of(&self, entry: &Path) -> Result<Platform> {
        let provider = fs::read_to_string(entry.join("provider"))
            .map_err(|e| self.error(format!("reading provider: {e}")))?;
        match provider.trim() {
            "tdx_guest" => Ok(Platform::Tdx),
            "sev_guest" => Ok(Platform::SevSnp),
            other => Err(self.error(format!(
                "unknown provider {other:?}: this worker knows tdx_guest and sev_guest"
            ))),
        }
    }

    fn report_in(&self, entry: &Path, report_data: &[u8; REPORT_DATA_LEN]) -> Result<Evidence> {
        fs::write(entry.join("inblob"), report_data)
            .map_err(|e| self.error(format!("writing inblob: {e}")))?;
        let report = fs::read(entry.join("outblob"))
            .map_err(|e| self.error(format!("reading outblob: {e}")))?;
        let platform = self.platform_of(entry)?;
        let certificates = match fs::read(entry.join("auxblob")) {
            Ok(aux) if !aux.is_empty() => Some(aux),
            _ => None,
        };
        Ok(Evidence {
            platform,
            report,
            certificates,
        })
    }

    fn entry(&self) -> Result<PathBuf> {
        let reports = self.root.join("report");
        if !reports.is_dir() {
            return Err(self.error(
                "no report directory: run the worker in a TDX or SEV-SNP guest whose kernel has \
                 CONFIG_TSM_REPORTS, with configfs mounted (mount -t configfs none \
                 /sys/kernel/config)",
            ));
        }
        let name = format!("poco-{}-{}", std::process::id(), rand::random::<u64>());
        let entry = reports.join(name);
        fs::create_dir(&entry).map_err(|e| self.error(format!("creating {entry:?}: {e}")))?;
        Ok(entry)
    }
}

impl Provider for ConfigfsTsm {
    fn platform(&self) -> Result<Platform> {
        let entry = self.entry()?;
        let platform = self.platform_of(&entry);
        let _ = fs::remove_dir(&entry);
        platform
    }

    fn attest(&self, report_data: &[u8; REPORT_DATA_LEN]) -> Result<Evidence> {
        let entry = self.entry()?;
        let evidence = self.report_in(&entry, report_data);
        let _ = fs::remove_dir(&entry);
        evidence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the kernel: the entry already holds the files the kernel would make
    /// (a real configfs makes them on mkdir; a plain directory keeps what is written).
    #[test]
    fn configfs_tsm_reads_what_the_kernel_writes() {
        let dir = tempfile::tempdir().unwrap();
        let tsm = ConfigfsTsm::new(dir.path());
        assert!(matches!(tsm.attest(&[0; 64]), Err(Error::Provider { .. })));
        fs::create_dir(dir.path().join("report")).unwrap();
        let entry = tsm.entry().unwrap();
        fs::write(entry.join("provider"), "sev_guest\n").unwrap();
        fs::write(entry.join("outblob"), [9u8; 16]).unwrap();
        fs::write(entry.join("auxblob"), [1u8; 4]).unwrap();
        let evidence = tsm.report_in(&entry, &[5; 64]).unwrap();
        assert_eq!(evidence.platform, Platform::SevSnp);
        assert_eq!(evidence.report, vec![9u8; 16]);
        assert_eq!(evidence.certificates, Some(vec![1u8; 4]));
        assert_eq!(fs::read(entry.join("inblob")).unwrap(), vec![5u8; 64]);
        fs::write(entry.join("provider"), "other\n").unwrap();
        assert!(tsm.report_in(&entry, &[5; 64]).is_err());
    }
}
