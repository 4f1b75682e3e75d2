//! SQL time of the hot queries at 1 M reservations and 2 M outbox rows, before and after
//! ANALYZE, plus the queries they replaced. Goal: each under 10 ms.
//!
//! `cargo bench --bench hot_queries` (or `cargo test --release --bench hot_queries`);
//! CARETTE_BENCH_DB=path keeps and reuses the (1.5 GB) file.
#![allow(clippy::unwrap_used)] // a bench that cannot set up should panic

#[path = "../tests/support/hot_queries.rs"]
mod hot_queries;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::Connection;

const RUNS: usize = 9;

fn median(mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[RUNS / 2]
}

/// What the code ran before migration 05 (outbox counts by status, the TUI outbox list).
fn old_queries(conn: &Connection) -> Vec<(&'static str, Duration)> {
    let count = || {
        let mut s = conn
            .prepare_cached("SELECT status, COUNT(*) FROM outbox GROUP BY status")
            .unwrap();
        let _: Vec<(String, i64)> = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    };
    let list = |status: &str| {
        let mut s = conn
            .prepare_cached(
                "SELECT id FROM outbox WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT 51 OFFSET 0",
            )
            .unwrap();
        let _: Vec<i64> = s
            .query_map([status], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    };
    // The planner used to ignore the BINARY driver_email index for a NOCASE lookup and
    // walk the departure index instead; forced here on the new schema to show the cost.
    let dashboard = || {
        let mut s = conn
            .prepare_cached(
                "SELECT o.id FROM carpool_offers o INDEXED BY idx_offers_departure
                 WHERE o.driver_email = ?1 COLLATE NOCASE AND o.departure_at > ?2 ORDER BY o.departure_at",
            )
            .unwrap();
        let _: Vec<i64> = s
            .query_map(["driver42@example.org", "2026-03-15 12:00:00"], |r| {
                r.get(0)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    };
    vec![
        ("old: outbox counts GROUP BY status", median(count)),
        ("old: TUI outbox list (failed)", median(|| list("failed"))),
        // A rare status: the rowid walk reads the whole table to find 51.
        ("old: TUI outbox list (sending)", median(|| list("sending"))),
        ("old: dashboard (departure index)", median(dashboard)),
    ]
}

fn measure(conn: &Connection, label: &str) {
    println!("\n{label}");
    for (name, run) in hot_queries::hot_queries() {
        let t = median(|| run(conn));
        println!("  {name:<30} {:>9.2} ms", t.as_secs_f64() * 1000.0);
    }
    for (name, t) in old_queries(conn) {
        println!("  {name:<30} {:>9.2} ms", t.as_secs_f64() * 1000.0);
    }
}

fn main() {
    let keep = std::env::var_os("CARETTE_BENCH_DB").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = keep.unwrap_or_else(|| tmp.path().join("hot.db"));
    if !path.exists() {
        let start = Instant::now();
        hot_queries::build(&path, 100_000, 1_000_000, 2_000_000);
        println!("built {} in {:.1?}", path.display(), start.elapsed());
    }
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch("DROP TABLE IF EXISTS sqlite_stat1; DROP TABLE IF EXISTS sqlite_stat4;")
        .ok();
    let conn = {
        drop(conn);
        Connection::open(&path).expect("reopen")
    };
    measure(&conn, "1 M reservations, 2 M outbox rows, no statistics:");
    let start = Instant::now();
    conn.execute_batch("ANALYZE").expect("analyze");
    println!("\nANALYZE took {:.1?}", start.elapsed());
    let conn = {
        drop(conn);
        Connection::open(&path).expect("reopen")
    };
    measure(&conn, "after ANALYZE:");
    println!("\nplans after ANALYZE:");
    hot_queries::trace(&conn);
    for (name, run) in hot_queries::hot_queries() {
        hot_queries::take();
        run(&conn);
        for sql in hot_queries::take() {
            if matches!(sql.as_str(), "BEGIN IMMEDIATE" | "ROLLBACK") {
                continue;
            }
            println!("  {name}: {}", hot_queries::plan(&conn, &sql).join(" | "));
        }
    }
}
