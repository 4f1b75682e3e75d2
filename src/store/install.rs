//! This install's identity: a random id made once by migration 05 and kept with the data,
//! so calendar UIDs differ between installs and after a database rebuild.

use rusqlite::Connection;

use super::StoreError;

pub fn install_id(conn: &Connection) -> Result<String, StoreError> {
    Ok(conn
        .prepare_cached("SELECT install_id FROM install WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}
