//! `carette outbox list [--failed]`, `carette outbox retry ID|--all-failed`, and the
//! delivery step of one-shot commands (`jobs`): the daemon is not always running.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;

use crate::mail::sender::OutboxSender;
use crate::service::Service;
use crate::service::outbox::RetryError;
use crate::store::outbox::{EmailStatus, OutboxEmail};
use crate::wiring::Env;

/// How long a one-shot command spends sending what is due before giving up for now.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(120);

pub fn outbox_list(config: Option<&Path>, failed: bool, limit: usize) -> anyhow::Result<ExitCode> {
    let env = Env::load(config)?;
    let service = env.open_service()?;
    let status = failed.then_some(EmailStatus::Failed);
    let rows = service.outbox_list(status, limit, 0)?;
    if rows.is_empty() {
        println!(
            "{}",
            if failed {
                "no failed email"
            } else {
                "the outbox is empty"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>6}  {:<8} {:<26} {:<32} {:>3}  {:<20} last error",
        "id", "status", "template", "to", "try", "when (UTC)"
    );
    for row in &rows {
        println!("{}", line(row));
    }
    Ok(ExitCode::SUCCESS)
}

fn line(row: &OutboxEmail) -> String {
    let when = match row.status {
        EmailStatus::Sent => row.sent_at.unwrap_or(row.next_attempt_at),
        _ => row.next_attempt_at,
    };
    let error = row.last_error.as_deref().unwrap_or("-");
    // One line per email; the full error is in the TUI's detail view.
    let error: String = error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    format!(
        "{:>6}  {:<8} {:<26} {:<32} {:>3}  {:<20} {error}",
        row.id,
        row.status.as_str(),
        row.template,
        row.recipient,
        row.attempts,
        when.format("%Y-%m-%d %H:%M:%S"),
    )
}

pub fn outbox_retry(
    config: Option<&Path>,
    id: Option<i64>,
    all_failed: bool,
) -> anyhow::Result<ExitCode> {
    let env = Env::load(config)?;
    let service = env.open_service()?;
    let now = Utc::now();
    match (id, all_failed) {
        (Some(id), false) => match service.outbox_retry(id, now) {
            Ok(()) => println!("email {id} re-queued; it is sent at the next outbox run"),
            Err(e @ (RetryError::NotFound(_) | RetryError::NotFailed { .. })) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
            Err(e) => return Err(e.into()),
        },
        (None, true) => {
            let n = service.outbox_retry_all_failed(now)?;
            println!("{n} failed email(s) re-queued");
        }
        _ => {
            eprintln!("error: give an email id or --all-failed (not both)");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the emails due now (those a job just queued included), then returns: for cron
/// setups without a daemon. A refused login leaves them queued and says what to check.
pub fn deliver_queued(env: &Env, service: &Service) -> anyhow::Result<()> {
    let secret = env.secret()?;
    let sender = OutboxSender::from_config(
        &env.config,
        &env.data_dir,
        secret.as_bytes(),
        service.clone(),
    )
    .context("cannot set up email sending")?;
    let report = sender.deliver_until_idle(Instant::now() + DELIVERY_DEADLINE)?;
    if report.claimed > 0 {
        println!(
            "emails: {} sent, {} to retry later, {} failed, {} left queued",
            report.sent, report.retried, report.failed, report.released
        );
    }
    Ok(())
}
