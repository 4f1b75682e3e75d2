//! The SQL of data care: anonymising old trips, stripping old emails, pruning job history
//! (retention), and finding and rewriting every row that names one rider (`forget`).
//! Statuses, seats and every date are never touched, so the monitoring figures are the
//! same before and after.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::domain::time::to_db;

/// Name and address written over a forgotten rider's (`carette forget`).
pub const ERASED_NAME: &str = "(erased)";
pub const ERASED_EMAIL: &str = "erased@invalid";
/// Name and address written by the retention job. Distinct from `forget`'s so the job can
/// tell a finished trip (driver marked by retention) from one whose driver alone was
/// forgotten (its passengers still named, so retention still has work there).
/// `.invalid` is reserved (RFC 2606): nothing can ever be sent there.
pub const ANONYMISED_NAME: &str = "(anonymised)";
pub const ANONYMISED_EMAIL: &str = "anonymised@invalid";
/// What an erased pickup place or message becomes (NULL would read as "no pickup").
pub const ERASED_TEXT: &str = "(erased)";

/// Offers departed before `cutoff` that the retention job has not anonymised yet, oldest first.
pub fn trips_to_anonymise(
    conn: &Connection,
    cutoff: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM carpool_offers WHERE departure_at < ?1 AND driver_email <> ?2
         ORDER BY departure_at LIMIT ?3",
    )?;
    let ids = stmt
        .query_map(
            params![to_db(cutoff), ANONYMISED_EMAIL, limit as i64],
            |r| r.get(0),
        )?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

/// What one anonymisation or erasure rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewritten {
    pub offers: usize,
    pub reservations: usize,
    pub emails: usize,
}

/// Anonymises one trip: its driver, every passenger (name, address, pickup place and its
/// coordinates, message) and every email about it (recipient, reply-to, stored context).
pub fn anonymise_trip(conn: &Connection, offer_id: i64) -> Result<Rewritten, StoreError> {
    let offers = conn
        .prepare_cached(
            "UPDATE carpool_offers SET driver_name = ?2, driver_email = ?3 WHERE id = ?1",
        )?
        .execute(params![offer_id, ANONYMISED_NAME, ANONYMISED_EMAIL])?;
    let reservations = conn
        .prepare_cached(
            "UPDATE carpool_reservations SET passenger_name = ?2, passenger_email = ?3,
                 pickup = CASE WHEN pickup IS NULL THEN NULL ELSE ?4 END,
                 pickup_lat = NULL, pickup_lon = NULL,
                 message = CASE WHEN message IS NULL THEN NULL ELSE ?4 END
             WHERE offer_id = ?1",
        )?
        .execute(params![
            offer_id,
            ANONYMISED_NAME,
            ANONYMISED_EMAIL,
            ERASED_TEXT
        ])?;
    // Every email of a trip carries its offer_id (see service::context::offer_email).
    let emails = conn
        .prepare_cached(
            "UPDATE outbox SET recipient = ?2, reply_to = NULL, context = '{}'
             WHERE offer_id = ?1",
        )?
        .execute(params![offer_id, ANONYMISED_EMAIL])?;
    Ok(Rewritten {
        offers,
        reservations,
        emails,
    })
}

/// Empties the stored context of up to `limit` emails sent before `cutoff`.
pub fn strip_sent_emails(
    conn: &Connection,
    cutoff: DateTime<Utc>,
    limit: usize,
) -> Result<usize, StoreError> {
    // The WHERE matches idx_outbox_unredacted's, so stripped rows are never read again.
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET context = '{}' WHERE id IN (
                 SELECT id FROM outbox
                 WHERE sent_at IS NOT NULL AND context <> '{}' AND sent_at < ?1
                 LIMIT ?2)",
        )?
        .execute(params![to_db(cutoff), limit as i64])?)
}

/// Deletes job history started before `cutoff`, keeping each job's latest run (the TUI
/// and /healthz show it).
pub fn prune_job_runs(conn: &Connection, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM job_runs WHERE started_at < ?1
           AND id NOT IN (SELECT MAX(id) FROM job_runs GROUP BY job)",
        params![to_db(cutoff)],
    )?)
}

/// The rows that name one address (compared without regard to case, as SMTP does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiderRows {
    /// (offer id, driver name)
    pub offers: Vec<(i64, String)>,
    /// (reservation id, offer id, passenger name)
    pub reservations: Vec<(i64, i64, String)>,
}

impl RiderRows {
    pub fn is_empty(&self) -> bool {
        self.offers.is_empty() && self.reservations.is_empty()
    }

    /// The offers whose emails may name the rider: those they drive or ride in.
    pub fn related_offers(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .offers
            .iter()
            .map(|o| o.0)
            .chain(self.reservations.iter().map(|r| r.1))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

pub fn rider_rows(conn: &Connection, email: &str) -> Result<RiderRows, StoreError> {
    let offers = conn
        .prepare_cached(
            "SELECT id, driver_name FROM carpool_offers WHERE driver_email = ?1 COLLATE NOCASE",
        )?
        .query_map([email], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let reservations = conn
        .prepare_cached(
            "SELECT id, offer_id, passenger_name FROM carpool_reservations
             WHERE passenger_email = ?1 COLLATE NOCASE",
        )?
        .query_map([email], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RiderRows {
        offers,
        reservations,
    })
}

pub fn erase_offer_driver(conn: &Connection, offer_id: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE carpool_offers SET driver_name = ?2, driver_email = ?3 WHERE id = ?1",
        )?
        .execute(params![offer_id, ERASED_NAME, ERASED_EMAIL])?)
}

pub fn erase_passenger(conn: &Connection, reservation_id: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE carpool_reservations SET passenger_name = ?2, passenger_email = ?3,
                 pickup = CASE WHEN pickup IS NULL THEN NULL ELSE ?4 END,
                 pickup_lat = NULL, pickup_lon = NULL,
                 message = CASE WHEN message IS NULL THEN NULL ELSE ?4 END
             WHERE id = ?1",
        )?
        .execute(params![
            reservation_id,
            ERASED_NAME,
            ERASED_EMAIL,
            ERASED_TEXT
        ])?)
}

/// One email row as `forget` needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailRow {
    pub id: i64,
    pub recipient: String,
    pub reply_to: Option<String>,
    pub status: String,
    pub context: String,
}

pub fn emails_of_offer(conn: &Connection, offer_id: i64) -> Result<Vec<EmailRow>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT id, recipient, reply_to, status, context FROM outbox WHERE offer_id = ?1",
        )?
        .query_map([offer_id], |r| {
            Ok(EmailRow {
                id: r.get(0)?,
                recipient: r.get(1)?,
                reply_to: r.get(2)?,
                status: r.get(3)?,
                context: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn rewrite_email(
    conn: &Connection,
    id: i64,
    recipient: &str,
    reply_to: Option<&str>,
    context: &str,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET recipient = ?2, reply_to = ?3, context = ?4 WHERE id = ?1",
        )?
        .execute(params![id, recipient, reply_to, context])?)
}

/// Cancels a queued email: it is deleted, so nothing can ever send or retry it.
pub fn cancel_email(conn: &Connection, id: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE id = ?1 AND status IN ('queued', 'sending')")?
        .execute([id])?)
}

/// Per-address counters kept for rate limits (`recipient_email_counts`, addresses stored
/// lowercased, when the schema has that table): the rider's go at once.
pub fn drop_address_counters(conn: &Connection, email: &str) -> Result<usize, StoreError> {
    if !table_exists(conn, "recipient_email_counts")? {
        return Ok(0);
    }
    Ok(conn.execute(
        "DELETE FROM recipient_email_counts WHERE address = lower(?1)",
        [email],
    )?)
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .is_some())
}

/// The operator's search indexes (FTS5, contentless): a rewritten row leaves its old
/// trigrams in the index's segments, hidden by a tombstone, until segments are merged.
/// `optimize` merges them all into one, so the rider's trigrams are gone from the file.
pub fn purge_search_index(conn: &Connection) -> Result<(), StoreError> {
    for table in ["reservation_search", "offer_search"] {
        if table_exists(conn, table)? {
            conn.execute(
                &format!("INSERT INTO {table} ({table}) VALUES ('optimize')"),
                [],
            )?;
        }
    }
    Ok(())
}

/// ANALYZE's samples (sqlite_stat4) are copies of index keys, email addresses included:
/// drop those of the tables that hold addresses (the next `PRAGMA optimize` takes new ones).
pub fn drop_key_samples(conn: &Connection) -> Result<(), StoreError> {
    if table_exists(conn, "sqlite_stat4")? {
        conn.execute(
            "DELETE FROM sqlite_stat4 WHERE tbl IN ('carpool_offers', 'carpool_reservations', 'outbox')",
            [],
        )?;
    }
    Ok(())
}
