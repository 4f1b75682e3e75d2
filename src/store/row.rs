//! Reading typed values out of rows: the stored timestamp text, and a clear error naming
//! the table when a row does not hold what the schema promises.

use chrono::{DateTime, Utc};
use rusqlite::Row;

use super::StoreError;
use crate::domain::Lang;
use crate::domain::time::from_db;

pub(crate) fn ts(row: &Row<'_>, idx: &str, table: &'static str) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(idx)?;
    from_db(&s).ok_or_else(|| corrupt(table, format!("bad timestamp {s:?} in {idx}")))
}

pub(crate) fn opt_ts(
    row: &Row<'_>,
    idx: &str,
    table: &'static str,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = row.get(idx)?;
    match s {
        None => Ok(None),
        Some(s) => from_db(&s)
            .map(Some)
            .ok_or_else(|| corrupt(table, format!("bad timestamp {s:?} in {idx}"))),
    }
}

pub(crate) fn corrupt(table: &'static str, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(StoreError::Corrupt { table, message }),
    )
}

pub(crate) fn lang_of(row: &Row<'_>, table: &'static str) -> rusqlite::Result<Lang> {
    let s: String = row.get("lang")?;
    Lang::parse(&s).ok_or_else(|| corrupt(table, format!("unknown language {s:?} in lang")))
}
