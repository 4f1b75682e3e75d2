//! The reservation search index (FTS5, trigram) merges its segments a step per group the
//! writer commits, not in FTS5's automatic bursts (migrations/11).

use carette::store::{Store, StoreError, browse};

/// (segments per level) of the index, from its structure record (FTS5's `%_data` row 10).
fn levels(path: &std::path::Path) -> Vec<u64> {
    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        for _ in 0..8 {
            let c = b[*i];
            *i += 1;
            v = (v << 7) | u64::from(c & 0x7f);
            if c & 0x80 == 0 {
                return v;
            }
        }
        let last = b[*i];
        *i += 1;
        (v << 8) | u64::from(last)
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let b: Vec<u8> = conn
        .query_row(
            "SELECT block FROM reservation_search_data WHERE id = 10",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // A 4-byte cookie, then (version 2, as with contentless_delete) a 4-byte marker.
    let v2 = b[4..8] == [0xff, 0, 0, 1];
    let mut i = if v2 { 8 } else { 4 };
    let n_levels = varint(&b, &mut i);
    let _segments = varint(&b, &mut i);
    let _write_counter = varint(&b, &mut i);
    (0..n_levels)
        .map(|_| {
            let _merging = varint(&b, &mut i);
            let n_seg = varint(&b, &mut i);
            for _ in 0..n_seg * if v2 { 8 } else { 3 } {
                varint(&b, &mut i);
            }
            n_seg
        })
        .collect()
}

#[test]
fn the_search_index_merges_after_every_batch_and_stays_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = Store::open(&path).unwrap();
    let automerge: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT v FROM reservation_search_config WHERE k = 'automerge'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(automerge, 0, "FTS5's own bursts are off");
    store.write(crate::support::db::insert_offer).unwrap();
    // 60 writes of 64 rows: 30 level-0 segments of 128 rows without merging (FTS5's
    // crisis merge would only fold them 16 at a time).
    let batches = 60;
    for batch in 0..batches {
        store
            .write(move |c| {
                let mut insert = c.prepare_cached(
                    "INSERT INTO carpool_reservations (offer_id, passenger_name, passenger_email, seats, created_at, updated_at)
                     VALUES (1, ?1, ?2, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                )?;
                for i in 0..64 {
                    let n = batch * 64 + i;
                    insert.execute([format!("Rider {n:05}"), format!("r{n:05}@example.org")])?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
    let levels = levels(&path);
    let segments: u64 = levels.iter().sum();
    assert!(
        segments <= 12 && levels.iter().all(|&n| n <= 6),
        "segments pile up: {levels:?}"
    );
    // Still a correct index: a rider of the first batch and one of the last are found.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for n in [3_i64, 3838] {
        let email = format!("r{n:05}@example.org");
        let query = browse::match_query(&browse::trigrams(&email));
        let found: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM reservation_search
                                WHERE reservation_search MATCH ?1 AND rowid = ?2)",
                rusqlite::params![query, n + 1],
                |r| r.get(0),
            )
            .unwrap();
        assert!(found, "{email}");
    }
}

fn insert_reservation(c: &rusqlite::Connection, n: u32) {
    c.execute(
        "INSERT INTO carpool_reservations (offer_id, passenger_name, passenger_email, seats, created_at, updated_at)
         VALUES (1, ?1, ?2, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        [format!("Rider {n}"), format!("r{n}@example.org")],
    )
    .unwrap();
}

fn queued(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM reservation_search_pending", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Every CLI command opens the store, which indexes what the daemon queued. Under load
/// the daemon's writer holds the lock and commits all the time: `carette forget` failed
/// with "database is locked" because that indexing read the queue, then asked for the
/// lock inside the same (deferred) transaction, which SQLite refuses without waiting.
#[test]
fn opening_the_store_while_another_process_writes_waits_for_the_lock_to_index_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    Store::open(&path)
        .unwrap()
        .write(crate::support::db::insert_offer)
        .unwrap();
    let daemon = rusqlite::Connection::open(&path).unwrap();
    insert_reservation(&daemon, 1);
    assert_eq!(queued(&path), 1);
    // The daemon's writer: in a transaction, and it commits another row a moment later.
    daemon.execute_batch("BEGIN IMMEDIATE").unwrap();
    insert_reservation(&daemon, 2);
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        daemon.execute_batch("COMMIT").unwrap();
    });
    let opened = Store::open(&path);
    writer.join().unwrap();
    let store = opened.expect("the store opens once the other writer commits");
    drop(store);
    assert_eq!(queued(&path), 0, "both rows indexed at open");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let query = browse::match_query(&browse::trigrams("r2@example.org"));
    let found: i64 = conn
        .query_row(
            "SELECT rowid FROM reservation_search WHERE reservation_search MATCH ?1",
            [query],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(found, 2);
}

/// With nothing queued, opening never asks for the write lock: a CLI command starts at
/// once even while another process holds it (here, for the whole open).
#[test]
fn opening_an_idle_store_does_not_wait_for_another_processs_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    Store::open(&path)
        .unwrap()
        .write(crate::support::db::insert_offer)
        .unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.busy_timeout(std::time::Duration::ZERO).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let opened = Store::open(&path);
    let waited = started.elapsed();
    other.execute_batch("COMMIT").unwrap();
    assert!(opened.is_ok(), "{:?}", opened.err());
    // Not a timing assertion on speed: waiting for the lock would take the 5 s busy timeout.
    assert!(waited < std::time::Duration::from_secs(4), "{waited:?}");
}
