//! Integration tests of `poco-types`: the iExec compatibility vectors, property tests and the
//! parsers fed arbitrary input.

mod fuzz_json;
mod poco_vectors;
mod proptests;
mod vectors;
