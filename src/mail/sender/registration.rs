//! This process's sender instance in the outbox's registry (`service::outbox`): taken at
//! the first delivery (which reclaims the emails of dead instances), looked after while
//! running, given back on a clean stop.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{OutboxSender, SenderError};
use crate::service::outbox::SenderInstance;

/// How often a running sender looks for instances that died meanwhile (e.g. a `carette
/// jobs` run killed while the daemon runs); a starting one looks at once.
const RECLAIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

impl OutboxSender {
    /// This process's sender instance: registered (reclaiming the claims of dead
    /// instances) on first use, and looking for newly dead ones every `RECLAIM_EVERY`.
    pub(super) fn instance(&self, now: DateTime<Utc>) -> Result<Arc<SenderInstance>, SenderError> {
        let mut slot = self.instance.lock().map_err(|_| SenderError::Poisoned)?;
        match slot.as_mut() {
            Some((me, last)) => {
                if last.elapsed() >= RECLAIM_EVERY {
                    *last = Instant::now();
                    if let Err(e) = self.service.outbox_reclaim_gone(me) {
                        tracing::warn!("outbox: cannot look for stopped senders: {e}");
                    }
                }
                Ok(Arc::clone(me))
            }
            None => {
                let me = Arc::new(self.service.outbox_register_sender(now)?);
                tracing::debug!(sender = me.id(), "outbox sender registered");
                *slot = Some((me.clone(), Instant::now()));
                Ok(me)
            }
        }
    }
}

impl Drop for OutboxSender {
    /// A clean stop unregisters this instance (whatever it still held goes back to the
    /// queue); a crash leaves that to the next sender to start.
    fn drop(&mut self) {
        let me = self
            .instance
            .get_mut()
            .ok()
            .and_then(|slot| slot.take())
            .map(|(me, _)| me);
        if let Some(me) = me
            && let Err(e) = self.service.outbox_unregister_sender(&me)
        {
            tracing::warn!("outbox: cannot unregister this sender: {e}");
        }
    }
}
