//! The paged reservation queries behind the TUI: walking every page forwards or backwards
//! by key gives exactly the rows of one ordered query, ties included; the text filter takes
//! `%` and `_` literally.

use carette::domain::Status;
use carette::service::{Service, Settings};
use carette::store::Store;
use carette::store::browse::{Anchor, Query, Row, Sort, SortKey, page};
use rusqlite::Connection;
use std::sync::Arc;

/// 40 offers (several sharing a departure) and 400 reservations whose creation times
/// collide in groups of three, so every tie-break is exercised.
fn db() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carette.db");
    drop(Store::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
         INSERT INTO carpool_offers (id, driver_name, driver_email, origin, destination,
             departure_at, seats, created_at, updated_at)
         SELECT i, 'Driver ' || i, 'd' || i || '@example.org', 'Lyon ' || (i % 3),
             CASE WHEN i = 7 THEN 'Gare 100%_sure' ELSE 'Grenoble' END,
             datetime('2026-04-01 08:00:00', '+' || (i / 4) || ' days'), 4,
             '2026-03-01 00:00:00', '2026-03-01 00:00:00'
         FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
         INSERT INTO carpool_reservations (id, offer_id, passenger_name, passenger_email, seats,
             status, created_at, updated_at)
         SELECT i, 1 + (i * 7) % 40, 'Passenger ' || i, 'p' || i || '@example.org', 1,
             CASE i % 4 WHEN 0 THEN 'pending' WHEN 1 THEN 'confirmed' WHEN 2 THEN 'expired'
                  ELSE 'refused' END,
             datetime('2026-03-02 00:00:00', '+' || (i / 3) || ' minutes'),
             datetime('2026-03-02 00:00:00', '+' || (i / 3) || ' minutes')
         FROM n;",
    )
    .unwrap();
    (dir, conn)
}

fn ids(rows: &[Row]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

fn queries() -> Vec<Query> {
    let mut out = Vec::new();
    for status in [None, Some(Status::Pending), Some(Status::Refused)] {
        for key in [SortKey::Created, SortKey::Departure] {
            for descending in [true, false] {
                out.push(Query {
                    status,
                    filter: String::new(),
                    sort: Sort { key, descending },
                });
            }
        }
    }
    out
}

#[test]
fn walking_pages_by_key_covers_every_row_once_in_order() {
    let (_dir, conn) = db();
    for q in queries() {
        let all = ids(&page(&conn, &q, &Anchor::First, 10_000).unwrap());
        let expected = match q.status {
            None => 400,
            Some(_) => 100,
        };
        assert_eq!(all.len(), expected, "{q:?}");

        let mut forward = Vec::new();
        let mut rows = page(&conn, &q, &Anchor::First, 7).unwrap();
        while let Some(last) = rows.last() {
            let next = Anchor::After(last.key(q.sort.key));
            forward.extend(ids(&rows));
            rows = page(&conn, &q, &next, 7).unwrap();
        }
        assert_eq!(forward, all, "forward {q:?}");

        let mut backward = Vec::new();
        let mut rows = page(&conn, &q, &Anchor::Last, 7).unwrap();
        while let Some(first) = rows.first() {
            let prev = Anchor::Before(first.key(q.sort.key));
            let mut chunk = ids(&rows);
            chunk.extend(backward);
            backward = chunk;
            rows = page(&conn, &q, &prev, 7).unwrap();
        }
        assert_eq!(backward, all, "backward {q:?}");

        // Re-reading a page from its first row's key gives the same page.
        let row = &page(&conn, &q, &Anchor::First, 50).unwrap()[20];
        let again = page(&conn, &q, &Anchor::From(row.key(q.sort.key)), 7).unwrap();
        assert_eq!(ids(&again), all[20..27].to_vec(), "from {q:?}");
    }
}

#[test]
fn the_orders_are_the_ones_shown() {
    let (_dir, conn) = db();
    for q in queries() {
        let rows = page(&conn, &q, &Anchor::First, 10_000).unwrap();
        for w in rows.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let ka = (a.key(q.sort.key).primary, a.offer_id, a.id);
            let kb = (b.key(q.sort.key).primary, b.offer_id, b.id);
            let (ka, kb) = match q.sort.key {
                SortKey::Created => ((ka.0, 0, ka.2), (kb.0, 0, kb.2)),
                SortKey::Departure => (ka, kb),
            };
            if q.sort.descending {
                assert!(ka > kb, "{q:?}: {ka:?} then {kb:?}");
            } else {
                assert!(ka < kb, "{q:?}: {ka:?} then {kb:?}");
            }
            if let Some(s) = q.status {
                assert_eq!(a.status, s);
            }
        }
    }
}

#[test]
fn the_filter_matches_people_places_and_ids_literally() {
    let (_dir, conn) = db();
    let find = |filter: &str| {
        let q = Query {
            status: None,
            filter: filter.into(),
            sort: Sort::default(),
        };
        let mut v = ids(&page(&conn, &q, &Anchor::First, 10_000).unwrap());
        v.sort_unstable();
        v
    };
    assert_eq!(find("Passenger 399"), vec![399]);
    assert_eq!(find("P12@EXAMPLE"), vec![12], "case-insensitive");
    assert_eq!(find("#250"), vec![250], "a number is also an id");
    // `%` and `_` are not wildcards: only offer 7's destination has "100%_".
    let on_offer_7: Vec<i64> = (1..=400).filter(|i| 1 + (i * 7) % 40 == 7).collect();
    assert_eq!(find("100%_"), on_offer_7);
    assert!(find("100%x").is_empty());
    assert!(find("Lyon_").is_empty());
    assert_eq!(find("d7@example").len(), on_offer_7.len(), "driver email");
    assert!(find("\\").is_empty());
}

#[test]
fn the_service_wrappers_read_one_reservation_whole() {
    let (dir, _conn) = db();
    let store = Store::open_read_only(&dir.path().join("carette.db")).unwrap();
    let svc = Service::new(Arc::new(store), Settings::default());
    let d = svc.reservation_detail(42).unwrap();
    assert_eq!(d.reservation.id, 42);
    assert_eq!(d.offer.id, d.reservation.offer_id);
    assert!(svc.reservation_detail(4242).is_err());
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-03T12:00:00Z")
        .unwrap()
        .to_utc();
    let days = svc.daily_activity(now, 30).unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days.iter().map(|d| d.requests).sum::<u64>(), 400);
    assert_eq!(
        days.last().map(|d| d.date.to_string()).as_deref(),
        Some("2026-03-03")
    );
}

/// The rows a plain LIKE scan finds, without any index: what the filter must return.
fn like_scan(conn: &Connection, filter: &str) -> Vec<i64> {
    let p = carette::store::browse::like_pattern(filter);
    let mut stmt = conn
        .prepare(
            "SELECT r.id FROM carpool_reservations r JOIN carpool_offers o ON o.id = r.offer_id
             WHERE r.passenger_name LIKE ?1 ESCAPE '\\' OR r.passenger_email LIKE ?1 ESCAPE '\\'
                OR r.pickup LIKE ?1 ESCAPE '\\' OR o.origin LIKE ?1 ESCAPE '\\'
                OR o.destination LIKE ?1 ESCAPE '\\' OR o.driver_name LIKE ?1 ESCAPE '\\'
                OR o.driver_email LIKE ?1 ESCAPE '\\' OR r.id = ?2
             ORDER BY r.id",
        )
        .unwrap();
    let id = filter.trim_start_matches('#').parse::<i64>().unwrap_or(-1);
    stmt.query_map(rusqlite::params![p, id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn the_indexed_filter_finds_exactly_what_a_full_scan_finds_even_after_edits() {
    let (_dir, conn) = db();
    let find = |filter: &str| {
        let q = Query {
            status: None,
            filter: filter.into(),
            sort: Sort::default(),
        };
        let mut v = ids(&page(&conn, &q, &Anchor::First, 10_000).unwrap());
        v.sort_unstable();
        v
    };
    let filters = [
        "Passenger 1",
        "ssenger 39",
        "p12@",
        "P12@EXAMPLE",
        "Lyon 2",
        "Gre",
        "100%_",
        "xyz",
        "Inès",
        "INÈS",
        "inès",
        "d7@",
        "#5",
        "39",
        "Driver 3",
        "Passenger Inès",
        "@example.org",
    ];
    let check = |when: &str| {
        for f in filters {
            let expected = like_scan(&conn, f);
            assert_eq!(find(f), expected, "filter {f:?} {when}");
        }
    };
    // Rows written by an outside process wait in the queue (migration 10) and are found
    // through it; the store indexes them when it opens (and at each of its commits).
    let queued = |conn: &Connection| -> i64 {
        conn.query_row("SELECT COUNT(*) FROM reservation_search_pending", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(queued(&conn), 400);
    check("queued, not indexed yet");
    let path = _dir.path().join("carette.db");
    drop(Store::open(&path).unwrap());
    assert_eq!(queued(&conn), 0, "the store indexed the queue");
    check("as built");
    // Edits the search indexes must follow (renames, anonymisation, new rows, deletions).
    conn.execute_batch(
        "UPDATE carpool_reservations SET passenger_name = 'Inès Duval' WHERE id = 5;
         UPDATE carpool_reservations SET passenger_email = 'anonymous@invalid', passenger_name = 'Anonyme' WHERE id = 12;
         UPDATE carpool_reservations SET pickup = 'Place Bellecour' WHERE id IN (7, 8);
         UPDATE carpool_offers SET driver_name = 'Yves Inès', origin = 'Gresse' WHERE id = 3;
         INSERT INTO carpool_reservations (id, offer_id, passenger_name, passenger_email, seats,
             status, created_at, updated_at)
         VALUES (401, 9, 'Passenger 1999', 'new@example.org', 1, 'pending',
             '2026-03-09 00:00:00', '2026-03-09 00:00:00');
         DELETE FROM carpool_reservations WHERE id = 399;",
    )
    .unwrap();
    check("after edits");
    assert_eq!(queued(&conn), 1, "the new row waits for the store");
    drop(Store::open(&path).unwrap());
    check("after edits, indexed");
    assert_eq!(find("Inès Duval"), vec![5]);
    assert!(
        find("p12@").is_empty(),
        "the old address is gone from the index"
    );
    assert_eq!(find("Bellecour"), vec![7, 8]);
}
