//! The operator commands behind `carette <command>`.

mod backup;
mod check;
mod forget;
mod outbox;
mod stats;
mod templates;
mod test_email;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;

use crate::app::{AppError, Env};
use crate::service::jobs::Job;

pub use backup::backup;
pub use check::check;
pub use forget::forget;
pub use outbox::{deliver_queued, outbox_list, outbox_retry};
pub use stats::stats;
pub use templates::{templates_check, templates_preview};
pub use test_email::test_email;

/// Logs go to stderr (stdout is for command output such as `stats --json`); RUST_LOG overrides.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .try_init();
}

/// Maps an error chain to the documented exit codes.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(app) = cause.downcast_ref::<AppError>() {
            return app.exit_code();
        }
        if cause.downcast_ref::<crate::config::ConfigError>().is_some() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<crate::store::backup::BackupError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<crate::service::forget::ForgetError>() {
            return e.exit_code();
        }
        // Pointing `init` at a file that exists is a usage mistake, not a failure.
        if let Some(crate::init::InitError::Exists { .. }) = cause.downcast_ref() {
            return 2;
        }
    }
    1
}

pub fn serve(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let env = Env::load(config)?;
    crate::daemon::serve(&env)?;
    Ok(ExitCode::SUCCESS)
}

pub fn migrate(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let env = Env::load(config)?;
    let service = env.open_service()?;
    println!(
        "database {} is at schema version {}",
        service.store().path().display(),
        crate::store::latest_version()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn init(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    // The same lookup as every other command, so `init` writes where they will read.
    let from_env = std::env::var_os(crate::config::CONFIG_ENV_VAR).filter(|v| !v.is_empty());
    let path = match (config, from_env) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => std::path::PathBuf::from(p),
        (None, None) => crate::paths::AppPaths::discover()
            .map_err(AppError::from)?
            .config_file(),
    };
    crate::init::write_initial_config(&path)?;
    println!(
        "wrote {} (mode 0600) with a fresh secret; edit its [smtp] section next",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum JobsArg {
    Expire,
    Reminders,
    All,
}

pub fn jobs(config: Option<&Path>, which: JobsArg) -> anyhow::Result<ExitCode> {
    let env = Env::load(config)?;
    let service = env.open_service()?;
    let jobs: &[Job] = match which {
        JobsArg::Expire => &[Job::Expire],
        JobsArg::Reminders => &[Job::Reminders],
        JobsArg::All => &Job::ALL,
    };
    for job in jobs {
        let report = service
            .run_job(*job, Utc::now())
            .with_context(|| format!("job {} failed", job.as_str()))?;
        println!("{}: {}", job.as_str(), report.describe(*job));
    }
    // Without a daemon (cron setups), nobody else would send what the jobs queued.
    deliver_queued(&env, &service)?;
    Ok(ExitCode::SUCCESS)
}
