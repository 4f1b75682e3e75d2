//! The outbox worker: claims due rows with a lease, sends them through the one pooled
//! transport from several threads at once, and records each outcome.
//!
//! Why several threads: lettre never sets TCP_NODELAY, so each message on a connection
//! waits ~40 ms for the peer's delayed ACK (~23 msg/s per connection). Throughput comes
//! from concurrent connections, one per worker, all from the same pool.
//!
//! Outcomes: accepted → `sent`; 4xx or unreachable → retried with exponential backoff
//! (30 s doubling to 1 h) until 3 days after the email was queued, then `failed`; 5xx →
//! `failed` at once with the server's reason; login refused → every claimed row goes back
//! to the queue uncounted and the sender pauses (the message is fine, the config is not).
//! Outcomes are committed in groups (one transaction for whatever finished meanwhile).
//! A crash between sending and recording re-sends after the lease (at-least-once, with
//! the same Message-ID).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

mod options;

pub use options::{DeliveryReport, SenderOptions};
use options::{Outcome, release};

use super::mailer::SendError;
use super::outgoing::{Outgoing, OutgoingError};
use crate::heartbeat::Heartbeat;
use crate::service::Service;
use crate::store::StoreError;
use crate::store::outbox::{self, OutboxEmail};

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("outbox: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Setup(#[from] OutgoingError),
}

/// Why the workers stop taking rows from the current batch.
#[derive(Debug, Clone)]
enum Stop {
    Auth {
        until: DateTime<Utc>,
        reason: String,
    },
    Unreachable {
        at: DateTime<Utc>,
        error: String,
    },
}

#[derive(Debug, Default)]
struct Pause {
    until: Option<DateTime<Utc>>,
    last: Option<Duration>,
}

pub struct OutboxSender {
    service: Service,
    outgoing: Outgoing,
    options: SenderOptions,
    pause: Mutex<Pause>,
    shutdown: Arc<AtomicBool>,
    heartbeat: Arc<Heartbeat>,
}

impl OutboxSender {
    pub fn new(service: Service, outgoing: Outgoing, options: SenderOptions) -> OutboxSender {
        OutboxSender {
            service,
            outgoing,
            options,
            pause: Mutex::new(Pause::default()),
            shutdown: Arc::new(AtomicBool::new(false)),
            heartbeat: Heartbeat::new("sender", std::time::Duration::MAX),
        }
    }

    /// The heartbeat the running thread beats (the daemon's /healthz watches it).
    pub fn with_heartbeat(mut self, heartbeat: Arc<Heartbeat>) -> OutboxSender {
        self.heartbeat = heartbeat;
        self
    }

    /// The production wiring from the configuration: one worker per pooled connection.
    pub fn from_config(
        config: &crate::config::Config,
        data_dir: &std::path::Path,
        secret: &[u8],
        service: Service,
    ) -> Result<OutboxSender, SenderError> {
        let outgoing = Outgoing::from_config(config, data_dir, secret)?;
        let workers = usize::try_from(config.smtp.pool_size).unwrap_or(1);
        let mut options = SenderOptions::with_workers(workers);
        options.lease =
            chrono::Duration::seconds(i64::try_from(config.email.outbox_lease_secs).unwrap_or(300));
        Ok(OutboxSender::new(service, outgoing, options))
    }

    /// The templates this sender renders with, for the HTTP pages to share.
    pub fn renderer(&self) -> Arc<crate::mail::render::Renderer> {
        self.outgoing.renderer.clone()
    }

    pub fn options(&self) -> &SenderOptions {
        &self.options
    }

    /// Claims one batch of due rows, sends them and records the outcomes.
    pub fn deliver_due(&self, now: DateTime<Utc>) -> Result<DeliveryReport, SenderError> {
        if let Some(until) = self.paused_until(now) {
            return Ok(DeliveryReport {
                paused_until: Some(until),
                ..DeliveryReport::default()
            });
        }
        let (lease, limit) = (self.options.lease, self.options.batch_size.max(1));
        let rows = self
            .service
            .store()
            .write(|tx| outbox::claim_due(tx, now, lease, limit))?;
        if rows.is_empty() {
            return Ok(DeliveryReport::default());
        }
        self.deliver_batch(rows, now)
    }

    /// Sends whatever is due until nothing is left, the login fails or `deadline` passes
    /// (the `jobs` CLI). Rows put back for a later retry are not waited for.
    pub fn deliver_until_idle(&self, deadline: Instant) -> Result<DeliveryReport, SenderError> {
        let mut total = DeliveryReport::default();
        while Instant::now() < deadline && !self.shutdown.load(Ordering::SeqCst) {
            let report = self.deliver_due(Utc::now())?;
            let done = report.claimed == 0 || report.paused_until.is_some();
            total += report;
            if done {
                break;
            }
        }
        Ok(total)
    }

    /// Runs the sender on its own thread until `shutdown` is set (then wake it with
    /// `service.outbox_signal().notify()`): the message in flight is finished, the rest
    /// of the batch goes back to the queue, and the thread returns.
    pub fn spawn(mut self, shutdown: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
        self.shutdown = shutdown;
        std::thread::Builder::new()
            .name("outbox-sender".to_owned())
            .spawn(move || self.run())
    }

    fn run(&self) {
        let _alive = self.heartbeat.running();
        tracing::info!(workers = self.options.workers, "outbox sender started");
        while !self.shutdown.load(Ordering::SeqCst) {
            self.heartbeat.beat();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.deliver_due(Utc::now())
            }));
            let more = match result {
                Ok(Ok(report)) => report.claimed >= self.options.batch_size,
                Ok(Err(e)) => {
                    tracing::error!("outbox sender: {e}; retrying shortly");
                    false
                }
                Err(_) => {
                    tracing::error!(
                        "outbox sender panicked; its claims are retried after the lease"
                    );
                    false
                }
            };
            if !more {
                self.wait();
            }
        }
        tracing::info!("outbox sender stopped");
    }

    /// Sleeps until new work is signalled or `poll` passes, checking for shutdown often.
    fn wait(&self) {
        let deadline = Instant::now() + self.options.poll;
        let slice = std::time::Duration::from_millis(250);
        loop {
            self.heartbeat.beat();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.shutdown.load(Ordering::SeqCst) {
                return;
            }
            if self.service.outbox_signal().wait(left.min(slice)) {
                return;
            }
        }
    }

    fn paused_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let pause = self.pause.lock().ok()?;
        pause.until.filter(|until| *until > now)
    }

    fn deliver_batch(
        &self,
        rows: Vec<OutboxEmail>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryReport, SenderError> {
        let started = Instant::now();
        let claimed = rows.len();
        let workers = self.options.workers.min(claimed).max(1);
        let queue = Mutex::new(VecDeque::from(rows));
        let stop: Mutex<Option<Stop>> = Mutex::new(None);
        let (tx, rx) = mpsc::channel::<(OutboxEmail, Outcome)>();
        let mut report = DeliveryReport {
            claimed,
            ..DeliveryReport::default()
        };
        let mut store_error = None;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (queue, stop) = (&queue, &stop);
                scope.spawn(move || self.work(queue, stop, tx, now, started));
            }
            drop(tx);
            // Group commit: one transaction for every outcome that arrived meanwhile.
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                group.extend(rx.try_iter());
                if let Err(e) = self.record(&group, now) {
                    tracing::error!(
                        "cannot record {} email outcome(s): {e}; they will be re-sent after the lease",
                        group.len()
                    );
                    store_error = Some(e);
                }
                for (_, outcome) in &group {
                    match outcome {
                        Outcome::Sent => report.sent += 1,
                        Outcome::Retry { .. } => report.retried += 1,
                        Outcome::Failed(_) => report.failed += 1,
                        Outcome::Release { .. } => report.released += 1,
                    }
                }
            }
        });
        let stop = stop.into_inner().ok().flatten();
        report.paused_until = self.update_pause(stop.as_ref(), report.sent > 0);
        match store_error {
            Some(e) => Err(e.into()),
            None => Ok(report),
        }
    }

    fn work(
        &self,
        queue: &Mutex<VecDeque<OutboxEmail>>,
        stop: &Mutex<Option<Stop>>,
        tx: mpsc::Sender<(OutboxEmail, Outcome)>,
        now: DateTime<Utc>,
        started: Instant,
    ) {
        // Half the lease: a row still queued here by then goes back rather than risk
        // being claimed (and sent) by another process too.
        let lease_left = (self.options.lease / 2).to_std().unwrap_or_default();
        loop {
            let Some(row) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                return;
            };
            let stopped = stop.lock().ok().and_then(|s| s.clone());
            let outcome = if let Some(stop) = stopped {
                self.after_stop(&row, &stop, now)
            } else if self.shutdown.load(Ordering::SeqCst) {
                release(now, "not sent yet when the sender stopped")
            } else if started.elapsed() > lease_left {
                release(now, "claim ran out of time, re-queued")
            } else {
                let (outcome, new_stop) = self.send_one(&row, now);
                if let Some(new_stop) = new_stop
                    && let Ok(mut s) = stop.lock()
                {
                    s.get_or_insert(new_stop);
                }
                outcome
            };
            if tx.send((row, outcome)).is_err() {
                return;
            }
        }
    }

    fn send_one(&self, row: &OutboxEmail, now: DateTime<Utc>) -> (Outcome, Option<Stop>) {
        let message = match self.outgoing.prepare(row, now) {
            Ok(m) => m,
            Err(e) => return (Outcome::Failed(e.to_string()), None),
        };
        match self.outgoing.mailer.send(&message) {
            Ok(delivered) => {
                tracing::debug!(email = row.id, template = %row.template, reply = %delivered.reply, "email sent");
                (Outcome::Sent, None)
            }
            Err(SendError::Permanent(reason)) => (Outcome::Failed(reason), None),
            Err(SendError::Auth(reason)) => {
                let until = now + self.next_auth_pause();
                (
                    release(until, &format!("SMTP login refused: {reason}")),
                    Some(Stop::Auth { until, reason }),
                )
            }
            Err(SendError::Transient(reason)) => {
                (self.options.retry_or_give_up(row, now, reason), None)
            }
            Err(SendError::Unreachable(reason)) => {
                let reason = format!("SMTP server unreachable: {reason}");
                let outcome = self.options.retry_or_give_up(row, now, reason.clone());
                let at = match &outcome {
                    Outcome::Retry { at, .. } => *at,
                    _ => now + self.options.first_retry,
                };
                (outcome, Some(Stop::Unreachable { at, error: reason }))
            }
        }
    }

    /// The batch stopped: rows not tried go back uncounted (or fail when too old).
    fn after_stop(&self, row: &OutboxEmail, stop: &Stop, now: DateTime<Utc>) -> Outcome {
        match stop {
            Stop::Auth { until, reason } => {
                release(*until, &format!("SMTP login refused: {reason}"))
            }
            Stop::Unreachable { at, error } => {
                if now - row.created_at >= self.options.give_up_after {
                    self.options.retry_or_give_up(row, now, error.clone())
                } else {
                    release(*at, error)
                }
            }
        }
    }

    fn record(
        &self,
        group: &[(OutboxEmail, Outcome)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.service.store().write(|tx| {
            for (row, outcome) in group {
                match outcome {
                    Outcome::Sent => outbox::mark_sent(tx, row.id, now)?,
                    Outcome::Retry { at, error } => outbox::mark_retry(tx, row.id, *at, error)?,
                    Outcome::Failed(error) => outbox::mark_failed(tx, row.id, error)?,
                    Outcome::Release { at, error } => outbox::release(tx, row.id, *at, error)?,
                }
            }
            Ok::<_, StoreError>(())
        })?;
        for (row, outcome) in group {
            match outcome {
                Outcome::Retry { at, error } => {
                    tracing::warn!(email = row.id, to = %row.recipient, attempt = row.attempts, retry_at = %at, "email not sent, will retry: {error}");
                }
                Outcome::Failed(error) => {
                    tracing::error!(email = row.id, to = %row.recipient, template = %row.template, "email failed for good: {error}");
                }
                Outcome::Sent | Outcome::Release { .. } => {}
            }
        }
        Ok(())
    }

    /// Starts, extends or clears the pause; returns its end when paused.
    fn update_pause(&self, stop: Option<&Stop>, any_sent: bool) -> Option<DateTime<Utc>> {
        let mut pause = self.pause.lock().ok()?;
        match stop {
            Some(Stop::Auth { until, reason }) => {
                *pause = Pause {
                    until: Some(*until),
                    last: Some(self.next_auth_pause_from(pause.last)),
                };
                tracing::error!(
                    "SMTP login refused: emails stay queued, nothing is sent before {until}. {reason}"
                );
                Some(*until)
            }
            Some(Stop::Unreachable { at, error }) => {
                tracing::warn!("SMTP server unreachable, pausing until {at}: {error}");
                pause.until = Some(*at);
                Some(*at)
            }
            None => {
                if any_sent {
                    *pause = Pause::default();
                }
                None
            }
        }
    }

    /// The pause a refused login would start now: doubled each time, capped.
    fn next_auth_pause(&self) -> Duration {
        let last = self.pause.lock().ok().and_then(|p| p.last);
        self.next_auth_pause_from(last)
    }

    fn next_auth_pause_from(&self, last: Option<Duration>) -> Duration {
        last.map_or(self.options.first_auth_pause, |d| d * 2)
            .min(self.options.max_auth_pause)
    }
}
