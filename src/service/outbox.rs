//! Operator actions on the outbox (the CLI's `outbox` commands and the TUI share these).

use chrono::{DateTime, Utc};

use super::{Service, ServiceError};
use crate::store::outbox::{self, EmailStatus, OutboxEmail};

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
        self.store.write(|tx| {
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
        self.outbox_signal.notify();
        Ok(())
    }

    pub fn outbox_retry_all_failed(&self, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        let n = self.store.write(|tx| outbox::requeue_all_failed(tx, now))?;
        if n > 0 {
            tracing::info!(emails = n, "failed emails re-queued by operator");
            self.outbox_signal.notify();
        }
        Ok(n)
    }
}
