//! Counters of the store, rendered in the Prometheus text format.

use poco_service::metrics::{counter, counter_vec};
use prometheus::{IntCounter, IntCounterVec, Registry};

/// Why an upload was refused: the `reason` label of `poco_store_uploads_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RejectReason {
    BadTaskId,
    BadHeader,
    BadAuthorization,
    UntrustedScheduler,
    WorkerSignature,
    BadBody,
    TooLarge,
    TooManyObjects,
    Internal,
}

impl RejectReason {
    const ALL: [Self; 9] = [
        Self::BadTaskId,
        Self::BadHeader,
        Self::BadAuthorization,
        Self::UntrustedScheduler,
        Self::WorkerSignature,
        Self::BadBody,
        Self::TooLarge,
        Self::TooManyObjects,
        Self::Internal,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::BadTaskId => "bad_task_id",
            Self::BadHeader => "bad_header",
            Self::BadAuthorization => "bad_authorization",
            Self::UntrustedScheduler => "untrusted_scheduler",
            Self::WorkerSignature => "worker_signature",
            Self::BadBody => "bad_body",
            Self::TooLarge => "too_large",
            Self::TooManyObjects => "too_many_objects",
            Self::Internal => "internal",
        }
    }
}

/// The store's counters, kept and rendered by the `prometheus` crate.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    uploads: IntCounterVec,
    rejected: IntCounterVec,
    stored_bytes: IntCounter,
    downloads: IntCounterVec,
    served_bytes: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        // Each label value is listed at zero before the first event.
        let vec = |name: &str, help: &str, label: &str, values: &[&str]| {
            counter_vec(&registry, name, help, label, values)
        };
        let uploads = vec(
            "poco_store_uploads_total",
            "Uploads accepted, by outcome (created: new archive; existing: same bytes already stored).",
            "outcome",
            &["created", "existing"],
        );
        let reasons: Vec<_> = RejectReason::ALL.iter().map(|r| r.label()).collect();
        let rejected = vec(
            "poco_store_uploads_rejected_total",
            "Uploads refused, by reason.",
            "reason",
            &reasons,
        );
        let downloads = vec(
            "poco_store_downloads_total",
            "Archive downloads (GET), by outcome.",
            "outcome",
            &["served", "not_found"],
        );
        let counter = |name: &str, help: &str| counter(&registry, name, help);
        let stored_bytes = counter(
            "poco_store_stored_bytes_total",
            "Bytes of new archives written.",
        );
        let served_bytes = counter("poco_store_served_bytes_total", "Bytes of archives served.");
        Self {
            registry,
            uploads,
            rejected,
            stored_bytes,
            downloads,
            served_bytes,
        }
    }
}

impl Metrics {
    pub(crate) fn created(&self, size: u64) {
        self.uploads.with_label_values(&["created"]).inc();
        self.stored_bytes.inc_by(size);
    }

    pub(crate) fn existing(&self) {
        self.uploads.with_label_values(&["existing"]).inc();
    }

    pub(crate) fn rejected(&self, reason: RejectReason) {
        self.rejected.with_label_values(&[reason.label()]).inc();
    }

    pub(crate) fn served(&self, size: u64) {
        self.downloads.with_label_values(&["served"]).inc();
        self.served_bytes.inc_by(size);
    }

    pub(crate) fn download_missed(&self) {
        self.downloads.with_label_values(&["not_found"]).inc();
    }

    /// Appends the counters to `out` in the Prometheus text exposition format.
    pub(crate) fn render(&self, out: &mut String) {
        poco_service::metrics::encode_into(&self.registry.gather(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_slot() {
        for (i, reason) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
    }

    #[test]
    fn render_lists_every_counter() {
        let metrics = Metrics::default();
        metrics.created(10);
        metrics.created(5);
        metrics.rejected(RejectReason::TooLarge);
        metrics.served(10);
        let mut text = String::new();
        metrics.render(&mut text);
        for line in [
            "# TYPE poco_store_uploads_total counter",
            "poco_store_uploads_total{outcome=\"created\"} 2",
            "poco_store_uploads_total{outcome=\"existing\"} 0",
            "poco_store_uploads_rejected_total{reason=\"too_large\"} 1",
            "poco_store_uploads_rejected_total{reason=\"untrusted_scheduler\"} 0",
            "poco_store_stored_bytes_total 15",
            "poco_store_downloads_total{outcome=\"served\"} 1",
            "poco_store_served_bytes_total 10",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
