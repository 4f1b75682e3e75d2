//! Database snapshots for "nothing changed" assertions, shared by every test fixture module.

/// Every row of every table, as text: "nothing changed" means this is equal before and after.
pub fn dump(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    let tables: Vec<String> = conn
        // Ordinary tables only: the full-text search indexes (virtual tables, their shadow
        // tables and the queue of rows waiting to be indexed) are derived from the rows,
        // as the trigger-kept counts are.
        .prepare(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table'
             AND name <> 'reservation_search_pending' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in tables {
        // Every column in the order: some tables (full-text index internals) have no rowid.
        let n = conn
            .prepare(&format!("SELECT * FROM \"{t}\""))
            .unwrap()
            .column_count();
        let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT * FROM \"{t}\" ORDER BY {}",
                order.join(", ")
            ))
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                let mut s = format!("{t}:");
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    s.push_str(&format!("{v:?}|"));
                }
                Ok(s)
            })
            .unwrap();
        for row in rows {
            out.push(row.unwrap());
        }
    }
    out
}

/// (template, recipient) of every outbox row, in order.
pub fn outbox(path: &std::path::Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.prepare("SELECT template, recipient FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Runs `f` in one transaction on a connection of its own: fixtures that set up states no
/// public use case produces (a sent email, a lease) write the rows directly.
pub fn write<T>(
    path: &std::path::Path,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, carette::store::StoreError>,
) -> T {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let out = f(&tx).unwrap();
    tx.commit().unwrap();
    out
}

/// Offer 1 (Lyon → Grenoble, 4 seats, in 2030) written directly, for store-level tests
/// that need an offer for their reservations to point at.
pub fn insert_offer(c: &rusqlite::Connection) -> Result<(), carette::store::StoreError> {
    c.execute(
        "INSERT INTO carpool_offers (id, driver_name, driver_email, origin, destination, departure_at, seats, created_at, updated_at)
         VALUES (1, 'D', 'd@example.org', 'Lyon', 'Grenoble', '2030-01-01 08:00:00', 4, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        [],
    )?;
    Ok(())
}
