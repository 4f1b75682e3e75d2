//! Waking threads, not OS signals: [`Wakeup`] says "there is new work" to one worker, with a
//! timed wait so workers still poll (another process, e.g. a cron `jobs` run, may have queued
//! work); [`Shutdown`] is the one stop request the HTTP server and the worker threads share.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::watch;

#[derive(Debug, Default)]
pub struct Wakeup {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        if let Ok(mut f) = self.flag.lock() {
            // Already set: nobody sleeps on it (a waiter sleeps only while it is clear), and
            // the worker sees it on its next wait. Each notify was a futex system call, one
            // per seat request, while the sender was busy anyway.
            if !std::mem::replace(&mut *f, true) {
                self.cv.notify_all();
            }
        }
    }

    /// Waits until notified or `timeout`; returns whether it was notified. Clears the flag.
    pub fn wait(&self, timeout: Duration) -> bool {
        let Ok(guard) = self.flag.lock() else {
            std::thread::sleep(timeout);
            return false;
        };
        match self.cv.wait_timeout_while(guard, timeout, |f| !*f) {
            Ok((mut f, _)) => std::mem::replace(&mut *f, false),
            Err(_) => false,
        }
    }
}

/// A stop request, set once and never cleared. The async side (the HTTP server) watches
/// [`Shutdown::receiver`]; threads check [`Shutdown::is_set`] or sleep in
/// [`Shutdown::wait`]. [`Shutdown::trigger`] also notifies the work wake-ups it was built
/// with, so a worker sleeping on "new work" notices the stop at once.
#[derive(Debug, Clone)]
pub struct Shutdown(Arc<ShutdownInner>);

#[derive(Debug)]
struct ShutdownInner {
    watch: watch::Sender<bool>,
    wakeups: Vec<Arc<Wakeup>>,
    // The flag lives in the watch; this only lets threads sleep until it flips.
    lock: Mutex<()>,
    cv: Condvar,
}

impl Default for Shutdown {
    fn default() -> Shutdown {
        Shutdown::new(Vec::new())
    }
}

impl Shutdown {
    /// `wakeups`: what the workers stopped by this request sleep on between passes.
    pub fn new(wakeups: Vec<Arc<Wakeup>>) -> Shutdown {
        Shutdown(Arc::new(ShutdownInner {
            watch: watch::Sender::new(false),
            wakeups,
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }))
    }

    pub fn trigger(&self) {
        // Under the lock so a thread between its check and its wait cannot miss it.
        let guard = self.0.lock.lock();
        self.0.watch.send_replace(true);
        drop(guard);
        self.0.cv.notify_all();
        for w in &self.0.wakeups {
            w.notify();
        }
    }

    pub fn is_set(&self) -> bool {
        *self.0.watch.borrow()
    }

    /// For async code: `wait_for(|stop| *stop)` resolves once triggered.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.0.watch.subscribe()
    }

    /// Sleeps until triggered or `timeout`; returns whether it is set.
    pub fn wait(&self, timeout: Duration) -> bool {
        let Ok(guard) = self.0.lock.lock() else {
            std::thread::sleep(timeout);
            return self.is_set();
        };
        let _ = self
            .0
            .cv
            .wait_timeout_while(guard, timeout, |_| !*self.0.watch.borrow());
        self.is_set()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_reaches_waiting_threads_receivers_and_wakeups() {
        let work = Arc::new(Wakeup::default());
        let stop = Shutdown::new(vec![work.clone()]);
        let rx = stop.receiver();
        assert!(!stop.is_set() && !*rx.borrow());
        assert!(!stop.wait(Duration::from_millis(1)));
        let waiter = {
            let stop = stop.clone();
            std::thread::spawn(move || stop.wait(Duration::from_secs(60)))
        };
        stop.trigger();
        assert!(
            waiter.join().unwrap_or(false),
            "the sleeping thread woke up set"
        );
        assert!(stop.is_set() && *rx.borrow());
        assert!(work.wait(Duration::ZERO), "the work wake-up was notified");
    }

    #[test]
    fn notifications_before_a_wait_count_once_and_a_sleeping_worker_wakes() {
        let work = Arc::new(Wakeup::default());
        work.notify();
        work.notify();
        assert!(work.wait(Duration::ZERO));
        assert!(
            !work.wait(Duration::from_millis(1)),
            "consumed by the first wait"
        );
        let sleeper = {
            let work = work.clone();
            std::thread::spawn(move || work.wait(Duration::from_secs(60)))
        };
        // Whether the worker is asleep yet or not, it sees the notification.
        std::thread::sleep(Duration::from_millis(20));
        work.notify();
        assert!(sleeper.join().unwrap_or(false), "woken by the notification");
    }
}
