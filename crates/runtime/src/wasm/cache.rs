//! Compiled-module cache: in memory, and optionally on disk.
//!
//! Modules are keyed by the sha256 of their bytes (already checked against
//! the on-chain checksum) plus a fingerprint of how they were compiled: the
//! engine (wasmtime version and every setting that changes the compiled
//! code) and the [`Flavor`] (which engine, and whether the code was
//! rewritten first, with which version of the rewrite). A cache folder can
//! be shared across worker versions, configurations and processes.
//!
//! A module is compiled in one flavor, chosen when it is first compiled; a
//! cache holds the flavors of one executor configuration and looks for a
//! module in each of them.
//!
//! On disk a file is `<sha256>-<fingerprint>.cwasm`, holding the sha256 of the
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

use super::canon;
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

/// How a module was compiled: which engine, from which code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Flavor {
    /// The module as given, without NaN canonicalization (non-deterministic
    /// mode).
    Plain,
    /// The module with NaNs canonicalized at its observation points (see
    /// `canon`), compiled without Cranelift's canonicalization.
    Observed,
    /// The module as given, compiled with Cranelift's canonicalization of
    /// every float operation (modules with float SIMD).
    FullCanonicalization,
}

impl Flavor {
    /// What goes into the cache key besides the engine.
    fn tag(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Observed => canon::REWRITE_VERSION,
            Self::FullCanonicalization => "cranelift-nan-canonicalization",
        }
    }
}

/// A compiled module and how it was compiled.
#[derive(Clone)]
pub(crate) struct Compiled {
    pub(crate) module: Module,
    pub(crate) flavor: Flavor,
}

fn fingerprint(engine: &Engine, flavor: Flavor) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    flavor.tag().hash(&mut hasher);
    let digest = hasher.0.finalize();
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[derive(Default)]
struct Slot {
    module: Option<Compiled>,
    last_used: u64,
}

#[derive(Default)]
struct Slots {
    /// Logical clock for least-recently-used eviction.
    clock: u64,
    map: HashMap<B256, Arc<Mutex<Slot>>>,
}

/// One flavor a cache holds: its engine and cache-key fingerprint.
struct Variant {
    flavor: Flavor,
    engine: Engine,
    fingerprint: String,
}

pub(crate) struct ModuleCache {
    /// In lookup order.
    variants: Vec<Variant>,
    dir: Option<PathBuf>,
    // Per-module slot behind its own lock: one compile per module at a time
    // in this process, while other modules proceed.
    slots: Mutex<Slots>,
}

impl ModuleCache {
    /// A cache of modules compiled in `flavors` (each with its engine),
    /// looked up in that order.
    pub(crate) fn new(flavors: Vec<(Flavor, Engine)>, dir: Option<PathBuf>) -> Result<Self> {
        if let Some(dir) = &dir {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io("cannot create the module cache", dir, e))?;
        }
        let variants = flavors
            .into_iter()
            .map(|(flavor, engine)| Variant {
                fingerprint: fingerprint(&engine, flavor),
                flavor,
                engine,
            })
            .collect();
        Ok(Self {
            variants,
            dir,
            slots: Mutex::default(),
        })
    }

    fn variant(&self, flavor: Flavor) -> Option<&Variant> {
        self.variants.iter().find(|v| v.flavor == flavor)
    }

    fn file_for(&self, sha256: &B256, variant: &Variant) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!(
            "{}-{}.cwasm",
            alloy_primitives::hex::encode(sha256),
            variant.fingerprint
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

    /// The compiled module whose sha256 is `sha256`: from memory, from disk
    /// (in any of the cache's flavors), or else from `compile`, which must
    /// return a module compiled by the engine of the flavor it names. The
    /// bool says whether compilation was skipped.
    pub(crate) fn get_or_compile(
        &self,
        sha256: B256,
        compile: impl FnOnce() -> Result<Compiled>,
    ) -> Result<(Compiled, bool)> {
        let slot = self.slot(sha256);
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(compiled) = &slot.module {
            return Ok((compiled.clone(), true));
        }
        if let Some(compiled) = self.variants.iter().find_map(|v| self.load(&sha256, v)) {
            slot.module = Some(compiled.clone());
            return Ok((compiled, true));
        }
        let compiled = compile()?;
        self.store(&sha256, &compiled);
        slot.module = Some(compiled.clone());
        Ok((compiled, false))
    }

    fn load(&self, sha256: &B256, variant: &Variant) -> Option<Compiled> {
        let path = self.file_for(sha256, variant)?;
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
        match unsafe { Module::deserialize(&variant.engine, payload) } {
            Ok(module) => {
                debug!(target: "poco::runtime", path = %path.display(), "loaded cached module");
                Some(Compiled {
                    module,
                    flavor: variant.flavor,
                })
            }
            Err(e) => {
                warn!(target: "poco::runtime", path = %path.display(), error = %e, "cached module does not load; recompiling");
                None
            }
        }
    }

    fn store(&self, sha256: &B256, compiled: &Compiled) {
        let Some(path) = self
            .variant(compiled.flavor)
            .and_then(|v| self.file_for(sha256, v))
        else {
            return;
        };
        let result = (|| -> std::io::Result<()> {
            let payload = compiled.module.serialize().map_err(std::io::Error::other)?;
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

    fn compile_with(engine: &Engine, flavor: Flavor, bytes: &[u8]) -> Result<Compiled> {
        Module::from_binary(engine, bytes)
            .map(|module| Compiled { module, flavor })
            .map_err(|e| Error::InvalidModule {
                reason: format!("{e:#}"),
            })
    }

    #[test]
    fn disk_cache_survives_a_new_cache_and_repairs_damage() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let bytes = wat_bytes(WAT);
        let key = B256::from_slice(&Sha256::digest(&bytes));
        let new_cache = || {
            ModuleCache::new(
                vec![(Flavor::Plain, engine.clone())],
                Some(dir.path().to_owned()),
            )
        };
        let compile = || compile_with(&engine, Flavor::Plain, &bytes);

        let cache = new_cache().unwrap();
        assert!(
            !cache.get_or_compile(key, compile).unwrap().1,
            "first use compiles"
        );
        assert!(
            cache.get_or_compile(key, compile).unwrap().1,
            "second use hits memory"
        );

        let fresh = new_cache().unwrap();
        assert!(
            fresh.get_or_compile(key, compile).unwrap().1,
            "a new cache hits the disk"
        );

        let variant = fresh.variant(Flavor::Plain).unwrap();
        let file = fresh.file_for(&key, variant).unwrap();
        let mut data = fs::read(&file).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        fs::write(&file, data).unwrap();
        let repaired = new_cache().unwrap();
        assert!(
            !repaired.get_or_compile(key, compile).unwrap().1,
            "a damaged file is recompiled"
        );
        let variant = repaired.variant(Flavor::Plain).unwrap();
        assert!(repaired.load(&key, variant).is_some(), "and rewritten");
    }

    #[test]
    fn flavors_have_their_own_files_and_are_all_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let bytes = wat_bytes(WAT);
        let key = B256::from_slice(&Sha256::digest(&bytes));
        let flavors = vec![
            (Flavor::Observed, engine.clone()),
            (Flavor::FullCanonicalization, engine.clone()),
        ];
        let cache = ModuleCache::new(flavors.clone(), Some(dir.path().to_owned())).unwrap();
        let (compiled, hit) = cache
            .get_or_compile(key, || {
                compile_with(&engine, Flavor::FullCanonicalization, &bytes)
            })
            .unwrap();
        assert!(!hit);
        assert_eq!(compiled.flavor, Flavor::FullCanonicalization);

        // Another process (a new cache) finds it in the second flavor.
        let fresh = ModuleCache::new(flavors, Some(dir.path().to_owned())).unwrap();
        let (compiled, hit) = fresh
            .get_or_compile(key, || panic!("must not compile"))
            .unwrap();
        assert!(hit);
        assert_eq!(compiled.flavor, Flavor::FullCanonicalization);

        // Same engine, other flavors: other file names, so a non-deterministic
        // executor never picks up rewritten code and the reverse.
        let plain = ModuleCache::new(
            vec![(Flavor::Plain, engine.clone())],
            Some(dir.path().to_owned()),
        )
        .unwrap();
        let (compiled, hit) = plain
            .get_or_compile(key, || compile_with(&engine, Flavor::Plain, &bytes))
            .unwrap();
        assert!(!hit, "a plain cache does not reuse another flavor");
        assert_eq!(compiled.flavor, Flavor::Plain);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn compile_errors_are_passed_on() {
        let engine = Engine::default();
        let cache = ModuleCache::new(vec![(Flavor::Plain, engine.clone())], None).unwrap();
        let err = cache
            .get_or_compile(B256::ZERO, || {
                compile_with(&engine, Flavor::Plain, b"not wasm")
            })
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidModule { .. }), "{err}");
    }

    fn wat_bytes(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }
}
