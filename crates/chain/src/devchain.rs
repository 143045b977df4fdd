//! A local `anvil` chain for demos, tests and benchmarks, started from the project's pinned
//! Foundry package.

use std::path::PathBuf;

use alloy::node_bindings::{Anvil, AnvilInstance};

use crate::{Error, Result};

/// Environment variable naming the anvil binary to use.
pub const ANVIL_ENV: &str = "POCO_ANVIL";

/// Where the pinned anvil lives relative to the repository root (`npm ci` installs it).
pub const ANVIL_NPM_PATH: &str = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

/// Finds anvil: `$POCO_ANVIL`, the pinned npm package in this directory or any parent, or the
/// pinned package of the source tree this crate was built from.
pub fn anvil_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ANVIL_ENV) {
        return Ok(PathBuf::from(path));
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        let candidate = d.join(ANVIL_NPM_PATH);
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent().map(PathBuf::from);
    }
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(ANVIL_NPM_PATH);
    if built.is_file() {
        return Ok(built);
    }
    Err(Error::Anvil(format!(
        "no anvil binary found (looked for ${ANVIL_ENV} and {ANVIL_NPM_PATH})"
    )))
}

/// Starts anvil on a free port with its ten default funded accounts; `block_time` in seconds
/// gives real blocks, `None` mines one block per transaction.
pub fn spawn_anvil(block_time: Option<u64>) -> Result<AnvilInstance> {
    let mut anvil = Anvil::at(anvil_path()?)
        .port(0u16)
        .arg("--accounts")
        .arg("10");
    if let Some(seconds) = block_time {
        anvil = anvil.block_time(seconds);
    }
    anvil.try_spawn().map_err(|e| Error::Anvil(e.to_string()))
}
