//! Compiled-module cache: in memory, and optionally on disk.
//!
//! Modules are keyed by the sha256 of their bytes (already checked against
//! the on-chain checksum) plus a fingerprint of the engine (wasmtime version
//! and every setting that changes the compiled code), so a cache folder can
//! be shared across worker versions and configurations.
//!
//! On disk a file is `<sha256>-<engine>.cwasm`, holding the sha256 of the
//! serialized module followed by the module as `Module::serialize` wrote it.
//! Files are written to a temporary file and renamed into place, so readers
//! (in this process or another worker process sharing the folder) see either
//! no file or a whole one; the leading hash catches a file damaged at rest.
//! A file that does not load is recompiled and replaced.
//!
//! Loading a serialized module skips wasmtime's validation, so the folder
//! must only be writable by the worker (see `Module::deserialize`).

use std::{
    collections::HashMap,
    fmt::Write as _,
    fs,
    hash::{Hash, Hasher},
    io::Write as _,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
};

use alloy_primitives::B256;
use sha2::{Digest, Sha256};
use tracing::{debug, warn};
use wasmtime::{Engine, Module};

use crate::error::{Error, Result};

/// Modules kept in memory at most; beyond it the least recently used goes.
const MEMORY_ENTRIES: usize = 64;

/// Feeds `Hash` output into sha256 (stable for one build on one machine,
/// which is what a compatibility fingerprint needs).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[derive(Default)]
struct Slot {
    module: Option<Module>,
    last_used: u64,
}

#[derive(Default)]
struct Slots {
    /// Logical clock for least-recently-used eviction.
    clock: u64,
    map: HashMap<B256, Arc<Mutex<Slot>>>,
}

pub(crate) struct ModuleCache {
    engine: Engine,
    dir: Option<PathBuf>,
    fingerprint: String,
    // Per-module slot behind its own lock: one compile per module at a time
    // in this process, while other modules proceed.
    slots: Mutex<Slots>,
}

impl ModuleCache {
    pub(crate) fn new(engine: Engine, dir: Option<PathBuf>) -> Result<Self> {
        if let Some(dir) = &dir {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io("cannot create the module cache", dir, e))?;
        }
        let fingerprint = engine_fingerprint(&engine);
        Ok(Self {
            engine,
            dir,
            fingerprint,
            slots: Mutex::default(),
        })
    }

    fn file_for(&self, sha256: &B256) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!(
            "{}-{}.cwasm",
            alloy_primitives::hex::encode(sha256),
            self.fingerprint
        )))
    }

    fn slot(&self, sha256: B256) -> Arc<Mutex<Slot>> {
        let mut guard = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        guard.clock += 1;
        let now = guard.clock;
        let map = &mut guard.map;
        if !map.contains_key(&sha256) && map.len() >= MEMORY_ENTRIES {
            // Evict the least recently used module nobody is compiling.
            let oldest = map
                .iter()
                .filter(|(_, s)| Arc::strong_count(s) == 1)
                .min_by_key(|(_, s)| s.lock().map(|s| s.last_used).unwrap_or(0))
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let slot = map.entry(sha256).or_default().clone();
        drop(guard);
        slot.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_used = now;
        slot
    }

    /// The compiled module for `bytes`, whose sha256 is `sha256`. The bool
    /// says whether compilation was skipped.
    pub(crate) fn get_or_compile(&self, sha256: B256, bytes: &[u8]) -> Result<(Module, bool)> {
        let slot = self.slot(sha256);
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(module) = &slot.module {
            return Ok((module.clone(), true));
        }
        if let Some(module) = self.load(&sha256) {
            slot.module = Some(module.clone());
            return Ok((module, true));
        }
        let module =
            Module::from_binary(&self.engine, bytes).map_err(|e| Error::InvalidModule {
                reason: format!("{e:#}"),
            })?;
        self.store(&sha256, &module);
        slot.module = Some(module.clone());
        Ok((module, false))
    }

    fn load(&self, sha256: &B256) -> Option<Module> {
        let path = self.file_for(sha256)?;
        let data = match fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                warn!(target: "poco::runtime", path = %path.display(), %e, "cannot read a cached module");
                return None;
            }
        };
        let (hash, payload) = data.split_at_checked(32)?;
        if Sha256::digest(payload).as_slice() != hash {
            warn!(target: "poco::runtime", path = %path.display(), "cached module is damaged; recompiling");
            return None;
        }
        // SAFETY: the payload was written by `store` below with this engine's
        // fingerprint and is unchanged since (its sha256 matches), in a folder
        // only the worker writes to.
        match unsafe { Module::deserialize(&self.engine, payload) } {
            Ok(module) => {
                debug!(target: "poco::runtime", path = %path.display(), "loaded cached module");
                Some(module)
            }
            Err(e) => {
                warn!(target: "poco::runtime", path = %path.display(), error = %e, "cached module does not load; recompiling");
                None
            }
        }
    }

    fn store(&self, sha256: &B256, module: &Module) {
        let Some(path) = self.file_for(sha256) else {
            return;
        };
        let result = (|| -> std::io::Result<()> {
            let payload = module.serialize().map_err(std::io::Error::other)?;
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(&Sha256::digest(&payload))?;
            tmp.write_all(&payload)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                debug!(target: "poco::runtime", path = %path.display(), "cached compiled module")
            }
            // The module is compiled; a cache that cannot be written only
            // costs a compile next time.
            Err(e) => {
                warn!(target: "poco::runtime", path = %path.display(), %e, "cannot write the module cache")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module (func (export "_start")))"#;

    #[test]
    fn disk_cache_survives_a_new_cache_and_repairs_damage() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let bytes = wat_bytes(WAT);
        let key = B256::from_slice(&Sha256::digest(&bytes));

        let cache = ModuleCache::new(engine.clone(), Some(dir.path().to_owned())).unwrap();
        assert!(
            !cache.get_or_compile(key, &bytes).unwrap().1,
            "first use compiles"
        );
        assert!(
            cache.get_or_compile(key, &bytes).unwrap().1,
            "second use hits memory"
        );

        let fresh = ModuleCache::new(engine.clone(), Some(dir.path().to_owned())).unwrap();
        assert!(
            fresh.get_or_compile(key, &bytes).unwrap().1,
            "a new cache hits the disk"
        );

        let file = fresh.file_for(&key).unwrap();
        let mut data = fs::read(&file).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        fs::write(&file, data).unwrap();
        let repaired = ModuleCache::new(engine, Some(dir.path().to_owned())).unwrap();
        assert!(
            !repaired.get_or_compile(key, &bytes).unwrap().1,
            "a damaged file is recompiled"
        );
        assert!(repaired.load(&key).is_some(), "and rewritten");
    }

    #[test]
    fn invalid_bytes_are_an_invalid_module() {
        let cache = ModuleCache::new(Engine::default(), None).unwrap();
        let err = cache.get_or_compile(B256::ZERO, b"not wasm").unwrap_err();
        assert!(matches!(err, Error::InvalidModule { .. }), "{err}");
    }

    fn wat_bytes(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }
}
