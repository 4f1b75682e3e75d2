//! The outbox queue: the sender's claims and outcomes, and the operator's actions (the
//! CLI's `outbox` commands and the TUI share these).
//!
//! Claims are owned. Every sender instance (one per process start) registers in
//! `outbox_senders` under a random id and holds an OS lock on
//! `<database>-senders/<id>.lock` for as long as its process lives; the kernel drops the
//! lock when the process dies, even by `kill -9`. A sender that can take another
//! instance's lock therefore knows that instance is gone, and puts its claims back in the
//! queue at once (Postfix rescans its active queue at start) instead of waiting out
//! `email.outbox_lease_secs`; the lease stays as the fallback for a sender that is alive
//! but stuck. Every outcome write checks that the row is still `sending` under the very
//! claim that sent it, so a sender whose claim was taken over cannot flip the row.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

use super::{Service, ServiceError};
use crate::store::StoreError;
use crate::store::outbox::{self, EmailStatus};

pub use crate::store::outbox::{Channel, Lease, OutboxEmail, SenderRow};

/// What happens to one claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted at `at` (the server's answer), through `channel`.
    Sent { at: DateTime<Utc>, channel: Channel },
    /// A failure of this message that may pass: tried again at `at` (counts an attempt).
    Retry { at: DateTime<Utc>, error: String },
    /// A failure of this message that will not pass.
    Failed(String),
    /// Back to the queue at `at` without counting the attempt (the message was not at fault).
    Release { at: DateTime<Utc>, error: String },
}

impl Outcome {
    pub fn release(at: DateTime<Utc>, error: &str) -> Outcome {
        Outcome::Release {
            at,
            error: error.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SenderRegistryError {
    #[error("outbox sender lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for SenderRegistryError {
    fn from(e: StoreError) -> Self {
        SenderRegistryError::Service(e.into())
    }
}

/// One registered sender instance. Dropping it without `outbox_unregister_sender` is what
/// a crash looks like to the others: the lock goes, the registration stays.
#[derive(Debug)]
pub struct SenderInstance {
    id: String,
    claims: AtomicI64,
    lock_path: PathBuf,
    _lock: File,
}

impl SenderInstance {
    pub fn id(&self) -> &str {
        &self.id
    }

    fn next_lease(&self) -> Lease {
        Lease {
            owner: self.id.clone(),
            claim: self.claims.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

/// Where the instances' lock files live: next to the database, like its -wal and -shm.
fn lock_dir(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-senders");
    db.with_file_name(name)
}

fn lock_path(db: &Path, id: &str) -> PathBuf {
    lock_dir(db).join(format!("{id}.lock"))
}

/// True when the instance `id` is certainly gone: its lock file is missing or can be locked.
/// Any doubt (an I/O error) counts as alive: its lease still expires in time.
fn is_gone(db: &Path, id: &str) -> bool {
    let path = lock_path(db, id);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => return e.kind() == std::io::ErrorKind::NotFound,
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = std::fs::remove_file(&path);
            true
        }
        Err(_) => false,
    }
}

/// Creates and locks `<database>-senders/<id>.lock` (0600, in a 0700 folder).
fn take_lock(db: &Path, id: &str) -> Result<(PathBuf, File), SenderRegistryError> {
    let dir = lock_dir(db);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SenderRegistryError::Lock { path, source }
    };
    crate::paths::create_private_dir(&dir).map_err(|e| SenderRegistryError::Lock {
        path: dir.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let path = lock_path(db, id);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(io(&path))?;
    if let Err(e) = file.try_lock() {
        // A filesystem without locks: the others cannot lock it either, so they take
        // this instance for alive and fall back on the lease. Sending goes on.
        tracing::warn!(
            "cannot lock {}: {e}; after a crash, emails in flight wait for email.outbox_lease_secs",
            path.display()
        );
    }
    Ok((path, file))
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("email {0} not found")]
    NotFound(i64),
    #[error("email {id} is {status}, only failed emails can be retried")]
    NotFailed { id: i64, status: &'static str },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::store::StoreError> for RetryError {
    fn from(e: crate::store::StoreError) -> Self {
        RetryError::Service(e.into())
    }
}

impl Service {
    pub fn outbox_list(
        &self,
        status: Option<EmailStatus>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<OutboxEmail>, ServiceError> {
        Ok(self
            .store
            .read(|c| outbox::list(c, status, limit, offset))?)
    }

    /// Re-queues one failed email for an immediate attempt.
    pub fn outbox_retry(&self, id: i64, now: DateTime<Utc>) -> Result<(), RetryError> {
        self.store.write(move |tx| {
            let e = outbox::get(tx, id)?.ok_or(RetryError::NotFound(id))?;
            if e.status != EmailStatus::Failed {
                return Err(RetryError::NotFailed {
                    id,
                    status: e.status.as_str(),
                });
            }
            outbox::requeue_failed(tx, id, now)?;
            Ok(())
        })?;
        tracing::info!(email = id, "failed email re-queued by operator");
        self.outbox_wakeup.notify();
        Ok(())
    }

    pub fn outbox_retry_all_failed(&self, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        let n = self
            .store
            .write(move |tx| outbox::requeue_all_failed(tx, now))?;
        if n > 0 {
            tracing::info!(emails = n, "failed emails re-queued by operator");
            self.outbox_wakeup.notify();
        }
        Ok(n)
    }
}

impl Service {
    /// Registers a new sender instance for this process, then reclaims the claims of
    /// every instance that is gone (a daemon killed mid-send): they are due at once.
    pub fn outbox_register_sender(
        &self,
        now: DateTime<Utc>,
    ) -> Result<SenderInstance, SenderRegistryError> {
        let id = crate::store::random_hex(8);
        let (lock_path, lock) = take_lock(self.store.path(), &id)?;
        let registered = {
            let id = id.clone();
            self.store
                .write(move |tx| outbox::register_sender(tx, &id, std::process::id(), now))
        };
        if let Err(e) = registered {
            let _ = std::fs::remove_file(&lock_path);
            return Err(e.into());
        }
        let me = SenderInstance {
            id,
            claims: AtomicI64::new(0),
            lock_path,
            _lock: lock,
        };
        self.outbox_reclaim_gone(&me)?;
        Ok(me)
    }

    /// Puts the claims of every sender instance that is gone back in the queue, in their
    /// old place in line; returns how many emails went back.
    pub fn outbox_reclaim_gone(&self, me: &SenderInstance) -> Result<usize, ServiceError> {
        let db = self.store.path().to_owned();
        let others = self.store.read(outbox::senders)?;
        let gone: Vec<SenderRow> = others
            .into_iter()
            .filter(|s| s.id != me.id && is_gone(&db, &s.id))
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = gone.iter().map(|s| s.id.clone()).collect();
        let n = self.store.write(move |tx| {
            let mut n = 0;
            for id in &ids {
                n += outbox::reclaim_sender(tx, id)?;
            }
            Ok::<_, StoreError>(n)
        })?;
        for s in &gone {
            tracing::info!(sender = %s.id, pid = s.pid, started_at = %s.started_at, "outbox sender gone; its claims are due again");
        }
        if n > 0 {
            tracing::warn!(
                emails = n,
                "re-queued emails a stopped sender had in flight (they may be sent twice, with the same Message-ID)"
            );
            self.outbox_wakeup.notify();
        }
        Ok(n)
    }

    /// A clean stop: whatever this instance still holds goes back, and it is forgotten.
    pub fn outbox_unregister_sender(&self, me: &SenderInstance) -> Result<(), ServiceError> {
        let id = me.id.clone();
        self.store
            .write(move |tx| outbox::reclaim_sender(tx, &id))?;
        let _ = std::fs::remove_file(&me.lock_path);
        Ok(())
    }

    /// Claims up to `limit` due emails, oldest first, for `lease_for`.
    pub fn outbox_claim(
        &self,
        me: &SenderInstance,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<(Lease, Vec<OutboxEmail>), ServiceError> {
        let lease = me.next_lease();
        let held = lease.clone();
        let rows = self
            .store
            .write(move |tx| outbox::claim_due(tx, &held, now, lease_for, limit))?;
        Ok((lease, rows))
    }

    /// Records the outcomes of one claim in one transaction. Returns the ids whose claim
    /// was lost meanwhile (taken over by another sender): their outcome was not written.
    pub fn outbox_record(
        &self,
        lease: &Lease,
        outcomes: &[(OutboxEmail, Outcome)],
    ) -> Result<Vec<i64>, ServiceError> {
        let lease = lease.clone();
        let outcomes: Vec<(i64, Outcome)> = outcomes
            .iter()
            .map(|(row, o)| (row.id, o.clone()))
            .collect();
        Ok(self.store.write(move |tx| {
            let lease = &lease;
            let mut lost = Vec::new();
            for (id, outcome) in outcomes {
                let held = match outcome {
                    Outcome::Sent { at, channel } => outbox::mark_sent(tx, id, lease, at, channel)?,
                    Outcome::Retry { at, error } => outbox::mark_retry(tx, id, lease, at, &error)?,
                    Outcome::Failed(error) => outbox::mark_failed(tx, id, lease, &error)?,
                    Outcome::Release { at, error } => outbox::release(tx, id, lease, at, &error)?,
                };
                if !held {
                    lost.push(id);
                }
            }
            Ok::<_, StoreError>(lost)
        })?)
    }

    pub fn outbox_get(&self, id: i64) -> Result<Option<OutboxEmail>, ServiceError> {
        Ok(self.store.read(|c| outbox::get(c, id))?)
    }

    /// The registered sender instances (alive or not yet reclaimed).
    pub fn outbox_senders(&self) -> Result<Vec<SenderRow>, ServiceError> {
        Ok(self.store.read(outbox::senders)?)
    }
}
