//! `forget`: erases one rider's personal data now (RGPD): every offer, reservation and
//! email naming the address is rewritten with `secure_delete` on, queued emails to them
//! cancelled, the WAL scrubbed, and the file's bytes checked. Statuses, seats and dates
//! are kept, so the figures do not change (except the cancelled emails).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{Service, ServiceError};
use crate::domain::validate::FieldError;
use crate::store::erasure::{self, ERASED_EMAIL, ERASED_NAME, ERASED_TEXT};
use crate::store::{StoreError, jobs};

#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error(
        "no offer or reservation names {0}: nothing changed (addresses are compared without regard to case)"
    )]
    Unknown(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for ForgetError {
    fn from(e: StoreError) -> Self {
        ForgetError::Service(e.into())
    }
}

impl ForgetError {
    /// 2: the argument is not an address; 1: nothing found, or a runtime failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            ForgetError::Invalid(_) => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ForgetReport {
    pub offers: usize,
    pub reservations: usize,
    /// Emails kept (sent, failed, or queued to someone else) with the rider's data removed.
    pub emails_rewritten: usize,
    /// Emails still waiting to go to the rider: deleted, never sent.
    pub emails_cancelled: usize,
    pub eml_files_deleted: usize,
    /// Reservations and offers still active (pending, confirmed, upcoming): their
    /// statuses are kept, but the other party now sees "(erased)".
    pub still_active: usize,
    /// False when another process (Litestream, the TUI) kept old copies in the WAL.
    pub wal_scrubbed: bool,
    /// The file had to be rebuilt (VACUUM) to clear older free space.
    pub vacuumed: bool,
}

impl Service {
    /// Erases one rider's personal data now: every offer, reservation and email naming
    /// `email` is rewritten (`secure_delete` on, WAL scrubbed), emails still queued to
    /// them are cancelled, dev-mode .eml files to or about them deleted.
    pub fn forget(&self, email: &str, now: DateTime<Utc>) -> Result<ForgetReport, ForgetError> {
        let email = crate::domain::validate::email("email", email)?;
        let found = self.store.read(|c| erasure::rider_rows(c, &email))?;
        if found.is_empty() {
            return Err(ForgetError::Unknown(email));
        }
        let db_path = self.store.path().to_owned();
        let rider_email = email.clone();
        let erase = move |tx: &rusqlite::Connection| -> Result<ForgetReport, StoreError> {
            let email = rider_email;
            // Read again inside the transaction: a request may have come in meanwhile.
            let rows = erasure::rider_rows(tx, &email)?;
            let mut report = ForgetReport::default();
            for (id, _) in &rows.offers {
                report.offers += erasure::erase_offer_driver(tx, *id)?;
            }
            for (id, _, _) in &rows.reservations {
                report.reservations += erasure::erase_passenger(tx, *id)?;
            }
            report.still_active = erasure::count_active(tx, &rows, now)?;
            let mut names: Vec<&str> = rows
                .offers
                .iter()
                .map(|o| o.1.as_str())
                .chain(rows.reservations.iter().map(|r| r.2.as_str()))
                .collect();
            names.sort_unstable();
            names.dedup();
            let reservations: Vec<i64> = rows.reservations.iter().map(|r| r.0).collect();
            let offers: Vec<i64> = rows.offers.iter().map(|o| o.0).collect();
            let rider = Rider {
                email: &email,
                names: &names,
                reservations: &reservations,
                offers: &offers,
            };
            for offer_id in rows.related_offers() {
                for row in erasure::emails_of_offer(tx, offer_id)? {
                    let to_rider = row.recipient.eq_ignore_ascii_case(&email);
                    if to_rider && matches!(row.status.as_str(), "queued" | "sending") {
                        report.emails_cancelled += erasure::cancel_email(tx, row.id)?;
                        continue;
                    }
                    let mut context: Value =
                        serde_json::from_str(&row.context).unwrap_or(Value::Null);
                    let mut changed = redact(&mut context, &rider, to_rider);
                    let recipient = if to_rider {
                        changed = true;
                        ERASED_EMAIL
                    } else {
                        row.recipient.as_str()
                    };
                    let reply_to = match row.reply_to.as_deref() {
                        Some(r) if r.eq_ignore_ascii_case(&email) => {
                            changed = true;
                            None
                        }
                        other => other,
                    };
                    // A context that is not JSON cannot be checked: it is emptied.
                    let context = if context.is_null() {
                        changed = true;
                        "{}".to_owned()
                    } else {
                        context.to_string()
                    };
                    if changed {
                        report.emails_rewritten +=
                            erasure::rewrite_email(tx, row.id, recipient, reply_to, &context)?;
                    }
                }
            }
            erasure::drop_address_counters(tx, &email)?;
            erasure::drop_key_samples(tx)?;
            erasure::purge_search_index(tx)?;
            Ok(report)
        };
        let mut report: ForgetReport = self.store.write_erasing(erase)?;
        let summary = format!(
            "erased {} offer(s), {} reservation(s); rewrote {} email(s), cancelled {}",
            report.offers, report.reservations, report.emails_rewritten, report.emails_cancelled
        );
        let touch = {
            let summary = summary.clone();
            move |tx: &rusqlite::Connection| {
                // The erasure's record, without the address: proof it was done, and the
                // small write that lets SQLite restart (and truncate) the WAL.
                jobs::record(tx, "forget", now, now, Utc::now().max(now), true, &summary)
            }
        };
        // The WAL first: it is small, and it is what a reader (Litestream) keeps dirty.
        let scrubbed =
            || !file_mentions(&wal_of(&db_path), &email) && !file_mentions(&db_path, &email);
        let mut clean = self.store.scrub_wal(touch.clone(), scrubbed)?;
        if !clean && file_mentions(&db_path, &email) {
            // Copies left in free space by older versions (before secure_delete was on),
            // or by the operator's own SQL: only rebuilding the file clears them.
            tracing::info!("forget: rebuilding the database file (VACUUM) to clear old free space");
            self.store.vacuum()?;
            report.vacuumed = true;
            clean = self.store.scrub_wal(touch, scrubbed)?;
        }
        report.wal_scrubbed = clean;
        if let Some(dir) = &self.settings.retention.eml_dir {
            report.eml_files_deleted = delete_eml_mentioning(dir, &email);
        }
        tracing::info!("forget: {summary}");
        Ok(report)
    }
}

/// The rider as an email's stored context names them (see service::context for its
/// shape): their reservations and offers by id (a driver's copy of a request carries no
/// passenger address before confirmation), and their address wherever it appears.
pub struct Rider<'a> {
    pub email: &'a str,
    pub names: &'a [&'a str],
    pub reservations: &'a [i64],
    pub offers: &'a [i64],
}

/// Removes the rider from an email's stored context: their reservation objects and
/// passenger-list entries lose name, address, pickup place and message, their offers the
/// driver's name and address, and any other string equal to their address or one of
/// their names is replaced. Returns whether anything changed.
pub fn redact(value: &mut Value, rider: &Rider<'_>, to_rider: bool) -> bool {
    let mut changed = false;
    if to_rider
        && let Some(name) = value.get_mut("recipient_name")
        && name.is_string()
    {
        *name = Value::from(ERASED_NAME);
        changed = true;
    }
    walk(value, rider, &mut changed);
    changed
}

fn set(map: &mut serde_json::Map<String, Value>, key: &str, to: &str, changed: &mut bool) {
    if let Some(v) = map.get_mut(key)
        && !v.is_null()
        && v.as_str() != Some(to)
    {
        *v = Value::from(to);
        *changed = true;
    }
}

fn walk(value: &mut Value, rider: &Rider<'_>, changed: &mut bool) {
    match value {
        Value::String(s) => {
            if s.eq_ignore_ascii_case(rider.email) {
                *s = ERASED_EMAIL.to_owned();
                *changed = true;
            } else if rider.names.contains(&s.as_str()) {
                *s = ERASED_NAME.to_owned();
                *changed = true;
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, rider, changed);
            }
        }
        Value::Object(map) => {
            let id = |key: &str| map.get(key).and_then(Value::as_i64);
            let email_is_theirs = ["passenger_email", "email"].iter().any(|k| {
                map.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(rider.email))
            });
            // A reservation object ("passenger_name") or a passenger-list entry ("name").
            let reservation = (map.contains_key("passenger_name")
                && id("id").is_some_and(|i| rider.reservations.contains(&i)))
                || id("reservation_id").is_some_and(|i| rider.reservations.contains(&i))
                || email_is_theirs;
            let offer = map.contains_key("driver_name")
                && id("id").is_some_and(|i| rider.offers.contains(&i));
            if reservation {
                for (key, to) in [
                    ("passenger_name", ERASED_NAME),
                    ("name", ERASED_NAME),
                    ("passenger_email", ERASED_EMAIL),
                    ("email", ERASED_EMAIL),
                    ("pickup", ERASED_TEXT),
                    ("message", ERASED_TEXT),
                ] {
                    set(map, key, to, changed);
                }
            }
            if offer {
                set(map, "driver_name", ERASED_NAME, changed);
                set(map, "driver_email", ERASED_EMAIL, changed);
            }
            for (_, v) in map.iter_mut() {
                walk(v, rider, changed);
            }
        }
        _ => {}
    }
}

fn wal_of(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

/// Whether the file's bytes contain `needle`, ASCII case ignored. A missing file mentions nothing.
pub fn file_mentions(path: &Path, needle: &str) -> bool {
    use std::io::Read as _;
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let needle = needle.to_ascii_lowercase().into_bytes();
    if needle.is_empty() {
        return false;
    }
    let finder = memchr::memmem::Finder::new(&needle);
    // Chunks overlap by the needle's length so a match across a boundary is found.
    let mut buf = vec![0u8; 4 << 20];
    let keep = needle.len() - 1;
    let mut filled = 0;
    loop {
        let n = match file.read(&mut buf[filled..]) {
            Ok(0) => return false,
            Ok(n) => n,
            // Unreadable: say so rather than claim it is clean.
            Err(_) => return true,
        };
        let end = filled + n;
        buf[filled..end].make_ascii_lowercase();
        if finder.find(&buf[..end]).is_some() {
            return true;
        }
        let tail = end.saturating_sub(keep);
        buf.copy_within(tail..end, 0);
        filled = end - tail;
    }
}

/// Dev-mode .eml files to or about the rider.
fn delete_eml_mentioning(dir: &Path, email: &str) -> usize {
    super::retention::eml_files(dir)
        .into_iter()
        .filter(|p| file_mentions(p, email))
        .filter(|p| super::retention::remove(p))
        .count()
}
