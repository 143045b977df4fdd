//! One format for every `/metrics`: the Prometheus text exposition (`# TYPE x_total counter`),
//! rendered from a `prometheus` [`Registry`] or from metric families gathered for one scrape.
//!
//! The helpers [`counter`], [`counter_vec`], [`gauge`], [`gauge_vec`] and [`histogram`] make a
//! metric, register it in a service's registry and return it, so that a service's metrics are a
//! plain struct of `prometheus` handles. Every `prometheus` metric and [`Registry`] is `Debug`:
//! such a struct derives `Debug`.

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use prometheus::{
    core::Collector, proto::MetricFamily, Histogram, HistogramOpts, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

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

/// Registers `metric` in `registry` and returns it. Panics on a name registered twice (a
/// programming error, caught by any test that builds the metrics).
fn register<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("a metric registered once");
    metric
}

/// A counter registered in `registry`. Panics on an invalid or twice registered name (a
/// programming error, caught by any test that builds the metrics).
pub fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        IntCounter::new(name, help).expect("a valid metric name"),
    )
}

/// A counter with one label registered in `registry`, listed at zero for each of `values`
/// before the first event (other values may be counted later). Panics like [`counter`].
pub fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    label: &str,
    values: &[&str],
) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid metric name");
    for value in values {
        vec.with_label_values(&[*value]);
    }
    register(registry, vec)
}

/// A gauge set to `value` and registered in `registry` (for gauges read at each scrape).
/// Panics like [`counter`].
pub fn gauge(registry: &Registry, name: &str, help: &str, value: i64) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("a valid metric name");
    gauge.set(value);
    register(registry, gauge)
}

/// A gauge with one label registered in `registry`, set to each `(label value, value)` of
/// `values` (for gauges read at each scrape). Panics like [`counter`].
pub fn gauge_vec<V: AsRef<str>>(
    registry: &Registry,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (V, i64)>,
) -> IntGaugeVec {
    let vec = IntGaugeVec::new(Opts::new(name, help), &[label]).expect("a valid metric name");
    for (key, value) in values {
        vec.with_label_values(&[key.as_ref()]).set(value);
    }
    register(registry, vec)
}

/// A histogram with upper bounds `buckets` (ascending; `+Inf` is implied) registered in
/// `registry`. Panics like [`counter`], and on buckets out of order.
pub fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    register(
        registry,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
            .expect("a valid metric name and ascending buckets"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each helper registers what it returns: the text lists its samples.
    #[test]
    fn helpers_register_the_metrics_they_return() {
        let registry = Registry::new();
        counter(&registry, "t_total", "A counter.").inc_by(2);
        let vec = counter_vec(
            &registry,
            "t_by_total",
            "By outcome.",
            "outcome",
            &["a", "b"],
        );
        vec.with_label_values(&["b"]).inc();
        gauge(&registry, "t_level", "A gauge.", 7);
        gauge_vec(
            &registry,
            "t_kinds",
            "By kind.",
            "kind",
            [("x", 3), ("y", 4)],
        );
        let h = histogram(&registry, "t_seconds", "Durations.", vec![0.5, 1.0]);
        h.observe(0.7);
        h.observe(3.0);
        let text = encode(&registry.gather());
        for line in [
            "# HELP t_total A counter.",
            "# TYPE t_total counter",
            "t_total 2",
            "t_by_total{outcome=\"a\"} 0",
            "t_by_total{outcome=\"b\"} 1",
            "# TYPE t_level gauge",
            "t_level 7",
            "t_kinds{kind=\"x\"} 3",
            "t_kinds{kind=\"y\"} 4",
            "# TYPE t_seconds histogram",
            "t_seconds_bucket{le=\"0.5\"} 0",
            "t_seconds_bucket{le=\"1\"} 1",
            "t_seconds_bucket{le=\"+Inf\"} 2",
            "t_seconds_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "a metric registered once")]
    fn a_name_registered_twice_is_refused() {
        let registry = Registry::new();
        counter(&registry, "t_total", "A counter.");
        counter(&registry, "t_total", "A counter.");
    }
}
