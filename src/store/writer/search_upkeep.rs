//! The search index's upkeep on the writer connection: which new reservations to index
//! when, and the merging they owe.

use std::time::Duration;

use rusqlite::Connection;

use super::super::browse;

/// New reservations are added to the search index in batches of this many (see
/// `browse::index_queued_reservations`), or when the writer has been idle for
/// [`INDEX_WHEN_IDLE_FOR`]; the merging they owe is paid a step per group
/// ([`SearchUpkeep`]). Larger batches make fewer, larger level-0 segments: 256 instead of
/// 64 took the writer from 76-78 to 69-73 µs per seat request (`cargo bench --bench
/// write_cost`), but the third `vs_ceiling.sh` round's p99 reached 28-29 ms in two runs of
/// five (the commit that carries a batch); 128 kept it at 19-24 ms.
const SEARCH_INDEX_BATCH: usize = 128;

pub(super) const INDEX_WHEN_IDLE_FOR: Duration = Duration::from_millis(200);

/// The search index's upkeep on the writer connection: new reservations are indexed in
/// batches, and the merging each indexed row owes is paid a bounded step per group, so
/// neither lands on one commit as a burst.
#[derive(Debug, Default)]
pub(super) struct SearchUpkeep {
    /// Leaf pages of merging owed (one per indexed row), paid a step per group.
    pub(super) merge_debt: i64,
}

impl SearchUpkeep {
    /// Inside a group's transaction, just before its COMMIT. Should that commit fail, the
    /// debt is off by one step: it only paces the merging.
    pub(super) fn before_commit(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let indexed = browse::index_queued_reservations(conn, SEARCH_INDEX_BATCH)?;
        self.merge_debt += i64::try_from(indexed).unwrap_or(i64::MAX);
        // A share of the debt each group: steps grow with the indexing rate.
        self.pay(conn, self.merge_debt / MERGE_DEBT_SHARE)
    }

    fn pay(&mut self, conn: &Connection, step: i64) -> rusqlite::Result<()> {
        if self.merge_debt <= 0 {
            return Ok(());
        }
        let pages = step.clamp(MERGE_PAGES_MIN, MERGE_PAGES_MAX);
        browse::merge_search_index(conn, pages)?;
        self.merge_debt = (self.merge_debt - pages).max(0);
        Ok(())
    }

    /// Indexes whatever waits in the search queue and pays a step of merging, in a
    /// transaction of its own. Never waits for another process's lock: the next idle
    /// moment (or the next batch) will do. Idle moments with nothing queued and nothing
    /// owed take no write lock.
    pub(super) fn when_idle(&mut self, conn: &Connection) {
        let waiting = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM reservation_search_pending)")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, bool>(0)));
        if !waiting.unwrap_or(true) && self.merge_debt <= 0 {
            return;
        }
        let begun = conn
            .busy_timeout(Duration::ZERO)
            .and_then(|()| conn.execute_batch("BEGIN IMMEDIATE"));
        if begun.is_err() {
            return;
        }
        let done = browse::index_queued_reservations(conn, 1)
            .and_then(|indexed| {
                self.merge_debt += i64::try_from(indexed).unwrap_or(i64::MAX);
                self.pay(conn, self.merge_debt)
            })
            .and_then(|()| conn.execute_batch("COMMIT"));
        if let Err(e) = done {
            tracing::warn!(error = %e, "indexing new reservations for search failed; retried later");
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

/// Merge steps, in leaf pages: each group pays this share of the debt, within these bounds
/// (a step of 256 pages is a few milliseconds).
const MERGE_DEBT_SHARE: i64 = 8;

const MERGE_PAGES_MIN: i64 = 8;

const MERGE_PAGES_MAX: i64 = 256;
