//! `check_module`: what `poco run` and `poco app deploy` refuse before anyone pays.

use poco_runtime::{check_module, Error};

fn reason(bytes: &[u8]) -> String {
    match check_module(bytes) {
        Err(Error::InvalidModule { reason }) => reason,
        other => panic!("expected an invalid module, got {other:?}"),
    }
}

#[test]
fn a_wasi_command_passes() {
    let hello = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../apps/hello/hello.wasm"
    ))
    .unwrap();
    check_module(&hello).unwrap();
    let tiny = wat::parse_str(
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
             (func (export "_start")))"#,
    )
    .unwrap();
    check_module(&tiny).unwrap();
}

#[test]
fn what_is_refused_and_why() {
    assert!(reason(b"(module (func (export \"_start\")))").contains("WebAssembly text (WAT)"));
    assert!(reason(b"\x7fELF\x02\x01\x01").contains("magic number"));
    assert!(reason(b"\0asm\x01\0\0\0garbage").len() > 10);
    let library = wat::parse_str(r#"(module (func (export "main")))"#).unwrap();
    assert!(reason(&library).contains("no `_start` function export"));
    let reactor = wat::parse_str(r#"(module (func (export "_start") (param i32)))"#).unwrap();
    assert!(reason(&reactor).contains("no `_start` function export"));
    let foreign =
        wat::parse_str(r#"(module (import "env" "host_call" (func)) (func (export "_start")))"#)
            .unwrap();
    assert!(
        reason(&foreign).contains("host_call"),
        "{}",
        reason(&foreign)
    );
}
