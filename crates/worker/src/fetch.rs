//! Downloads of apps, datasets and input files: `file://` and `http(s)://`, size-capped,
//! checked against their sha256.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use sha2::{Digest, Sha256};

/// A failed fetch: the message, and whether it is the task's fault (another worker would fail
/// the same way) rather than this worker's.
pub(crate) type Failure = (String, bool);

pub(crate) struct Fetcher<'a> {
    http: &'a reqwest::Client,
    limit: u64,
}

fn sha256(bytes: &[u8]) -> B256 {
    B256::from_slice(&Sha256::digest(bytes))
}

/// A plain file name from the last segment of a URL (fallback when there is none).
fn file_name(url: &str, fallback: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        fallback.to_string()
    } else {
        clean
    }
}

impl<'a> Fetcher<'a> {
    pub(crate) fn new(http: &'a reqwest::Client, limit: u64) -> Self {
        Self { http, limit }
    }

    /// The bytes at `url`; `task_fault` says whose fault a failure is.
    async fn get(&self, url: &str, what: &str, task_fault: bool) -> Result<Vec<u8>, Failure> {
        let too_big = |n: u64| {
            (
                format!(
                    "the {what} at {url} is larger than the {} bytes allowed ({n} bytes)",
                    self.limit
                ),
                task_fault,
            )
        };
        if let Some(path) = url.strip_prefix("file://") {
            let meta = std::fs::metadata(path)
                .map_err(|e| (format!("cannot read the {what} at {url}: {e}"), task_fault))?;
            if meta.len() > self.limit {
                return Err(too_big(meta.len()));
            }
            return std::fs::read(path)
                .map_err(|e| (format!("cannot read the {what} at {url}: {e}"), task_fault));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err((
                format!("the {what} location {url:?} is neither file:// nor http(s)://"),
                true,
            ));
        }
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| (format!("cannot download the {what} at {url}: {e}"), false))?;
        if !response.status().is_success() {
            return Err((
                format!(
                    "downloading the {what} at {url} failed: HTTP {}",
                    response.status()
                ),
                task_fault,
            ));
        }
        if let Some(n) = response.content_length().filter(|n| *n > self.limit) {
            return Err(too_big(n));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| (format!("downloading the {what} at {url}: {e}"), false))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > self.limit {
                return Err(too_big(bytes.len() as u64));
            }
        }
        Ok(bytes)
    }

    /// The app module, from the cache by checksum or downloaded and checked.
    pub(crate) async fn app(
        &self,
        cache: &Path,
        url: &str,
        checksum: B256,
    ) -> Result<PathBuf, Failure> {
        let path = cache.join(format!("{checksum:x}.wasm"));
        if path.is_file() {
            return Ok(path);
        }
        let bytes = self.get(url, "app", true).await?;
        let actual = sha256(&bytes);
        if actual != checksum {
            return Err((
                format!(
                    "the app's bytes at {url} do not match its on-chain checksum (sha256 \
                     {actual}, registered {checksum}); refusing to run it"
                ),
                true,
            ));
        }
        std::fs::create_dir_all(cache).map_err(|e| (e.to_string(), false))?;
        let tmp = path.with_extension("part");
        std::fs::write(&tmp, &bytes).map_err(|e| (e.to_string(), false))?;
        std::fs::rename(&tmp, &path).map_err(|e| (e.to_string(), false))?;
        Ok(path)
    }

    /// The dataset file into `dir`; returns its file name.
    pub(crate) async fn dataset(
        &self,
        dir: &Path,
        url: &str,
        checksum: B256,
        address: Address,
    ) -> Result<String, Failure> {
        let bytes = self.get(url, "dataset", true).await?;
        let actual = sha256(&bytes);
        if actual != checksum {
            return Err((
                format!(
                    "the dataset's bytes at {url} do not match its on-chain checksum (sha256 \
                     {actual}, registered {checksum})"
                ),
                true,
            ));
        }
        let name = file_name(url, &format!("{address:x}"));
        std::fs::write(dir.join(&name), bytes).map_err(|e| (e.to_string(), false))?;
        Ok(name)
    }

    /// An input file into `dir`; a `#sha256=<hex>` fragment is checked. Returns its file name.
    pub(crate) async fn input_file(&self, dir: &Path, url: &str) -> Result<String, Failure> {
        let (location, expected) = match url.split_once("#sha256=") {
            Some((location, hex)) => (
                location,
                Some(hex.parse::<B256>().map_err(|_| {
                    (
                        format!("the input file {url} has an invalid #sha256= fragment"),
                        true,
                    )
                })?),
            ),
            None => (url, None),
        };
        let bytes = self.get(location, "input file", true).await?;
        if let Some(expected) = expected {
            let actual = sha256(&bytes);
            if actual != expected {
                return Err((
                    format!(
                        "the input file {location} has sha256 {actual}, {expected} was expected"
                    ),
                    true,
                ));
            }
        }
        let mut name = file_name(location, "input");
        let mut n = 1;
        while dir.join(&name).exists() {
            n += 1;
            name = format!("{n}-{}", file_name(location, "input"));
        }
        std::fs::write(dir.join(&name), bytes).map_err(|e| (e.to_string(), false))?;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain() {
        assert_eq!(file_name("https://x.org/a/b/data.txt?x=1", "f"), "data.txt");
        assert_eq!(file_name("https://x.org/", "f"), "f");
        assert_eq!(file_name("file:///tmp/../..", "f"), "f");
        assert_eq!(file_name("https://x.org/we%20ird name", "f"), "we20irdname");
    }
}
