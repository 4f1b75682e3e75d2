//! Erasure at the file level: a transaction of its own for `forget`, then the WAL scrubbed
//! of older page copies without ever fighting Litestream, and VACUUM as the last resort.

use std::time::Duration;

use rusqlite::Connection;

use super::{Store, StoreError};

impl Store {
    /// Erasure: runs `erase` in a transaction of its own, alone on the writer connection
    /// (`secure_delete` is on for every writer, so freed bytes are zeroed in the pages).
    /// Follow it with [`Store::scrub_wal`].
    pub fn write_erasing<T, E, F>(&self, erase: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_alone(move |conn: &Connection| run_in_transaction(conn, erase))
    }

    /// The WAL still holds older copies of rewritten pages. A PASSIVE checkpoint copies
    /// the new pages into the database file; then `touch` (a small write) restarts the WAL
    /// with `journal_size_limit = 0`, which truncates it at that commit. Never a TRUNCATE
    /// checkpoint: it would fight Litestream, which must see every frame. While another
    /// process reads (Litestream, the TUI) the restart may have to wait for it: this
    /// retries a few times until `scrubbed()` (run here, between the writer's steps, so
    /// the daemon's writes go on meanwhile) says so, and returns whether it did.
    pub fn scrub_wal<F>(
        &self,
        touch: F,
        mut scrubbed: impl FnMut() -> bool,
    ) -> Result<bool, StoreError>
    where
        F: Fn(&Connection) -> Result<(), StoreError> + Clone + Send + 'static,
    {
        self.write_alone(|conn: &Connection| {
            Ok::<_, StoreError>(conn.pragma_update(None, "journal_size_limit", 0)?)
        })?;
        let mut clean = false;
        for attempt in 0..20 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            let touch = touch.clone();
            self.write_alone(move |conn: &Connection| {
                // PASSIVE never waits for nor disturbs a reader such as Litestream.
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
                run_in_transaction(conn, touch)
            })?;
            if scrubbed() {
                clean = true;
                break;
            }
        }
        // Back to the default (-1): truncating at every restart would cost the daemon a
        // file extension per checkpoint cycle.
        self.write_alone(|conn: &Connection| {
            Ok::<_, StoreError>(conn.pragma_update(None, "journal_size_limit", -1)?)
        })?;
        Ok(clean)
    }

    /// Rebuilds the database file (VACUUM): the only way to clear free space written
    /// before `secure_delete` was on. Readers keep reading; writers wait meanwhile.
    pub fn vacuum(&self) -> Result<(), StoreError> {
        self.write_alone(|conn: &Connection| Ok(conn.execute_batch("VACUUM")?))
    }
}

/// `f` in a `BEGIN IMMEDIATE` transaction of its own: committed on Ok, rolled back on Err.
fn run_in_transaction<T, E>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(StoreError::from)?;
    match f(conn) {
        Ok(v) => {
            if let Err(e) = conn.execute_batch("COMMIT") {
                let _ = conn.execute_batch("ROLLBACK");
                tracing::error!(error = %e, "commit failed; the transaction is rolled back");
                return Err(StoreError::CommitFailed.into());
            }
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
