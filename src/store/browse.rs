//! Paged, filtered reads of reservations for the operator TUI.
//!
//! Paging is keyset-based (the last row's sort key, not an OFFSET), so the last page of a
//! million rows costs the same as the first: every query walks an index in sort order and
//! stops after one page. Only a text filter can make a walk long (few matches, many rows);
//! nothing here counts, the monitoring figures already hold the per-status totals.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::StoreError;
use super::row::{corrupt, ts};
use crate::domain::Status;

/// The column a listing is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// When the request was made.
    #[default]
    Created,
    /// When the trip leaves (then offer, then reservation id, so the order is total).
    Departure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            key: SortKey::Created,
            descending: true,
        }
    }
}

/// A row's position in the sort order: (sort column, offer id, reservation id).
/// The offer id only matters for `SortKey::Departure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub primary: String,
    pub offer_id: i64,
    pub id: i64,
}

/// Which page to read, relative to the sort order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    First,
    Last,
    /// The rows strictly after this key.
    After(Key),
    /// The rows strictly before this key (returned in sort order).
    Before(Key),
    /// The rows at or after this key: re-reading the same page after a change.
    From(Key),
}

/// What to list: one status (None: every status), an optional text filter, an order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pub status: Option<Status>,
    /// Matched (case-insensitively, as a substring) against passenger and driver names and
    /// emails and the three places; a number also matches the reservation id.
    pub filter: String,
    pub sort: Sort,
}

/// One line of the reservations table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: i64,
    pub offer_id: i64,
    pub status: Status,
    pub passenger_name: String,
    pub passenger_email: String,
    pub seats: i64,
    pub pickup: Option<String>,
    pub origin: String,
    pub destination: String,
    pub departure_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Row {
    pub fn key(&self, sort: SortKey) -> Key {
        let primary = match sort {
            SortKey::Created => crate::domain::time::to_db(self.created_at),
            SortKey::Departure => crate::domain::time::to_db(self.departure_at),
        };
        Key {
            primary,
            offer_id: self.offer_id,
            id: self.id,
        }
    }
}

/// `%`, `_` and the escape character itself are literal in an operator's filter.
pub fn like_pattern(filter: &str) -> String {
    let mut p = String::with_capacity(filter.len() + 2);
    p.push('%');
    for c in filter.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The WHERE clause shared by the page and count queries, and its parameters.
fn conditions(q: &Query) -> (String, Vec<Value>) {
    let mut sql = String::from("WHERE 1");
    let mut args = Vec::new();
    if let Some(s) = q.status {
        sql.push_str(" AND r.status = ?");
        args.push(Value::Text(s.as_str().to_owned()));
    }
    let filter = q.filter.trim();
    if !filter.is_empty() {
        // The offer side is matched once, as a set of offer ids, so the walk over the
        // reservations tests only its own row and looks an offer up only for a match
        // (half the cost of a filter that misses on a million rows).
        sql.push_str(
            " AND (r.passenger_name LIKE ? ESCAPE '\\' OR r.passenger_email LIKE ? ESCAPE '\\'
               OR r.pickup LIKE ? ESCAPE '\\'
               OR r.offer_id IN (SELECT id FROM carpool_offers WHERE origin LIKE ? ESCAPE '\\'
                   OR destination LIKE ? ESCAPE '\\' OR driver_name LIKE ? ESCAPE '\\'
                   OR driver_email LIKE ? ESCAPE '\\')",
        );
        let pattern = like_pattern(filter);
        for _ in 0..7 {
            args.push(Value::Text(pattern.clone()));
        }
        if let Ok(id) = filter.trim_start_matches('#').parse::<i64>() {
            sql.push_str(" OR r.id = ?");
            args.push(Value::Integer(id));
        }
        sql.push(')');
    }
    (sql, args)
}

/// Sort columns, in order; `Departure` adds the offer id so one offer's rows stay together.
fn sort_columns(key: SortKey) -> &'static str {
    match key {
        SortKey::Created => "r.created_at, r.id",
        SortKey::Departure => "o.departure_at, o.id, r.id",
    }
}

fn key_values(sort: SortKey, k: &Key) -> Vec<Value> {
    let mut v = vec![Value::Text(k.primary.clone())];
    if sort == SortKey::Departure {
        v.push(Value::Integer(k.offer_id));
    }
    v.push(Value::Integer(k.id));
    v
}

const COLUMNS: &str = "r.id, r.offer_id, r.status, r.passenger_name, r.passenger_email, r.seats,
     r.pickup, o.origin, o.destination, o.departure_at, r.created_at, r.updated_at";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let status: String = row.get("status")?;
    Ok(Row {
        id: row.get("id")?,
        offer_id: row.get("offer_id")?,
        status: status
            .parse()
            .map_err(|e: crate::domain::status::UnknownStatus| {
                corrupt("carpool_reservations", e.to_string())
            })?,
        passenger_name: row.get("passenger_name")?,
        passenger_email: row.get("passenger_email")?,
        seats: row.get("seats")?,
        pickup: row.get("pickup")?,
        origin: row.get("origin")?,
        destination: row.get("destination")?,
        departure_at: ts(row, "departure_at", "carpool_offers")?,
        created_at: ts(row, "created_at", "carpool_reservations")?,
        updated_at: ts(row, "updated_at", "carpool_reservations")?,
    })
}

/// One page of at most `limit` rows, always returned in the query's sort order.
pub fn page(
    conn: &Connection,
    q: &Query,
    anchor: &Anchor,
    limit: usize,
) -> Result<Vec<Row>, StoreError> {
    let (mut where_sql, mut args) = conditions(q);
    let cols = sort_columns(q.sort.key);
    // Reading backwards (Last, Before) walks the index the other way, then flips the page.
    let backwards = matches!(anchor, Anchor::Last | Anchor::Before(_));
    let walk_desc = q.sort.descending != backwards;
    let key = match anchor {
        Anchor::First | Anchor::Last => None,
        Anchor::After(k) | Anchor::Before(k) | Anchor::From(k) => Some(k),
    };
    if let Some(k) = key {
        let op = match (walk_desc, anchor) {
            (true, Anchor::From(_)) => "<=",
            (false, Anchor::From(_)) => ">=",
            (true, _) => "<",
            (false, _) => ">",
        };
        // The bare first-column bound is redundant with the row value but lets SQLite
        // start the index walk at the anchor instead of filtering from the start.
        let first = cols.split(", ").next().unwrap_or(cols);
        let bound = if walk_desc { "<=" } else { ">=" };
        let values = key_values(q.sort.key, k);
        let marks = vec!["?"; values.len()].join(", ");
        where_sql.push_str(&format!(
            " AND {first} {bound} ? AND ({cols}) {op} ({marks})"
        ));
        args.push(Value::Text(k.primary.clone()));
        args.extend(values);
    }
    let dir = if walk_desc { "DESC" } else { "ASC" };
    let order = cols
        .split(", ")
        .map(|c| format!("{c} {dir}"))
        .collect::<Vec<_>>()
        .join(", ");
    args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    // By departure, the offers' departure index drives the walk and each offer's
    // reservations come from the (offer_id, status) index: CROSS JOIN pins that loop order
    // (SQLite never reorders it), which otherwise sorts every row of the status first.
    let from = match q.sort.key {
        // By creation, the reservations' created_at index drives the walk; pinned too,
        // because after ANALYZE the planner preferred to sort the whole table (1.7 s at 1 M).
        SortKey::Created => {
            "carpool_reservations r CROSS JOIN carpool_offers o ON o.id = r.offer_id"
        }
        SortKey::Departure => {
            "carpool_offers o CROSS JOIN carpool_reservations r ON r.offer_id = o.id"
        }
    };
    let sql = format!("SELECT {COLUMNS} FROM {from} {where_sql} ORDER BY {order} LIMIT ?");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), from_row)?;
    let mut out: Vec<Row> = rows.collect::<Result<_, _>>()?;
    if backwards {
        out.reverse();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_literal() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(like_pattern(""), "%%");
    }
}
