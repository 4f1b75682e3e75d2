//! SQLite persistence. One file, WAL, one writer at a time (`BEGIN IMMEDIATE`), any number
//! of readers on their own connections (the TUI and `sqlite3` included).

pub mod backup;
pub mod browse;
pub mod erasure;
pub mod install;
pub mod jobs;
mod migrations;
pub mod offers;
pub mod outbox;
pub mod quota;
pub mod reservations;
pub mod routes;
mod row;
mod scrub;
pub mod stats;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

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
    #[error("cannot create database file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    #[error("database connection lock poisoned by an earlier panic")]
    Poisoned,
    #[error("the database could not commit the write (disk full or I/O error?); nothing was saved")]
    CommitFailed,
    /// Another connection (often another process) held the write lock past our deadline.
    #[error("the database is busy (another connection holds its write lock); nothing was saved")]
    Busy,
}

impl StoreError {
    /// SQLite's "locked by someone else" codes, whatever layer they surfaced through.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Busy => true,
            StoreError::Sql(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

/// How long a connection waits for another process's write lock before giving up; a
/// write's whole wait (queued behind our own writers, then for that lock) is bounded by
/// the store's write timeout, the same by default (`server.request_timeout_secs`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest busy timeout SQLite is handed (its API takes milliseconds in an int).
const MAX_BUSY_TIMEOUT: Duration = Duration::from_secs(3600);

/// Applied to every connection: these are per-connection settings in SQLite.
fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Riders' data: bytes freed by an UPDATE or DELETE are zeroed, not left in free
        // space where `carette forget` or retention could not reach them. Costs a little
        // CPU per write; pages are written whole anyway.
        conn.pragma_update(None, "secure_delete", "ON")?;
        // FULL: an acknowledged request survives power loss, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    // Statement and savepoint journals (every group-commit member is a savepoint) would
    // otherwise be temporary files: an open + unlink + close per commit.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

pub struct Store {
    path: PathBuf,
    writer: Mutex<Writer>,
    /// Signalled after each commit: writers waiting for their batch to be durable wake up.
    committed: Condvar,
    /// Writers waiting for the writer lock: while some are, a finished write leaves the
    /// transaction open for them, so one fsync covers the whole group (group commit).
    queued: AtomicUsize,
    readers: Mutex<Vec<Connection>>,
    read_only: bool,
    /// A write gives up with `StoreError::Busy` once it has waited this long for the lock.
    write_timeout: Duration,
}

/// The writer connection and the state of the transaction shared by a commit group.
struct Writer {
    conn: Connection,
    /// A transaction is open (BEGIN IMMEDIATE) with `pending` successful writes in it.
    open: bool,
    pending: usize,
    opened_at: Instant,
    /// Number of commits so far; a write made during generation g is durable at g + 1.
    generation: u64,
    /// Recent generations whose COMMIT failed (their writes were rolled back).
    failed: VecDeque<u64>,
}

impl Writer {
    fn new(conn: Connection) -> Writer {
        Writer {
            conn,
            open: false,
            pending: 0,
            opened_at: Instant::now(),
            generation: 0,
            failed: VecDeque::new(),
        }
    }

    /// Commits the open group; on failure rolls it back and remembers the generation.
    fn commit(&mut self) {
        if !self.open {
            return;
        }
        let ok = match self.conn.execute_batch("COMMIT") {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, writes = self.pending, "commit failed; the group is rolled back");
                let _ = self.conn.execute_batch("ROLLBACK");
                false
            }
        };
        self.open = false;
        self.pending = 0;
        self.generation += 1;
        if !ok {
            self.failed.push_back(self.generation);
            if self.failed.len() > 64 {
                self.failed.pop_front();
            }
        }
    }
}

/// A group is committed at the latest after this many writes or this long.
const GROUP_MAX_WRITES: usize = 64;
const GROUP_MAX_AGE: Duration = Duration::from_millis(4);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) and migrates to the latest schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        // Riders' names and addresses: the file is made 0600 before SQLite sees it, and
        // SQLite gives its -wal and -shm the database file's permissions.
        crate::paths::create_private_file(path).map_err(|e| StoreError::Create {
            path: path.to_owned(),
            source: e,
        })?;
        let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        configure(&conn, false).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        migrations::migrate(&mut conn, path)?;
        // Files left readable by an older version: the WAL holds the same data.
        for file in [
            path.to_owned(),
            sidecar(path, "-wal"),
            sidecar(path, "-shm"),
        ] {
            crate::paths::tighten_own_file(&file);
        }
        // SQLite's advice for long-lived connections: optimize=0x10002 at open (analyzes
        // what needs it, bounded by analysis_limit so a big table costs milliseconds),
        // then `PRAGMA optimize` periodically and at close (see `optimize`, `Drop`).
        // Statistics are an optimisation: failing to gather them is no reason not to start.
        if let Err(e) =
            conn.execute_batch("PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;")
        {
            tracing::warn!(error = %e, "PRAGMA optimize failed at open");
        }
        Ok(Store {
            path: path.to_owned(),
            writer: Mutex::new(Writer::new(conn)),
            committed: Condvar::new(),
            queued: AtomicUsize::new(0),
            readers: Mutex::new(Vec::new()),
            read_only: false,
            write_timeout: BUSY_TIMEOUT,
        })
    }

    /// Opens an existing, already migrated database without ever writing to it (the TUI's reads).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Self::read_connection(path)?;
        migrations::check_current(&conn, path)?;
        Ok(Store {
            path: path.to_owned(),
            writer: Mutex::new(Writer::new(conn)),
            committed: Condvar::new(),
            queued: AtomicUsize::new(0),
            readers: Mutex::new(Vec::new()),
            read_only: true,
            write_timeout: BUSY_TIMEOUT,
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

    /// Bounds how long one write waits for the database (`server.request_timeout_secs`).
    pub fn with_write_timeout(mut self, timeout: Duration) -> Store {
        self.write_timeout = timeout.min(MAX_BUSY_TIMEOUT);
        self
    }

    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` atomically (all of its writes or none) and returns once they are durable.
    ///
    /// Group commit: `f` runs in a savepoint of the writer's transaction. If other writers
    /// are queued, the transaction stays open for them and this call waits; the last one
    /// of the group commits, so many requests share one fsync. An `Err` from `f` rolls
    /// back its savepoint only. The transaction is `BEGIN IMMEDIATE`: another process
    /// (the TUI, a cron `jobs` run) waits for the lock instead of deadlocking on upgrade.
    ///
    /// The whole wait for the lock (behind our own writers, then behind another
    /// connection) is bounded by the write timeout; past it the call returns
    /// `StoreError::Busy` without having run `f`, so nothing is half-written.
    pub fn write<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let started = Instant::now();
        self.queued.fetch_add(1, Ordering::SeqCst);
        let locked = self.writer.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let mut w = locked.map_err(|_| StoreError::Poisoned)?;
        if !w.open {
            // What is left of this write's deadline; zero still tries the lock once.
            let left = self.write_timeout.saturating_sub(started.elapsed());
            w.conn.busy_timeout(left).map_err(StoreError::from)?;
            if let Err(e) = w.conn.execute_batch("BEGIN IMMEDIATE") {
                let e = StoreError::from(e);
                return Err(if e.is_busy() { StoreError::Busy } else { e }.into());
            }
            w.open = true;
            w.opened_at = Instant::now();
        }
        if let Err(e) = w.conn.execute_batch("SAVEPOINT write") {
            self.finish_group(&mut w);
            return Err(StoreError::from(e).into());
        }
        // A panic in `f` must not strand the writers waiting on this group.
        let out = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&w.conn))) {
            Ok(out) => out,
            Err(panic) => {
                let _ = w.conn.execute_batch("ROLLBACK TO write; RELEASE write");
                self.finish_group(&mut w);
                drop(w);
                std::panic::resume_unwind(panic);
            }
        };
        let closed = match &out {
            Ok(_) => w.conn.execute_batch("RELEASE write"),
            Err(_) => w.conn.execute_batch("ROLLBACK TO write; RELEASE write"),
        };
        if let Err(e) = closed {
            // The savepoint could not be closed: the whole group is unsafe to keep.
            let _ = w.conn.execute_batch("ROLLBACK");
            w.open = false;
            w.pending = 0;
            w.generation += 1;
            let g = w.generation;
            w.failed.push_back(g);
            self.committed.notify_all();
            return Err(StoreError::from(e).into());
        }
        if out.is_ok() {
            w.pending += 1;
        }
        let my_generation = w.generation;
        let others_coming = self.queued.load(Ordering::SeqCst) > 0;
        if !others_coming || w.pending >= GROUP_MAX_WRITES || w.opened_at.elapsed() >= GROUP_MAX_AGE
        {
            self.finish_group(&mut w);
        } else if out.is_ok() {
            // Someone queued behind us will commit the group (or hand it on).
            while w.generation == my_generation {
                w = self.committed.wait(w).map_err(|_| StoreError::Poisoned)?;
            }
        }
        let value = out?;
        if w.failed.contains(&(my_generation + 1)) {
            return Err(StoreError::CommitFailed.into());
        }
        Ok(value)
    }

    fn finish_group(&self, w: &mut Writer) {
        w.commit();
        self.committed.notify_all();
    }

    /// Runs `f` on a reader connection (a consistent snapshot when `f` uses one statement,
    /// or wrap it in a transaction for several).
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if self.read_only {
            let w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
            return f(&w.conn);
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

    /// `PRAGMA optimize` on the writer connection, between write groups.
    pub fn optimize(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        let mut w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        self.finish_group(&mut w);
        w.conn.execute_batch("PRAGMA optimize")?;
        Ok(())
    }

    /// A cheap change counter: it moves whenever another connection commits.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.read(|c: &Connection| Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?))
    }

    /// Liveness for /healthz: a fresh or pooled reader answers a query.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|c: &Connection| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    /// For /healthz: a real write through the writer (within the write timeout), rolled
    /// back so it changes nothing and wakes no reader. Taking the lock alone is not
    /// enough: on a read-only WAL database `BEGIN IMMEDIATE` succeeds and only writing a
    /// page fails. Fails on a read-only file or mount and on a lock held by another
    /// connection past the timeout.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        enum Probe {
            Written,
            Failed(StoreError),
        }
        impl From<StoreError> for Probe {
            fn from(e: StoreError) -> Probe {
                Probe::Failed(e)
            }
        }
        let written = self.write(|c: &Connection| {
            c.execute(
                "UPDATE reservation_status_counts SET n = n WHERE status = 'pending'",
                [],
            )
            .map_err(|e| Probe::Failed(e.into()))?;
            // An error rolls this write's savepoint back: nothing reaches the file.
            Err::<(), _>(Probe::Written)
        });
        match written {
            Ok(()) | Err(Probe::Written) => Ok(()),
            Err(Probe::Failed(e)) => Err(e),
        }
    }
}

/// `carette.db` → `carette.db-wal`: SQLite's names for its WAL and shared-memory files.
fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl Drop for Store {
    /// SQLite recommends `PRAGMA optimize` just before closing a connection.
    fn drop(&mut self) {
        if self.read_only {
            return;
        }
        if let Ok(w) = self.writer.get_mut() {
            w.commit();
            if let Err(e) = w.conn.execute_batch("PRAGMA optimize") {
                tracing::debug!(error = %e, "PRAGMA optimize at close failed");
            }
        }
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
