//! The transactional email outbox.
//!
//! Rows are inserted in the same transaction as the state change they announce. A sender
//! claims due rows with a lease (status `sending`, `lease_until`); a claim whose lease ran
//! out (the sender crashed) is due again: at-least-once delivery, with a stable Message-ID.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::StoreError;
use super::row::{corrupt, opt_ts, ts};
use crate::domain::time::to_db;

#[derive(Debug, Clone)]
pub struct NewEmail {
    pub template: &'static str,
    pub recipient: String,
    pub reply_to: Option<String>,
    /// JSON text, rendered at send time.
    pub context: String,
    pub reservation_id: Option<i64>,
    pub offer_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailStatus {
    Queued,
    Sending,
    Sent,
    Failed,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Queued => "queued",
            EmailStatus::Sending => "sending",
            EmailStatus::Sent => "sent",
            EmailStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Option<EmailStatus> {
        [
            EmailStatus::Queued,
            EmailStatus::Sending,
            EmailStatus::Sent,
            EmailStatus::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxEmail {
    pub id: i64,
    pub template: String,
    pub recipient: String,
    pub reply_to: Option<String>,
    pub context: serde_json::Value,
    pub reservation_id: Option<i64>,
    pub offer_id: Option<i64>,
    pub status: EmailStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// Local part of the Message-ID; the mailer adds `@<sender domain>`.
    pub message_id: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<OutboxEmail> {
    let status: String = row.get("status")?;
    let context: String = row.get("context")?;
    Ok(OutboxEmail {
        id: row.get("id")?,
        template: row.get("template")?,
        recipient: row.get("recipient")?,
        reply_to: row.get("reply_to")?,
        context: serde_json::from_str(&context)
            .map_err(|e| corrupt("outbox", format!("context is not JSON: {e}")))?,
        reservation_id: row.get("reservation_id")?,
        offer_id: row.get("offer_id")?,
        status: EmailStatus::parse(&status)
            .ok_or_else(|| corrupt("outbox", format!("unknown status {status:?}")))?,
        attempts: row.get("attempts")?,
        next_attempt_at: ts(row, "next_attempt_at", "outbox")?,
        last_error: row.get("last_error")?,
        message_id: row.get("message_id")?,
        created_at: ts(row, "created_at", "outbox")?,
        sent_at: opt_ts(row, "sent_at", "outbox")?,
    })
}

pub fn enqueue(conn: &Connection, e: &NewEmail, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let now_s = to_db(now);
    conn.prepare_cached(
        "INSERT INTO outbox (template, recipient, reply_to, context, reservation_id, offer_id,
            status, attempts, next_attempt_at, message_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?8, ?7)",
    )?
    .execute(params![
        e.template,
        e.recipient,
        e.reply_to,
        e.context,
        e.reservation_id,
        e.offer_id,
        now_s,
        new_message_id(),
    ])?;
    let id = conn.last_insert_rowid();
    // What the insert trigger did before migration 12 (see there why no trigger).
    conn.prepare_cached(
        "INSERT INTO outbox_status_counts (status, n) VALUES ('queued', 1)
         ON CONFLICT (status) DO UPDATE SET n = n + 1",
    )?
    .execute([])?;
    Ok(id)
}

/// Writes a newly computed pickup time into the passenger's confirmation while it is still
/// waiting in the outbox (never one being sent), so that email carries the time itself.
/// True when a confirmation was updated.
pub fn add_pickup_to_queued_confirmation(
    conn: &Connection,
    reservation_id: i64,
    pickup_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let at = pickup_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET context = json_set(context, '$.reservation.pickup_at', ?2)
             WHERE reservation_id = ?1 AND template = 'confirmed_passenger' AND status = 'queued'",
        )?
        .execute(params![reservation_id, at])?;
    Ok(n > 0)
}

/// A Message-ID local part, unique per install: the clock first, so the unique index on
/// `message_id` grows at its end instead of dirtying a random page per email, then
/// randomness, so two emails of the same microsecond (or two installs) never collide.
fn new_message_id() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!("carette.{micros:014x}.{:016x}", unique_tag())
}

/// 64 bits that never repeat within this process (a counter through a bijective mix) and
/// differ between processes (a random key): what a Message-ID needs, without a
/// `getrandom` system call per email, which showed in profiles of the request path.
fn unique_tag() -> u64 {
    static KEY: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = *KEY.get_or_init(|| {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            // The clock then tells this process from others; the counter keeps it unique.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            bytes = (nanos as u64).to_le_bytes();
        }
        u64::from_le_bytes(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64's finaliser: a bijection of u64, so distinct counters give distinct tags.
    let mut z = key.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Who holds a claim: a sender instance and the number of its claim (a sender that claims
/// a row again after its own lease ran out must not record the first claim's outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub claim: i64,
}

/// How a sent email left: accepted by the SMTP server, or written as a dev-mode .eml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Smtp,
    File,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Smtp => "smtp",
            Channel::File => "file",
        }
    }
}

/// Claims up to `limit` due rows for `lease`, oldest email first: a row retried or held
/// back by a pause keeps its place in line (`created_at`). A rider's emails leave in the
/// order they were queued: a row waits while an older one to the same address waits for
/// its retry or is being sent by another claim (a retried "Demande envoyée" is never
/// overtaken by its "Réservation confirmée"; within a batch the sender keeps the order);
/// failed rows hold nothing back. A row never tried is due from its creation, so it cannot
/// hold another back: only rows being sent or waiting past their creation are looked at
/// (the partial index of migrations/13, whose condition the query repeats). Claims whose
/// lease ran out (a stuck or vanished sender) go back to the queue first. Runs inside the caller's
/// immediate transaction, so two processes never claim the same row.
pub fn claim_due(
    conn: &Connection,
    lease: &Lease,
    now: DateTime<Utc>,
    lease_for: Duration,
    limit: usize,
) -> Result<Vec<OutboxEmail>, StoreError> {
    let now_s = to_db(now);
    conn.prepare_cached(
        "UPDATE outbox SET status = 'queued', lease_until = NULL, lease_owner = NULL, lease_claim = NULL
         WHERE status = 'sending' AND lease_until <= ?1",
    )?
    .execute(params![now_s])?;
    let mut stmt = conn.prepare_cached(
        "UPDATE outbox SET status = 'sending', lease_until = ?2, lease_owner = ?4, lease_claim = ?5,
             attempts = attempts + 1
         WHERE id IN (
             SELECT id FROM outbox o
             WHERE o.status = 'queued' AND o.next_attempt_at <= ?1
               AND NOT EXISTS (
                   SELECT 1 FROM outbox p
                   WHERE p.recipient = o.recipient
                     AND (p.status = 'sending' OR (p.status = 'queued' AND p.next_attempt_at > p.created_at))
                     AND p.created_at <= o.created_at
                     AND (p.status = 'sending' OR p.next_attempt_at > ?1)
                     AND (p.created_at < o.created_at OR p.id < o.id))
             ORDER BY o.created_at, o.id LIMIT ?3)
         RETURNING *",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![
            now_s,
            to_db(now + lease_for),
            limit,
            lease.owner,
            lease.claim
        ],
        from_row,
    )?;
    let mut out: Vec<OutboxEmail> = rows.collect::<Result<_, _>>()?;
    out.sort_by_key(|e| (e.created_at, e.id));
    Ok(out)
}

/// The guard of every outcome write: the row is still `sending` under this very claim.
const HELD: &str = "id = ?1 AND status = 'sending' AND lease_owner = ?2 AND lease_claim = ?3";

/// Accepted at `at` (the server's answer, not the claim). False when the claim was lost.
pub fn mark_sent(
    conn: &Connection,
    id: i64,
    lease: &Lease,
    at: DateTime<Utc>,
    channel: Channel,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "UPDATE outbox SET status = 'sent', sent_at = ?4, channel = ?5, lease_until = NULL,
                 lease_owner = NULL, lease_claim = NULL, last_error = NULL WHERE {HELD}"
        ))?
        .execute(params![
            id,
            lease.owner,
            lease.claim,
            to_db(at),
            channel.as_str()
        ])?;
    Ok(n == 1)
}

/// Back to the queue for a later attempt (transient failure). False when the claim was lost.
pub fn mark_retry(
    conn: &Connection,
    id: i64,
    lease: &Lease,
    at: DateTime<Utc>,
    error: &str,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "UPDATE outbox SET status = 'queued', next_attempt_at = ?4, lease_until = NULL,
                 lease_owner = NULL, lease_claim = NULL, last_error = ?5 WHERE {HELD}"
        ))?
        .execute(params![id, lease.owner, lease.claim, to_db(at), error])?;
    Ok(n == 1)
}

/// Back to the queue without counting the attempt (e.g. SMTP login refused: the message
/// is fine). False when the claim was lost.
pub fn release(
    conn: &Connection,
    id: i64,
    lease: &Lease,
    at: DateTime<Utc>,
    error: &str,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "UPDATE outbox SET status = 'queued', next_attempt_at = ?4, lease_until = NULL,
                 lease_owner = NULL, lease_claim = NULL, last_error = ?5,
                 attempts = MAX(attempts - 1, 0) WHERE {HELD}"
        ))?
        .execute(params![id, lease.owner, lease.claim, to_db(at), error])?;
    Ok(n == 1)
}

/// Failed for good. False when the claim was lost.
pub fn mark_failed(
    conn: &Connection,
    id: i64,
    lease: &Lease,
    error: &str,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "UPDATE outbox SET status = 'failed', lease_until = NULL, lease_owner = NULL,
                 lease_claim = NULL, last_error = ?4 WHERE {HELD}"
        ))?
        .execute(params![id, lease.owner, lease.claim, error])?;
    Ok(n == 1)
}

/// A row of `outbox_senders`: one sender instance (process start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderRow {
    pub id: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
}

pub fn register_sender(
    conn: &Connection,
    id: &str,
    pid: u32,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO outbox_senders (id, pid, started_at) VALUES (?1, ?2, ?3)")?
        .execute(params![id, pid, to_db(now)])?;
    Ok(())
}

pub fn senders(conn: &Connection) -> Result<Vec<SenderRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, pid, started_at FROM outbox_senders ORDER BY started_at, id")?;
    let rows = stmt.query_map([], |r| {
        Ok(SenderRow {
            id: r.get("id")?,
            pid: r.get("pid")?,
            started_at: ts(r, "started_at", "outbox_senders")?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Puts every claim of `owner` (a sender that is gone) back in the queue, due at once and
/// in its old place in line; forgets the sender. Returns how many emails went back.
pub fn reclaim_sender(conn: &Connection, owner: &str) -> Result<usize, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'queued', lease_until = NULL, lease_owner = NULL, lease_claim = NULL
             WHERE status = 'sending' AND lease_owner = ?1",
        )?
        .execute([owner])?;
    conn.prepare_cached("DELETE FROM outbox_senders WHERE id = ?1")?
        .execute([owner])?;
    Ok(n)
}

/// Re-queues one failed email; false if it is not (or no longer) failed.
pub fn requeue_failed(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?2 WHERE id = ?1 AND status = 'failed'",
        )?
        .execute(params![id, to_db(now)])?;
    Ok(n == 1)
}

pub fn requeue_all_failed(conn: &Connection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?1 WHERE status = 'failed'")?
        .execute(params![to_db(now)])?)
}

/// Which email [`queued_since`] looks for.
#[derive(Debug, Clone, Copy)]
pub struct SameEmail<'a> {
    pub template: &'a str,
    pub recipient: &'a str,
    pub reservation_id: Option<i64>,
    pub offer_id: Option<i64>,
}

/// Whether the same email (template, recipient in any case, reservation and offer) was
/// queued at or after `since`.
pub fn queued_since(
    conn: &Connection,
    e: &SameEmail<'_>,
    since: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE template = ?1 AND recipient = ?2 COLLATE NOCASE
               AND reservation_id IS ?3 AND offer_id IS ?4 AND created_at >= ?5)",
        )?
        .query_row(
            params![e.template, e.recipient, e.reservation_id, e.offer_id, to_db(since)],
            |row| row.get(0),
        )?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<OutboxEmail>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT * FROM outbox WHERE id = ?1")?
        .query_row([id], from_row)
        .optional()?)
}

/// Newest first; `status` None = all. Paged for the TUI.
pub fn list(
    conn: &Connection,
    status: Option<EmailStatus>,
    limit: usize,
    offset: usize,
) -> Result<Vec<OutboxEmail>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(0);
    // Two statements rather than `?1 IS NULL OR status = ?1`, which no index can serve:
    // by status, the claim's idx_outbox_queue (status, created_at, rowid) walks newest
    // first; all, the rowid does.
    let rows = match status {
        Some(status) => conn
            .prepare_cached(
                "SELECT * FROM outbox WHERE status = ?1 ORDER BY created_at DESC, id DESC
                 LIMIT ?2 OFFSET ?3",
            )?
            .query_map(params![status.as_str(), limit, offset], from_row)?
            .collect::<Result<_, _>>()?,
        None => conn
            .prepare_cached("SELECT * FROM outbox ORDER BY id DESC LIMIT ?1 OFFSET ?2")?
            .query_map(params![limit, offset], from_row)?
            .collect::<Result<_, _>>()?,
    };
    Ok(rows)
}

pub fn for_reservation(
    conn: &Connection,
    reservation_id: i64,
) -> Result<Vec<OutboxEmail>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT * FROM outbox WHERE reservation_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([reservation_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// When the next queued row becomes due (lets the sender sleep exactly as long as needed).
pub fn next_due_at(conn: &Connection) -> Result<Option<DateTime<Utc>>, StoreError> {
    let s: Option<String> = conn.query_row(
        "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM outbox WHERE status = 'queued'
                            UNION ALL SELECT MIN(lease_until) FROM outbox WHERE status = 'sending')",
        [],
        |r| r.get(0),
    )?;
    Ok(s.as_deref().and_then(crate::domain::time::from_db))
}

#[cfg(test)]
mod message_id_tests {
    use super::new_message_id;

    #[test]
    fn message_ids_sort_in_creation_order_and_never_repeat() {
        let ids: Vec<String> = (0..2000).map(|_| new_message_id()).collect();
        let prefixes: Vec<&str> = ids.iter().map(|id| &id[..22]).collect();
        assert!(prefixes.windows(2).all(|w| w[0] <= w[1]), "{prefixes:?}");
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(ids.iter().all(|id| id.len() == 39), "{}", ids[0]);
    }
}
