//! SQLite persistence. One file, WAL, one writer at a time (`BEGIN IMMEDIATE`), any number
//! of readers on their own connections (the TUI and `sqlite3` included).

pub mod browse;
pub mod jobs;
mod migrations;
pub mod offers;
pub mod outbox;
pub mod reservations;
pub mod routes;
pub mod stats;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use migrations::{MIGRATIONS, latest_version};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} was written by a newer Carette (schema version {found}, this binary knows up to {known}); upgrade Carette instead of downgrading the database"
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error(
        "database {path} has no Carette schema yet; run `carette migrate` (or start the daemon) first"
    )]
    NotMigrated { path: PathBuf },
    #[error("migrating database {path}: {message}")]
    Migration { path: PathBuf, message: String },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    #[error("database connection lock poisoned by an earlier panic")]
    Poisoned,
}

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Applied to every connection: these are per-connection settings in SQLite.
fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: an acknowledged request survives power loss, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    Ok(())
}

pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    read_only: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) and migrates to the latest schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        configure(&conn, false).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        migrations::migrate(&mut conn, path)?;
        Ok(Store {
            path: path.to_owned(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            read_only: false,
        })
    }

    /// Opens an existing, already migrated database without ever writing to it (the TUI's reads).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Self::read_connection(path)?;
        migrations::check_current(&conn, path)?;
        Ok(Store {
            path: path.to_owned(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            read_only: true,
        })
    }

    fn read_connection(path: &Path) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        configure(&conn, true).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in ONE immediate write transaction; commits only if `f` returns Ok.
    /// Immediate: take the write lock up front so two processes never deadlock on upgrade.
    pub fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let out = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs `f` on a reader connection (a consistent snapshot when `f` uses one statement,
    /// or wrap it in a transaction for several).
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if self.read_only {
            let conn = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
            return f(&conn);
        }
        let pooled = self.readers.lock().map_err(|_| StoreError::Poisoned)?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => Self::read_connection(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < 8
        {
            pool.push(conn);
        }
        out
    }

    /// A cheap change counter: it moves whenever another connection commits.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.read(|c: &Connection| Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?))
    }

    /// Liveness for /healthz.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|c: &Connection| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }
}

/// Fresh random hex, for Message-IDs.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // Uniqueness, not secrecy, is what matters here; fall back to the clock.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{nanos:x}");
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
