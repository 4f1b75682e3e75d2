//! The rows of one claimed batch, handed to the workers so that a rider's emails leave in
//! the order they were queued: a row waits while an older one to the same address is
//! being sent, and is held back (released to the same time) when that one did not go.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex};

use chrono::{DateTime, Utc};

use crate::service::outbox::{OutboxEmail, Outcome};

/// What a worker gets: a row to send, or a row that must wait for an older one.
pub(super) enum Next {
    Send(OutboxEmail),
    /// An older email to the same address was not sent: go back to the queue with it.
    Hold(OutboxEmail, DateTime<Utc>),
}

#[derive(Default)]
struct State {
    /// Claim order: oldest first.
    rows: VecDeque<OutboxEmail>,
    /// Addresses with an email being sent right now.
    busy: HashSet<String>,
    /// Addresses whose older email did not go, and when it is tried again.
    held: HashMap<String, DateTime<Utc>>,
}

pub(super) struct BatchQueue {
    state: Mutex<State>,
    freed: Condvar,
}

impl BatchQueue {
    pub(super) fn new(rows: Vec<OutboxEmail>) -> BatchQueue {
        BatchQueue {
            state: Mutex::new(State {
                rows: rows.into(),
                ..State::default()
            }),
            freed: Condvar::new(),
        }
    }

    /// The oldest row whose address is not busy; None once the batch is empty. Blocks
    /// while every remaining row waits for an email in flight.
    pub(super) fn next(&self) -> Option<Next> {
        let mut state = self.state.lock().ok()?;
        loop {
            if state.rows.is_empty() {
                return None;
            }
            // The first row of an address in the queue is that address's oldest left.
            let free = state
                .rows
                .iter()
                .position(|r| !state.busy.contains(&r.recipient));
            if let Some(row) = free.and_then(|i| state.rows.remove(i)) {
                if let Some(at) = state.held.get(&row.recipient).copied() {
                    return Some(Next::Hold(row, at));
                }
                state.busy.insert(row.recipient.clone());
                return Some(Next::Send(row));
            }
            state = self.freed.wait(state).ok()?;
        }
    }

    /// `row` (from `Next::Send`) is done with `outcome`: its address is free again, and
    /// held back for the rest of the batch when the email did not go and will be retried.
    pub(super) fn done(&self, row: &OutboxEmail, outcome: &Outcome) {
        if let Ok(mut state) = self.state.lock() {
            state.busy.remove(&row.recipient);
            match outcome {
                Outcome::Retry { at, .. } | Outcome::Release { at, .. } => {
                    state.held.insert(row.recipient.clone(), *at);
                }
                Outcome::Sent { .. } | Outcome::Failed(_) => {}
            }
        }
        self.freed.notify_all();
    }
}
