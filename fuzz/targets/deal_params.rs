//! A request order's `params` string, as the worker and the market read it: any text into
//! `DealParams`; what parses comes back equal from its own JSON (the other keys' values
//! aside, whose floats may move in the last place).

use afl::fuzz;
use poco_types::DealParams;

fn main() {
    fuzz!(|bytes: &[u8]| {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        if let Ok(params) = DealParams::parse(text) {
            let _ = (
                params.args(),
                params.input_files(),
                params.result_encryption(),
            );
            let mut back = DealParams::parse(&params.to_json_string()).expect("own JSON parses");
            // Floats among the other keys may come back a unit in the last place off
            // (serde_json's fast float reading): compare their keys only.
            assert!(back.extra.keys().eq(params.extra.keys()));
            back.extra = params.extra.clone();
            assert_eq!(back, params);
        }
    });
}
