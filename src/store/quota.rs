//! Per-recipient email counters (`email.max_per_recipient_per_hour`), in 10-minute slots
//! keyed by (slot, address) so that writes append and pruning is a range delete (see
//! migrations/06-recipient-caps).

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
    let current = slot_of(now_secs);
    let slots: Vec<i64> = (0..WINDOW_SLOTS)
        .rev()
        .map(|k| current - k * SLOT_SECS)
        .collect();
    // IN on the first key column and = on the second: one B-tree seek per slot, never a
    // scan of the other addresses of the window.
    let mut stmt = conn.prepare_cached(
        "SELECT slot_start, n FROM recipient_email_counts
         WHERE slot_start IN (?1, ?2, ?3, ?4, ?5, ?6, ?7) AND address = ?8
         ORDER BY slot_start",
    )?;
    let rows = stmt.query_map(
        params![
            slots[0], slots[1], slots[2], slots[3], slots[4], slots[5], slots[6], address
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    rows.collect()
}

/// Counts one more email to `address` in the current slot, and drops the slots that
/// have left every window.
pub fn charge(conn: &Connection, address: &str, now_secs: i64) -> rusqlite::Result<()> {
    let current = slot_of(now_secs);
    conn.prepare_cached(
        "INSERT INTO recipient_email_counts (slot_start, address, n) VALUES (?1, ?2, 1)
         ON CONFLICT (slot_start, address) DO UPDATE SET n = n + 1",
    )?
    .execute(params![current, address])?;
    // Usually finds nothing: a seek to the leftmost leaf. Once per slot it removes the
    // slot that just expired, a contiguous range.
    conn.prepare_cached("DELETE FROM recipient_email_counts WHERE slot_start < ?1")?
        .execute(params![current - (WINDOW_SLOTS - 1) * SLOT_SECS])?;
    Ok(())
}
