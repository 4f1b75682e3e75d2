//! The writer thread: the one connection that writes, fed by a channel.
//!
//! Every write is a job sent to this thread. It takes all the jobs waiting (up to
//! [`GROUP_MAX_WRITES`]), runs each in its own savepoint of one `BEGIN IMMEDIATE`
//! transaction, keeps taking jobs that arrived meanwhile, then commits once: one fsync for
//! the whole group (group commit), and only then answers each job. A caller never touches
//! the connection, so a request costs two thread hand-offs (to this thread and back) and
//! no lock convoy, however many requests are in flight.
//!
//! The fsync is pipelined: the connection commits with `synchronous = NORMAL` (the WAL
//! frames reach the OS, not the disk), and a syncer thread fsyncs the WAL file before it
//! answers the group's jobs, while this thread already runs the next group. A job is
//! answered only once its commit is on disk, exactly as with `synchronous = FULL` (whose
//! WAL commit is the same fsync of the same file, done inside the write lock); what
//! changes is that the next group does not wait for the disk. Checkpoints keep NORMAL's
//! own syncs (the WAL before, the database file after).
//!
//! Checkpoints (copying the WAL back into the database file, two fsyncs) run on a third
//! thread with its own connection, PASSIVE like SQLite's automatic ones, at most every
//! [`durability::CHECKPOINT_EVERY`] while commits come: a checkpoint inside a COMMIT stalled every
//! request of the groups behind it. The writer's own automatic checkpoint stays as a
//! backstop at [`durability::BACKSTOP_CHECKPOINT_PAGES`], should the checkpointer fall behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use rusqlite::Connection;

use super::{MAX_BUSY_TIMEOUT, StoreError};

mod durability;
mod search_upkeep;
mod sizing;

use durability::{
    BACKSTOP_CHECKPOINT_PAGES, finish_checkpoint, run_checkpointer, run_syncer, sync_and_answer,
};
use search_upkeep::{INDEX_WHEN_IDLE_FOR, SearchUpkeep};
use sizing::GROUP_MAX_WRITES;
use sizing::GroupSizer;

/// What the writer thread has done since the store opened, for /metrics.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Group transactions committed with at least one write in them.
    pub commits: AtomicU64,
    /// Writes committed in them (a write that failed or was rolled back is not counted).
    pub writes: AtomicU64,
    /// Time spent running groups, commit included.
    pub busy_nanos: AtomicU64,
}

/// The writer connection's page cache (SQLite's default is 2 MiB). Each seat request
/// touches leaves of indexes on random keys (addresses); once the database outgrew the
/// default cache, the writer re-read them from the OS on every request (10 % of its time
/// after 20 s of load, when throughput had dropped by a quarter). Measured under that load
/// (4 windows of 5 s): 2 MiB 9.5k -> 7.3k req/s, p99 23 ms in the last window; 8 MiB
/// 9.1k -> 7.9k, p99 15 ms; 16 and 64 MiB no better. Readers keep the default.
const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// The writer reads the database through a memory map of up to this size (SQLite still
/// writes with `pwrite`). A grown database's index and search-index pages then cost a page
/// fault the first time instead of a `pread` and a copy each time its 8 MiB cache misses them.
/// Measured with `bench/vs_ceiling.sh 32 3 none` (3 runs each, interleaved): third round
/// 10.0-10.4k req/s, p99 18.5-21 ms mapped; 9.7-9.8k, p99 23.8-24.2 ms not. The cost: the
/// mapped pages count in the daemon's RSS (file pages the kernel reclaims at will, not heap),
/// and an I/O error while reading the file is a SIGBUS rather than an SQLite error.
const WRITER_MMAP_BYTES: i64 = 1 << 30;

/// How a job's transaction ended, as far as this job is concerned.
pub(super) enum End {
    /// Its transaction committed: its writes (if it succeeded) are durable.
    Committed,
    /// The COMMIT (or the transaction around it) failed: its writes were rolled back.
    Lost(StoreError),
    /// It never ran: the write lock was not had before its deadline.
    Busy,
}

/// A write waiting for the writer thread.
pub(super) trait Job: Send {
    /// After this instant the job is not run any more, and ends `Busy`.
    fn deadline(&self) -> Instant;
    /// Runs the write; true when it succeeded and its savepoint is to be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the outcome once the transaction that held it has ended.
    fn finish(self: Box<Self>, end: End);
    fn mode(&self) -> Mode;
}

/// How a write runs on the writer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// In the group's transaction, inside a savepoint of its own: its failure rolls back
    /// its own writes only.
    Savepoint,
    /// In the group's transaction without a savepoint, for a write that returns every
    /// refusal before its first change. A savepoint copies each page the write touches
    /// into the statement journal (a tenth of the writer's time on the seat request);
    /// without one, a failure that comes after a change (an I/O error) cannot be undone
    /// alone, so the whole group is rolled back and every write in it fails.
    ChecksFirst,
    /// On the bare connection between groups, outside any transaction (VACUUM, the WAL
    /// scrub, an erasure that must be a transaction of its own).
    Alone,
}

/// The answer a writer receives: its closure's result, or the panic it raised.
pub(super) type Answer<T, E> = std::thread::Result<Result<T, E>>;

/// Where the answer goes: a blocked thread or an awaiting task.
pub(super) enum Reply<T, E> {
    Blocking(mpsc::SyncSender<Answer<T, E>>),
    Async(tokio::sync::oneshot::Sender<Answer<T, E>>),
}

impl<T, E> Reply<T, E> {
    fn send(self, answer: Answer<T, E>) {
        // A caller that went away (a dropped request) no longer wants its answer.
        let _ = match self {
            Reply::Blocking(tx) => tx.send(answer).map_err(drop),
            Reply::Async(tx) => tx.send(answer).map_err(drop),
        };
    }
}

/// A closure and where its answer goes.
pub(super) struct WriteJob<F, T, E> {
    pub f: Option<F>,
    pub out: Option<Answer<T, E>>,
    pub reply: Reply<T, E>,
    pub deadline: Instant,
    pub mode: Mode,
}

impl<F, T, E> Job for WriteJob<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        // A panic in one write rolls back that write only; the caller re-raises it.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
        let ok = matches!(out, Ok(Ok(_)));
        self.out = Some(out);
        ok
    }

    fn finish(self: Box<Self>, end: End) {
        let answer = match (end, self.out) {
            (End::Busy, _) | (_, None) => Ok(Err(StoreError::Busy.into())),
            (End::Committed, Some(out)) => out,
            // Its own error or panic says more than the lost commit it would have been in.
            (End::Lost(_), Some(Ok(Err(e)))) => Ok(Err(e)),
            (End::Lost(_), Some(Err(panic))) => Err(panic),
            (End::Lost(e), Some(Ok(Ok(_)))) => Ok(Err(e.into())),
        };
        self.reply.send(answer);
    }
}

/// Re-raises a write's panic in its caller, as if the closure had run there.
pub(super) fn unwrap_answer<T, E>(answer: Answer<T, E>) -> Result<T, E> {
    match answer {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The thread's loop: until every sender is gone, run the waiting jobs as one group.
pub(super) fn run(
    conn: Connection,
    db: PathBuf,
    jobs: mpsc::Receiver<Box<dyn Job>>,
    stats: Arc<WriterStats>,
) {
    let wal = super::sidecar(&db, "-wal");
    // Negative: KiB. See WRITER_CACHE_KIB.
    if let Err(e) = conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB) {
        tracing::warn!(error = %e, "cannot enlarge the writer's page cache");
    }
    if let Err(e) = conn.pragma_update(None, "mmap_size", WRITER_MMAP_BYTES) {
        tracing::warn!(error = %e, "cannot map the database into the writer's memory");
    }
    // Commits reach the OS only; the syncer makes them durable before anyone is answered.
    if let Err(e) = conn.pragma_update(None, "synchronous", "NORMAL") {
        tracing::error!(error = %e, "cannot set synchronous = NORMAL; commits sync inline");
    }
    let (to_syncer, committed) = mpsc::channel::<Vec<Box<dyn Job>>>();
    let (tick, ticks) = mpsc::sync_channel::<()>(1);
    let restart_due = Arc::new(AtomicBool::new(false));
    let checkpointer = match Connection::open(&db) {
        Ok(own) => std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let restart_due = restart_due.clone();
                move || run_checkpointer(&own, &ticks, &restart_due)
            })
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match &checkpointer {
        Ok(_) => {
            if let Err(e) =
                conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES)
            {
                tracing::warn!(error = %e, "cannot move automatic checkpoints off the writer");
            }
        }
        Err(e) => tracing::warn!(error = %e, "no checkpointer thread; the writer checkpoints"),
    }
    let syncer = {
        let wal = wal.clone();
        std::thread::Builder::new()
            .name("sqlite-syncer".into())
            .spawn(move || run_syncer(&wal, &committed, &tick))
    };
    let syncer = match syncer {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the WAL syncer thread; commits sync inline");
            let _ = conn.pragma_update(None, "synchronous", "FULL");
            None
        }
    };
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(GROUP_MAX_WRITES);
    let mut sizer = GroupSizer::default();
    let mut search = SearchUpkeep::default();
    // A job that must run alone, met while a group was being gathered: it waits for the
    // group's commit.
    let mut next: Option<Box<dyn Job>> = None;
    // Some group committed since the search index last caught up.
    let mut unindexed = false;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None if unindexed => match jobs.recv_timeout(INDEX_WHEN_IDLE_FOR) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    search.when_idle(&conn);
                    unindexed = search.merge_debt > 0;
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if restart_due.swap(false, Ordering::Relaxed) {
            finish_checkpoint(&conn);
        }
        if job.mode() == Mode::Alone {
            run_alone(&conn, &wal, job);
            continue;
        }
        group.push(job);
        let started = Instant::now();
        // A group whose writes all failed commits nothing (and costs no fsync).
        let ended = run_group(
            &conn,
            &jobs,
            &mut group,
            &mut next,
            sizer.room(),
            &mut search,
        );
        sizer.record(group.len(), started.elapsed());
        if let Some(written @ 1..) = ended {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(written, Ordering::Relaxed);
        }
        if ended.is_some() {
            let done = std::mem::replace(&mut group, Vec::with_capacity(GROUP_MAX_WRITES));
            match &syncer {
                Some(_) => {
                    if let Err(mpsc::SendError(done)) = to_syncer.send(done) {
                        sync_and_answer(&wal, done);
                    }
                }
                None => sync_and_answer(&wal, done),
            }
        }
        let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        stats.busy_nanos.fetch_add(busy, Ordering::Relaxed);
        unindexed = true;
    }
    // The last groups are answered before the connection closes.
    drop(to_syncer);
    if let Some(thread) = syncer
        && thread.join().is_err()
    {
        tracing::error!("the WAL syncer thread panicked");
    }
    // The syncer held the last sender of the checkpointer's ticks: it stops too.
    if let Ok(thread) = checkpointer
        && thread.join().is_err()
    {
        tracing::error!("the checkpointer thread panicked");
    }
    // A clean stop leaves nothing for the next start to index.
    search.when_idle(&conn);
    // SQLite recommends `PRAGMA optimize` just before closing a connection.
    if let Err(e) = conn.execute_batch("PRAGMA optimize") {
        tracing::debug!(error = %e, "PRAGMA optimize at close failed");
    }
}

fn run_alone(conn: &Connection, wal: &Path, mut job: Box<dyn Job>) {
    if job.deadline() < Instant::now() {
        job.finish(End::Busy);
        return;
    }
    // Its own transactions wait for another process's lock as long as the job may (an
    // idle-time indexing may have left the timeout at zero).
    if let Err(e) = wait_for_lock_until(conn, job.deadline()) {
        tracing::warn!(error = %e, "cannot set the busy timeout");
    }
    job.run(conn);
    sync_and_answer(wal, vec![job]);
}

/// Adds the jobs already waiting to `group`, up to `room`, stopping at one that must run
/// alone (kept in `next`).
fn take_waiting(
    jobs: &mpsc::Receiver<Box<dyn Job>>,
    group: &mut Vec<Box<dyn Job>>,
    next: &mut Option<Box<dyn Job>>,
    room: usize,
) {
    while next.is_none() && group.len() < room {
        match jobs.try_recv() {
            Ok(job) if job.mode() == Mode::Alone => *next = Some(job),
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
}

/// Runs `group` (plus whatever arrives while it runs, up to the limit) in one transaction.
/// Returns how many writes it committed, None when the transaction did not commit.
fn run_group(
    conn: &Connection,
    jobs: &mpsc::Receiver<Box<dyn Job>>,
    group: &mut Vec<Box<dyn Job>>,
    next: &mut Option<Box<dyn Job>>,
    room: usize,
    search: &mut SearchUpkeep,
) -> Option<u64> {
    take_waiting(jobs, group, next, room);
    // Wait for another process's lock as long as the most patient job may.
    let latest = group.iter().map(|j| j.deadline()).max();
    let begun = wait_for_lock_until(conn, latest.unwrap_or_else(Instant::now))
        .and_then(|()| conn.execute_batch("BEGIN IMMEDIATE"));
    if let Err(e) = begun {
        let e = StoreError::from(e);
        let busy = e.is_busy();
        if !busy {
            tracing::error!(error = %e, "cannot start a write transaction");
        }
        for job in group.drain(..) {
            job.finish(if busy { End::Busy } else { End::Lost(copy(&e)) });
        }
        return None;
    }
    let mut ran = 0;
    let mut kept = 0;
    let mut broken = None;
    while ran < group.len() {
        let job = &mut group[ran];
        ran += 1;
        if job.deadline() < Instant::now() {
            // Never run: `finish` says Busy since it holds no result.
            continue;
        }
        let closed = if job.mode() == Mode::ChecksFirst {
            // Rows changed by completed statements: a statement that failed has already
            // been undone by SQLite itself, so an unchanged count means nothing to undo.
            let before = conn.total_changes();
            let keep = job.run(conn);
            kept += u64::from(keep);
            if keep || (conn.total_changes() == before && !conn.is_autocommit()) {
                Ok(())
            } else {
                // Or SQLite ended the transaction itself (some I/O errors do).
                tracing::error!(
                    "a write failed after its first change; its whole group is rolled back"
                );
                Err(StoreError::CommitFailed)
            }
        } else {
            savepoint(conn, "SAVEPOINT job").and_then(|()| {
                let keep = job.run(conn);
                kept += u64::from(keep);
                if keep {
                    savepoint(conn, "RELEASE job")
                } else {
                    savepoint(conn, "ROLLBACK TO job").and_then(|()| savepoint(conn, "RELEASE job"))
                }
            })
        };
        if let Err(e) = closed {
            broken = Some(e);
            break;
        }
        if ran == group.len() {
            // Those that came while this group ran share its commit.
            take_waiting(jobs, group, next, room);
        }
    }
    let ended = match broken {
        Some(e) => Err(e),
        None => search
            .before_commit(conn)
            .and_then(|()| conn.execute_batch("COMMIT"))
            .map_err(StoreError::from),
    };
    match ended {
        // Answered by the caller once the commit is on disk.
        Ok(()) => Some(kept),
        Err(e) => {
            tracing::error!(error = %e, writes = ran, "commit failed; the group is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            for job in group.drain(..) {
                job.finish(End::Lost(StoreError::CommitFailed));
            }
            None
        }
    }
}

/// How long SQLite waits for another connection's lock: until `deadline`.
fn wait_for_lock_until(conn: &Connection, deadline: Instant) -> rusqlite::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    conn.busy_timeout(left.min(MAX_BUSY_TIMEOUT))
}

/// Savepoint statements are prepared once: parsing them per write showed in profiles.
fn savepoint(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// The same error for each job of a group that could not start.
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Sql(rusqlite::Error::SqliteFailure(code, message)) => {
            StoreError::Sql(rusqlite::Error::SqliteFailure(*code, message.clone()))
        }
        other => StoreError::WriteFailed(other.to_string()),
    }
}
