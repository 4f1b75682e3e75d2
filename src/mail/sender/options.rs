//! The sender's knobs and its report.

use chrono::{DateTime, Duration, Utc};

use crate::service::outbox::{OutboxEmail, Outcome};

#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// Concurrent sends (each holds one pooled connection); `smtp.pool_size`.
    pub workers: usize,
    /// Rows claimed per transaction.
    pub batch_size: usize,
    /// How long a claim is ours; an expired claim is due again (sender crash).
    pub lease: Duration,
    /// Longest sleep between two looks at the outbox (other processes queue too).
    pub poll: std::time::Duration,
    /// A transient failure this long after queueing marks the email failed.
    pub give_up_after: Duration,
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Pause after a refused login, doubled each time up to `max_auth_pause`.
    pub first_auth_pause: Duration,
    pub max_auth_pause: Duration,
}

impl SenderOptions {
    pub fn with_workers(workers: usize) -> SenderOptions {
        let workers = workers.max(1);
        SenderOptions {
            workers,
            batch_size: workers * 8,
            lease: Duration::minutes(5),
            poll: std::time::Duration::from_secs(5),
            give_up_after: Duration::days(3),
            first_retry: Duration::seconds(30),
            max_retry: Duration::hours(1),
            first_auth_pause: Duration::minutes(1),
            max_auth_pause: Duration::minutes(30),
        }
    }

    /// `min(first_retry × 2^(attempts-1), max_retry)`; `attempts` counts this one.
    pub fn retry_delay(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let delay = self.first_retry * 2_i32.pow(doublings);
        delay.min(self.max_retry)
    }
}

/// What one `deliver_due` call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// Back to the queue without counting an attempt (login refused, shutdown, server down).
    pub released: usize,
    /// Outcomes not recorded because another sender had taken the claim over meanwhile.
    pub lost: usize,
    /// Set when the SMTP login was refused: nothing is sent before this time.
    pub paused_until: Option<DateTime<Utc>>,
}

impl std::ops::AddAssign for DeliveryReport {
    fn add_assign(&mut self, o: DeliveryReport) {
        self.claimed += o.claimed;
        self.sent += o.sent;
        self.retried += o.retried;
        self.failed += o.failed;
        self.released += o.released;
        self.lost += o.lost;
        self.paused_until = o.paused_until.or(self.paused_until);
    }
}

impl SenderOptions {
    /// A transient failure: retry after the backoff, or give up once the email is
    /// `give_up_after` old.
    pub(super) fn retry_or_give_up(
        &self,
        row: &OutboxEmail,
        now: DateTime<Utc>,
        error: String,
    ) -> Outcome {
        if now - row.created_at >= self.give_up_after {
            let days = self.give_up_after.num_days();
            return Outcome::Failed(format!(
                "gave up after {} attempts over {days} days; last error: {error}",
                row.attempts
            ));
        }
        Outcome::Retry {
            at: now + self.retry_delay(row.attempts),
            error,
        }
    }
}
