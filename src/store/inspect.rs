//! A look at a database file for `carette check`: read-only, never migrated, so it can run
//! next to a live daemon. Each figure is its own `Result`: one failing PRAGMA does not hide
//! the others.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// What the file says about itself; errors are SQLite's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `PRAGMA user_version`: the migrations applied.
    pub schema_version: Result<i64, String>,
    /// `PRAGMA quick_check`: `["ok"]` for a sound file.
    pub quick_check: Result<Vec<String>, String>,
    /// `PRAGMA journal_mode`.
    pub journal_mode: Result<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("cannot open: {0}")]
    Open(String),
    /// It opens, but is no SQLite database (or cannot be read at all).
    #[error("cannot be read: {0}")]
    Unreadable(String),
}

pub fn inspect(path: &Path) -> Result<Inspection, InspectError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.busy_timeout(Duration::from_secs(5)).map(|()| c))
        .map_err(|e| InspectError::Open(e.to_string()))?;
    conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| InspectError::Unreadable(e.to_string()))?;
    let text = |e: rusqlite::Error| e.to_string();
    Ok(Inspection {
        schema_version: conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(text),
        quick_check: conn
            .prepare("PRAGMA quick_check")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(text),
        journal_mode: conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(text),
    })
}
