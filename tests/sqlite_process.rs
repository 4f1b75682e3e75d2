//! The process-wide SQLite settings `main` applies before anything opens a database. In a
//! test binary of its own: SQLite takes them only before its first use in the process.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

use carette::store::Store;

#[test]
fn memory_statistics_are_off_and_stores_still_work() {
    assert!(
        carette::store::configure_process(),
        "SQLite was not initialised yet"
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).unwrap();
    store
        .write(|c| {
            c.execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES (hex(randomblob(5000)))")
                .map_err(carette::store::StoreError::from)
        })
        .unwrap();
    // With statistics on, SQLite would count the connections' caches and statements.
    // SAFETY: a plain read of a counter.
    let used = unsafe { rusqlite::ffi::sqlite3_memory_used() };
    assert_eq!(used, 0, "memory statistics are still kept");
    assert!(
        !carette::store::configure_process(),
        "too late once SQLite is in use: refused, not applied mid-flight"
    );
}
