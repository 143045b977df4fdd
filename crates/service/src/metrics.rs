//! One format for every `/metrics`: the Prometheus text exposition (`# TYPE x_total counter`),
//! rendered from a `prometheus` [`Registry`] or from metric families gathered for one scrape.

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use prometheus::{proto::MetricFamily, IntCounter, IntGauge, Registry, TextEncoder};

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends `families` to `out` in the text exposition format.
pub fn encode_into(families: &[MetricFamily], out: &mut String) {
    // Encoding into a String fails only on a malformed family, which a registry refuses.
    let _ = TextEncoder::new().encode_utf8(families, out);
}

/// `families` in the text exposition format.
pub fn encode(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    encode_into(families, &mut out);
    out
}

/// The `/metrics` response: `text` with the exposition format's content type.
pub fn response(text: String) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response()
}

/// A counter registered in `registry`. Panics on an invalid or twice registered name (a
/// programming error, caught by any test that builds the metrics).
pub fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter = IntCounter::new(name, help).expect("a valid metric name");
    registry
        .register(Box::new(counter.clone()))
        .expect("a metric registered once");
    counter
}

/// A gauge set to `value` and registered in `registry` (for gauges read at each scrape).
/// Panics like [`counter`].
pub fn gauge(registry: &Registry, name: &str, help: &str, value: i64) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("a valid metric name");
    gauge.set(value);
    registry
        .register(Box::new(gauge.clone()))
        .expect("a metric registered once");
    gauge
}
