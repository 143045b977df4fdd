//! The [`Executor`] trait and the [`NoopExecutor`].

use std::{fmt::Write as _, fs, future::Future, pin::Pin, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    error::Result,
    logs::Logs,
    request::{ExecutionRequest, COMPUTED_JSON, IEXEC_OUT},
    result::{collect, TaskResult},
};

/// A boxed, sendable future, so `dyn Executor` works.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Measurements of one execution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionStats {
    /// Wall time of the whole execution (load, compile or cache hit, run,
    /// result collection).
    pub wall_time: Duration,
    /// Fuel the app consumed, when the executor meters fuel.
    pub fuel_consumed: Option<u64>,
    /// Largest linear memory the app reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Whether the compiled module came from the cache.
    pub cache_hit: bool,
}

/// A successful execution: the result plus what the app printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionOutput {
    /// The result: digest, archive, computed.json.
    pub result: TaskResult,
    /// The tail of the app's stdout and stderr.
    pub logs: Logs,
    /// Measurements.
    pub stats: ExecutionStats,
}

/// Runs one task: an app on its inputs, producing a result in the task's
/// workspace.
///
/// Implementations must not block the async runtime: CPU-bound work goes to
/// `spawn_blocking` or dedicated threads. Dropping the returned future
/// cancels the execution as soon as the implementation can.
pub trait Executor: Send + Sync + 'static {
    /// Short name for logs and metrics (e.g. `"wasm"`).
    fn name(&self) -> &'static str;

    /// Runs the request to completion.
    fn execute(&self, request: ExecutionRequest) -> BoxFuture<'_, Result<ExecutionOutput>>;
}

/// An executor that runs nothing: it writes `result.txt` (the task id and the
/// arguments) and computed.json, then collects the result as a real executor
/// would. For tests of the worker and scheduler. The app is not loaded and
/// its checksum is not checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopExecutor;

impl NoopExecutor {
    fn run(request: &ExecutionRequest) -> Result<ExecutionOutput> {
        let started = std::time::Instant::now();
        request.workspace.check_output_empty()?;
        let args = crate::args::split_args(&request.args)?;
        let out = request.workspace.output_dir();
        let mut text = format!("noop {:#x}\n", request.task_id);
        for arg in &args {
            let _ = writeln!(text, "arg {arg}");
        }
        let result_path = out.join("result.txt");
        fs::write(&result_path, text)
            .map_err(|e| crate::Error::io("cannot write the noop result", &result_path, e))?;
        let computed = out.join(COMPUTED_JSON);
        let json = format!(r#"{{"deterministic-output-path":"{IEXEC_OUT}/result.txt"}}"#);
        fs::write(&computed, json)
            .map_err(|e| crate::Error::io("cannot write the noop result", &computed, e))?;
        let result = collect(&request.workspace, request.limits.output_bytes)
            .map_err(|p| p.into_error(request.limits.output_bytes, Logs::default()))?;
        Ok(ExecutionOutput {
            result,
            logs: Logs::default(),
            stats: ExecutionStats {
                wall_time: started.elapsed(),
                ..ExecutionStats::default()
            },
        })
    }
}

impl Executor for NoopExecutor {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn execute(&self, request: ExecutionRequest) -> BoxFuture<'_, Result<ExecutionOutput>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || Self::run(&request))
                .await
                .map_err(|e| crate::Error::Panicked {
                    reason: e.to_string(),
                })?
        })
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::B256;

    use super::*;
    use crate::request::{AppSource, TaskWorkspace};

    #[tokio::test]
    async fn noop_produces_a_result_per_task() {
        let dir = tempfile::tempdir().unwrap();
        let exec: Box<dyn Executor> = Box::new(NoopExecutor);
        let ws = TaskWorkspace::create(dir.path().join("t1")).unwrap();
        let mut req = ExecutionRequest::new(
            B256::repeat_byte(1),
            AppSource::Bytes(vec![]),
            B256::ZERO,
            ws,
        );
        req.args = "a 'b c'".into();
        let out = exec.execute(req).await.unwrap();
        let text = fs::read_to_string(out.result.deterministic_output.unwrap()).unwrap();
        assert_eq!(
            text,
            format!("noop 0x{}\narg a\narg b c\n", "01".repeat(32))
        );
        assert_eq!(exec.name(), "noop");

        let ws = TaskWorkspace::create(dir.path().join("t2")).unwrap();
        let req = ExecutionRequest::new(
            B256::repeat_byte(2),
            AppSource::Bytes(vec![]),
            B256::ZERO,
            ws,
        );
        let other = exec.execute(req).await.unwrap();
        assert_ne!(other.result.digest, out.result.digest);
    }
}
