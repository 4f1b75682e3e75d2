//! Making commits durable off the writer thread: the syncer fsyncs the WAL and answers
//! the groups; the checkpointer copies the WAL back into the database file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::super::StoreError;
use super::{End, Job};

/// How often the checkpointer copies the WAL back while commits come.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Passes of one background checkpoint at most, while commits keep coming (see
/// `run_checkpointer`).
const CHECKPOINT_PASSES: usize = 4;

/// Past this WAL length (pages; 4 MiB), the writer copies what the checkpointer left...
const WAL_RESTART_PAGES: i64 = 1000;

/// ...when that is at most this many pages.
const WAL_RESTART_LEFT_PAGES: i64 = 256;

/// The writer checkpoints inside its own COMMIT only past this WAL length (pages; 16 MiB).
pub(super) const BACKSTOP_CHECKPOINT_PAGES: i64 = 4000;

/// The syncer thread: each fsync covers every group committed before it started, so it
/// answers all the groups waiting at once.
pub(super) fn run_syncer(
    wal: &Path,
    committed: &mpsc::Receiver<Vec<Box<dyn Job>>>,
    tick: &mpsc::SyncSender<()>,
) {
    while let Ok(mut jobs) = committed.recv() {
        while let Ok(more) = committed.try_recv() {
            jobs.extend(more);
        }
        sync_and_answer(wal, jobs);
        // "The WAL grew": a full channel already says so.
        let _ = tick.try_send(());
    }
}

/// The checkpointer thread: after commits, at most every CHECKPOINT_EVERY, a PASSIVE
/// checkpoint (never waits for the writer nor for readers such as Litestream).
///
/// A pass copies the frames committed when it began; those committed meanwhile are left
/// for the next. The WAL restarts from its beginning (instead of growing) only when a write
/// transaction begins with every frame copied, which under a steady load never happens
/// (a pass and its fsyncs always outlast the gap between two commits): the WAL grew to the
/// writer's backstop, and the writer checkpointed 16 MiB inside a COMMIT (p99 30 -> 55 ms
/// after 20 s of load). So the passes repeat while they catch up, and once the WAL is long
/// and nearly all copied, `restart_due` asks the writer to copy the rest between two
/// groups (a few hundred pages at most), after which its next transaction restarts the WAL.
pub(super) fn run_checkpointer(
    conn: &Connection,
    ticks: &mpsc::Receiver<()>,
    restart_due: &AtomicBool,
) {
    let mut last = Instant::now();
    while ticks.recv().is_ok() {
        let wait = CHECKPOINT_EVERY.saturating_sub(last.elapsed());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        while ticks.try_recv().is_ok() {}
        for _ in 0..CHECKPOINT_PASSES {
            match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            }) {
                Ok((in_wal, copied)) => {
                    let left = in_wal - copied;
                    if in_wal >= WAL_RESTART_PAGES && left <= WAL_RESTART_LEFT_PAGES {
                        restart_due.store(true, Ordering::Relaxed);
                    }
                    if left <= WAL_RESTART_LEFT_PAGES {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "background checkpoint failed; retried after the next commit");
                    break;
                }
            }
        }
        last = Instant::now();
    }
}

/// On the writer, between groups: copies the last frames the checkpointer left, so that
/// the next transaction restarts the WAL. Never waits for a lock (the checkpointer or a
/// reader's snapshot may hold frames back; the next request will do).
pub(super) fn finish_checkpoint(conn: &Connection) {
    let done = conn.busy_timeout(Duration::ZERO).and_then(|()| {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
    });
    match done {
        Ok((in_wal, copied)) => {
            tracing::debug!(
                in_wal,
                copied,
                "the writer finished a background checkpoint"
            );
        }
        Err(e) => tracing::debug!(error = %e, "finishing a checkpoint failed; retried later"),
    }
}

/// Makes the committed WAL frames durable, then answers `jobs`. If the disk refuses the
/// fsync, a write is not known to be durable: its caller gets `CommitFailed`.
pub(super) fn sync_and_answer(wal: &Path, jobs: Vec<Box<dyn Job>>) {
    // Opened afresh each time: SQLite may delete and recreate the WAL file (when the last
    // connection closes), and an fsync through a stale descriptor would sync nothing
    // that matters. An absent WAL means nothing is waiting in one.
    let synced = match std::fs::File::open(wal) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    match synced {
        Ok(()) => {
            for job in jobs {
                job.finish(End::Committed);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, writes = jobs.len(), "fsync of the WAL failed; the writes are reported as not saved");
            for job in jobs {
                job.finish(End::Lost(StoreError::CommitFailed));
            }
        }
    }
}
