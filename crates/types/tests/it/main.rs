//! Integration tests of `poco-types`: the iExec compatibility vectors and property tests.

mod proptests;
mod vectors;
