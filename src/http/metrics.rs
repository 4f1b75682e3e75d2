//! Prometheus text exposition. Business figures come from `Service::stats` (the very
//! numbers `carette stats` prints); request counts and latencies are kept in-process.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::service::jobs::Job;
use crate::store::jobs::JobRun;
use crate::store::stats::Stats;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Cumulative counts are computed at render time; these are per-bucket.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

#[derive(Debug, Default)]
pub struct HttpMetrics {
    inner: Mutex<Inner>,
    connections_open: AtomicU64,
    refused_per_ip: AtomicU64,
}

impl HttpMetrics {
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection closed at once: its address already held `max_connections_per_ip`.
    pub fn connection_refused(&self) {
        self.refused_per_ip.fetch_add(1, Ordering::Relaxed);
    }

    /// The /healthz checks as gauges: 1 passing, 0 failing.
    pub fn render_health(out: &mut String, checks: &[(&str, bool)]) {
        header(
            out,
            "carette_health_check",
            "gauge",
            "The /healthz checks: 1 when passing (database accepts a write; sender and scheduler threads alive and ticking).",
            true,
        );
        for (check, ok) in checks {
            let _ = writeln!(
                out,
                "carette_health_check{{check=\"{check}\"}} {}",
                u8::from(*ok)
            );
        }
    }

    pub fn observe(&self, route: &'static str, status: u16, elapsed: Duration) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *inner.requests.entry((route, status)).or_default() += 1;
        let h = inner.latency.entry(route).or_default();
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum += secs;
    }

    /// A copy taken under the lock, so rendering never holds it.
    fn snapshot(&self) -> Inner {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Inner {
            requests: inner.requests.clone(),
            latency: inner.latency.clone(),
        }
    }

    /// Group commit at work: writes per commit is the ratio of the two counters, and the
    /// busy time says how close the one writer thread is to saturation.
    pub fn render_db_writer(out: &mut String, w: &crate::store::WriterStats) {
        let counters: [(&str, &str, f64); 3] = [
            (
                "carette_db_commits_total",
                "Write transactions the database writer committed (each one fsync).",
                w.commits.load(Ordering::Relaxed) as f64,
            ),
            (
                "carette_db_writes_total",
                "Writes committed; divided by commits, the writes sharing each fsync.",
                w.writes.load(Ordering::Relaxed) as f64,
            ),
            (
                "carette_db_writer_busy_seconds_total",
                "Time the database writer thread spent running transactions.",
                w.busy_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            ),
        ];
        for (name, help, value) in counters {
            header(out, name, "counter", help, true);
            let _ = writeln!(out, "{name} {value}");
        }
    }

    /// The whole /metrics document.
    pub fn render(&self, stats: &Stats, jobs: &[(Job, Option<JobRun>)]) -> String {
        let mut out = String::with_capacity(4096);
        business(&mut out, stats);
        header(
            &mut out,
            "carette_job_last_success_timestamp_seconds",
            "gauge",
            "When each scheduled job last finished successfully (Unix time).",
            true,
        );
        for (job, run) in jobs {
            if let Some(run) = run {
                let at = run.finished_at.unwrap_or(run.started_at);
                let _ = writeln!(
                    out,
                    "carette_job_last_success_timestamp_seconds{{job=\"{}\"}} {}",
                    job.as_str(),
                    at.timestamp()
                );
            }
        }
        self.http(&mut out);
        out
    }

    fn http(&self, out: &mut String) {
        header(
            out,
            "carette_http_connections_open",
            "gauge",
            "HTTP connections open now.",
            true,
        );
        let _ = writeln!(
            out,
            "carette_http_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        header(
            out,
            "carette_http_connections_refused_total",
            "counter",
            "Connections closed at once because their address held server.max_connections_per_ip.",
            true,
        );
        let _ = writeln!(
            out,
            "carette_http_connections_refused_total{{reason=\"per_ip\"}} {}",
            self.refused_per_ip.load(Ordering::Relaxed)
        );
        let Inner { requests, latency } = self.snapshot();
        header(
            out,
            "carette_http_requests_total",
            "counter",
            "HTTP requests by route and status.",
            true,
        );
        for ((route, status), n) in requests {
            let _ = writeln!(
                out,
                "carette_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        header(
            out,
            "carette_http_request_duration_seconds",
            "histogram",
            "Time from request head to response, by route.",
            true,
        );
        for (route, h) in latency {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "carette_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "carette_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "carette_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "carette_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str, first: bool) {
    if first {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    }
}

fn business(out: &mut String, s: &Stats) {
    header(
        out,
        "carette_reservations",
        "gauge",
        "Reservations by status.",
        true,
    );
    for (status, n) in [
        ("pending", s.pending),
        ("confirmed", s.confirmed),
        ("refused", s.refused),
        ("expired", s.expired),
        ("cancelled", s.cancelled),
        ("removed", s.removed),
    ] {
        let _ = writeln!(out, "carette_reservations{{status=\"{status}\"}} {n}");
    }
    header(
        out,
        "carette_reservations_pending_overdue",
        "gauge",
        "Pending requests older than the expiry delay (should be 0 when the expire job runs).",
        true,
    );
    let _ = writeln!(
        out,
        "carette_reservations_pending_overdue {}",
        s.pending_overdue
    );
    header(
        out,
        "carette_acceptance_rate_percent",
        "gauge",
        "confirmed x 100 / (confirmed + refused); absent while nothing was decided.",
        true,
    );
    if let Some(rate) = s.acceptance_rate {
        let _ = writeln!(out, "carette_acceptance_rate_percent {rate}");
    }
    header(
        out,
        "carette_emails_sent_today",
        "gauge",
        "Emails the SMTP server accepted since local midnight.",
        true,
    );
    let _ = writeln!(out, "carette_emails_sent_today {}", s.emails_sent_today);
    header(
        out,
        "carette_emails_logged_today",
        "gauge",
        "Dev-mode emails written as .eml files (not sent) since local midnight.",
        true,
    );
    let _ = writeln!(out, "carette_emails_logged_today {}", s.emails_logged_today);
    header(
        out,
        "carette_outbox_emails",
        "gauge",
        "Emails in the outbox by status.",
        true,
    );
    for (status, n) in [
        ("queued", s.outbox_queued),
        ("sending", s.outbox_sending),
        ("failed", s.outbox_failed),
        ("sent", s.outbox_sent),
    ] {
        let _ = writeln!(out, "carette_outbox_emails{{status=\"{status}\"}} {n}");
    }
    header(
        out,
        "carette_outbox_oldest_queued_age_seconds",
        "gauge",
        "Age of the oldest email still waiting to go out (0 when none).",
        true,
    );
    let _ = writeln!(
        out,
        "carette_outbox_oldest_queued_age_seconds {}",
        s.oldest_queued_age_seconds.unwrap_or(0)
    );
    header(
        out,
        "carette_route_recalculations",
        "gauge",
        "Offers whose pickup times await an OSRM recalculation (pending) or were given up on (failed).",
        true,
    );
    for (status, n) in [("pending", s.routes_pending), ("failed", s.routes_failed)] {
        let _ = writeln!(
            out,
            "carette_route_recalculations{{status=\"{status}\"}} {n}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = HttpMetrics::default();
        m.observe("healthz", 200, Duration::from_micros(500));
        m.observe("healthz", 200, Duration::from_millis(30));
        m.observe("healthz", 503, Duration::from_secs(10));
        let mut out = String::new();
        m.http(&mut out);
        assert!(out.contains("carette_http_requests_total{route=\"healthz\",status=\"200\"} 2"));
        assert!(out.contains("carette_http_requests_total{route=\"healthz\",status=\"503\"} 1"));
        assert!(out.contains("le=\"0.001\"} 1\n"));
        assert!(out.contains("le=\"0.05\"} 2\n"));
        assert!(out.contains("le=\"2.5\"} 2\n"));
        assert!(out.contains("le=\"+Inf\"} 3\n"));
        assert!(out.contains("carette_http_request_duration_seconds_count{route=\"healthz\"} 3"));
    }
}
