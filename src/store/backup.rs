//! `carette backup`: a consistent copy of the live database through SQLite's online
//! backup API, taken in ONE step. In WAL mode the step reads one snapshot while the daemon
//! keeps writing (readers never block the writer); a step-by-step copy would restart each
//! time the daemon commits and might never finish under load.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} already exists: choose a new file name (a backup never overwrites)", path.display())]
    Exists { path: PathBuf },
    #[error("database {} does not exist: nothing to back up (check database.path)", path.display())]
    NoDatabase { path: PathBuf },
    #[error("cannot create {}: {error}", path.display())]
    Create {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read database {}: {error}", path.display())]
    Source {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error("copying into {} failed: {error}", path.display())]
    Copy {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error("the database stayed busy for {0:?}; try again (or stop the writer)")]
    Busy(Duration),
    #[error("the copy {} failed its integrity check ({report}); it was deleted", path.display())]
    Corrupt { path: PathBuf, report: String },
}

impl BackupError {
    /// 2 when the operator must pick another destination, 1 for runtime failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            BackupError::Exists { .. } => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub bytes: u64,
    pub reservations: i64,
    pub emails: i64,
    pub elapsed: Duration,
}

/// How long a locked source (another process checkpointing or migrating) is waited for.
const BUSY_PATIENCE: Duration = Duration::from_secs(30);

/// Copies `source` into the new file `dest` (mode 0600), then checks the copy with
/// `PRAGMA integrity_check`. On any failure the partial copy is removed.
pub fn backup(source: &Path, dest: &Path) -> Result<BackupReport, BackupError> {
    let started = Instant::now();
    if !source.is_file() {
        return Err(BackupError::NoDatabase {
            path: source.to_owned(),
        });
    }
    // create_new: refuses an existing file atomically, and the mode is set at creation so
    // riders' data is never readable by others, not even for a moment.
    match crate::paths::write_new_private(dest, b"") {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists {
                path: dest.to_owned(),
            });
        }
        Err(error) => {
            return Err(BackupError::Create {
                path: dest.to_owned(),
                error,
            });
        }
    }
    let result = copy_and_check(source, dest, started);
    if result.is_err() {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(sibling(dest, suffix));
        }
    }
    result
}

fn copy_and_check(
    source: &Path,
    dest: &Path,
    started: Instant,
) -> Result<BackupReport, BackupError> {
    let src_err = |error| BackupError::Source {
        path: source.to_owned(),
        error,
    };
    let copy_err = |error| BackupError::Copy {
        path: dest.to_owned(),
        error,
    };
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(src_err)?;
    src.busy_timeout(Duration::from_secs(5)).map_err(src_err)?;
    let mut dst = Connection::open(dest).map_err(copy_err)?;
    {
        let backup = Backup::new(&src, &mut dst).map_err(copy_err)?;
        loop {
            // -1: every page in one step, from one read snapshot.
            match backup.step(-1).map_err(copy_err)? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    if started.elapsed() > BUSY_PATIENCE {
                        return Err(BackupError::Busy(BUSY_PATIENCE));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    let report: Vec<String> = {
        let mut stmt = dst.prepare("PRAGMA integrity_check").map_err(copy_err)?;
        stmt.query_map([], |r| r.get(0))
            .map_err(copy_err)?
            .collect::<Result<_, _>>()
            .map_err(copy_err)?
    };
    if report != ["ok"] {
        return Err(BackupError::Corrupt {
            path: dest.to_owned(),
            report: report.join("; "),
        });
    }
    let count = |table: &str| -> Result<i64, BackupError> {
        // Counted in the copy: the figures describe what was saved, not the live file.
        dst.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .or_else(|e| match e {
                // A database never migrated has no tables yet: nothing was saved.
                rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
                    Ok(0)
                }
                e => Err(e),
            })
            .map_err(copy_err)
    };
    let reservations = count("carpool_reservations")?;
    let emails = count("outbox")?;
    // Closing checkpoints the copy's WAL back into the one file the operator asked for.
    dst.close().map_err(|(_, error)| copy_err(error))?;
    let bytes = std::fs::metadata(dest)
        .map_err(|error| BackupError::Create {
            path: dest.to_owned(),
            error,
        })?
        .len();
    Ok(BackupReport {
        bytes,
        reservations,
        emails,
        elapsed: started.elapsed(),
    })
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
