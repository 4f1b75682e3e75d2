//! Data care (RGPD): the daily retention job. It rewrites personal data in place and never
//! a status, a seat count or a date, so the monitoring figures (stats, TUI, /metrics) are
//! the same before and after. `forget` (one rider, now) is in service::forget.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{Service, ServiceError};
use crate::store::StoreError;
use crate::store::erasure::{self, Rewritten};

/// The `retention.*` settings, as durations; `eml_dir` is the dev-mode email folder
/// (None: no .eml files to clean, e.g. a service built in a test).
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    pub trips: Duration,
    pub sent_emails: Duration,
    pub job_runs: Duration,
    pub eml: Duration,
    pub eml_dir: Option<PathBuf>,
}

impl RetentionSettings {
    pub fn from_config(c: &crate::config::RetentionConfig) -> RetentionSettings {
        RetentionSettings {
            trips: Duration::days(c.trips_days),
            sent_emails: Duration::days(c.sent_emails_days),
            job_runs: Duration::days(c.job_runs_days),
            eml: Duration::days(c.eml_days),
            eml_dir: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub trips: usize,
    pub reservations: usize,
    pub emails_anonymised: usize,
    pub emails_stripped: usize,
    pub job_runs_deleted: usize,
    pub eml_files_deleted: usize,
}

impl RetentionReport {
    pub fn describe(&self) -> String {
        format!(
            "anonymised {} trip(s) with {} reservation(s) and {} email(s); stripped {} old sent email(s); deleted {} old job run(s) and {} .eml file(s)",
            self.trips,
            self.reservations,
            self.emails_anonymised,
            self.emails_stripped,
            self.job_runs_deleted,
            self.eml_files_deleted
        )
    }
}

/// Small batches: the daemon's requests wait for the write lock meanwhile.
const TRIP_BATCH: usize = 100;
const EMAIL_BATCH: usize = 500;

impl Service {
    /// The retention job: old trips anonymised, old sent emails stripped, old job history
    /// and dev-mode .eml files deleted. Idempotent.
    pub fn apply_retention(&self, now: DateTime<Utc>) -> Result<RetentionReport, ServiceError> {
        let r = &self.settings.retention;
        let mut report = RetentionReport::default();
        let trips_cutoff = now - r.trips;
        loop {
            let (done, more) = self.store.write(move |tx| {
                let ids = erasure::trips_to_anonymise(tx, trips_cutoff, TRIP_BATCH)?;
                let mut done = Rewritten::default();
                for id in &ids {
                    let one = erasure::anonymise_trip(tx, *id)?;
                    done.offers += one.offers;
                    done.reservations += one.reservations;
                    done.emails += one.emails;
                }
                Ok::<_, StoreError>((done, ids.len() == TRIP_BATCH))
            })?;
            report.trips += done.offers;
            report.reservations += done.reservations;
            report.emails_anonymised += done.emails;
            if !more {
                break;
            }
        }
        let sent_cutoff = now - r.sent_emails;
        loop {
            let n = self
                .store
                .write(move |tx| erasure::strip_sent_emails(tx, sent_cutoff, EMAIL_BATCH))?;
            report.emails_stripped += n;
            if n < EMAIL_BATCH {
                break;
            }
        }
        let job_runs_cutoff = now - r.job_runs;
        report.job_runs_deleted = self
            .store
            .write(move |tx| erasure::prune_job_runs(tx, job_runs_cutoff))?;
        if let Some(dir) = &r.eml_dir {
            report.eml_files_deleted = delete_old_eml(dir, now - r.eml);
        }
        if report.trips > 0 || report.emails_stripped > 0 {
            tracing::info!("retention: {}", report.describe());
        }
        Ok(report)
    }
}

pub(super) fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect()
}

fn delete_old_eml(dir: &Path, cutoff: DateTime<Utc>) -> usize {
    eml_files(dir)
        .into_iter()
        .filter(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| DateTime::<Utc>::from(t) < cutoff)
        })
        .filter(|p| remove(p))
        .count()
}

pub(super) fn remove(path: &Path) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete an old .eml file");
            false
        }
    }
}
