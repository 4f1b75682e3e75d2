//! The hot queries of a busy install, on a database as big as asked: shared by the query
//! plan test (tests/service/group_commit.rs) and the timing bench (benches/hot_queries.rs).
//! The SQL is captured from the real store functions with SQLite's statement trace, so
//! what is checked is what runs, whoever edits the queries.
#![allow(dead_code)]

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::path::Path;
use std::sync::Mutex;

use carette::domain::Status;
use carette::store::browse::{self, Anchor, Query};
use carette::store::outbox::{self, EmailStatus};
use carette::store::{Store, offers, reservations, stats};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::{Connection, ffi};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap()
}

/// Offers, reservations over them, outbox rows over two years up to `now()`, as a healthy
/// install's database grows: pending requests only from the last day (older ones expired),
/// a backlog of 200 queued and 20 sending emails, 1 % failed, the rest sent. Raw SQL, one
/// transaction.
pub fn build(path: &Path, offers: i64, reservations: i64, emails: i64) {
    drop(Store::open(path).unwrap());
    let mut conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "synchronous", "OFF").unwrap();
    let tx = conn.transaction().unwrap();
    let sql = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :offers)
INSERT INTO carpool_offers (id, driver_name, driver_email, origin, destination, departure_at,
    seats, status, created_at, updated_at)
SELECT i, 'Driver ' || i, 'Driver' || (i % 5000) || '@Example.org', 'City ' || (i % 97), 'Town',
    datetime('2024-03-15 12:00:00', '+' || (i * 63072000 / :offers + 86400 * (1 + i % 14)) || ' seconds'),
    4, CASE WHEN i % 50 = 0 THEN 'cancelled' ELSE 'active' END,
    datetime('2024-03-15 12:00:00', '+' || (i * 63072000 / :offers) || ' seconds'),
    datetime('2024-03-15 12:00:00', '+' || (i * 63072000 / :offers) || ' seconds')
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :reservations)
INSERT INTO carpool_reservations (id, offer_id, passenger_name, passenger_email, seats, status,
    created_at, updated_at)
SELECT i, 1 + (i - 1) * :offers / :reservations, 'Passenger ' || i, 'p' || i || '@example.org', 1,
    CASE (i * 31) % 20 WHEN 0 THEN CASE WHEN i > :reservations * 729 / 730 THEN 'pending' ELSE 'expired' END
         WHEN 1 THEN 'removed' WHEN 2 THEN 'refused'
         WHEN 3 THEN 'expired' WHEN 4 THEN 'cancelled' ELSE 'confirmed' END,
    datetime('2024-03-15 12:00:00', '+' || (i * 63072000 / :reservations + 700) || ' seconds'),
    datetime('2024-03-15 12:00:00', '+' || (i * 63072000 / :reservations + 700) || ' seconds')
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :emails)
INSERT INTO outbox (template, recipient, context, reservation_id, offer_id, status, attempts,
    next_attempt_at, lease_until, message_id, created_at, sent_at)
SELECT 'request_driver', 'p' || i || '@example.org', '{}',
    1 + (i - 1) * :reservations / :emails, NULL,
    CASE WHEN i > :emails - 20 THEN 'sending' WHEN i > :emails - 220 THEN 'queued'
         WHEN i % 100 = 0 THEN 'failed' ELSE 'sent' END,
    1, datetime('2026-03-15 12:00:00', '-' || ((:emails - i) * 63072000 / :emails) || ' seconds'),
    CASE WHEN i > :emails - 20 THEN datetime('2026-03-15 12:00:00', '+300 seconds') END,
    'bench.' || i,
    datetime('2026-03-15 12:00:00', '-' || ((:emails - i) * 63072000 / :emails) || ' seconds'),
    CASE WHEN i <= :emails - 220 AND i % 100 != 0 THEN datetime('2026-03-15 12:00:00', '-' || ((:emails - i) * 63072000 / :emails - 30) || ' seconds') END
FROM n;
-- New outbox rows are counted by the code that queues them (migrations/12).
INSERT INTO outbox_status_counts (status, n) SELECT status, COUNT(*) FROM outbox WHERE true GROUP BY status
    ON CONFLICT (status) DO UPDATE SET n = excluded.n;
INSERT INTO reservation_events (reservation_id, actor, from_status, to_status, at)
SELECT id, 'passenger', NULL, 'pending', created_at FROM carpool_reservations;
";
    let sql = sql
        .replace(":offers", &offers.to_string())
        .replace(":reservations", &reservations.to_string())
        .replace(":emails", &emails.to_string());
    tx.execute_batch(&sql).unwrap();
    // Some decisions after the fact, so the counters' update triggers run too.
    tx.execute_batch(
        "UPDATE carpool_reservations SET status = 'confirmed' WHERE status = 'pending' AND id % 3 = 0;
         UPDATE carpool_reservations SET status = 'refused' WHERE status = 'pending' AND id % 3 = 1;",
    )
    .unwrap();
    tx.commit().unwrap();
    let off: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM (SELECT substr(created_at, 1, 13) AS h, COUNT(*) AS c,
                    SUM(status = 'confirmed') AS cf, SUM(status = 'refused') AS rf
                 FROM carpool_reservations GROUP BY h) x
             LEFT JOIN reservation_hourly_counts k ON k.hour = x.h
             WHERE k.created IS NOT x.c OR k.confirmed IS NOT x.cf OR k.refused IS NOT x.rf",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(off, 0, "hourly counters agree with the rows");
    // The counts kept by triggers were filled row by row above; check they agree.
    let (kept, counted): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT SUM(n) FROM outbox_status_counts), (SELECT COUNT(*) FROM outbox)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kept, counted);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
}

static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_statement(
    _mask: c_uint,
    _ctx: *mut c_void,
    _stmt: *mut c_void,
    sql: *mut c_void,
) -> c_int {
    if !sql.is_null() {
        // SAFETY: for SQLITE_TRACE_STMT, X is the NUL-terminated unexpanded SQL text.
        let text = unsafe { CStr::from_ptr(sql as *const c_char) };
        let text = text.to_string_lossy().into_owned();
        // Trigger bodies are reported as "-- TRIGGER name" comments.
        if !text.starts_with("--") {
            CAPTURED.lock().unwrap().push(text);
        }
    }
    0
}

/// Records every statement `conn` runs (see `take`).
pub fn trace(conn: &Connection) {
    // SAFETY: the handle outlives the callback registration (it is cleared when the
    // connection closes); the callback only reads the SQL text SQLite hands it.
    let rc = unsafe {
        ffi::sqlite3_trace_v2(
            conn.handle(),
            ffi::SQLITE_TRACE_STMT as c_uint,
            Some(on_statement),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, ffi::SQLITE_OK);
}

/// The statements run since the last call.
pub fn take() -> Vec<String> {
    let mut v = std::mem::take(&mut *CAPTURED.lock().unwrap());
    v.dedup();
    v
}

/// One hot path: a name and the call the program makes.
pub type HotQuery = (&'static str, fn(&Connection) -> ());

/// The hot paths: the sender's claim and sleep, the jobs, the driver dashboard, the
/// monitoring figures and the TUI's lists and detail.
pub fn hot_queries() -> Vec<HotQuery> {
    vec![
        ("outbox claim", |c| {
            // An UPDATE: rolled back, so the database stays as built.
            c.execute_batch("BEGIN IMMEDIATE").unwrap();
            let lease = outbox::Lease {
                owner: "plans".into(),
                claim: 1,
            };
            outbox::claim_due(c, &lease, now(), Duration::seconds(300), 50).unwrap();
            c.execute_batch("ROLLBACK").unwrap();
        }),
        ("outbox next due", |c| {
            outbox::next_due_at(c).unwrap();
        }),
        ("expiry job", |c| {
            reservations::due_for_expiry(c, now() - Duration::hours(24), now()).unwrap();
        }),
        ("reminders job", |c| {
            let (from, to) =
                carette::domain::time::reminder_window(chrono_tz::Europe::Paris, now());
            reservations::due_for_reminder(c, from, to).unwrap();
        }),
        ("driver dashboard", |c| {
            offers::upcoming_for_driver(c, "driver42@example.org", now()).unwrap();
        }),
        ("stats / metrics", |c| {
            stats::compute(c, now(), now() - Duration::hours(12), 24).unwrap();
        }),
        ("TUI activity chart", |c| {
            stats::hourly_decisions(c, now() - Duration::days(30)).unwrap();
        }),
        ("TUI outbox list (failed)", |c| {
            outbox::list(c, Some(EmailStatus::Failed), 51, 0).unwrap();
        }),
        ("TUI outbox list (sending)", |c| {
            outbox::list(c, Some(EmailStatus::Sending), 51, 0).unwrap();
        }),
        ("TUI outbox list (all)", |c| {
            outbox::list(c, None, 51, 0).unwrap();
        }),
        ("TUI reservations (all)", |c| {
            browse::page(c, &Query::default(), &Anchor::First, 51).unwrap();
        }),
        ("TUI reservations (pending)", |c| {
            let q = Query {
                status: Some(Status::Pending),
                ..Query::default()
            };
            browse::page(c, &q, &Anchor::First, 51).unwrap();
        }),
        ("TUI detail", |c| {
            reservations::get(c, 777).unwrap();
            offers::get(c, 77).unwrap();
            reservations::history(c, 777).unwrap();
            outbox::for_reservation(c, 777).unwrap();
            reservations::confirmed_for_offer(c, 77).unwrap();
        }),
    ]
}

/// EXPLAIN QUERY PLAN details of `sql`, one line per step.
pub fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    // The plan is made at prepare time, whatever the values (no STAT4): NULLs will do.
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Sorts of a small, bounded set the test accepts, with the reason.
const SMALL_SORTS: &[(&str, &str)] = &[
    // The claim walks the queued rows in age order (idx_outbox_queue); where the planner
    // prefers to sort instead, the sort covers the queued backlog only, never the whole outbox.
    ("outbox claim", "due rows only"),
    // route_state has one row per offer; the sort covers the failed ones only.
    ("stats / metrics", "failed routes only"),
    // One offer's confirmed passengers: at most its seats.
    ("TUI detail", "one offer's passengers"),
];

/// Why a plan is bad, if it is: a full SCAN of a big table (an unfiltered ordered walk cut
/// short by LIMIT is fine: it reads LIMIT rows), or a temp B-tree (a sort of everything matching;
/// "LAST TERM OF ORDER BY" only orders ties, and the sorts in SMALL_SORTS are bounded).
pub fn plan_problem(name: &str, sql: &str, steps: &[String]) -> Option<String> {
    // An ordered walk cut short by LIMIT reads LIMIT rows only when nothing filters it.
    let upper = sql.to_ascii_uppercase();
    let limited =
        upper.contains("LIMIT") && (!upper.contains(" WHERE ") || upper.contains(" WHERE 1 "));
    let small_sort = SMALL_SORTS.iter().any(|(n, _)| *n == name);
    for step in steps {
        if step.contains("TEMP B-TREE") && !step.contains("LAST TERM") && !small_sort {
            return Some(format!("temp B-tree: {step}"));
        }
        let scanned = step
            .strip_prefix("SCAN ")
            .map(|rest| rest.split_whitespace().next().unwrap_or_default());
        if let Some(table) = scanned
            && ["outbox", "carpool_reservations", "carpool_offers", "r", "o"].contains(&table)
            && !limited
        {
            return Some(format!("full scan: {step}"));
        }
    }
    None
}
