//! For operators and their monitoring: /healthz and /metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::{Map, Value, json};

use super::HttpState;
use super::metrics::HttpMetrics;
use super::response::{self, Resp};
use super::server::blocking;
use crate::service::ServiceError;
use crate::service::jobs::Job;

/// Health checks closer together than this share one database probe: /healthz is open
/// to anyone, and each probe takes the write lock.
const PROBE_REUSE: Duration = Duration::from_secs(1);

/// What the database probe found. The details go to the log, not to whoever asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbCheck {
    Ok,
    /// A query on a reader connection failed (file gone, unreadable, corrupt).
    Unreadable,
    /// Another connection held the write lock past `server.request_timeout_secs`.
    Busy,
    /// The write lock was refused: read-only file or mount, or another write error.
    NotWritable,
}

impl DbCheck {
    fn describe(self) -> &'static str {
        match self {
            DbCheck::Ok => "ok",
            DbCheck::Unreadable => "cannot read the database",
            DbCheck::Busy => "database locked by another connection",
            DbCheck::NotWritable => "database does not accept writes (read-only?)",
        }
    }
}

/// Every check by name, and whether it passed: the database, then each worker thread.
async fn checks(state: &Arc<HttpState>) -> Vec<(&'static str, bool, String)> {
    let db = database(state).await;
    let mut out = vec![("database", db == DbCheck::Ok, db.describe().to_owned())];
    for hb in &state.heartbeats {
        let pulse = hb.pulse();
        if !pulse.is_ok() {
            tracing::error!(thread = hb.name(), state = %pulse.describe(), "health check: worker thread not running");
        }
        out.push((hb.name(), pulse.is_ok(), pulse.describe()));
    }
    out
}

async fn database(state: &Arc<HttpState>) -> DbCheck {
    let mut cached = state.db_check.lock().await;
    if let Some((at, check)) = *cached
        && at.elapsed() < PROBE_REUSE
    {
        return check;
    }
    let service = state.service.clone();
    let check = blocking(move || {
        if let Err(e) = service.ping() {
            tracing::error!(error = %e, "health check: cannot read the database");
            return DbCheck::Unreadable;
        }
        match service.probe_write() {
            Ok(()) => DbCheck::Ok,
            Err(ServiceError::Store(e)) if e.is_busy() => {
                tracing::error!(error = %e, "health check: database busy");
                DbCheck::Busy
            }
            Err(e) => {
                tracing::error!(error = %e, "health check: database does not accept writes");
                DbCheck::NotWritable
            }
        }
    })
    .await
    .unwrap_or(DbCheck::NotWritable);
    *cached = Some((Instant::now(), check));
    check
}

/// 200 only when the database accepts a write and every worker thread beats; otherwise
/// 503. Either way a JSON body names each check: `{"status", "failed": [...], "checks": {...}}`.
pub async fn health(state: &Arc<HttpState>) -> Resp {
    let checks = checks(state).await;
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(name, _, _)| *name)
        .collect();
    let detail: Map<String, Value> = checks
        .iter()
        .map(|(name, _, what)| ((*name).to_owned(), Value::from(what.as_str())))
        .collect();
    let (status, word) = if failed.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    response::json(
        status,
        &json!({ "status": word, "failed": failed, "checks": detail }),
    )
}

pub async fn metrics(state: &Arc<HttpState>) -> Resp {
    let checks = checks(state).await;
    let service = state.service.clone();
    let now = state.now();
    let figures = blocking(move || {
        let stats = service.stats(now)?;
        let mut jobs = Vec::with_capacity(Job::ALL.len());
        for job in Job::ALL {
            jobs.push((job, service.last_job_run(job)?));
        }
        Ok::<_, crate::service::ServiceError>((stats, jobs))
    })
    .await;
    match figures {
        Ok(Ok((stats, jobs))) => {
            let mut body = state.metrics.render(&stats, &jobs);
            HttpMetrics::render_db_writer(&mut body, state.service.db_writer_stats());
            let gauges: Vec<(&str, bool)> = checks.iter().map(|(n, ok, _)| (*n, *ok)).collect();
            HttpMetrics::render_health(&mut body, &gauges);
            response::with_body(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                body,
            )
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "metrics: cannot compute the figures");
            response::text(StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
        Err(status) => response::text(status, "error\n"),
    }
}
