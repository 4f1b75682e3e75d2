//! `carette backup PATH`: a consistent copy of the live database (see store::backup).

use std::path::Path;
use std::process::ExitCode;

use crate::app::Env;
use crate::store::backup;

pub fn backup(config: Option<&Path>, dest: &Path) -> anyhow::Result<ExitCode> {
    let env = Env::load(config)?;
    let r = backup::backup(&env.db_path, dest)?;
    {
        {
            println!(
                "backed up {} to {} ({}, mode 0600) in {:.1} s: {} reservation(s), {} email(s) in the outbox; integrity_check ok",
                env.db_path.display(),
                dest.display(),
                human_size(r.bytes),
                r.elapsed.as_secs_f64(),
                r.reservations,
                r.emails,
            );
            println!(
                "to restore: stop the daemon, copy this file over {} (and delete any {}-wal and {}-shm next to it), start the daemon",
                env.db_path.display(),
                env.db_path.display(),
                env.db_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {} = {bytes} bytes", UNITS[unit])
    }
}
