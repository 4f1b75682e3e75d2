//! `carette forget EMAIL`: erase one rider's personal data now (see service::retention).

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use crate::app::Env;

pub fn forget(config: Option<&Path>, email: &str) -> anyhow::Result<ExitCode> {
    let env = Env::load(config)?;
    let service = env.open_service()?;
    let r = service.forget(email, Utc::now())?;
    println!("erased {} from {}:", email.trim(), env.db_path.display());
    println!("  offers (driver)            {:>6}", r.offers);
    println!("  reservations (passenger)   {:>6}", r.reservations);
    println!("  emails rewritten           {:>6}", r.emails_rewritten);
    println!("  queued emails cancelled    {:>6}", r.emails_cancelled);
    println!("  dev-mode .eml files deleted{:>6}", r.eml_files_deleted);
    println!("statuses, seats and dates are kept: the statistics do not change.");
    if r.still_active > 0 {
        println!(
            "note: {} of these trips or requests are still active; the other riders now see \"(erased)\" instead of a name and address.",
            r.still_active
        );
    }
    if r.vacuumed {
        println!(
            "the database file was rebuilt (VACUUM) to clear copies left in free space by earlier writes."
        );
    }
    if r.wal_scrubbed {
        println!("checked: the address no longer appears in the database file nor in its WAL.");
    } else {
        println!(
            "warning: another process reading the database (Litestream, the TUI?) still holds old pages in {}-wal; SQLite overwrites them once that process lets the WAL restart (Litestream: at its next checkpoint).",
            env.db_path.display()
        );
    }
    println!(
        "backups and Litestream replicas taken before now still hold the old data until they expire."
    );
    Ok(ExitCode::SUCCESS)
}
