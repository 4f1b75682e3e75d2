//! SQLite persistence. One file, WAL, one writer at a time (`BEGIN IMMEDIATE`), any number
//! of readers on their own connections (the TUI and `sqlite3` included).

pub mod backup;
pub mod browse;
pub mod erasure;
pub mod inspect;
pub mod install;
pub mod itinerary;
pub mod jobs;
mod migrations;
pub mod offers;
pub mod outbox;
pub mod quota;
pub mod reservations;
mod row;
mod scrub;
pub mod stats;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

pub use migrations::{MIGRATIONS, latest_version};
pub use writer::WriterStats;

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
    #[error("this database was opened read-only; nothing can be written through it")]
    ReadOnly,
    #[error("the database writer has stopped; nothing was saved")]
    WriterStopped,
    #[error("the database could not start a write: {0}")]
    WriteFailed(String),
    #[error("the database could not commit the write (disk full or I/O error?); nothing was saved")]
    CommitFailed,
    /// Another connection (often another process) held the write lock past our deadline.
    #[error("the database is busy (another connection holds its write lock); nothing was saved")]
    Busy,
}

impl StoreError {
    /// The query was stopped through a [`QueryInterrupt`].
    pub fn is_interrupted(&self) -> bool {
        matches!(self, StoreError::Sql(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::OperationInterrupted)
    }

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

/// Longest write timeout, and busy timeout SQLite is handed (its API takes milliseconds
/// in an int).
const MAX_BUSY_TIMEOUT: Duration = Duration::from_secs(3600);

/// Reservations an outside process (or a daemon under load, between two of its index
/// batches) queued for the search index: searchable from now on. One transaction, so a
/// crash never leaves rows both indexed and still queued, and an IMMEDIATE one: a deferred
/// transaction that reads the queue and then writes gets SQLITE_BUSY at once, without
/// waiting, whenever the daemon's writer committed meanwhile (`carette forget` under load
/// failed that way). The queue is looked at first so that opening an idle store never
/// waits for the write lock.
fn index_queued_reservations(conn: &mut Connection) -> Result<(), StoreError> {
    let queued: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM reservation_search_pending)",
        [],
        |r| r.get(0),
    )?;
    if queued {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        browse::index_queued_reservations(&tx, 1)?;
        tx.commit()?;
    }
    Ok(())
}

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
        // (The writer thread's connection commits at NORMAL and fsyncs the WAL itself
        // before answering: the same guarantee, see `writer`.)
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    // Statement and savepoint journals (every group-commit member is a savepoint) would
    // otherwise be temporary files: an open + unlink + close per commit.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Process-wide SQLite settings, for `main` to call before anything opens a database
/// (SQLite accepts them only then, and no other thread may use SQLite meanwhile).
///
/// Turns off SQLite's memory statistics: with them on, every allocation and free takes a
/// global mutex, 6 % of the writer thread's samples under load; Carette never reads them.
/// Returns false when SQLite was already initialised and kept its settings.
pub fn configure_process() -> bool {
    // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. sqlite3_config is not thread-safe;
    // the caller runs it first thing in `main`, before any thread or connection exists.
    // Once SQLite is initialised it only returns SQLITE_MISUSE.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int)
    };
    rc == rusqlite::ffi::SQLITE_OK
}

pub struct Store {
    path: PathBuf,
    /// Jobs for the writer thread (see `writer`); `None` for a read-only store.
    jobs: Option<mpsc::Sender<Box<dyn writer::Job>>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    writer_stats: Arc<WriterStats>,
    /// A read-only store's one connection, shared by its reads.
    own_reader: Option<Mutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    read_only: bool,
    /// A write gives up with `StoreError::Busy` once it has waited this long for the lock.
    write_timeout: Duration,
}

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
        index_queued_reservations(&mut conn)?;
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
        // Statistics are an optimisation: failing to gather them is no reason not to start,
        // nor is another process's write lock a reason to wait (a CLI command would stall
        // for the whole busy timeout behind a daemon's long write); the periodic run
        // catches up.
        let optimized = conn.busy_timeout(Duration::ZERO).and_then(|()| {
            conn.execute_batch("PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;")
        });
        if let Err(e) = optimized.map_err(StoreError::from) {
            if e.is_busy() {
                tracing::debug!(
                    "PRAGMA optimize skipped at open: another process holds the write lock"
                );
            } else {
                tracing::warn!(error = %e, "PRAGMA optimize failed at open");
            }
        }
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(Store::on(path, conn, false))
    }

    /// Opens an existing, already migrated database without ever writing to it (the TUI's reads).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Self::read_connection(path)?;
        migrations::check_current(&conn, path)?;
        Ok(Store::on(path, conn, true))
    }

    /// A read-only store reads on its one connection; a read-write one hands `conn` to
    /// its writer thread and reads on pooled connections of its own.
    fn on(path: &Path, conn: Connection, read_only: bool) -> Store {
        let mut store = Store {
            path: path.to_owned(),
            jobs: None,
            writer_thread: None,
            writer_stats: Arc::default(),
            own_reader: None,
            readers: Mutex::new(Vec::new()),
            read_only,
            write_timeout: BUSY_TIMEOUT,
        };
        if read_only {
            store.own_reader = Some(Mutex::new(conn));
            return store;
        }
        let (jobs, queue) = mpsc::channel();
        let stats = store.writer_stats.clone();
        let db = path.to_owned();
        let spawned = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::run(conn, db, queue, stats));
        match spawned {
            Ok(thread) => {
                store.jobs = Some(jobs);
                store.writer_thread = Some(thread);
            }
            // Writes then fail with WriterStopped; reads still work.
            Err(e) => tracing::error!(error = %e, "cannot start the database writer thread"),
        }
        store
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

    /// Commits, writes and busy time of the writer thread so far.
    pub fn writer_stats(&self) -> &WriterStats {
        &self.writer_stats
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` atomically (all of its writes or none) and returns once they are durable.
    ///
    /// `f` runs on the writer thread, in a savepoint of a transaction shared with the
    /// other writes waiting at that moment: one fsync commits them all (group commit), and
    /// an `Err` from `f` (or a panic, re-raised here) rolls back its own savepoint only.
    /// The transaction is `BEGIN IMMEDIATE`: another process (the TUI, a cron `jobs` run)
    /// waits for the lock instead of deadlocking on upgrade.
    ///
    /// The whole wait (behind our own writers, then for another connection's lock) is
    /// bounded by the write timeout; past it the call returns `StoreError::Busy` without
    /// having run `f`, so nothing is half-written.
    pub fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_blocking(f, writer::Mode::Savepoint)
    }

    /// [`Store::write`] for a closure that returns every refusal before its first change
    /// (rules checked, then writes): it runs without a savepoint of its own, which spares
    /// copying each page it touches. Should it fail after a change all the same (an I/O
    /// error), the whole group it shared a transaction with is rolled back, and each of
    /// those writes fails: nothing is half-written, but others pay for it. Keep it to
    /// closures whose late errors can only come from SQLite.
    pub fn write_checks_first<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_blocking(f, writer::Mode::ChecksFirst)
    }

    /// Runs `f` on the writer connection between groups, outside any transaction.
    pub(crate) fn write_alone<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_blocking(f, writer::Mode::Alone)
    }

    fn write_blocking<T, E, F>(&self, f: F, mode: writer::Mode) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(f, writer::Reply::Blocking(tx), mode)?;
        match rx.recv() {
            Ok(answer) => writer::unwrap_answer(answer),
            Err(_) => Err(StoreError::WriterStopped.into()),
        }
    }

    /// [`Store::write`] for async callers: the task waits without holding a thread.
    pub async fn write_async<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_async_in(f, writer::Mode::Savepoint).await
    }

    /// [`Store::write_checks_first`] for async callers.
    pub async fn write_checks_first_async<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_async_in(f, writer::Mode::ChecksFirst).await
    }

    async fn write_async_in<T, E, F>(&self, f: F, mode: writer::Mode) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, writer::Reply::Async(tx), mode)?;
        match rx.await {
            Ok(answer) => writer::unwrap_answer(answer),
            Err(_) => Err(StoreError::WriterStopped.into()),
        }
    }

    fn submit<T, E, F>(
        &self,
        f: F,
        reply: writer::Reply<T, E>,
        mode: writer::Mode,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let Some(jobs) = &self.jobs else {
            return Err(if self.read_only {
                StoreError::ReadOnly
            } else {
                StoreError::WriterStopped
            });
        };
        let job = writer::WriteJob {
            f: Some(f),
            out: None,
            reply,
            deadline: Instant::now() + self.write_timeout,
            mode,
        };
        jobs.send(Box::new(job))
            .map_err(|_| StoreError::WriterStopped)
    }

    /// Runs `f` on a reader connection (a consistent snapshot when `f` uses one statement,
    /// or wrap it in a transaction for several).
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if let Some(own) = &self.own_reader {
            let conn = own.lock().map_err(|_| StoreError::Poisoned)?;
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

    /// `PRAGMA optimize` on the writer connection.
    pub fn optimize(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        self.write(|c: &Connection| Ok(c.execute_batch("PRAGMA optimize")?))
    }

    /// A cheap change counter: it moves whenever another connection commits.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.read(|c: &Connection| Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?))
    }

    /// Liveness for /healthz: a fresh or pooled reader answers a query.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|c: &Connection| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    /// The page cache of the read connection(s), for a reader that scatters over many rows.
    pub fn set_cache_kib(&self, kib: i64) -> Result<(), StoreError> {
        self.read(|c: &Connection| Ok(c.pragma_update(None, "cache_size", -kib)?))
    }

    /// A handle that stops whatever query runs on the read connection. Meant for a
    /// read-only store, whose one connection every read uses.
    pub fn interrupt_handle(&self) -> Result<QueryInterrupt, StoreError> {
        self.read(|c: &Connection| Ok(QueryInterrupt(c.get_interrupt_handle())))
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

/// Cuts short the query running on one connection, from another thread; that query fails
/// with an error for which [`StoreError::is_interrupted`] holds.
pub struct QueryInterrupt(rusqlite::InterruptHandle);

impl QueryInterrupt {
    pub fn interrupt(&self) {
        self.0.interrupt();
    }
}

impl std::fmt::Debug for QueryInterrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueryInterrupt")
    }
}

/// `carette.db` → `carette.db-wal`: SQLite's names for its WAL and shared-memory files.
fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl Drop for Store {
    /// Closing the channel lets the writer thread finish the jobs already sent, run
    /// `PRAGMA optimize` and close its connection; waiting for it keeps "the store is
    /// dropped" meaning "the file is closed".
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.writer_thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the database writer thread panicked");
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
