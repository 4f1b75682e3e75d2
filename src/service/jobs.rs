//! The scheduled jobs as use cases: expiry and J-1 reminders. Due-ness is decided from the
//! `job_runs` table and the configured local time, so the daemon's scheduler, a catch-up
//! after downtime and the CLI's one-shot runs are the same code path.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::context::{EmailBatch, Extra, To, offer_email_with};
use super::reservations::emails_for;
use super::{Service, ServiceError};
use crate::domain::time::{day_word_fr, hourly_slot, reminder_slot, reminder_window};
use crate::domain::{Action, Actor, Status, next_status};
use crate::store::{jobs, offers, reservations};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    Expire,
    Reminders,
    /// Daily data care (`retention.*`): see service::retention.
    Retention,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Expire, Job::Reminders, Job::Retention];

    pub fn as_str(self) -> &'static str {
        match self {
            Job::Expire => "expire",
            Job::Reminders => "reminders",
            Job::Retention => "retention",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobReport {
    /// Reservations moved (expired) or reminded.
    pub reservations: usize,
    pub emails_queued: usize,
    /// What the retention job did (None for the other jobs).
    pub retention: Option<super::retention::RetentionReport>,
}

impl JobReport {
    pub fn describe(&self, job: Job) -> String {
        match job {
            Job::Expire => format!(
                "expired {} request(s), queued {} email(s)",
                self.reservations, self.emails_queued
            ),
            Job::Reminders => format!(
                "reminded {} reservation(s), queued {} email(s)",
                self.reservations, self.emails_queued
            ),
            Job::Retention => self
                .retention
                .as_ref()
                .map(|r| r.describe())
                .unwrap_or_default(),
        }
    }
}

/// The daily retention run, local time (`jobs.timezone`): at night, when the daemon is quiet.
const RETENTION_TIME: chrono::NaiveTime = match chrono::NaiveTime::from_hms_opt(4, 0, 0) {
    Some(t) => t,
    None => chrono::NaiveTime::MIN,
};

/// Expiry batches stay small so the write lock is never held long.
const EXPIRE_BATCH: usize = 200;

impl Service {
    /// The scheduled slot `job` should cover at `now`.
    pub fn job_slot(&self, job: Job, now: DateTime<Utc>) -> DateTime<Utc> {
        match job {
            Job::Expire => hourly_slot(now),
            Job::Reminders => reminder_slot(self.settings.tz, self.settings.reminder_time, now),
            Job::Retention => reminder_slot(self.settings.tz, RETENTION_TIME, now),
        }
    }

    /// Whether `job` still has to cover its current slot (never run, missed during downtime, or failed).
    pub fn job_is_due(&self, job: Job, now: DateTime<Utc>) -> Result<bool, ServiceError> {
        let slot = self.job_slot(job, now);
        Ok(!self.store.read(|c| jobs::covered(c, job.as_str(), slot))?)
    }

    /// Runs `job` now (whether due or not) and records its slot as covered.
    pub fn run_job(&self, job: Job, now: DateTime<Utc>) -> Result<JobReport, ServiceError> {
        let slot = self.job_slot(job, now);
        let result = match job {
            Job::Expire => self.expire_due(now),
            Job::Reminders => self.send_reminders(now),
            Job::Retention => self.apply_retention(now).map(|r| JobReport {
                reservations: r.reservations,
                retention: Some(r),
                ..JobReport::default()
            }),
        };
        let (ok, summary) = match &result {
            Ok(r) => (true, r.describe(job)),
            Err(e) => (false, e.to_string()),
        };
        self.store.write(move |tx| {
            jobs::record(
                tx,
                job.as_str(),
                slot,
                now,
                Utc::now().max(now),
                ok,
                &summary,
            )
        })?;
        result
    }

    /// Runs `job` only if its current slot is not covered yet. None when not due.
    pub fn run_job_if_due(
        &self,
        job: Job,
        now: DateTime<Utc>,
    ) -> Result<Option<JobReport>, ServiceError> {
        if self.job_is_due(job, now)? {
            self.run_job(job, now).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Pending requests older than `jobs.expire_after_hours`, or whose trip has departed,
    /// become expired; emails 8 (passenger) and 9 (driver). Idempotent.
    pub fn expire_due(&self, now: DateTime<Utc>) -> Result<JobReport, ServiceError> {
        let cutoff = now - self.settings.expire_after;
        let mut report = JobReport::default();
        loop {
            let routing = self.settings.routing_enabled;
            let (moved, emails, more) = self.store.write(move |tx| {
                let due = reservations::due_for_expiry(tx, cutoff, now)?;
                let more = due.len() > EXPIRE_BATCH;
                let mut batch = EmailBatch::new(routing);
                let mut moved = 0;
                for r in due.into_iter().take(EXPIRE_BATCH) {
                    let Ok(to) = next_status(r.status, Action::Expire) else {
                        continue;
                    };
                    if !reservations::transition(tx, r.id, r.status, to, Actor::System, now)? {
                        continue;
                    }
                    let (Some(r), Some(offer)) =
                        (reservations::get(tx, r.id)?, offers::get(tx, r.offer_id)?)
                    else {
                        continue;
                    };
                    let extra = Extra {
                        previous_status: Some(Status::Pending),
                        ..Extra::default()
                    };
                    for &(template, to, _) in emails_for(Action::Expire) {
                        batch.push(offer_email_with(template, &offer, Some(&r), &[], to, extra));
                    }
                    moved += 1;
                }
                let n = batch.commit(tx, now)?;
                Ok::<_, ServiceError>((moved, n, more))
            })?;
            report.reservations += moved;
            report.emails_queued += emails;
            self.after_commit(emails, false);
            if !more || moved == 0 {
                break;
            }
        }
        if report.reservations > 0 {
            tracing::info!(
                expired = report.reservations,
                emails = report.emails_queued,
                "expired unanswered requests"
            );
        }
        Ok(report)
    }

    /// Reminders, whatever the hour of the run: confirmed reservations not reminded yet whose
    /// trip departs between `now` and the end of tomorrow (local date) get email 10; each
    /// driver email 11 with the passenger list. Once per reservation, ever (`reminded_at`).
    /// The emails say "demain" or "aujourd'hui" by the departure's real local day.
    pub fn send_reminders(&self, now: DateTime<Utc>) -> Result<JobReport, ServiceError> {
        let tz = self.settings.tz;
        let (from, to) = reminder_window(tz, now);
        let routing = self.settings.routing_enabled;
        let report = self.store.write(move |tx| {
            let due = reservations::due_for_reminder(tx, from, to)?;
            let mut by_offer: BTreeMap<i64, Vec<_>> = BTreeMap::new();
            for r in due {
                by_offer.entry(r.offer_id).or_default().push(r);
            }
            let mut batch = EmailBatch::new(routing);
            let mut reminded = 0;
            for (offer_id, rs) in by_offer {
                let Some(offer) = offers::get(tx, offer_id)? else {
                    continue;
                };
                let passengers = reservations::confirmed_for_offer(tx, offer_id)?;
                // The driver can still answer these before the trip, from the reminder.
                let pending: Vec<_> = reservations::for_offer(tx, offer_id)?
                    .into_iter()
                    .filter(|r| r.status == Status::Pending)
                    .collect();
                let extra = Extra {
                    when_fr: Some(day_word_fr(tz, offer.departure_at, now)),
                    ..Extra::default()
                };
                for r in &rs {
                    batch.push(offer_email_with(
                        "reminder_passenger",
                        &offer,
                        Some(r),
                        &passengers,
                        To::Passenger,
                        extra,
                    ));
                    reservations::mark_reminded(tx, r.id, now)?;
                    reminded += 1;
                }
                let extra = Extra {
                    pending: Some(&pending),
                    ..extra
                };
                batch.push(offer_email_with(
                    "reminder_driver",
                    &offer,
                    None,
                    &passengers,
                    To::Driver,
                    extra,
                ));
            }
            let emails_queued = batch.commit(tx, now)?;
            Ok::<_, ServiceError>(JobReport {
                reservations: reminded,
                emails_queued,
                retention: None,
            })
        })?;
        if report.reservations > 0 {
            tracing::info!(
                reminded = report.reservations,
                emails = report.emails_queued,
                "queued reminders"
            );
        }
        self.after_commit(report.emails_queued, false);
        Ok(report)
    }

    pub fn last_job_run(&self, job: Job) -> Result<Option<jobs::JobRun>, ServiceError> {
        Ok(self.store.read(|c| jobs::last_run(c, job.as_str(), true))?)
    }
}
