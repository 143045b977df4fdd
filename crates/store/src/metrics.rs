//! Counters of the store, rendered in the Prometheus text format.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
};

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

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    uploads_created: AtomicU64,
    uploads_existing: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
    stored_bytes: AtomicU64,
    downloads_served: AtomicU64,
    downloads_not_found: AtomicU64,
    served_bytes: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    pub(crate) fn created(&self, size: u64) {
        bump(&self.uploads_created, 1);
        bump(&self.stored_bytes, size);
    }

    pub(crate) fn existing(&self) {
        bump(&self.uploads_existing, 1);
    }

    pub(crate) fn rejected(&self, reason: RejectReason) {
        bump(&self.rejected[reason as usize], 1);
    }

    pub(crate) fn served(&self, size: u64) {
        bump(&self.downloads_served, 1);
        bump(&self.served_bytes, size);
    }

    pub(crate) fn download_missed(&self) {
        bump(&self.downloads_not_found, 1);
    }

    /// Appends the counters to `out` in the Prometheus text exposition format.
    pub(crate) fn render(&self, out: &mut String) {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut family = |name: &str, help: &str, samples: &[(Option<(&str, &str)>, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (label, value) in samples {
                let _ = match label {
                    Some((key, val)) => writeln!(out, "{name}{{{key}=\"{val}\"}} {value}"),
                    None => writeln!(out, "{name} {value}"),
                };
            }
        };
        family(
            "poco_store_uploads_total",
            "Uploads accepted, by outcome (created: new archive; existing: same bytes already stored).",
            &[
                (Some(("outcome", "created")), get(&self.uploads_created)),
                (Some(("outcome", "existing")), get(&self.uploads_existing)),
            ],
        );
        let rejected: Vec<_> = RejectReason::ALL
            .iter()
            .map(|r| {
                (
                    Some(("reason", r.label())),
                    get(&self.rejected[*r as usize]),
                )
            })
            .collect();
        family(
            "poco_store_uploads_rejected_total",
            "Uploads refused, by reason.",
            &rejected,
        );
        family(
            "poco_store_stored_bytes_total",
            "Bytes of new archives written.",
            &[(None, get(&self.stored_bytes))],
        );
        family(
            "poco_store_downloads_total",
            "Archive downloads (GET), by outcome.",
            &[
                (Some(("outcome", "served")), get(&self.downloads_served)),
                (
                    Some(("outcome", "not_found")),
                    get(&self.downloads_not_found),
                ),
            ],
        );
        family(
            "poco_store_served_bytes_total",
            "Bytes of archives served.",
            &[(None, get(&self.served_bytes))],
        );
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
