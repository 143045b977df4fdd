//! Pieces of the WASM sandbox: deterministic clocks and randomness, the
//! memory limiter and the /iexec_out write budget.

use std::{
    convert::Infallible,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::B256;
use sha2::{Digest, Sha256};
use wasmtime::{Caller, Extern};
use wasmtime_wasi::{p1::WasiP1Ctx, HostMonotonicClock, HostWallClock};
use wiggle::GuestMemory;

/// Base of the deterministic wall clock: 2020-01-01T00:00:00Z.
const CLOCK_BASE_UNIX_SECS: u64 = 1_577_836_800;
/// The task id moves the clock start within this window after the base
/// (about 8.5 years), at whole seconds.
const CLOCK_WINDOW_SECS: u64 = 1 << 28;
/// Each read of a deterministic clock advances it by this much, so loops
/// that wait for time to pass terminate.
pub(crate) const CLOCK_STEP: Duration = Duration::from_millis(1);

fn derive(domain: &[u8], task_id: &B256, counter: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(task_id.as_slice());
    h.update(counter.to_le_bytes());
    h.finalize().into()
}

/// Default start of the deterministic wall clock for a task.
pub(crate) fn clock_start_for(task_id: &B256) -> SystemTime {
    let bytes = derive(b"poco/clock/v1", task_id, 0);
    let offset = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) % CLOCK_WINDOW_SECS;
    UNIX_EPOCH + Duration::from_secs(CLOCK_BASE_UNIX_SECS + offset)
}

/// A wall clock that starts at a fixed time and advances by [`CLOCK_STEP`]
/// on every read.
pub(crate) struct DeterministicWallClock {
    start: Duration,
    reads: AtomicU64,
}

impl DeterministicWallClock {
    pub(crate) fn new(start: SystemTime) -> Self {
        Self {
            start: start.duration_since(UNIX_EPOCH).unwrap_or_default(),
            reads: AtomicU64::new(0),
        }
    }
}

impl HostWallClock for DeterministicWallClock {
    fn resolution(&self) -> Duration {
        CLOCK_STEP
    }

    fn now(&self) -> Duration {
        let n = self.reads.fetch_add(1, Ordering::Relaxed);
        self.start + CLOCK_STEP.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

/// A monotonic clock that starts at 0 and advances by [`CLOCK_STEP`] on every
/// read.
#[derive(Default)]
pub(crate) struct DeterministicMonotonicClock {
    reads: AtomicU64,
}

impl HostMonotonicClock for DeterministicMonotonicClock {
    fn resolution(&self) -> u64 {
        CLOCK_STEP.as_nanos() as u64
    }

    fn now(&self) -> u64 {
        let n = self.reads.fetch_add(1, Ordering::Relaxed);
        n.saturating_mul(CLOCK_STEP.as_nanos() as u64)
    }
}

/// A deterministic random generator keyed by the task id: block `i` of the
/// stream is `sha256(domain ‖ task_id ‖ i as u64 little-endian)`.
///
/// Every honest replica of a task draws the same bytes, and tasks draw
/// unrelated streams. The stream is predictable to anyone who knows the task
/// id, which is public: apps must not use it for secrets.
pub(crate) struct TaskRng {
    domain: &'static [u8],
    task_id: B256,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl TaskRng {
    pub(crate) fn new(domain: &'static [u8], task_id: B256) -> Self {
        Self {
            domain,
            task_id,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    /// A `u128` derived from the task id under `domain`.
    pub(crate) fn seed_u128(domain: &'static [u8], task_id: &B256) -> u128 {
        let bytes = derive(domain, task_id, 0);
        u128::from_le_bytes(bytes[..16].try_into().expect("16 bytes"))
    }
}

impl rand_core::TryRng for TaskRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let mut filled = 0;
        while filled < dst.len() {
            if self.used == self.block.len() {
                self.block = derive(self.domain, &self.task_id, self.counter);
                self.counter += 1;
                self.used = 0;
            }
            let n = (self.block.len() - self.used).min(dst.len() - filled);
            dst[filled..filled + n].copy_from_slice(&self.block[self.used..self.used + n]);
            self.used += n;
            filled += n;
        }
        Ok(())
    }
}

/// Raised (as a trap payload) when the app grows memory past the cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (asked for {requested} bytes)")]
pub(crate) struct MemoryLimitHit {
    pub(crate) limit: u64,
    pub(crate) requested: u64,
}

/// Raised (as a trap payload) when the app writes past the output cap.
#[derive(Debug, thiserror::Error)]
#[error("output limit of {limit} bytes exceeded ({attempted} bytes)")]
pub(crate) struct OutputLimitHit {
    pub(crate) limit: u64,
    pub(crate) attempted: u64,
}

/// Memory and table caps for the whole instance (all its memories together, all its tables
/// together: multi-memory must not multiply the cap), recording the peak and whether the cap
/// was hit.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) memory_limit: u64,
    pub(crate) table_elements: usize,
    /// Bytes of all the linear memories together.
    pub(crate) memory_total: u64,
    /// Elements of all the tables together.
    pub(crate) table_total: usize,
    pub(crate) peak_memory: u64,
    pub(crate) memory_hit: Option<u64>,
}

impl Limiter {
    /// A limiter with nothing allocated yet.
    pub(crate) fn new(memory_limit: u64, table_elements: usize) -> Self {
        Self {
            memory_limit,
            table_elements,
            memory_total: 0,
            table_total: 0,
            peak_memory: 0,
            memory_hit: None,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            // Refused by the module's own maximum: nothing is allocated.
            return Ok(false);
        }
        let total = (self.memory_total - (current as u64).min(self.memory_total))
            .saturating_add(desired as u64);
        if total > self.memory_limit {
            self.memory_hit = Some(total);
            // An error (not `Ok(false)`) traps at once, with a clear cause,
            // instead of letting the app continue on a failed malloc.
            return Err(wasmtime::Error::new(MemoryLimitHit {
                limit: self.memory_limit,
                requested: total,
            }));
        }
        self.memory_total = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let total = (self.table_total - current.min(self.table_total)).saturating_add(desired);
        if total > self.table_elements {
            return Ok(false);
        }
        self.table_total = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        4
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}

/// Counts the bytes the app writes to files, to stop it as soon as it goes
/// past the output cap instead of after it filled the worker's disk.
///
/// Writes to stdout and stderr (fds 1 and 2) go to the bounded log capture
/// and are not counted, until the app closes or renumbers over fds 0-2 (then
/// those numbers may name files, and every write is counted). The cap is
/// checked on the bytes a write asks to write, before it happens, so the
/// outcome does not depend on the host. The final size of /iexec_out is
/// checked again after the run, which also covers files extended without
/// writing (seek, truncate).
#[derive(Debug)]
pub(crate) struct OutputBudget {
    pub(crate) limit: u64,
    pub(crate) written: u64,
    pub(crate) hit: Option<u64>,
    pub(crate) stdio_reassigned: bool,
}

/// The per-store state of a WASM execution.
pub(crate) struct StoreState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: Limiter,
    pub(crate) output: OutputBudget,
}

const WASI: &str = "wasi_snapshot_preview1";

/// Runs `f` with the app's memory and the WASI context, the way the WASIp1
/// bindings of wasmtime-wasi do, so the wrappers below can call them.
fn with_wasi<R>(
    caller: &mut Caller<'_, StoreState>,
    f: impl AsyncFnOnce(&mut WasiP1Ctx, &mut GuestMemory<'_>) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    use wasmtime::AsContextMut as _;
    use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1 as _;

    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(wasmtime::Error::msg(
            "the app does not export its memory as \"memory\"",
        ));
    };
    // The bindings' own glue resets this budget (bytes a call may copy out of
    // guest memory) before every call; do the same.
    let fuel = caller.as_context_mut().hostcall_fuel();
    let (data, state) = memory.data_and_store_mut(caller);
    state.wasi.set_hostcall_fuel(fuel);
    let mut guest = GuestMemory::Unshared(data);
    wasmtime_wasi::runtime::in_tokio(f(&mut state.wasi, &mut guest))
}

/// Sum of the lengths of an iovec array (`None` if it is out of bounds:
/// the WASI call then reports the fault itself).
fn iovec_total(caller: &mut Caller<'_, StoreState>, iovs: i32, iovs_len: i32) -> Option<u64> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return None;
    };
    let data = memory.data(&caller);
    let start = usize::try_from(iovs as u32).ok()?;
    let len = usize::try_from(iovs_len as u32).ok()?.checked_mul(8)?;
    let bytes = data.get(start..start.checked_add(len)?)?;
    Some(
        bytes
            .chunks_exact(8)
            .map(|iov| u64::from(u32::from_le_bytes(iov[4..8].try_into().expect("4 bytes"))))
            .sum(),
    )
}

fn written_count(caller: &mut Caller<'_, StoreState>, ptr: i32) -> u64 {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return 0;
    };
    let start = ptr as u32 as usize;
    memory
        .data(&caller)
        .get(start..start.saturating_add(4))
        .map(|b| u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes"))))
        .unwrap_or(0)
}

/// Before a write: whether it counts, and if so, checks it fits the budget.
fn before_write(
    caller: &mut Caller<'_, StoreState>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
) -> wasmtime::Result<bool> {
    if (fd == 1 || fd == 2) && !caller.data().output.stdio_reassigned {
        return Ok(false);
    }
    let Some(requested) = iovec_total(caller, iovs, iovs_len) else {
        return Ok(false);
    };
    let budget = &mut caller.data_mut().output;
    let attempted = budget.written.saturating_add(requested);
    if attempted > budget.limit {
        budget.hit = Some(attempted);
        return Err(wasmtime::Error::new(OutputLimitHit {
            limit: budget.limit,
            attempted,
        }));
    }
    Ok(true)
}

fn after_write(caller: &mut Caller<'_, StoreState>, counted: bool, errno: i32, nwritten: i32) {
    if counted && errno == 0 {
        let n = written_count(caller, nwritten);
        caller.data_mut().output.written += n;
    }
}

/// Puts the output budget in front of the WASI functions that write or
/// reassign descriptors. `linker` must already hold WASI.
pub(crate) fn add_output_budget(linker: &mut wasmtime::Linker<StoreState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p1::wasi_snapshot_preview1 as p1;

    linker.allow_shadowing(true);
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut caller: Caller<'_, StoreState>, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32| {
            let counted = before_write(&mut caller, fd, iovs, iovs_len)?;
            let errno = with_wasi(&mut caller, async |wasi, mem| {
                p1::fd_write(wasi, mem, fd, iovs, iovs_len, nwritten).await
            })?;
            after_write(&mut caller, counted, errno, nwritten);
            Ok(errno)
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_pwrite",
        |mut caller: Caller<'_, StoreState>,
         fd: i32,
         iovs: i32,
         iovs_len: i32,
         offset: i64,
         nwritten: i32| {
            let counted = before_write(&mut caller, fd, iovs, iovs_len)?;
            let errno = with_wasi(&mut caller, async |wasi, mem| {
                p1::fd_pwrite(wasi, mem, fd, iovs, iovs_len, offset, nwritten).await
            })?;
            after_write(&mut caller, counted, errno, nwritten);
            Ok(errno)
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_close",
        |mut caller: Caller<'_, StoreState>, fd: i32| {
            if (0..=2).contains(&fd) {
                caller.data_mut().output.stdio_reassigned = true;
            }
            with_wasi(&mut caller, async |wasi, mem| {
                p1::fd_close(wasi, mem, fd).await
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_renumber",
        |mut caller: Caller<'_, StoreState>, from: i32, to: i32| {
            if (0..=2).contains(&to) {
                caller.data_mut().output.stdio_reassigned = true;
            }
            with_wasi(&mut caller, async |wasi, mem| {
                p1::fd_renumber(wasi, mem, from, to).await
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand_core::Rng as _;

    use super::*;

    #[test]
    fn task_rng_is_keyed_by_task_and_domain() {
        let a = B256::repeat_byte(1);
        let b = B256::repeat_byte(2);
        let draw = |domain, id| {
            let mut rng = TaskRng::new(domain, id);
            let mut buf = [0u8; 100];
            // Odd chunk sizes must give the same stream as one big read.
            rng.fill_bytes(&mut buf[..7]);
            rng.fill_bytes(&mut buf[7..40]);
            rng.fill_bytes(&mut buf[40..]);
            buf
        };
        let mut whole = [0u8; 100];
        TaskRng::new(b"d", a).fill_bytes(&mut whole);
        assert_eq!(draw(b"d", a), whole);
        assert_eq!(&whole[..32], &derive(b"d", &a, 0));
        assert_eq!(&whole[32..64], &derive(b"d", &a, 1));
        assert_ne!(draw(b"d", a), draw(b"d", b));
        assert_ne!(draw(b"d", a), draw(b"e", a));
    }

    #[test]
    fn deterministic_clocks_advance_per_read() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let wall = DeterministicWallClock::new(start);
        assert_eq!(wall.now(), Duration::from_secs(1_700_000_000));
        assert_eq!(wall.now(), Duration::from_secs(1_700_000_000) + CLOCK_STEP);
        let mono = DeterministicMonotonicClock::default();
        assert_eq!(mono.now(), 0);
        assert_eq!(mono.now(), 1_000_000);

        let id = B256::repeat_byte(7);
        assert_eq!(clock_start_for(&id), clock_start_for(&id));
        assert_ne!(clock_start_for(&id), clock_start_for(&B256::repeat_byte(8)));
        let secs = clock_start_for(&id)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((CLOCK_BASE_UNIX_SECS..CLOCK_BASE_UNIX_SECS + CLOCK_WINDOW_SECS).contains(&secs));
    }
}
