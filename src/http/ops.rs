//! For operators and their monitoring: /healthz and /metrics.

use std::sync::Arc;

use hyper::StatusCode;

use super::HttpState;
use super::response::{self, Resp};
use super::server::blocking;
use crate::service::jobs::Job;

/// 200 when the database answers a query, 503 otherwise (the reason goes to the log,
/// not to whoever asks).
pub async fn health(state: &Arc<HttpState>) -> Resp {
    let service = state.service.clone();
    match blocking(move || service.ping()).await {
        Ok(Ok(())) => response::text(StatusCode::OK, "ok\n"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "health check: database unavailable");
            response::text(StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
        Err(status) => response::text(status, "error\n"),
    }
}

pub async fn metrics(state: &Arc<HttpState>) -> Resp {
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
        Ok(Ok((stats, jobs))) => response::with_body(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(&stats, &jobs),
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "metrics: cannot compute the figures");
            response::text(StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
        Err(status) => response::text(status, "error\n"),
    }
}
