//! route_state: which offers need their pickup times recomputed (routing.osrm_url).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::StoreError;
use crate::domain::time::to_db;

/// Asks for a recalculation of `offer_id` as soon as possible (idempotent).
pub fn request(conn: &Connection, offer_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO route_state (offer_id, status, attempts, next_attempt_at, updated_at)
         VALUES (?1, 'pending', 0, ?2, ?2)
         ON CONFLICT (offer_id) DO UPDATE SET status = 'pending', attempts = 0,
             next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at",
    )?
    .execute(params![offer_id, to_db(now)])?;
    Ok(())
}

pub fn due(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT offer_id, attempts FROM route_state WHERE status = 'pending' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![to_db(now), i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn mark_ok(
    conn: &Connection,
    offer_id: i64,
    now: DateTime<Utc>,
    note: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE route_state SET status = 'ok', next_attempt_at = NULL, last_error = ?3, updated_at = ?2 WHERE offer_id = ?1",
    )?
    .execute(params![offer_id, to_db(now), note])?;
    Ok(())
}

pub fn mark_retry(
    conn: &Connection,
    offer_id: i64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    error: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE route_state SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?2,
             last_error = ?4, updated_at = ?3 WHERE offer_id = ?1",
    )?
    .execute(params![offer_id, to_db(at), to_db(now), error])?;
    Ok(())
}

pub fn mark_failed(
    conn: &Connection,
    offer_id: i64,
    now: DateTime<Utc>,
    error: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE route_state SET status = 'failed', next_attempt_at = NULL, last_error = ?3, updated_at = ?2 WHERE offer_id = ?1",
    )?
    .execute(params![offer_id, to_db(now), error])?;
    Ok(())
}
