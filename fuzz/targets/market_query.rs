//! The market's order list endpoints: the first byte picks the endpoint (`/apporders`,
//! `/datasetorders`, `/workerpoolorders`, `/requestorders`), the rest is the query string,
//! decoded, turned into a filter and a page, and run on an empty book as the API does.

use afl::fuzz;
use poco_types::OrderKind;

fn main() {
    fuzz!(|bytes: &[u8]| {
        let Some((&first, rest)) = bytes.split_first() else {
            return;
        };
        let kind = match first % 4 {
            0 => OrderKind::App,
            1 => OrderKind::Dataset,
            2 => OrderKind::Workerpool,
            _ => OrderKind::Request,
        };
        if let Ok(query) = std::str::from_utf8(rest) {
            let _ = poco_market::fuzzing::order_query(kind, query);
        }
    });
}
