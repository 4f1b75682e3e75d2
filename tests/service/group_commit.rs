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
    c.execute(
        "INSERT INTO job_runs (job, slot, started_at, ok) VALUES ('t', ?1, '2026-01-01 00:00:00', 1)",
        [format!("{i:06}")],
    )?;
    Ok(())
}

#[test]
fn concurrent_writes_are_all_durable_and_failures_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let threads = 16;
    let per = 50;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut ok = 0;
                for i in 0..per {
                    let n = t * per + i;
                    let r: Result<(), StoreError> = store.write(|c| {
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
        })
        .collect();
    let ok: i64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
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
