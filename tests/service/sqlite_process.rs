//! The process-wide SQLite settings `main` applies before anything opens a database.
//! SQLite takes them only before its first use in the process, and the other tests of this
//! binary use it from their own threads: the test runs itself again in a fresh process
//! where it is the only test.

use std::process::Command;

use carette::store::Store;

/// Set in the child process that runs the checks.
const FRESH: &str = "CARETTE_TEST_FRESH_SQLITE";

#[test]
fn memory_statistics_are_off_and_stores_still_work() {
    if std::env::var_os(FRESH).is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sqlite_process::memory_statistics_are_off_and_stores_still_work",
                "--test-threads=1",
            ])
            .env(FRESH, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("1 passed"),
            "the check ran in the child: {text}"
        );
        return;
    }
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
