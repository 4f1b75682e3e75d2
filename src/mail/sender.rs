//! The outbox worker: claims due rows with a lease, sends them through the one pooled
//! transport from several threads at once, and records each outcome.
//!
//! Why several threads: lettre never sets TCP_NODELAY, so each message on a connection
//! waits ~40 ms for the peer's delayed ACK (~23 msg/s per connection). Throughput comes
//! from concurrent connections, one per worker, all from the same pool.
//!
//! Outcomes (see `SendError` for the triage): accepted → `sent`, stamped with the moment
//! the server accepted it; a failure of one message (4xx or 5xx on MAIL/RCPT/DATA, too
//! big, an envelope the server cannot take) touches that row only: 4xx → retried with
//! exponential backoff (30 s doubling to 1 h) until 3 days after the email was queued,
//! then `failed`; 5xx → `failed` at once with the server's reason. Only a failure of the
//! connection pauses sending: unreachable (connect, TLS, timeout, 421) → the row is
//! retried and the rest of the batch waits for the same time; login refused → every
//! claimed row goes back to the queue uncounted and the sender pauses (the message is
//! fine, the config is not). Outcomes are committed in groups (one transaction for
//! whatever finished meanwhile), each only if this sender's claim still holds the row.
//!
//! The queue itself (claims, outcomes, who holds what) is `service::outbox`: a crash
//! between sending and recording re-sends as soon as a new sender starts (at-least-once,
//! with the same Message-ID).

use crate::wakeup::Shutdown;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

mod options;
mod pause;
mod queue;
mod registration;

pub use options::{DeliveryReport, SenderOptions};
use pause::{Pause, Stop};
use queue::{BatchQueue, Next};

use super::mailer::SendError;
use super::outgoing::{Outgoing, OutgoingError};
use crate::heartbeat::Heartbeat;
use crate::service::outbox::{Lease, OutboxEmail, Outcome, SenderInstance, SenderRegistryError};
use crate::service::{Service, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("outbox: {0}")]
    Service(#[from] ServiceError),
    #[error("outbox: {0}")]
    Registry(#[from] SenderRegistryError),
    #[error(transparent)]
    Setup(#[from] OutgoingError),
    #[error("outbox sender state poisoned by an earlier panic")]
    Poisoned,
}

pub struct OutboxSender {
    service: Service,
    outgoing: Outgoing,
    options: SenderOptions,
    pause: Mutex<Pause>,
    shutdown: Shutdown,
    /// Registered at the first delivery (so building a sender touches nothing), with the
    /// time of the last look for dead instances.
    instance: Mutex<Option<(Arc<SenderInstance>, Instant)>>,
    heartbeat: Arc<Heartbeat>,
}

impl OutboxSender {
    pub fn new(service: Service, outgoing: Outgoing, options: SenderOptions) -> OutboxSender {
        OutboxSender {
            service,
            outgoing,
            options,
            pause: Mutex::new(Pause::default()),
            shutdown: Shutdown::default(),
            instance: Mutex::new(None),
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
        let me = self.instance(now)?;
        let (lease_for, limit) = (self.options.lease, self.options.batch_size.max(1));
        let (lease, rows) = self.service.outbox_claim(&me, now, lease_for, limit)?;
        if rows.is_empty() {
            return Ok(DeliveryReport::default());
        }
        self.deliver_batch(&lease, rows, now)
    }

    /// Sends whatever is due until nothing is left, the login fails or `deadline` passes
    /// (the `jobs` CLI). Rows put back for a later retry are not waited for.
    pub fn deliver_until_idle(&self, deadline: Instant) -> Result<DeliveryReport, SenderError> {
        let mut total = DeliveryReport::default();
        while Instant::now() < deadline && !self.shutdown.is_set() {
            let report = self.deliver_due(Utc::now())?;
            let done = report.claimed == 0 || report.paused_until.is_some();
            total += report;
            if done {
                break;
            }
        }
        Ok(total)
    }

    /// Runs the sender on its own thread until `shutdown` is triggered (built with
    /// `service.outbox_wakeup()` so the idle wait ends at once): the message in flight is
    /// finished, the rest of the batch goes back to the queue, and the thread returns.
    pub fn spawn(mut self, shutdown: Shutdown) -> std::io::Result<JoinHandle<()>> {
        self.shutdown = shutdown;
        std::thread::Builder::new()
            .name("outbox-sender".to_owned())
            .spawn(move || self.run())
    }

    fn run(&self) {
        let _alive = self.heartbeat.running();
        tracing::info!(workers = self.options.workers, "outbox sender started");
        while !self.shutdown.is_set() {
            self.heartbeat.beat();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.deliver_due(Utc::now())
            }));
            let (more, paused_until) = match result {
                // A sent email may free the next one to the same rider (held back to keep
                // their order): look again at once rather than after `poll`.
                Ok(Ok(report)) => (
                    report.claimed >= self.options.batch_size || report.sent > 0,
                    report.paused_until,
                ),
                Ok(Err(e)) => {
                    tracing::error!("outbox sender: {e}; retrying shortly");
                    (false, None)
                }
                Err(_) => {
                    tracing::error!(
                        "outbox sender panicked; its claims are retried after the lease"
                    );
                    (false, None)
                }
            };
            if let Some(until) = paused_until {
                self.sit_out(until);
            } else if !more {
                self.wait();
            }
        }
        tracing::info!("outbox sender stopped");
    }

    /// Sleeps through a pause (SMTP unreachable, login refused) until it ends or the daemon
    /// stops. New work does not end it: each queued email woke the paused sender, which found
    /// the pause and slept again: a futex round trip per seat request on a loaded daemon whose
    /// SMTP server was down. The wake-up stays set meanwhile, so new work is seen at the end.
    fn sit_out(&self, until: DateTime<Utc>) {
        let left = (until - Utc::now()).to_std().unwrap_or_default();
        self.doze(Instant::now() + left, |nap| self.shutdown.wait(nap));
    }

    /// Sleeps until new work is signalled or `poll` passes.
    fn wait(&self) {
        let wakeup = self.service.outbox_wakeup();
        self.doze(Instant::now() + self.options.poll, |nap| wakeup.wait(nap));
    }

    /// Sleeps until `deadline`, a stop, or `nap` (a bounded sleep) says to wake, beating the
    /// heartbeat between naps.
    fn doze(&self, deadline: Instant, nap: impl Fn(std::time::Duration) -> bool) {
        let slice = std::time::Duration::from_millis(250);
        loop {
            self.heartbeat.beat();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.shutdown.is_set() || nap(left.min(slice)) {
                return;
            }
        }
    }

    fn deliver_batch(
        &self,
        lease: &Lease,
        rows: Vec<OutboxEmail>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryReport, SenderError> {
        let started = Instant::now();
        let claimed = rows.len();
        let workers = self.options.workers.min(claimed).max(1);
        let queue = BatchQueue::new(rows);
        let stop: Mutex<Option<Stop>> = Mutex::new(None);
        let (tx, rx) = mpsc::channel::<(OutboxEmail, Outcome)>();
        let mut report = DeliveryReport {
            claimed,
            ..DeliveryReport::default()
        };
        let mut record_error = None;
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
                match self.record(lease, &group) {
                    Ok(lost) => report.lost += lost,
                    Err(e) => {
                        tracing::error!(
                            "cannot record {} email outcome(s): {e}; they will be re-sent after the lease",
                            group.len()
                        );
                        record_error = Some(e);
                    }
                }
                for (_, outcome) in &group {
                    match outcome {
                        Outcome::Sent { .. } => report.sent += 1,
                        Outcome::Retry { .. } => report.retried += 1,
                        Outcome::Failed(_) => report.failed += 1,
                        Outcome::Release { .. } => report.released += 1,
                    }
                }
            }
        });
        let stop = stop.into_inner().ok().flatten();
        report.paused_until = self.update_pause(stop.as_ref(), report.sent > 0);
        match record_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    fn work(
        &self,
        queue: &BatchQueue,
        stop: &Mutex<Option<Stop>>,
        tx: mpsc::Sender<(OutboxEmail, Outcome)>,
        now: DateTime<Utc>,
        started: Instant,
    ) {
        // Half the lease: a row still queued here by then goes back rather than risk
        // being claimed (and sent) by another process too.
        let lease_left = (self.options.lease / 2).to_std().unwrap_or_default();
        while let Some(next) = queue.next() {
            let row = match next {
                Next::Send(row) => row,
                Next::Hold(row, at) => {
                    let stopped = stop.lock().ok().and_then(|s| s.clone());
                    let outcome = match stopped {
                        Some(stop) => self.after_stop(&row, &stop, now),
                        None => {
                            Outcome::release(at, "waiting for an older email to the same address")
                        }
                    };
                    if tx.send((row, outcome)).is_err() {
                        return;
                    }
                    continue;
                }
            };
            let stopped = stop.lock().ok().and_then(|s| s.clone());
            let outcome = if let Some(stop) = stopped {
                self.after_stop(&row, &stop, now)
            } else if self.shutdown.is_set() {
                Outcome::release(now, "not sent yet when the sender stopped")
            } else if started.elapsed() > lease_left {
                Outcome::release(now, "claim ran out of time, re-queued")
            } else {
                let (outcome, new_stop) = self.send_one(&row, now, started);
                if let Some(new_stop) = new_stop
                    && let Ok(mut s) = stop.lock()
                {
                    s.get_or_insert(new_stop);
                }
                outcome
            };
            queue.done(&row, &outcome);
            if tx.send((row, outcome)).is_err() {
                return;
            }
        }
    }

    /// `now` is the batch's clock (injected in tests); the moment of acceptance is that
    /// clock moved on by the real time since the batch started.
    fn send_one(
        &self,
        row: &OutboxEmail,
        now: DateTime<Utc>,
        started: Instant,
    ) -> (Outcome, Option<Stop>) {
        let message = match self.outgoing.prepare(row, now) {
            Ok(m) => m,
            Err(e) => return (Outcome::Failed(e.to_string()), None),
        };
        match self.outgoing.mailer.send(&message) {
            Ok(delivered) => {
                let at = now + Duration::from_std(started.elapsed()).unwrap_or_default();
                tracing::debug!(email = row.id, template = %row.template, reply = %delivered.reply, "email sent");
                (
                    Outcome::Sent {
                        at,
                        channel: delivered.channel,
                    },
                    None,
                )
            }
            Err(SendError::Permanent(reason)) => (Outcome::Failed(reason), None),
            Err(SendError::Auth(reason)) => {
                let until = now + self.next_auth_pause();
                (
                    Outcome::release(until, &format!("SMTP login refused: {reason}")),
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
                Outcome::release(*until, &format!("SMTP login refused: {reason}"))
            }
            Stop::Unreachable { at, error } => {
                if now - row.created_at >= self.options.give_up_after {
                    self.options.retry_or_give_up(row, now, error.clone())
                } else {
                    Outcome::release(*at, error)
                }
            }
        }
    }

    /// Writes one group of outcomes; returns how many were lost (claim taken over).
    fn record(
        &self,
        lease: &Lease,
        group: &[(OutboxEmail, Outcome)],
    ) -> Result<usize, SenderError> {
        let lost = self.service.outbox_record(lease, group)?;
        for (row, outcome) in group {
            if lost.contains(&row.id) {
                tracing::warn!(
                    email = row.id,
                    "email outcome not recorded: another sender took this email over meanwhile"
                );
                continue;
            }
            match outcome {
                Outcome::Retry { at, error } => {
                    tracing::warn!(email = row.id, to = %row.recipient, attempt = row.attempts, retry_at = %at, "email not sent, will retry: {error}");
                }
                Outcome::Failed(error) => {
                    tracing::error!(email = row.id, to = %row.recipient, template = %row.template, "email failed for good: {error}");
                }
                Outcome::Sent { .. } | Outcome::Release { .. } => {}
            }
        }
        Ok(lost.len())
    }
}
