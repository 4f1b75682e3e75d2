//! `carette`: the command line. Each command is one function; errors become exit codes here
//! (0 success, 1 runtime failure, 2 usage or configuration error).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use carette::cli;

#[derive(Debug, Parser)]
#[command(
    name = "carette",
    version,
    about = "Carpool seat reservations by email: daemon, operator TUI and tools"
)]
struct Cli {
    /// Config file (default: $CARETTE_CONFIG, then the platform config dir, then built-in defaults)
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: HTTP API and link pages, scheduled jobs, email outbox
    Serve,
    /// Operator terminal UI: live reservations, figures, outbox, SMTP test
    Tui,
    /// Apply database migrations and exit
    Migrate,
    /// Print the monitoring figures (reservations by status, acceptance rate, emails sent today)
    Stats {
        /// One JSON object instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Write a config file with a fresh random secret (refuses to overwrite)
    Init,
    /// Send the SMTP test email now; exit 0 only if the server accepted it
    TestEmail {
        /// Recipient of the test email
        #[arg(long, value_name = "ADDR")]
        to: String,
    },
    /// Inspect or retry the email outbox
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Check or preview email templates (an `email.templates_dir` override folder)
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
    /// Run scheduled jobs once (for cron or by hand)
    Jobs {
        #[arg(value_enum)]
        which: cli::JobsArg,
    },
    /// Consistent online copy of the database (mode 0600), checked before success
    Backup {
        /// The new file (an existing file is never overwritten)
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Erase one rider's personal data now (RGPD); statuses and dates are kept
    Forget {
        /// The rider's email address (case does not matter)
        #[arg(value_name = "EMAIL")]
        email: String,
    },
    /// Doctor: config, database, permissions, disk, SMTP login, OSRM, base_url; exit 0 if all pass
    Check,
}

#[derive(Debug, Subcommand)]
enum TemplatesCommand {
    /// Check an override folder: every file parses, names only known variables and renders
    /// in every language; prints file:line errors and exits 1 if any
    Check {
        /// The folder (default: email.templates_dir of the config)
        dir: Option<PathBuf>,
    },
    /// Write every email in every language, with sample data, as .html, .txt and .eml
    Preview {
        /// Output folder (created if needed)
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// List emails, newest first
    List {
        /// Only the failed ones
        #[arg(long)]
        failed: bool,
        /// How many to show
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Re-queue a failed email (or all of them) for an immediate attempt
    Retry {
        /// The email id (see `outbox list`)
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<i64>,
        #[arg(long)]
        all_failed: bool,
    },
}

fn tui(config: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let env = carette::wiring::Env::load(config)?;
    carette::tui::run(&env)?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // Before any thread or database connection exists.
    carette::store::configure_process();
    let cli = Cli::parse();
    cli::init_logging();
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Serve => cli::serve(config),
        Command::Tui => tui(config),
        Command::Migrate => cli::migrate(config),
        Command::Stats { json } => cli::stats(config, json),
        Command::Init => cli::init(config),
        Command::Jobs { which } => cli::jobs(config, which),
        Command::TestEmail { to } => cli::test_email(config, &to),
        Command::Templates { command } => match command {
            TemplatesCommand::Check { dir } => cli::templates_check(config, dir.as_deref()),
            TemplatesCommand::Preview { dir } => cli::templates_preview(config, &dir),
        },
        Command::Backup { path } => cli::backup(config, &path),
        Command::Forget { email } => cli::forget(config, &email),
        Command::Check => cli::check(config),
        Command::Outbox { command } => match command {
            OutboxCommand::List { failed, limit } => cli::outbox_list(config, failed, limit),
            OutboxCommand::Retry { id, all_failed } => cli::outbox_retry(config, id, all_failed),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
