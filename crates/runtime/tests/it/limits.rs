//! Security review L7 (the memory and table caps hold for the whole instance) and M7 (a
//! module slow to compile cannot hold a slot), in both executors.

use std::time::Duration;

use poco_runtime::{Error, Executor, WasmConfig, WasmExecutor};

use crate::common::{executor, new_process_executor, process_executor, task_id, Task};

/// Four memories of 1 page each grow by 24 pages (1.5 MiB) in turn: each stays below the
/// 2 MiB cap, together they pass it.
const FOUR_MEMORIES: &str = r#"(module
  (memory (export "memory") 1)
  (memory $m1 1)
  (memory $m2 1)
  (memory $m3 1)
  (func (export "_start")
    (drop (memory.grow $m1 (i32.const 24)))
    (drop (memory.grow $m2 (i32.const 24)))
    (drop (memory.grow $m3 (i32.const 24)))
    (drop (memory.grow (i32.const 24)))))"#;

fn assert_memory_cap(err: &Error) {
    let Error::MemoryLimitExceeded {
        limit_bytes,
        requested_bytes,
        ..
    } = err
    else {
        panic!("the memories passed the cap together: {err:?}")
    };
    assert_eq!(*limit_bytes, 2 * 1024 * 1024);
    // 1.5 MiB + 1 page in m1, then m2 asks for 1.5 MiB more: 3 pages + 48 pages in all.
    assert!(*requested_bytes > 2 * 1024 * 1024, "{requested_bytes}");
}

#[tokio::test]
async fn l7_memory_cap_holds_across_several_memories_in_process() {
    let mut task = Task::wat(task_id(0xa1), FOUR_MEMORIES);
    task.request.limits.memory_bytes = 2 * 1024 * 1024;
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert_memory_cap(&err);
}

#[tokio::test]
async fn l7_memory_cap_holds_across_several_memories_in_a_runner() {
    let mut task = Task::wat(task_id(0xa2), FOUR_MEMORIES);
    task.request.limits.memory_bytes = 2 * 1024 * 1024;
    let exec = process_executor().await;
    let err = exec.execute(task.request.clone()).await.unwrap_err();
    assert_memory_cap(&err);
}

/// Initial memories count too: four memories of 24 pages are created above the cap.
#[tokio::test]
async fn l7_initial_memories_count_together() {
    let wat = r#"(module
      (memory (export "memory") 24) (memory 24) (memory 24) (memory 24)
      (func (export "_start")))"#;
    let mut task = Task::wat(task_id(0xa3), wat);
    task.request.limits.memory_bytes = 2 * 1024 * 1024;
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::MemoryLimitExceeded { .. }), "{err:?}");
}

/// Tables: the element cap is for all the tables of the instance together.
#[tokio::test]
async fn l7_table_cap_holds_across_several_tables() {
    let exec = WasmExecutor::new(WasmConfig {
        table_elements: 1000,
        ..WasmConfig::default()
    })
    .unwrap();
    let tables = |n: usize| {
        let decl = "(table 600 funcref)".repeat(n);
        format!(r#"(module (memory (export "memory") 1) {decl} (func (export "_start")))"#)
    };
    // One table of 600: within the cap (the app then fails for want of computed.json).
    let task = Task::wat(task_id(0xa4), &tables(1));
    let err = exec.execute(task.request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::MissingComputedJson { .. }), "{err:?}");
    // Two tables of 600: refused.
    let task = Task::wat(task_id(0xa5), &tables(2));
    let err = exec.execute(task.request.clone()).await.unwrap_err();
    assert!(
        !matches!(err, Error::MissingComputedJson { .. }),
        "two tables of 600 elements were created under a cap of 1000"
    );
    // Growing a second table past the total is refused at run time too (table.grow gives -1).
    let wat = r#"(module (memory (export "memory") 1)
      (table $a 600 funcref) (table $b 1 funcref)
      (func (export "_start")
        (if (i32.ne (table.grow $b (ref.null func) (i32.const 500)) (i32.const -1))
          (then unreachable))))"#;
    let task = Task::wat(task_id(0xa6), wat);
    let err = exec.execute(task.request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::MissingComputedJson { .. }), "{err:?}");
}

/// A module with many functions: compiling it takes far longer than the tiny budget below.
fn slow_to_compile() -> String {
    let mut wat = String::from(r#"(module (memory (export "memory") 1)"#);
    for i in 0..3000 {
        wat.push_str(&format!(
            "(func $f{i} (param i32) (result i32) {})",
            "(local.get 0) (i32.const 7) (i32.mul) (i32.const 3) (i32.add) (local.set 0) "
                .repeat(20)
                + "(local.get 0)"
        ));
    }
    wat.push_str(r#"(func (export "_start")))"#);
    wat
}

fn assert_compile_budget(err: &Error, limit: Duration) {
    let Error::CompileTimeExceeded { limit: hit } = err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(*hit, limit);
    assert!(err.is_app_fault());
    assert!(err.to_string().contains("did not compile within"), "{err}");
}

#[tokio::test]
async fn m7_slow_to_compile_module_is_dropped_at_the_compile_budget_in_process() {
    let limit = Duration::from_millis(20);
    let exec = WasmExecutor::new(WasmConfig {
        max_compile_time: limit,
        ..WasmConfig::default()
    })
    .unwrap();
    let mut task = Task::wat(task_id(0xa7), &slow_to_compile());
    // The wall time does not start before the app does: it cannot be what stops it.
    task.request.limits.wall_time = Duration::from_secs(3600);
    let err = exec.execute(task.request.clone()).await.unwrap_err();
    assert_compile_budget(&err, limit);
}

#[tokio::test]
async fn m7_slow_to_compile_module_is_dropped_at_the_compile_budget_in_a_runner() {
    let limit = Duration::from_millis(20);
    let exec = new_process_executor(
        WasmConfig {
            max_compile_time: limit,
            ..WasmConfig::default()
        },
        1,
    )
    .await;
    let mut task = Task::wat(task_id(0xa8), &slow_to_compile());
    task.request.limits.wall_time = Duration::from_secs(3600);
    let err = exec.execute(task.request.clone()).await.unwrap_err();
    assert_compile_budget(&err, limit);
    assert_eq!(exec.running_jobs(), 0);
}
