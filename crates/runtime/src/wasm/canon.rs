//! NaN canonicalization at observation points.
//!
//! The wasm spec leaves one thing of scalar float arithmetic to the host: the
//! sign and payload bits of a NaN an operation produces. Everything else
//! (results that are not NaN, comparisons, `trunc_sat`, whether a trapping
//! `trunc` traps) is the same on every machine, and `fneg`, `fabs`,
//! `copysign` (its magnitude) and `select` only carry bits along. A WASI
//! command can only turn a NaN's bits into something the host sees in three
//! ways:
//!
//! - `f32.store` / `f64.store`: the bits land in linear memory;
//! - `i32.reinterpret_f32` / `i64.reinterpret_f64`: the bits become an integer;
//! - the sign operand (the second one) of `f32.copysign` / `f64.copysign`:
//!   its sign bit moves onto a value that may not be a NaN.
//!
//! So instead of canonicalizing after every float operation (Cranelift's
//! `nan_canonicalization`, a compare and select per operation, about 30 %
//! on float-heavy code), [`prepare`] rewrites the module so that the value at
//! each of those points is replaced by the canonical positive NaN
//! (`0x7fc00000`, `0x7ff8000000000000`) when it is a NaN:
//!
//! ```wat
//! local.tee $scratch     ;; the value about to be observed
//! f64.const nan          ;; canonical NaN
//! local.get $scratch
//! local.get $scratch
//! f64.eq                 ;; false only for a NaN
//! select                 ;; the value, or the canonical NaN
//! ```
//!
//! with one added scratch local per float type in each function that needs
//! it. The hot arithmetic stays as the app's compiler wrote it.
//!
//! One semantic difference with canonicalizing every operation: any NaN
//! written to memory as a float, or reinterpreted as an integer, is
//! canonical, including NaNs the app loaded or built on purpose. An app that
//! NaN-boxes values through `f64.store` (keeps data in a NaN's payload) loses
//! the payload; storing them with `i64.store` of the integer keeps it.
//!
//! SIMD values (`v128`) are untyped: a float lane can be observed through
//! any integer lane operation. A module with a float-lane SIMD operation is
//! therefore not rewritten; it is compiled with Cranelift's canonicalization
//! of every float operation instead ([`Prepared::FullCanonicalization`]).
//!
//! The rewrite is deterministic (same input bytes, same output bytes), keeps
//! the name section (function names in backtraces) and drops DWARF
//! (`.debug_*` custom sections, whose code offsets the rewrite invalidates).
//! Code offsets in wasm backtraces refer to the rewritten module.

use std::borrow::Cow;

use wasm_encoder::{
    reencode::{self, Reencode},
    CodeSection, Function, Instruction, ValType,
};
use wasmparser::{CompositeInnerType, FunctionBody, Operator, Parser, Payload};

/// Version of the rewrite, part of the module cache key: bump it whenever the
/// output of [`prepare`] changes for some input.
pub(crate) const REWRITE_VERSION: &str = "nan-at-observation-points/v1";

/// The canonical f32 NaN (positive, quiet, no payload).
pub(crate) const CANONICAL_NAN_F32: u32 = 0x7fc0_0000;
/// The canonical f64 NaN (positive, quiet, no payload).
pub(crate) const CANONICAL_NAN_F64: u64 = 0x7ff8_0000_0000_0000;

/// What to compile for a module in deterministic mode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Prepared<'a> {
    /// The module, with NaNs canonicalized at its observation points (the
    /// input itself when it has none). Compile without Cranelift's
    /// canonicalization.
    Observed(Cow<'a, [u8]>),
    /// The module has float-lane SIMD: compile the original bytes with
    /// Cranelift's canonicalization of every float operation.
    FullCanonicalization,
}

/// Rewrites `bytes` (a module that wasmtime already validated) as described
/// in the module docs.
pub(crate) fn prepare(bytes: &[u8]) -> Result<Prepared<'_>, String> {
    let survey = Survey::of(bytes)?;
    if survey.float_simd {
        return Ok(Prepared::FullCanonicalization);
    }
    if survey
        .functions
        .iter()
        .all(|f| !f.observes_f32 && !f.observes_f64)
    {
        return Ok(Prepared::Observed(Cow::Borrowed(bytes)));
    }
    let mut rewriter = Rewriter {
        survey: &survey,
        next_function: 0,
    };
    let mut module = wasm_encoder::Module::new();
    rewriter
        .parse_core_module(&mut module, Parser::new(0), bytes)
        .map_err(|e| format!("cannot rewrite the module: {e}"))?;
    Ok(Prepared::Observed(Cow::Owned(module.finish())))
}

/// What the rewrite needs to know about one defined function.
#[derive(Debug, Clone, Copy, Default)]
struct FunctionFacts {
    /// Number of parameters (the first declared local comes after them).
    params: u32,
    observes_f32: bool,
    observes_f64: bool,
}

/// A first pass over the module.
#[derive(Debug, Default)]
struct Survey {
    /// Defined functions, in code-section order.
    functions: Vec<FunctionFacts>,
    float_simd: bool,
}

/// Which float type an operator observes the bits of, if any.
fn observed_type(op: &Operator<'_>) -> Option<ValType> {
    match op {
        Operator::F32Store { .. } | Operator::I32ReinterpretF32 | Operator::F32Copysign => {
            Some(ValType::F32)
        }
        Operator::F64Store { .. } | Operator::I64ReinterpretF64 | Operator::F64Copysign => {
            Some(ValType::F64)
        }
        _ => None,
    }
}

/// Whether a SIMD operator names a float lane shape in its name.
const fn is_float_lane_name(name: &str) -> bool {
    let name = name.as_bytes();
    let mut i = 0;
    while i + 5 <= name.len() {
        let w = [name[i], name[i + 1], name[i + 2], name[i + 3], name[i + 4]];
        if matches!(&w, b"F32x4" | b"F64x2" | b"F16x8") {
            return true;
        }
        i += 1;
    }
    false
}

macro_rules! define_is_float_lane_simd {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        /// Whether `op` is a SIMD operation that reads or writes float lanes
        /// (arithmetic, conversions, splats, lane accesses, comparisons).
        fn is_float_lane_simd(op: &Operator<'_>) -> bool {
            match op {
                $( Operator::$op { .. } => const { is_float_lane_name(stringify!($op)) }, )*
                _ => false,
            }
        }
    };
}
wasmparser::for_each_visit_simd_operator!(define_is_float_lane_simd);

fn parse_error(e: wasmparser::BinaryReaderError) -> String {
    e.to_string()
}

impl Survey {
    fn of(bytes: &[u8]) -> Result<Self, String> {
        let mut type_params: Vec<Option<u32>> = Vec::new();
        let mut function_types: Vec<u32> = Vec::new();
        let mut survey = Survey::default();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(parse_error)? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        for sub in group.map_err(parse_error)?.into_types() {
                            type_params.push(match &sub.composite_type.inner {
                                CompositeInnerType::Func(f) => {
                                    Some(u32::try_from(f.params().len()).unwrap_or(u32::MAX))
                                }
                                _ => None,
                            });
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        function_types.push(ty.map_err(parse_error)?);
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let index = survey.functions.len();
                    let params = function_types
                        .get(index)
                        .and_then(|ty| type_params.get(*ty as usize).copied().flatten())
                        .ok_or_else(|| {
                            format!(
                                "function body at offset {} has no function type",
                                body.range().start
                            )
                        })?;
                    let mut facts = FunctionFacts {
                        params,
                        ..FunctionFacts::default()
                    };
                    let mut reader = body.get_operators_reader().map_err(parse_error)?;
                    while !reader.eof() {
                        let op = reader.read().map_err(parse_error)?;
                        match observed_type(&op) {
                            Some(ValType::F32) => facts.observes_f32 = true,
                            Some(_) => facts.observes_f64 = true,
                            None if is_float_lane_simd(&op) => {
                                survey.float_simd = true;
                                return Ok(survey);
                            }
                            None => {}
                        }
                    }
                    survey.functions.push(facts);
                }
                _ => {}
            }
        }
        Ok(survey)
    }
}

struct Rewriter<'s> {
    survey: &'s Survey,
    next_function: usize,
}

/// Appends the canonicalization of the value on top of the stack.
fn canonicalize_top(f: &mut Function, ty: ValType, scratch: u32) {
    let (canonical, equal) = match ty {
        ValType::F32 => (
            Instruction::F32Const(wasm_encoder::Ieee32::new(CANONICAL_NAN_F32)),
            Instruction::F32Eq,
        ),
        _ => (
            Instruction::F64Const(wasm_encoder::Ieee64::new(CANONICAL_NAN_F64)),
            Instruction::F64Eq,
        ),
    };
    f.instruction(&Instruction::LocalTee(scratch))
        .instruction(&canonical)
        .instruction(&Instruction::LocalGet(scratch))
        .instruction(&Instruction::LocalGet(scratch))
        .instruction(&equal)
        .instruction(&Instruction::Select);
}

impl Reencode for Rewriter<'_> {
    type Error = String;

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: FunctionBody<'_>,
    ) -> Result<(), reencode::Error<String>> {
        let facts = self
            .survey
            .functions
            .get(self.next_function)
            .copied()
            .ok_or_else(|| reencode::Error::UserError("more bodies than functions".to_owned()))?;
        self.next_function += 1;

        let mut locals = Vec::new();
        let mut next_local = facts.params;
        for pair in func.get_locals_reader()? {
            let (count, ty) = pair?;
            next_local = next_local
                .checked_add(count)
                .ok_or_else(|| reencode::Error::UserError("too many locals".to_owned()))?;
            locals.push((count, self.val_type(ty)?));
        }
        let mut scratch = |observed: bool, ty: ValType| {
            observed.then(|| {
                locals.push((1, ty));
                next_local += 1;
                next_local - 1
            })
        };
        let f32_scratch = scratch(facts.observes_f32, ValType::F32);
        let f64_scratch = scratch(facts.observes_f64, ValType::F64);

        let mut f = Function::new(locals);
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let op = reader.read()?;
            match (observed_type(&op), f32_scratch, f64_scratch) {
                (Some(ValType::F32), Some(scratch), _) => {
                    canonicalize_top(&mut f, ValType::F32, scratch)
                }
                (Some(ValType::F64), _, Some(scratch)) => {
                    canonicalize_top(&mut f, ValType::F64, scratch)
                }
                (None, _, _) => {}
                _ => {
                    return Err(reencode::Error::UserError(
                        "the survey missed an observation point".to_owned(),
                    ))
                }
            }
            f.instruction(&self.instruction(op)?);
        }
        code.function(&f);
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), reencode::Error<String>> {
        // DWARF describes code offsets the rewrite moved.
        if section.name().starts_with(".debug_") {
            return Ok(());
        }
        reencode::utils::parse_custom_section(self, module, section)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    fn validate(bytes: &[u8]) {
        wasmparser::Validator::new().validate_all(bytes).unwrap();
    }

    #[test]
    fn float_lane_names() {
        assert!(is_float_lane_name("F32x4Add"));
        assert!(is_float_lane_name("I32x4TruncSatF64x2SZero"));
        assert!(!is_float_lane_name("I8x16Add"));
        assert!(!is_float_lane_name("V128Load"));
        assert!(is_float_lane_simd(&Operator::F64x2Sqrt));
        assert!(is_float_lane_simd(&Operator::F32x4ExtractLane { lane: 0 }));
        assert!(!is_float_lane_simd(&Operator::I64x2Add));
        assert!(!is_float_lane_simd(&Operator::F64Add));
    }

    #[test]
    fn modules_without_observation_points_are_kept() {
        // Arithmetic, comparisons, loads, i64 stores: nothing observes NaN bits.
        let bytes = wat(
            r#"(module (memory 1) (func (export "f") (param f64) (result i32)
            (i64.store (i32.const 0) (i64.trunc_sat_f64_s (f64.load (i32.const 8))))
            (f64.lt (f64.neg (f64.div (local.get 0) (f64.const 0))) (f64.const 1))))"#,
        );
        assert_eq!(
            prepare(&bytes).unwrap(),
            Prepared::Observed(Cow::Borrowed(&bytes[..]))
        );
    }

    #[test]
    fn float_simd_asks_for_full_canonicalization() {
        let bytes = wat(r#"(module (func (param v128) (result v128)
            (f32x4.add (local.get 0) (local.get 0))))"#);
        assert_eq!(prepare(&bytes).unwrap(), Prepared::FullCanonicalization);
        // Integer SIMD is not a reason.
        let bytes = wat(
            r#"(module (memory 1) (func (param v128) (f32.store (i32.const 0) (f32.const 1))
            (v128.store (i32.const 16) (i32x4.add (local.get 0) (local.get 0)))))"#,
        );
        assert!(matches!(
            prepare(&bytes).unwrap(),
            Prepared::Observed(Cow::Owned(_))
        ));
    }

    #[test]
    fn rewrite_adds_scratch_locals_after_params_and_locals() {
        let bytes = wat(r#"(module (memory 1)
            (func $a (param i32 f64) (local i64 i64)
              (f64.store (local.get 0) (local.get 1)))
            (func $b (param f32) (result i32) (local f64)
              (i32.add (i32.reinterpret_f32 (local.get 0))
                       (i32.wrap_i64 (i64.reinterpret_f64 (f64.copysign (local.get 1) (local.get 1))))))
            (func $c (result i32) (i32.const 1)))"#);
        let Prepared::Observed(Cow::Owned(out)) = prepare(&bytes).unwrap() else {
            panic!("not rewritten")
        };
        validate(&out);
        let text = wasmprinter_like(&out);
        // $a: params 0..2, locals 2..4, scratch f64 at 4.
        assert!(
            text[0].contains("LocalTee { local_index: 4 }"),
            "{:?}",
            text[0]
        );
        assert_eq!(text[0].matches("F64Eq").count(), 1);
        // $b: param 0, local 1, scratch f32 at 2 and f64 at 3; two f64 points.
        assert_eq!(text[1].matches("LocalTee { local_index: 2 }").count(), 1);
        assert_eq!(text[1].matches("LocalTee { local_index: 3 }").count(), 2);
        // $c untouched.
        assert!(!text[2].contains("LocalTee"));
        // Deterministic.
        assert_eq!(
            prepare(&bytes).unwrap(),
            Prepared::Observed(Cow::Owned(out))
        );
    }

    #[test]
    fn dwarf_is_dropped_and_names_are_kept() {
        let bytes = wat(r#"(module (memory 1) (func $store_it (param f32)
            (f32.store (i32.const 0) (local.get 0)))
            (@custom ".debug_info" "dwarf"))"#);
        let Prepared::Observed(out) = prepare(&bytes).unwrap() else {
            panic!("not observed")
        };
        validate(&out);
        let customs: Vec<String> = Parser::new(0)
            .parse_all(&out)
            .filter_map(|p| match p.unwrap() {
                Payload::CustomSection(c) => Some(c.name().to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(customs, ["name"]);
    }

    #[test]
    fn the_example_apps_rewrite_to_valid_modules() {
        let apps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apps");
        let mut rewritten = 0;
        for name in ["hello", "pi", "wordcount", "imagefilter"] {
            let bytes = std::fs::read(apps.join(format!("{name}/{name}.wasm"))).unwrap();
            match prepare(&bytes).unwrap() {
                Prepared::Observed(Cow::Owned(out)) => {
                    validate(&out);
                    assert_ne!(out, bytes);
                    rewritten += 1;
                }
                Prepared::Observed(Cow::Borrowed(_)) => {}
                Prepared::FullCanonicalization => panic!("{name} has no SIMD"),
            }
        }
        // printf's float formatting alone stores and reinterprets doubles.
        assert_eq!(rewritten, 4);
    }

    /// The operators of each defined function, Debug-printed.
    fn wasmprinter_like(bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut text = String::new();
                let mut reader = body.get_operators_reader().unwrap();
                while !reader.eof() {
                    text.push_str(&format!("{:?}\n", reader.read().unwrap()));
                }
                out.push(text);
            }
        }
        out
    }
}
