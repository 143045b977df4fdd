//! The scheduler's `/metrics`: counters kept and rendered by the `prometheus` crate.

use poco_service::metrics::{counter, gauge, gauge_vec};
use prometheus::{IntCounter, Registry};

/// Counters for `/metrics`.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    /// Deals of the pool seen.
    pub(crate) deals: IntCounter,
    /// Replicates handed to workers.
    pub(crate) assignments: IntCounter,
    /// Reports from workers.
    pub(crate) reports: IntCounter,
    /// Transactions sent.
    pub(crate) transactions: IntCounter,
    /// Transactions that failed.
    pub(crate) transaction_errors: IntCounter,
    /// revealAndFinalize calls sent.
    pub(crate) reveal_attempts: IntCounter,
    /// Reveal candidates set aside (failed checks or reverted calls).
    pub(crate) reveal_rejections: IntCounter,
    /// `/work` calls refused by the rate limit.
    pub(crate) rate_limited: IntCounter,
    /// Workers excluded for a vote against the consensus.
    pub(crate) exclusions: IntCounter,
    /// Enclave challenges the SMS did not give (down, refused, or a wrong answer).
    pub(crate) sms_errors: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| counter(&registry, name, help);
        Self {
            deals: counter("poco_scheduler_deals_total", "Deals of the pool seen."),
            assignments: counter(
                "poco_scheduler_assignments_total",
                "Replicates handed to workers.",
            ),
            reports: counter("poco_scheduler_reports_total", "Reports from workers."),
            transactions: counter("poco_scheduler_transactions_total", "Transactions sent."),
            transaction_errors: counter(
                "poco_scheduler_transaction_errors_total",
                "Transactions that failed.",
            ),
            reveal_attempts: counter(
                "poco_scheduler_reveal_attempts_total",
                "revealAndFinalize calls sent.",
            ),
            reveal_rejections: counter(
                "poco_scheduler_reveal_rejections_total",
                "Reveal candidates set aside (failed checks or reverted calls).",
            ),
            rate_limited: counter(
                "poco_scheduler_work_rate_limited_total",
                "/work calls refused by the rate limit.",
            ),
            exclusions: counter(
                "poco_scheduler_worker_exclusions_total",
                "Workers excluded for a vote against the consensus.",
            ),
            sms_errors: counter(
                "poco_scheduler_sms_errors_total",
                "Enclave challenges of TEE tasks the SMS did not give (down, refused, wrong).",
            ),
            registry,
        }
    }
}

impl Metrics {
    /// The Prometheus text: the counters, then the gauges read for this scrape (sign-in
    /// challenges waiting, tasks by status).
    pub(crate) fn render(&self, challenges: usize, tasks: &[(String, i64)]) -> String {
        let mut families = self.registry.gather();
        let scrape = Registry::new();
        gauge(
            &scrape,
            "poco_scheduler_challenges",
            "Sign-in challenges waiting.",
            i64::try_from(challenges).unwrap_or(i64::MAX),
        );
        gauge_vec(
            &scrape,
            "poco_scheduler_tasks",
            "Tasks by status.",
            "status",
            tasks.iter().map(|(status, n)| (status, *n)),
        );
        // A family without samples (no task yet) is left out by gather.
        families.extend(scrape.gather());
        poco_service::metrics::encode(&families)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_counters_and_gauges() {
        let metrics = Metrics::default();
        metrics.assignments.inc();
        metrics.assignments.inc();
        let text = metrics.render(3, &[("COMPLETED".into(), 4), ("ACTIVE".into(), 1)]);
        for line in [
            "# HELP poco_scheduler_assignments_total Replicates handed to workers.",
            "# TYPE poco_scheduler_assignments_total counter",
            "poco_scheduler_assignments_total 2",
            "poco_scheduler_reports_total 0",
            "# TYPE poco_scheduler_challenges gauge",
            "poco_scheduler_challenges 3",
            "# TYPE poco_scheduler_tasks gauge",
            "poco_scheduler_tasks{status=\"COMPLETED\"} 4",
            "poco_scheduler_tasks{status=\"ACTIVE\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
