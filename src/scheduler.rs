//! The daemon's scheduler: a clokwerk scheduler in UTC on its own thread, ticking every
//! minute. Each tick asks the service whether each job's current slot is covered yet
//! (`job_runs` + local time in `jobs.timezone`), so DST days, catch-up after downtime and
//! the CLI's one-shot runs all follow the same rule. A failing or panicking job is logged
//! and the next tick runs as usual.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clokwerk::TimeUnits;

use crate::heartbeat::Heartbeat;
use crate::service::Service;
use crate::service::jobs::{Job, JobReport};
use crate::signal::Signal;

/// A periodic task besides the two jobs (e.g. route recalculation retries), run every tick.
pub type TickTask = Box<dyn FnMut(DateTime<Utc>) + Send>;

#[derive(Debug, Clone, PartialEq)]
pub enum TickOutcome {
    NotDue,
    Ran(JobReport),
    Failed(String),
}

/// One tick: runs every job whose slot is not covered at `now`. Never panics.
pub fn tick(service: &Service, now: DateTime<Utc>) -> Vec<(Job, TickOutcome)> {
    Job::ALL
        .into_iter()
        .map(|job| {
            let outcome = match catch_unwind(AssertUnwindSafe(|| service.run_job_if_due(job, now))) {
                Ok(Ok(None)) => TickOutcome::NotDue,
                Ok(Ok(Some(report))) => {
                    tracing::info!(job = job.as_str(), "{}", report.describe(job));
                    TickOutcome::Ran(report)
                }
                Ok(Err(e)) => {
                    tracing::error!(job = job.as_str(), error = %e, "scheduled job failed; it will be retried at the next tick");
                    TickOutcome::Failed(e.to_string())
                }
                Err(panic) => {
                    let msg = panic_message(&panic);
                    tracing::error!(job = job.as_str(), panic = %msg, "scheduled job panicked; it will be retried at the next tick");
                    TickOutcome::Failed(format!("panic: {msg}"))
                }
            };
            (job, outcome)
        })
        .collect()
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Starts the scheduler thread. It ticks once right away (catch-up after downtime), then
/// every minute, until `shutdown` is set (and `wake` notified to cut the wait short).
/// It beats `heartbeat` every second or so (and after each run of the jobs).
pub fn spawn(
    service: Service,
    mut tasks: Vec<TickTask>,
    shutdown: Arc<AtomicBool>,
    wake: Arc<Signal>,
    heartbeat: Arc<Heartbeat>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || {
            let _alive = heartbeat.running();
            let mut run_all = move || {
                let now = Utc::now();
                tick(&service, now);
                for task in &mut tasks {
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| task(now))) {
                        tracing::error!(panic = %panic_message(&p), "scheduled task panicked");
                    }
                }
            };
            run_all();
            // clokwerk in UTC: `Scheduler::new()` would use local time and panic on DST days.
            let mut scheduler = clokwerk::Scheduler::with_tz(chrono::Utc);
            scheduler.every(1.minute()).run(run_all);
            while !shutdown.load(Ordering::SeqCst) {
                heartbeat.beat();
                scheduler.run_pending();
                wake.wait(Duration::from_secs(1));
            }
            tracing::info!("scheduler stopped");
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_readable() {
        let p = catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(&p), "boom 1");
    }
}
