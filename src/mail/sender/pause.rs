//! The sender's pause: only a failure of the connection (login refused, server
//! unreachable) stops the batch and holds the queue back; a refused login pauses for a
//! doubling time (Gmail locks accounts that insist).

use chrono::{DateTime, Duration, Utc};

use super::OutboxSender;

/// Why the workers stop taking rows from the current batch.
#[derive(Debug, Clone)]
pub(super) enum Stop {
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
pub(super) struct Pause {
    until: Option<DateTime<Utc>>,
    last: Option<Duration>,
}

impl OutboxSender {
    pub(super) fn paused_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let pause = self.pause.lock().ok()?;
        pause.until.filter(|until| *until > now)
    }

    /// Starts, extends or clears the pause; returns its end when paused.
    pub(super) fn update_pause(
        &self,
        stop: Option<&Stop>,
        any_sent: bool,
    ) -> Option<DateTime<Utc>> {
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
    pub(super) fn next_auth_pause(&self) -> Duration {
        let last = self.pause.lock().ok().and_then(|p| p.last);
        self.next_auth_pause_from(last)
    }

    fn next_auth_pause_from(&self, last: Option<Duration>) -> Duration {
        last.map_or(self.options.first_auth_pause, |d| d * 2)
            .min(self.options.max_auth_pause)
    }
}
