//! `server.max_connections_per_ip`: how many connections one client address may hold.
//!
//! A client that closes a connection and opens another at once (a load generator's address
//! probe, a browser reconnecting) still holds the old slot until the server has seen that
//! close. So a connection over the cap does not get its 503 at once: as many again as the
//! cap may wait a moment for a slot to free. The wait runs in the connection's own task,
//! never in the accept loop, and a waiter is refused after [`GRACE`]: an attacker's share
//! stays bounded (the cap, plus as many for 100 ms).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::rate_limit;

/// How long a connection over the cap waits for a slot: far more than a close takes to be
/// seen, far less than a client would notice.
pub(super) const GRACE: Duration = Duration::from_millis(100);

/// Open and waiting connections per client address (IPv6 by /64, like the rate limit).
#[derive(Debug)]
pub(super) struct ConnectionCap {
    /// Open connections per address; as many again may wait for a slot.
    cap: usize,
    held: Mutex<HashMap<IpAddr, Held>>,
    /// Told whenever a slot is given back.
    freed: Notify,
}

#[derive(Debug, Default)]
struct Held {
    open: usize,
    waiting: usize,
}

/// What a new connection from an address under its cap gets.
pub(super) enum Admission {
    /// Served; the slot is given back when the connection ends.
    Admitted(Slot),
    /// Over the cap: served if a slot frees within [`GRACE`] ([`Waiter::slot`]).
    Waiting(Waiter),
}

/// One connection's place under the cap.
#[derive(Debug)]
pub(super) struct Slot {
    table: Arc<ConnectionCap>,
    key: IpAddr,
}

/// A connection over the cap, waiting for a slot.
#[derive(Debug)]
pub(super) struct Waiter {
    table: Arc<ConnectionCap>,
    key: IpAddr,
}

impl ConnectionCap {
    pub(super) fn new(cap: usize) -> Arc<ConnectionCap> {
        Arc::new(ConnectionCap {
            cap: cap.max(1),
            held: Mutex::new(HashMap::new()),
            freed: Notify::new(),
        })
    }

    /// None: over the cap with every waiting place taken, to be refused at once.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admission> {
        let key = rate_limit::bucket_key(ip);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = held.entry(key).or_default();
        if entry.open < self.cap {
            entry.open += 1;
            Some(Admission::Admitted(Slot {
                table: self.clone(),
                key,
            }))
        } else if entry.waiting < self.cap {
            entry.waiting += 1;
            Some(Admission::Waiting(Waiter {
                table: self.clone(),
                key,
            }))
        } else {
            None
        }
    }

    fn release(&self, key: IpAddr, f: impl FnOnce(&mut Held)) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = held.get_mut(&key) {
            f(entry);
            if entry.open == 0 && entry.waiting == 0 {
                held.remove(&key);
            }
        }
    }
}

impl Waiter {
    /// A slot if one frees within `grace`, else None (the connection is to be refused).
    pub(super) async fn slot(self, grace: Duration) -> Option<Slot> {
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        loop {
            // Registered before looking, so a slot given back in between still wakes us.
            let freed = self.table.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut held = self
                    .table
                    .held
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(entry) = held.get_mut(&self.key)
                    && entry.open < self.table.cap
                {
                    entry.open += 1;
                    // Dropping `self` then gives back the waiting place.
                    return Some(Slot {
                        table: self.table.clone(),
                        key: self.key,
                    });
                }
            }
            tokio::select! {
                () = &mut freed => {}
                () = &mut deadline => return None,
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.release(self.key, |h| h.open -= 1);
        self.table.freed.notify_waiters();
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.table.release(self.key, |h| h.waiting -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn over_the_cap_a_few_wait_and_the_rest_are_refused() {
        let cap = ConnectionCap::new(3);
        let a = ip("192.0.2.1");
        let slots: Vec<_> = (0..3)
            .map(|_| match cap.admit(a) {
                Some(Admission::Admitted(s)) => s,
                _ => panic!("under the cap"),
            })
            .collect();
        // As many again may wait.
        let waiters: Vec<_> = (0..3)
            .map(|_| match cap.admit(a) {
                Some(Admission::Waiting(w)) => w,
                _ => panic!("a waiting place was free"),
            })
            .collect();
        assert!(cap.admit(a).is_none(), "every waiting place is taken");
        // Another address is not affected.
        assert!(matches!(
            cap.admit(ip("192.0.2.2")),
            Some(Admission::Admitted(_))
        ));

        // Nobody leaves: the waiter is refused after the grace period.
        let mut waiters = waiters.into_iter();
        let first = waiters.next().unwrap();
        assert!(first.slot(Duration::from_millis(5)).await.is_none());
        // One connection ends while a waiter waits: the waiter gets its slot.
        let second = waiters.next().unwrap();
        let mut slots = slots.into_iter();
        let ended = slots.next().unwrap();
        let waiting = tokio::spawn(second.slot(Duration::from_secs(5)));
        tokio::task::yield_now().await;
        drop(ended);
        let slot = waiting.await.unwrap();
        assert!(slot.is_some(), "a freed slot goes to the waiter");
        // Back at the cap: a new waiter finds nothing free.
        let third = waiters.next().unwrap();
        assert!(third.slot(Duration::from_millis(5)).await.is_none());

        drop((slot, slots, waiters));
        let held = cap.held.lock().unwrap();
        assert!(
            !held.contains_key(&a),
            "everything given back: {:?}",
            held.get(&a)
        );
    }
}
