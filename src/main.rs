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
    /// Run scheduled jobs once (for cron or by hand)
    Jobs {
        #[arg(value_enum)]
        which: cli::JobsArg,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging();
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Migrate => cli::migrate(config),
        Command::Stats { json } => cli::stats(config, json),
        Command::Init => cli::init(config),
        Command::Jobs { which } => cli::jobs(config, which),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
