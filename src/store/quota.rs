//! Per-recipient email counters (`email.max_per_recipient_per_hour`), in 10-minute slots
//! keyed by (address, slot) so that one address's window is one seek (see
//! migrations/10-hot-path).

use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::{Connection, params};

/// Width of one counting slot.
pub const SLOT_SECS: i64 = 600;
/// Slots summed for "the last hour": the current one and the 6 before it. They cover
/// between 60 and 70 minutes back, so no 60-minute period ever holds more than the cap.
pub const WINDOW_SLOTS: i64 = 7;

/// Start of the slot holding `unix_secs`.
pub fn slot_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(SLOT_SECS) * SLOT_SECS
}

/// The counts of `address` (already normalized) in the window ending at `now_secs`,
/// oldest slot first; slots without emails are left out.
pub fn window(
    conn: &Connection,
    address: &str,
    now_secs: i64,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let oldest = slot_of(now_secs) - (WINDOW_SLOTS - 1) * SLOT_SECS;
    // The key starts with the address: one seek, then at most WINDOW_SLOTS rows.
    let mut stmt = conn.prepare_cached(
        "SELECT slot_start, n FROM recipient_email_counts
         WHERE address = ?1 AND slot_start >= ?2 ORDER BY slot_start",
    )?;
    let rows = stmt.query_map(params![address, oldest], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The newest slot this process has pruned up to: pruning scans the (small) table, so it
/// runs once per slot, not on every email. Another process prunes on its own; deleting
/// what is already gone costs nothing.
static PRUNED_BEFORE: AtomicI64 = AtomicI64::new(i64::MIN);

/// Counts one more email to `address` in the current slot, and, once per slot, drops the
/// slots that have left every window.
pub fn charge(conn: &Connection, address: &str, now_secs: i64) -> rusqlite::Result<()> {
    let current = slot_of(now_secs);
    conn.prepare_cached(
        "INSERT INTO recipient_email_counts (address, slot_start, n) VALUES (?1, ?2, 1)
         ON CONFLICT (address, slot_start) DO UPDATE SET n = n + 1",
    )?
    .execute(params![address, current])?;
    let expired_before = current - (WINDOW_SLOTS - 1) * SLOT_SECS;
    if PRUNED_BEFORE.fetch_max(expired_before, Ordering::Relaxed) < expired_before {
        conn.prepare_cached("DELETE FROM recipient_email_counts WHERE slot_start < ?1")?
            .execute(params![expired_before])?;
    }
    Ok(())
}
