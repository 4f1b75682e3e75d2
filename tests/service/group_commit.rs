//! Group commit in Store::write: concurrent writers share commits, a failing write rolls
//! back only itself, a panicking one strands nobody, and every Ok is durable.

use std::sync::{Arc, Barrier};

use carette::store::{Store, StoreError};

fn count(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM job_runs", [], |r| r.get(0))
        .unwrap()
}

fn insert(c: &rusqlite::Connection, i: usize) -> Result<(), StoreError> {
    insert_slot(c, &format!("{i:06}"))
}

fn insert_slot(c: &rusqlite::Connection, slot: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO job_runs (job, slot, started_at, ok) VALUES ('t', ?1, '2026-01-01 00:00:00', 1)",
        [slot],
    )?;
    Ok(())
}

/// Runs `work(t)` on `threads` threads released together; their results in thread order.
fn on_threads<T: Send + 'static>(
    threads: usize,
    work: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(threads));
    let work = Arc::new(work);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (barrier, work) = (barrier.clone(), work.clone());
            std::thread::spawn(move || {
                barrier.wait();
                work(t)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_writes_are_all_durable_and_failures_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let threads = 16;
    let per = 50;
    let writer = store.clone();
    let ok: i64 = on_threads(threads, move |t| {
        let store = &writer;
        let mut ok = 0;
        for i in 0..per {
            let n = t * per + i;
            let r: Result<(), StoreError> = store.write(move |c| {
                insert(c, n)?;
                if n % 10 == 3 {
                    // Written, then refused: must leave no trace.
                    return Err(StoreError::Corrupt {
                        table: "job_runs",
                        message: "refused".into(),
                    });
                }
                Ok(())
            });
            if r.is_ok() {
                ok += 1;
            }
        }
        ok
    })
    .into_iter()
    .sum();
    assert_eq!(ok, (threads * per) as i64 * 9 / 10);
    // Read from another connection: every acknowledged write is committed, no refused one is.
    assert_eq!(count(&path), ok);
    let refused: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM job_runs WHERE CAST(slot AS INTEGER) % 10 = 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(refused, 0);
}

fn slot_present(path: &std::path::Path, n: usize) -> bool {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM job_runs WHERE slot = ?1",
            [format!("{n:06}")],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        == 1
}

fn refused() -> StoreError {
    StoreError::Corrupt {
        table: "job_runs",
        message: "refused".into(),
    }
}

#[test]
fn checks_first_writes_share_groups_with_savepoint_writes_and_refuse_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let (threads, per) = (16, 50);
    let writer = store.clone();
    let outcomes = on_threads(threads, move |t| {
        (0..per)
            .map(|i| {
                let n = t * per + i;
                let r: Result<(), StoreError> = if n % 2 == 0 {
                    // Checks first: refused before any change.
                    writer.write_checks_first(move |c| {
                        if n % 10 == 4 {
                            return Err(refused());
                        }
                        insert(c, n)
                    })
                } else {
                    // In a savepoint: refused after its change, which is undone alone.
                    writer.write(move |c| {
                        insert(c, n)?;
                        if n % 10 == 3 { Err(refused()) } else { Ok(()) }
                    })
                };
                (n, r.is_ok())
            })
            .collect::<Vec<_>>()
    });
    let outcomes: Vec<(usize, bool)> = outcomes.into_iter().flatten().collect();
    let ok = outcomes.iter().filter(|(_, ok)| *ok).count();
    // Only the refused ones failed: a refusal before any change costs the group nothing.
    assert_eq!(ok, threads * per * 8 / 10);
    assert_eq!(count(&path), ok as i64);
    for (n, ok) in outcomes {
        assert_eq!(ok, n % 10 != 3 && n % 10 != 4, "write {n}");
    }
}

#[test]
fn a_checks_first_write_failing_after_a_change_rolls_back_its_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let threads = 16;
    let writer = store.clone();
    let outcomes = on_threads(threads, move |t| {
        let r: Result<(), StoreError> = if t == 0 {
            // Breaks its promise: a change, then an error (as an I/O error would).
            writer.write_checks_first(move |c| {
                for k in 0..5 {
                    insert(c, 1000 + k)?;
                }
                Err(refused())
            })
        } else {
            writer.write(move |c| insert(c, t))
        };
        r
    });
    // Its own error, not a generic one.
    assert!(
        matches!(&outcomes[0], Err(StoreError::Corrupt { message, .. }) if message == "refused"),
        "{:?}",
        outcomes[0]
    );
    assert!(
        (0..5).all(|k| !slot_present(&path, 1000 + k)),
        "its changes are undone"
    );
    // Those that shared its transaction failed with it; every acknowledged write is durable.
    for (t, r) in outcomes.iter().enumerate().skip(1) {
        assert_eq!(r.is_ok(), slot_present(&path, t), "write {t}: {r:?}");
    }
    assert_eq!(
        count(&path),
        outcomes.iter().filter(|r| r.is_ok()).count() as i64
    );
    // The writer goes on.
    let after: Result<(), StoreError> = store.write_checks_first(|c| insert(c, 99));
    assert!(after.is_ok(), "{after:?}");
    assert!(slot_present(&path, 99));
}

#[test]
fn a_reservation_insert_breaking_a_constraint_ends_its_group_and_the_writer_goes_on() {
    use carette::domain::Lang;
    use carette::store::reservations::{self, NewReservation};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = Arc::new(Store::open(&path).unwrap());
    store.write(crate::support::db::insert_offer).unwrap();
    let reservation = |seats| NewReservation {
        offer_id: 1,
        passenger_name: "P".to_owned(),
        passenger_email: format!("p{seats}@example.org"),
        seats,
        pickup: None,
        message: None,
        lang: Lang::Fr,
    };
    let writer = store.clone();
    let outcomes = on_threads(8, move |t| {
        if t == 0 {
            // seats = 0 breaks the table's CHECK: SQLite rolls the transaction back.
            writer
                .write_checks_first(move |c| {
                    reservations::insert(c, &reservation(0), chrono::Utc::now()).map(drop)
                })
                .map_err(|e| e.to_string())
        } else {
            writer
                .write(move |c| insert(c, t))
                .map_err(|e| e.to_string())
        }
    });
    assert!(
        outcomes[0].as_ref().is_err_and(|e| e.contains("CHECK")),
        "{:?}",
        outcomes[0]
    );
    for (t, r) in outcomes.iter().enumerate().skip(1) {
        assert_eq!(r.is_ok(), slot_present(&path, t), "write {t}: {r:?}");
    }
    let rows: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM carpool_reservations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rows, 0, "nothing of it stayed");
    // The writer goes on, in a transaction of its own again.
    let ok = store.write_checks_first(move |c| {
        reservations::insert(c, &reservation(1), chrono::Utc::now()).map(drop)
    });
    assert!(ok.is_ok(), "{ok:?}");
    assert!(store.write(|c| insert(c, 77)).is_ok());
    assert!(slot_present(&path, 77));
}

#[test]
fn a_panicking_write_strands_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let s = store.clone();
    let panicked = std::thread::spawn(move || {
        let _: Result<(), StoreError> = s.write(|c| {
            insert(c, 1)?;
            panic!("boom");
        });
    })
    .join();
    assert!(panicked.is_err());
    // The writer is usable (or reports poisoning) but never hangs, and the panicking write left nothing.
    let after: Result<(), StoreError> = store.write(|c| insert(c, 2));
    assert!(after.is_ok() || matches!(after, Err(StoreError::Poisoned)));
    let rows: i64 = count(&path);
    assert!(rows <= 1);
    let has_1: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM job_runs WHERE slot = '000001'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(has_1, 0);
}

use crate::support::hot_queries;

/// Once an operator runs ANALYZE (or the daemon's `PRAGMA optimize` does), the planner
/// trusts the statistics: the hot queries must still use their indexes, never scan the
/// big tables nor sort everything in a temp B-tree.
#[test]
fn hot_query_plans_stay_good_after_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    hot_queries::build(&path, 20_000, 200_000, 400_000);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("ANALYZE").unwrap();
    let analyzed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'outbox'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(analyzed > 0, "ANALYZE gathered statistics");
    hot_queries::trace(&conn);
    let mut bad = Vec::new();
    let mut report = Vec::new();
    for (name, run) in hot_queries::hot_queries() {
        hot_queries::take();
        run(&conn);
        let statements: Vec<String> = hot_queries::take()
            .into_iter()
            .filter(|s| !matches!(s.as_str(), "BEGIN IMMEDIATE" | "ROLLBACK"))
            .collect();
        assert!(!statements.is_empty(), "{name}: no statement captured");
        for sql in statements {
            let steps = hot_queries::plan(&conn, &sql);
            report.push(format!("{name}: {}", steps.join(" | ")));
            if name == "driver dashboard" {
                // COLLATE NOCASE lookups need a NOCASE index (a BINARY one is ignored).
                assert!(
                    steps
                        .iter()
                        .any(|s| s.contains("idx_offers_driver (driver_email=?")),
                    "{steps:?}"
                );
            }
            if name == "outbox claim" && sql.contains("NOT EXISTS") {
                // A partial index serves only a query that repeats its condition
                // (migrations/13): without it, each candidate row scans the outbox.
                assert!(
                    steps
                        .iter()
                        .any(|s| s.contains("idx_outbox_recipient_blockers (recipient=?")),
                    "{steps:?}"
                );
            }
            if let Some(problem) = hot_queries::plan_problem(name, &sql, &steps) {
                bad.push(format!("{name}: {problem}\n    {sql}"));
            }
        }
    }
    println!("{}", report.join("\n"));
    // The check can fail: the queries these replaced are caught.
    for old in [
        "SELECT status, COUNT(*) FROM outbox GROUP BY status",
        "SELECT * FROM outbox WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    ] {
        let steps = hot_queries::plan(&conn, old);
        assert!(
            hot_queries::plan_problem("old", old, &steps).is_some(),
            "{old}: {steps:?}"
        );
    }
    assert!(
        bad.is_empty(),
        "bad plans after ANALYZE:\n{}",
        bad.join("\n")
    );
}

/// SQLite's advice, followed: `PRAGMA optimize` when the store opens (and at close, and
/// hourly in the daemon), so statistics exist without an operator running ANALYZE.
#[test]
fn opening_and_closing_the_store_gather_planner_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.db");
    hot_queries::build(&path, 200, 2_000, 4_000);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE IF EXISTS sqlite_stat1")
        .unwrap();
    drop(conn);
    drop(Store::open(&path).unwrap());
    let analyzed: Vec<String> = rusqlite::Connection::open(&path)
        .unwrap()
        .prepare("SELECT DISTINCT tbl FROM sqlite_stat1 ORDER BY tbl")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in ["carpool_offers", "carpool_reservations", "outbox"] {
        assert!(analyzed.iter().any(|t| t == table), "{table}: {analyzed:?}");
    }
}

/// Committed pages are copied back into the database file by the checkpointer thread
/// soon after the writes, without waiting for SQLite's 1000-page automatic checkpoint
/// (which the writer only keeps as a backstop, far above this test's few pages).
#[test]
fn the_checkpointer_copies_commits_into_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = Store::open(&path).unwrap();
    let marker = "checkpointed-marker-3f9a";
    let in_file = |path: &std::path::Path| {
        let bytes = std::fs::read(path).unwrap();
        bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
    };
    store
        .write(move |c| {
            c.execute(
                "INSERT INTO job_runs (job, slot, started_at, ok, summary) VALUES ('t', 'x', '2026-01-01 00:00:00', 1, ?1)",
                [marker],
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !in_file(&path) {
        assert!(
            std::time::Instant::now() < deadline,
            "the commit never reached the database file"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The store is still open: the copy was the checkpointer's, not the close's.
    drop(store);
}

/// Under a steady stream of commits the checkpointer never catches up on its own (new
/// frames arrive while it copies), and the WAL restarts only when a write transaction
/// begins with every frame copied: the writer finishes each nearly complete background
/// checkpoint between two groups, so the WAL keeps restarting from its beginning instead of
/// growing to the 16 MiB backstop, where the writer would copy it all inside a COMMIT.
#[test]
fn under_steady_writes_the_wal_restarts_well_before_the_backstop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let threads = 8;
    let per = 120;
    let writer = store.clone();
    on_threads(threads, move |t| {
        let store = &writer;
        for i in 0..per {
            store
                .write(move |c| {
                    // 16 rows of 8 KB: 128 KB a write, 120 MB in all.
                    for k in 0..16 {
                        c.execute(
                            "INSERT INTO job_runs (job, slot, started_at, ok, summary)
                             VALUES ('t', ?1, '2026-01-01 00:00:00', 1, hex(randomblob(4096)))",
                            [format!("{t}-{i}-{k}")],
                        )?;
                    }
                    Ok::<_, StoreError>(())
                })
                .unwrap();
            // A steady 40 MB/s at most, like a busy daemon: a checkpointer
            // left alone copies it but never finishes a pass.
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    });
    assert_eq!(count(&path), (threads * per * 16) as i64);
    // The WAL file keeps the length of its longest run (SQLite reuses it from the start).
    let wal = std::fs::metadata(dir.path().join("c.db-wal"))
        .unwrap()
        .len();
    assert!(
        wal < 12 << 20,
        "the WAL grew to {} MiB of 120 MiB written",
        wal >> 20
    );
    drop(store);
}

/// The writer keeps the hot index pages of a grown database in its own, larger cache.
#[test]
fn the_writer_has_a_larger_page_cache_and_a_memory_map_readers_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).unwrap();
    let pragmas = |c: &rusqlite::Connection| -> Result<(i64, i64), StoreError> {
        let cache = c.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        let mmap = c.query_row("PRAGMA mmap_size", [], |r| r.get(0))?;
        Ok((cache, mmap))
    };
    let writer = store.write(pragmas).unwrap();
    let reader = store.read(pragmas).unwrap();
    assert_eq!(writer, (-8192, 1 << 30), "8 MiB of cache, 1 GiB mapped");
    assert_eq!(reader, (-2000, 0), "SQLite's defaults");
}

/// The writer reads the file through a memory map. Another process that shrinks the file
/// (an operator's VACUUM, `carette forget` rebuilding it) must not leave the writer reading
/// pages past the new end: that would be a SIGBUS, not an error.
#[test]
fn the_writer_keeps_working_after_another_process_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = Store::open(&path).unwrap();
    let padding = "x".repeat(2000);
    for i in 0..2000 {
        let slot = format!("{i:06}{padding}");
        store.write(move |c| insert_slot(c, &slot)).unwrap();
    }
    // Reads the whole table, so the writer has mapped and touched every page.
    let total: i64 = store
        .write(|c| {
            Ok::<_, StoreError>(
                c.query_row("SELECT SUM(length(slot)) FROM job_runs", [], |r| r.get(0))?,
            )
        })
        .unwrap();
    assert_eq!(total, 2000 * 2006);
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    other
        .execute_batch(
            "PRAGMA wal_checkpoint(TRUNCATE); DELETE FROM job_runs; VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
    let shrunk = std::fs::metadata(&path).unwrap().len();
    assert!(shrunk < 1_000_000, "the file shrank: {shrunk} bytes");
    for i in 0..200 {
        store.write(move |c| insert(c, i)).unwrap();
    }
    let (rows, check): (i64, String) = store
        .write(|c| {
            let rows = c.query_row("SELECT COUNT(*) FROM job_runs", [], |r| r.get(0))?;
            let check = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            Ok::<_, StoreError>((rows, check))
        })
        .unwrap();
    assert_eq!((rows, check.as_str()), (200, "ok"));
    assert_eq!(count(&path), 200);
}
