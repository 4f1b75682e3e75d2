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

/// Beyond this many candidate rows, walking the listing in display order and testing each
/// row finds a page of matches sooner than fetching and sorting every candidate.
const MAX_CANDIDATES: i64 = 10_000;
/// The rarest trigrams of a filter that the full-text query asks for (a superset of the
/// matches is enough: the LIKE check narrows it).
const TRIGRAMS_ASKED: usize = 3;

/// The filter's distinct trigrams (the full-text indexes' terms), in order.
pub fn trigrams(filter: &str) -> Vec<String> {
    let chars: Vec<char> = filter.chars().collect();
    let mut seen = std::collections::BTreeSet::new();
    chars
        .windows(3)
        .map(|w| w.iter().collect::<String>())
        .filter(|t| seen.insert(t.to_lowercase()))
        .collect()
}

/// A full-text query matching the rows that hold every one of `terms`.
pub fn match_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// How a filtered page is found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// Walk the listing in display order, testing each row (short or common filters).
    Walk,
    /// Fetch the few candidate rows from the full-text indexes (a side with no query can
    /// have no match), then sort them.
    Candidates {
        own: Option<String>,
        offers: Option<String>,
    },
}

/// Rows of `index` holding each trigram, counted up to just past `MAX_CANDIDATES` (a
/// common trigram is not counted to the end: it is not worth asking for anyway).
fn term_counts(conn: &Connection, index: &str, terms: &[String]) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT count(*) FROM (SELECT 1 FROM {index} WHERE {index} MATCH ? LIMIT ?)"
    ))?;
    terms
        .iter()
        .map(|t| {
            let n: i64 = stmt.query_row(
                rusqlite::params![match_query(std::slice::from_ref(t)), MAX_CANDIDATES + 1],
                |r| r.get(0),
            )?;
            Ok(n)
        })
        .collect()
}

/// The rarest terms of one index: (estimated rows, query), None for the query when some
/// term is in no row at all (then nothing can match on this side).
fn side(terms: &[String], counts: &[i64]) -> Option<(i64, Option<String>)> {
    let mut known: Vec<(i64, &String)> = counts.iter().copied().zip(terms).collect();
    known.sort();
    let &(rarest, _) = known.first()?;
    if rarest == 0 {
        return Some((0, None));
    }
    let asked: Vec<String> = known
        .iter()
        .take(TRIGRAMS_ASKED)
        .map(|(_, t)| (*t).clone())
        .collect();
    Some((rarest, Some(match_query(&asked))))
}

fn plan(conn: &Connection, filter: &str) -> Result<Plan, StoreError> {
    let terms = trigrams(filter);
    if terms.is_empty() {
        return Ok(Plan::Walk);
    }
    let own = side(&terms, &term_counts(conn, "reservation_search", &terms)?);
    let offers = side(&terms, &term_counts(conn, "offer_search", &terms)?);
    let (Some((own_rows, own)), Some((offer_rows, offers))) = (own, offers) else {
        return Ok(Plan::Walk);
    };
    // Each matching offer brings its reservations: estimate them from the average.
    let (reservations, offer_total): (i64, i64) = conn.query_row(
        "SELECT (SELECT coalesce(max(id), 0) FROM carpool_reservations),
                (SELECT coalesce(max(id), 0) FROM carpool_offers)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let per_offer = if offer_total > 0 {
        reservations / offer_total + 1
    } else {
        1
    };
    if own_rows.saturating_add(offer_rows.saturating_mul(per_offer)) > MAX_CANDIDATES {
        return Ok(Plan::Walk);
    }
    Ok(Plan::Candidates { own, offers })
}

/// A piece of SQL and its parameters.
type Sql = (String, Vec<Value>);

/// The WHERE clause of the page query, its parameters, and for an indexed search the
/// candidate set (a CTE `candidate(id)`) with its own parameters.
fn conditions(conn: &Connection, q: &Query) -> Result<(Sql, Option<Sql>), StoreError> {
    let mut sql = String::from("WHERE 1");
    let mut args = Vec::new();
    if let Some(s) = q.status {
        sql.push_str(" AND r.status = ?");
        args.push(Value::Text(s.as_str().to_owned()));
    }
    let filter = q.filter.trim();
    if filter.is_empty() {
        return Ok(((sql, args), None));
    }
    let pattern = like_pattern(filter);
    let id = filter.trim_start_matches('#').parse::<i64>().ok();
    let plan = plan(conn, filter)?;
    let like = |col: &str| format!("{col} LIKE ? ESCAPE '\\'");
    let own_cols = ["r.passenger_name", "r.passenger_email", "r.pickup"];
    let offer_cols = ["origin", "destination", "driver_name", "driver_email"];
    let own_like: Vec<String> = own_cols.iter().map(|c| like(c)).collect();
    let candidates = match plan {
        // The offer side is matched once, as a set of offer ids, so the walk over the
        // reservations tests only its own row and looks an offer up only for a match.
        Plan::Walk => {
            let offer_like: Vec<String> = offer_cols.iter().map(|c| like(c)).collect();
            sql.push_str(&format!(
                " AND ({} OR r.offer_id IN (SELECT id FROM carpool_offers WHERE {})",
                own_like.join(" OR "),
                offer_like.join(" OR ")
            ));
            args.extend(std::iter::repeat_n(Value::Text(pattern), 7));
            None
        }
        // Every candidate row is checked with the same LIKE, on its own and its offer's
        // columns, so the result is exactly the walk's.
        Plan::Candidates { own, offers } => {
            let offer_like: Vec<String> =
                offer_cols.iter().map(|c| like(&format!("o.{c}"))).collect();
            sql.push_str(&format!(
                " AND ({} OR {}",
                own_like.join(" OR "),
                offer_like.join(" OR ")
            ));
            args.extend(std::iter::repeat_n(Value::Text(pattern), 7));
            let mut parts = Vec::new();
            let mut cargs = Vec::new();
            if let Some(fts) = own {
                parts.push("SELECT rowid FROM reservation_search WHERE reservation_search MATCH ?");
                cargs.push(Value::Text(fts));
            }
            if let Some(fts) = offers {
                parts.push(
                    "SELECT c.id FROM offer_search f CROSS JOIN carpool_reservations c ON c.offer_id = f.rowid
                     WHERE offer_search MATCH ?",
                );
                cargs.push(Value::Text(fts));
            }
            if let Some(id) = id {
                parts.push("SELECT ?");
                cargs.push(Value::Integer(id));
            }
            // Rows not indexed yet (an outside process's insert, indexed at the store's
            // next commit): few or none, and checked with the LIKE like every candidate.
            parts.push("SELECT reservation_id FROM reservation_search_pending");
            Some((
                format!(
                    "WITH candidate(id) AS MATERIALIZED ({}) ",
                    parts.join(" UNION ")
                ),
                cargs,
            ))
        }
    };
    if let Some(id) = id {
        sql.push_str(" OR r.id = ?");
        args.push(Value::Integer(id));
    }
    sql.push(')');
    Ok(((sql, args), candidates))
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
    let ((mut where_sql, mut args), candidates) = conditions(conn, q)?;
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
    let from = match (&candidates, q.sort.key) {
        // A handful of candidates: look each up, then sort them (CROSS JOIN keeps that order).
        (Some(_), _) => {
            "candidate CROSS JOIN carpool_reservations r ON r.id = candidate.id
             JOIN carpool_offers o ON o.id = r.offer_id"
        }
        // By creation, the reservations' created_at index drives the walk; pinned too,
        // because after ANALYZE the planner preferred to sort the whole table (1.7 s at 1 M).
        (None, SortKey::Created) => {
            "carpool_reservations r CROSS JOIN carpool_offers o ON o.id = r.offer_id"
        }
        // By departure, the offers' departure index drives the walk and each offer's
        // reservations come from the (offer_id, status) index: CROSS JOIN pins that loop
        // order (SQLite never reorders it), which otherwise sorts every row of the status.
        (None, SortKey::Departure) => {
            "carpool_offers o CROSS JOIN carpool_reservations r ON r.offer_id = o.id"
        }
    };
    let (with, mut all_args) = candidates.unwrap_or_default();
    all_args.extend(args);
    let args = all_args;
    let sql = format!("{with}SELECT {COLUMNS} FROM {from} {where_sql} ORDER BY {order} LIMIT ?");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), from_row)?;
    let mut out: Vec<Row> = rows.collect::<Result<_, _>>()?;
    if backwards {
        out.reverse();
    }
    Ok(out)
}

/// Indexes the reservations queued by the insert trigger (migration 10) once at least
/// `at_least` wait (1: any). The writer thread calls it before a COMMIT with a batch size,
/// and when it idles with 1, so the index takes one segment per few hundred rows instead
/// of one per statement; meanwhile the search takes queued rows as candidates, so nothing
/// is missed. Returns how many rows were indexed: the merge work they owe
/// ([`merge_search_index`]).
pub(crate) fn index_queued_reservations(
    conn: &Connection,
    at_least: usize,
) -> rusqlite::Result<usize> {
    let queued: i64 = conn
        .prepare_cached("SELECT count(*) FROM reservation_search_pending")?
        .query_row([], |r| r.get(0))?;
    if usize::try_from(queued).unwrap_or(usize::MAX) < at_least.max(1) {
        return Ok(0);
    }
    let n = conn
        .prepare_cached(
            "INSERT INTO reservation_search (rowid, body)
             SELECT r.id, r.passenger_name || ' ' || r.passenger_email || ' ' || coalesce(r.pickup, '')
             FROM reservation_search_pending p JOIN carpool_reservations r ON r.id = p.reservation_id",
        )?
        .execute([])?;
    conn.prepare_cached("DELETE FROM reservation_search_pending")?
        .execute([])?;
    Ok(n)
}

/// Merges about `pages` leaf pages of the index's segments. Automatic merges are off
/// (migrations/11-paced-search-merges): the writer pays the merging that indexed rows owe
/// (one page per row: each row is merged once per level, and a million rows make about 6
/// levels) a bounded step at a time, so no commit carries a burst of it.
pub(crate) fn merge_search_index(conn: &Connection, pages: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO reservation_search (reservation_search, rank) VALUES ('merge', ?1)",
    )?
    .execute([pages])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigrams_are_distinct_and_quoted_in_the_query() {
        assert!(trigrams("ab").is_empty());
        assert_eq!(trigrams("Inès"), ["Inè", "nès"]);
        assert_eq!(trigrams("AAAaa"), ["AAA"], "the index folds case");
        // A double quote is doubled inside its quoted term.
        assert_eq!(
            match_query(&trigrams("aaaa\"b")),
            "\"aaa\" AND \"aa\"\"\" AND \"a\"\"b\""
        );
    }

    #[test]
    fn like_metacharacters_are_literal() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(like_pattern(""), "%%");
    }
}
