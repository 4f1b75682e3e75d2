//! job_runs: one row per scheduled slot a job has covered.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::StoreError;
use super::row::{opt_ts, ts};
use crate::domain::time::to_db;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRun {
    pub job: String,
    pub slot: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub ok: bool,
    pub summary: Option<String>,
}

/// Whether `job` already completed `slot` (or a later one).
pub fn covered(conn: &Connection, job: &str, slot: DateTime<Utc>) -> Result<bool, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM job_runs WHERE job = ?1 AND slot >= ?2 AND ok = 1",
        params![job, to_db(slot)],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Records a finished run of `slot` (replacing an earlier failed attempt of the same slot).
pub fn record(
    conn: &Connection,
    job: &str,
    slot: DateTime<Utc>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    ok: bool,
    summary: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO job_runs (job, slot, started_at, finished_at, ok, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (job, slot) DO UPDATE SET started_at = excluded.started_at,
             finished_at = excluded.finished_at, ok = excluded.ok, summary = excluded.summary",
        params![job, to_db(slot), to_db(started_at), to_db(finished_at), ok, summary],
    )?;
    Ok(())
}

pub fn last_run(conn: &Connection, job: &str, only_ok: bool) -> Result<Option<JobRun>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT job, slot, started_at, finished_at, ok, summary FROM job_runs
             WHERE job = ?1 AND (?2 = 0 OR ok = 1) ORDER BY started_at DESC, id DESC LIMIT 1",
            params![job, only_ok],
            |row| {
                Ok(JobRun {
                    job: row.get("job")?,
                    slot: ts(row, "slot", "job_runs")?,
                    started_at: ts(row, "started_at", "job_runs")?,
                    finished_at: opt_ts(row, "finished_at", "job_runs")?,
                    ok: row.get("ok")?,
                    summary: row.get("summary")?,
                })
            },
        )
        .optional()?)
}
