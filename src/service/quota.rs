//! No inbox bombing through Carette: the emails that someone else's action causes to one
//! address are capped per rolling hour (`email.max_per_recipient_per_hour`): seat
//! requests (to the driver and the passenger), fresh-link resends, and what a link's
//! holder sends the other party (accept, refuse, remove → the passenger; a passenger's
//! cancel → the driver; an offer cancelled → its passengers). The last ones count
//! because an attacker driving his own offers could otherwise leave hundreds of requests
//! pending for a day and answer them in one burst. An email to the actor himself (the
//! driver's own itinerary) and the scheduled jobs' emails are not counted.
//!
//! The check runs inside the use case's write transaction, before anything else is
//! written: a refused action writes nothing and can simply be retried later. Legitimate
//! use stays far below the cap; the price is that an attacked address also gets nothing
//! new from anyone until its window clears.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::ServiceError;
use crate::store::quota::{self, SLOT_SECS, WINDOW_SLOTS};

/// Whose inbox is full, as the caller may be told: never the address itself when it is
/// not the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// The driver of the offer a seat is asked on.
    Driver,
    /// The passenger address given in the request.
    Passenger,
    /// The recipient of a fresh link.
    LinkRecipient,
}

impl Capped {
    pub fn describe(self) -> &'static str {
        match self {
            Capped::Driver => {
                "the driver of this offer has received too many emails in the last hour; retry later"
            }
            Capped::Passenger => {
                "passenger_email has received too many emails in the last hour; retry later"
            }
            Capped::LinkRecipient => {
                "this address has received too many emails in the last hour; retry later"
            }
        }
    }
}

/// One address as counted: case does not make another mailbox in practice.
pub fn normalize(address: &str) -> String {
    address.trim().to_lowercase()
}

/// Refuses when one more email to `address` would pass `cap` in the last hour. The
/// error says when the first email leaves the window with room to spare.
pub(crate) fn check(
    tx: &Connection,
    cap: u32,
    address: &str,
    who: Capped,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let now_secs = now.timestamp();
    let slots = quota::window(tx, &normalize(address), now_secs)?;
    let mut total: i64 = slots.iter().map(|(_, n)| n).sum();
    let cap = i64::from(cap);
    if total < cap {
        return Ok(());
    }
    // The oldest slots leave the window first; find the one whose leaving makes room.
    let mut retry_at = now_secs + WINDOW_SLOTS * SLOT_SECS;
    for (slot, n) in &slots {
        total -= n;
        if total < cap {
            retry_at = slot + WINDOW_SLOTS * SLOT_SECS;
            break;
        }
    }
    Err(ServiceError::RecipientCapped {
        who,
        retry_after_secs: (retry_at - now_secs).max(1),
    })
}

/// Counts one email to `address`; call after `check` passed, in the same transaction.
pub(crate) fn charge(
    tx: &Connection,
    address: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    quota::charge(tx, &normalize(address), now.timestamp())?;
    Ok(())
}
