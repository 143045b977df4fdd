//! Integration tests of `poco-types`: the iExec compatibility vectors and property tests.

mod poco_vectors;
mod proptests;
mod vectors;
