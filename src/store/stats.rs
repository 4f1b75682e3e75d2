//! The monitoring figures of SPEC, computed once here so `stats`, the TUI and /metrics agree.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::StoreError;
use crate::domain::time::{from_db, to_db};

/// `stats --json` prints this object; its first keys are SPEC's contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub pending: i64,
    pub expired: i64,
    pub confirmed: i64,
    pub refused: i64,
    pub cancelled: i64,
    pub removed: i64,
    /// confirmed × 100 / (confirmed + refused); None when nothing was decided.
    pub acceptance_rate: Option<f64>,
    /// Emails the SMTP server accepted since local midnight (`jobs.timezone`).
    pub emails_sent_today: i64,
    /// Dev-mode emails written as .eml files (not sent) since local midnight.
    pub emails_logged_today: i64,
    pub outbox_queued: i64,
    pub outbox_sending: i64,
    pub outbox_failed: i64,
    pub outbox_sent: i64,
    /// Age in seconds of the oldest email still waiting to go out.
    pub oldest_queued_age_seconds: Option<i64>,
    /// Pending requests older than 24 h (the seed's monitoring query): should be 0 when jobs run.
    pub pending_overdue: i64,
    /// Offers whose pickup times wait for a route recalculation (OSRM), and those given up on.
    pub routes_pending: i64,
    pub routes_failed: i64,
    /// The most recent route failure: "offer 12: OSRM cannot route these places: NoRoute".
    pub route_last_failure: Option<String>,
}

pub fn acceptance_rate(confirmed: i64, refused: i64) -> Option<f64> {
    let decided = confirmed + refused;
    if decided == 0 {
        None
    } else {
        // Rounded to 0.1 so every surface prints the same figure.
        Some(((confirmed as f64) * 1000.0 / decided as f64).round() / 10.0)
    }
}

pub fn compute(
    conn: &Connection,
    now: DateTime<Utc>,
    local_midnight: DateTime<Utc>,
    expire_after_hours: u32,
) -> Result<Stats, StoreError> {
    let mut by_status = std::collections::HashMap::new();
    {
        let mut stmt = conn.prepare_cached("SELECT status, n FROM reservation_status_counts")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (s, n) = row?;
            by_status.insert(s, n);
        }
    }
    let get = |s: &str| by_status.get(s).copied().unwrap_or(0);
    let mut outbox = std::collections::HashMap::new();
    {
        // Kept by triggers (migration 05): a few rows however long the outbox history.
        let mut stmt = conn.prepare_cached("SELECT status, n FROM outbox_status_counts")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (s, n) = row?;
            outbox.insert(s, n);
        }
    }
    let ob = |s: &str| outbox.get(s).copied().unwrap_or(0);
    // `channel` tells an SMTP acceptance from a dev-mode .eml write (test sends are
    // not outbox rows, so they count in neither).
    let (emails_sent_today, emails_logged_today): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(channel IS NOT 'file'), 0), COALESCE(SUM(channel = 'file'), 0)
         FROM outbox WHERE sent_at >= ?1",
        params![to_db(local_midnight)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // One index lookup per status (idx_outbox_queue: status, created_at) instead of reading
    // every waiting row: a backlog can be large.
    let oldest: Option<String> = conn.query_row(
        "SELECT MIN(t) FROM (SELECT MIN(created_at) AS t FROM outbox WHERE status = 'queued'
             UNION ALL SELECT MIN(created_at) FROM outbox WHERE status = 'sending')",
        [],
        |r| r.get(0),
    )?;
    let cutoff = now - chrono::Duration::hours(i64::from(expire_after_hours));
    let pending_overdue: i64 = conn.query_row(
        "SELECT COUNT(*) FROM carpool_reservations WHERE status = 'pending' AND created_at < ?1",
        params![to_db(cutoff)],
        |r| r.get(0),
    )?;
    let (routes_pending, routes_failed): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'failed'), 0) FROM route_state",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let route_last_failure: Option<String> = conn
        .query_row(
            "SELECT 'offer ' || offer_id || ': ' || COALESCE(last_error, 'unknown error') FROM route_state
             WHERE status = 'failed' ORDER BY updated_at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let (confirmed, refused) = (get("confirmed"), get("refused"));
    Ok(Stats {
        pending: get("pending"),
        expired: get("expired"),
        confirmed,
        refused,
        cancelled: get("cancelled"),
        removed: get("removed"),
        acceptance_rate: acceptance_rate(confirmed, refused),
        emails_sent_today,
        emails_logged_today,
        outbox_queued: ob("queued"),
        outbox_sending: ob("sending"),
        outbox_failed: ob("failed"),
        outbox_sent: ob("sent"),
        oldest_queued_age_seconds: oldest
            .as_deref()
            .and_then(from_db)
            .map(|t| (now - t).num_seconds().max(0)),
        pending_overdue,
        routes_pending,
        routes_failed,
        route_last_failure,
    })
}

/// Requests created since `since`, per UTC hour: (hour "YYYY-MM-DD HH", created, confirmed,
/// refused), from the counters the triggers of migration 05 keep, so a month of a busy
/// install is ~720 rows. Hours, not days, so the caller can group them by local day in any
/// zone (zones with half-hour offsets get their day boundary rounded to the hour).
pub fn hourly_decisions(
    conn: &Connection,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64, i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hour, created, confirmed, refused FROM reservation_hourly_counts
         WHERE hour >= ?1 ORDER BY hour",
    )?;
    let since = since.format("%Y-%m-%d %H").to_string();
    let rows = stmt.query_map(params![since], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_rate_is_the_seeds_formula() {
        assert_eq!(acceptance_rate(0, 0), None);
        assert_eq!(acceptance_rate(3, 1), Some(75.0));
        assert_eq!(acceptance_rate(1, 2), Some(33.3));
        assert_eq!(acceptance_rate(0, 5), Some(0.0));
    }
}
