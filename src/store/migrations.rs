//! Schema migrations, compiled in from migrations/ (rusqlite_migration, `user_version`).

use std::path::Path;
use std::sync::LazyLock;

use include_dir::{Dir, include_dir};
use rusqlite::Connection;
use rusqlite_migration::{Migrations, SchemaVersion};

use super::StoreError;

static MIGRATIONS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// The migrations this binary knows. A bad migrations/ folder is a build-time bug, caught by
/// the `migrations_are_valid` test; at run time it degrades to "no migrations" plus a clear error.
pub static MIGRATIONS: LazyLock<Result<Migrations<'static>, String>> =
    LazyLock::new(|| Migrations::from_directory(&MIGRATIONS_DIR).map_err(|e| e.to_string()));

pub fn latest_version() -> usize {
    MIGRATIONS_DIR.dirs().count()
}

fn migrations(path: &Path) -> Result<&'static Migrations<'static>, StoreError> {
    MIGRATIONS
        .as_ref()
        .map_err(|message| StoreError::Migration {
            path: path.to_owned(),
            message: message.clone(),
        })
}

fn user_version(conn: &Connection) -> Result<usize, StoreError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(usize::try_from(v).unwrap_or(0))
}

pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let known = latest_version();
    let found = user_version(conn)?;
    // Never silently run an old binary on a newer schema.
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    migrations(path)?
        .to_latest(conn)
        .map_err(|e| StoreError::Migration {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

/// For read-only openers: the schema must be exactly what this binary knows.
pub fn check_current(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let known = latest_version();
    match migrations(path)?.current_version(conn) {
        Ok(SchemaVersion::NoneSet) => Err(StoreError::NotMigrated {
            path: path.to_owned(),
        }),
        Ok(_) => {
            let found = user_version(conn)?;
            if found > known {
                Err(StoreError::TooNew {
                    path: path.to_owned(),
                    found,
                    known,
                })
            } else if found < known {
                Err(StoreError::NotMigrated {
                    path: path.to_owned(),
                })
            } else {
                Ok(())
            }
        }
        Err(e) => Err(StoreError::Migration {
            path: path.to_owned(),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        let m = MIGRATIONS.as_ref().expect("migrations/ parses");
        m.validate().expect("migrations apply cleanly");
        assert!(latest_version() >= 1);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }));
        assert!(err.to_string().contains("newer Carette"), "{err}");
        // Nothing was touched.
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type='table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
}
