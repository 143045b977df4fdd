//! NaN canonicalization in deterministic mode: NaN bits the app can observe
//! are canonical, in both executors, with and without float SIMD.

use std::fs;

use poco_runtime::Executor;

use crate::common::{
    executor, non_deterministic_executor, process_executor, task_id, wasi_module, wat_str, Task,
};

const CANON_F32: u32 = 0x7fc0_0000;
const CANON_F64: u64 = 0x7ff8_0000_0000_0000;

/// Operands, in memory so that no compiler can fold the operations: at 3000
/// the f32 values 0, -1, a signaling NaN with a payload, 1, the smallest
/// normal and 0.5; at 3024 the same as f64.
fn operands() -> String {
    let mut bytes = Vec::new();
    for bits in [
        0u32,
        0xbf80_0000,
        0x7fa0_0001,
        0x3f80_0000,
        0x0080_0000,
        0x3f00_0000,
    ] {
        bytes.extend_from_slice(&bits.to_le_bytes());
    }
    for bits in [
        0u64,
        0xbff0_0000_0000_0000,
        0x7ff4_0000_0000_0001,
        0x3ff0_0000_0000_0000,
        0x0010_0000_0000_0000,
        0x3fe0_0000_0000_0000,
    ] {
        bytes.extend_from_slice(&bits.to_le_bytes());
    }
    format!(r#"(data (i32.const 3000) "{}")"#, wat_str(&bytes))
}

/// Ten observations of type `t` (f32 or f64, `size` bytes, operands at
/// `base`, results from `out`): five NaNs (0/0, sqrt(-1), a payload through
/// an addition, a negated NaN, all stored; 0/0 reinterpreted as an integer)
/// and five values that are not NaNs (copysign with a NaN sign, copysign
/// with -0, -0, 1/0, a subnormal product).
fn observations(t: &str, int: &str, size: u32, base: u32, out: u32) -> String {
    let op = |i: u32| format!("({t}.load (i32.const {}))", base + i * size);
    let (zero, minus_one, snan, one, min_normal, half) = (op(0), op(1), op(2), op(3), op(4), op(5));
    let at = |slot: u32| out + slot * size;
    let nan = format!("({t}.div {zero} {zero})");
    [
        format!("({t}.store (i32.const {}) {nan})", at(0)),
        format!("({t}.store (i32.const {}) ({t}.sqrt {minus_one}))", at(1)),
        format!("({t}.store (i32.const {}) ({t}.add {snan} {one}))", at(2)),
        format!("({t}.store (i32.const {}) ({t}.neg {snan}))", at(3)),
        format!(
            "({int}.store (i32.const {}) ({int}.reinterpret_{t} {nan}))",
            at(4)
        ),
        format!(
            "({t}.store (i32.const {}) ({t}.copysign {one} {nan}))",
            at(5)
        ),
        format!(
            "({t}.store (i32.const {}) ({t}.copysign {one} ({t}.neg {zero})))",
            at(6)
        ),
        format!("({t}.store (i32.const {}) ({t}.neg {zero}))", at(7)),
        format!("({t}.store (i32.const {}) ({t}.div {one} {zero}))", at(8)),
        format!(
            "({t}.store (i32.const {}) ({t}.mul {min_normal} {half}))",
            at(9)
        ),
    ]
    .join("\n")
}

fn scalar_module() -> String {
    let body = format!(
        "{}\n{}\n{}",
        observations("f32", "i32", 4, 3000, 4096),
        observations("f64", "i64", 8, 3024, 4136),
        r#"(local.set $fd (call $create (i32.const 2304) (i32.const 7)))
        (call $write (local.get $fd) (i32.const 4096) (i32.const 120))
        (call $write_computed)"#
    );
    wasi_module(1, &body, &operands())
}

/// The f32 and f64 results of [`scalar_module`].
async fn scalar_results(exec: &dyn Executor, id: u8) -> (Vec<u32>, Vec<u64>) {
    let task = Task::wat(task_id(id), &scalar_module());
    exec.execute(task.request.clone()).await.expect("runs");
    let bytes = fs::read(task.output_file("out.bin")).unwrap();
    let f32s = bytes[..40]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let f64s = bytes[40..]
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (f32s, f64s)
}

const EXPECTED_F32: [u32; 10] = [
    CANON_F32,
    CANON_F32,
    CANON_F32,
    CANON_F32,
    CANON_F32,
    0x3f80_0000, // copysign(1, NaN): the canonical NaN is positive
    0xbf80_0000,
    0x8000_0000,
    0x7f80_0000,
    0x0040_0000,
];
const EXPECTED_F64: [u64; 10] = [
    CANON_F64,
    CANON_F64,
    CANON_F64,
    CANON_F64,
    CANON_F64,
    0x3ff0_0000_0000_0000,
    0xbff0_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0x0008_0000_0000_0000,
];

#[tokio::test]
async fn observed_nans_are_canonical_and_other_values_untouched() {
    let (f32s, f64s) = scalar_results(executor(), 0x60).await;
    assert_eq!(f32s, EXPECTED_F32, "{f32s:x?}");
    assert_eq!(f64s, EXPECTED_F64, "{f64s:x?}");

    let process = process_executor().await;
    assert_eq!(scalar_results(process, 0x61).await, (f32s, f64s));
}

#[tokio::test]
async fn without_determinism_the_hardware_nans_show() {
    let exec = non_deterministic_executor();
    let (f32s, f64s) = scalar_results(&exec, 0x62).await;
    // Values that are not NaNs are the same in every mode.
    assert_eq!(f32s[6..], EXPECTED_F32[6..]);
    assert_eq!(f64s[6..], EXPECTED_F64[6..]);
    // A negated NaN keeps its payload; the sign of a NaN reaches copysign.
    assert_eq!(f32s[3], 0xffa0_0001);
    assert_eq!(f64s[3], 0xfff4_0000_0000_0001);
    if cfg!(target_arch = "x86_64") {
        // x86's default NaN is negative: what canonicalization removes.
        assert_eq!(f32s[..2], [0xffc0_0000; 2]);
        assert_eq!(f64s[..2], [0xfff8_0000_0000_0000; 2]);
        assert_eq!(f32s[5], 0xbf80_0000, "copysign took the NaN's sign");
        assert_eq!(f32s[2], 0x7fe0_0001, "the payload survived the addition");
    }
}

/// Float SIMD: 0/0 in four f32 lanes and sqrt(-1) in two f64 lanes, stored
/// as vectors and read back through integer lanes.
fn simd_module() -> String {
    let body = r#"
        (v128.store (i32.const 4096)
          (f32x4.div (v128.load (i32.const 3000)) (v128.load (i32.const 3000))))
        (v128.store (i32.const 4112) (f64x2.sqrt (f64x2.splat (f64.load (i32.const 3032)))))
        (i32.store (i32.const 4128)
          (i32x4.extract_lane 1 (f32x4.div (v128.load (i32.const 3000)) (v128.load (i32.const 3000)))))
        (local.set $fd (call $create (i32.const 2304) (i32.const 7)))
        (call $write (local.get $fd) (i32.const 4096) (i32.const 36))
        (call $write_computed)"#;
    let data = format!(
        r#"(data (i32.const 3032) "{}")"#,
        wat_str(&0xbff0_0000_0000_0000u64.to_le_bytes())
    );
    wasi_module(1, body, &data)
}

async fn simd_results(exec: &dyn Executor, id: u8) -> Vec<u8> {
    let task = Task::wat(task_id(id), &simd_module());
    exec.execute(task.request.clone()).await.expect("runs");
    fs::read(task.output_file("out.bin")).unwrap()
}

#[tokio::test]
async fn float_simd_modules_are_canonicalized_everywhere() {
    let mut expected = Vec::new();
    for _ in 0..4 {
        expected.extend_from_slice(&CANON_F32.to_le_bytes());
    }
    for _ in 0..2 {
        expected.extend_from_slice(&CANON_F64.to_le_bytes());
    }
    expected.extend_from_slice(&CANON_F32.to_le_bytes());
    assert_eq!(simd_results(executor(), 0x63).await, expected);
    assert_eq!(simd_results(process_executor().await, 0x64).await, expected);

    if cfg!(target_arch = "x86_64") {
        let exec = non_deterministic_executor();
        assert_ne!(
            simd_results(&exec, 0x65).await,
            expected,
            "without canonicalization x86 NaNs are negative"
        );
    }
}
