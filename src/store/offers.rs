//! carpool_offers rows.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::row::{corrupt, lang_of, ts};
use crate::domain::Lang;
use crate::domain::model::{Offer, OfferStatus, Place};
use crate::domain::seats::seats_left;
use crate::domain::time::to_db;

/// A validated offer, ready to insert.
#[derive(Debug, Clone)]
pub struct NewOffer {
    pub driver_name: String,
    pub driver_email: String,
    pub origin: Place,
    pub destination: Place,
    pub departure_at: DateTime<Utc>,
    pub seats: i64,
    pub lang: Lang,
}

const SELECT: &str = "SELECT o.*, (SELECT COALESCE(SUM(r.seats), 0) FROM carpool_reservations r
     WHERE r.offer_id = o.id AND r.status = 'confirmed') AS taken FROM carpool_offers o";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Offer> {
    let seats: i64 = row.get("seats")?;
    let taken: i64 = row.get("taken")?;
    let status: String = row.get("status")?;
    Ok(Offer {
        id: row.get("id")?,
        driver_name: row.get("driver_name")?,
        driver_email: row.get("driver_email")?,
        origin: Place {
            label: row.get("origin")?,
            lat: row.get("origin_lat")?,
            lon: row.get("origin_lon")?,
        },
        destination: Place {
            label: row.get("destination")?,
            lat: row.get("destination_lat")?,
            lon: row.get("destination_lon")?,
        },
        departure_at: ts(row, "departure_at", "carpool_offers")?,
        seats,
        seats_left: seats_left(seats, taken),
        status: OfferStatus::parse(&status)
            .ok_or_else(|| corrupt("carpool_offers", format!("unknown offer status {status:?}")))?,
        created_at: ts(row, "created_at", "carpool_offers")?,
        lang: lang_of(row, "carpool_offers")?,
    })
}

pub fn insert(conn: &Connection, o: &NewOffer, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let now = to_db(now);
    conn.execute(
        "INSERT INTO carpool_offers (driver_name, driver_email, origin, origin_lat, origin_lon,
            destination, destination_lat, destination_lon, departure_at, seats, status, created_at, updated_at, lang)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'active', ?11, ?11, ?12)",
        params![
            o.driver_name,
            o.driver_email,
            o.origin.label,
            o.origin.lat,
            o.origin.lon,
            o.destination.label,
            o.destination.lat,
            o.destination.lon,
            to_db(o.departure_at),
            o.seats,
            now,
            o.lang.as_str()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Offer>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE o.id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn set_status(
    conn: &Connection,
    id: i64,
    status: OfferStatus,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE carpool_offers SET status = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, status.as_str(), to_db(now)],
    )?;
    Ok(())
}

/// A driver's offers that have not departed yet (the dashboard).
pub fn upcoming_for_driver(
    conn: &Connection,
    email: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Offer>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE o.driver_email = ?1 COLLATE NOCASE AND o.departure_at > ?2 ORDER BY o.departure_at"
    ))?;
    let rows = stmt.query_map(params![email, to_db(now)], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Bumps and returns the offer's calendar counter: the SEQUENCE of the driver's trip event.
/// Under the write lock, so it strictly increases whatever the clocks say.
pub fn next_calendar_sequence(conn: &Connection, id: i64) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE carpool_offers SET calendar_sequence = calendar_sequence + 1 WHERE id = ?1
             RETURNING calendar_sequence",
        )?
        .query_row([id], |r| r.get(0))?)
}

/// What the riders' listing asks for; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct PublicQuery {
    /// Departing strictly after this instant.
    pub after: DateTime<Utc>,
    /// And strictly before this one.
    pub before: Option<DateTime<Utc>>,
    /// Substrings of the labels, case-insensitive (ASCII), `%` and `_` literal.
    pub origin: Option<String>,
    pub destination: Option<String>,
    pub limit: i64,
}

/// Active offers that have not departed and still have a seat, soonest first (the
/// riders' listing). Uses idx_offers_departure for the range.
pub fn upcoming_with_seats(conn: &Connection, q: &PublicQuery) -> Result<Vec<Offer>, StoreError> {
    let pattern = |f: &Option<String>| f.as_deref().map(super::browse::like_pattern);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT * FROM ({SELECT} WHERE o.status = 'active' AND o.departure_at > ?1
             AND (?2 IS NULL OR o.departure_at < ?2)
             AND (?3 IS NULL OR o.origin LIKE ?3 ESCAPE '\\')
             AND (?4 IS NULL OR o.destination LIKE ?4 ESCAPE '\\'))
         WHERE taken < seats ORDER BY departure_at, id LIMIT ?5"
    ))?;
    let rows = stmt.query_map(
        params![
            to_db(q.after),
            q.before.map(to_db),
            pattern(&q.origin),
            pattern(&q.destination),
            q.limit
        ],
        from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}
