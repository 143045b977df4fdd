//! The framed postcard stream between the worker's executor and its runner processes: any
//! bytes, read frame by frame and decoded as a message of either direction.

use afl::fuzz;

fn main() {
    fuzz!(|bytes: &[u8]| {
        poco_runtime::fuzzing::runner_frames(bytes);
    });
}
