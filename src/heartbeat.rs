//! Liveness of the worker threads, for /healthz and /metrics: a thread beats on every turn
//! of its loop, and the guard it holds marks it stopped when it returns or unwinds. A
//! thread alive but stuck (a wedged SMTP call, a deadlock) stops beating: after
//! `max_silence` it counts as stale.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPED: u8 = 2;

#[derive(Debug)]
pub struct Heartbeat {
    name: &'static str,
    max_silence: Duration,
    origin: Instant,
    /// Milliseconds after `origin` of the last beat.
    last: AtomicU64,
    state: AtomicU8,
}

/// What a heartbeat says about its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pulse {
    Ok,
    NotStarted,
    Stopped,
    /// Running but silent for this long (more than its `max_silence`).
    Stale(Duration),
}

impl Pulse {
    pub fn is_ok(self) -> bool {
        self == Pulse::Ok
    }

    /// A short word for the health JSON.
    pub fn describe(self) -> String {
        match self {
            Pulse::Ok => "ok".to_owned(),
            Pulse::NotStarted => "not started".to_owned(),
            Pulse::Stopped => "stopped".to_owned(),
            Pulse::Stale(d) => format!("stuck: no heartbeat for {} s", d.as_secs()),
        }
    }
}

impl Heartbeat {
    pub fn new(name: &'static str, max_silence: Duration) -> Arc<Heartbeat> {
        Arc::new(Heartbeat {
            name,
            max_silence,
            origin: Instant::now(),
            last: AtomicU64::new(0),
            state: AtomicU8::new(NOT_STARTED),
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Called by the thread on every turn of its loop.
    pub fn beat(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Marks the thread running until the returned guard is dropped (return or panic).
    pub fn running(self: &Arc<Self>) -> Alive {
        self.beat();
        self.state.store(RUNNING, Ordering::SeqCst);
        Alive(self.clone())
    }

    pub fn pulse(&self) -> Pulse {
        match self.state.load(Ordering::SeqCst) {
            NOT_STARTED => Pulse::NotStarted,
            STOPPED => Pulse::Stopped,
            _ => {
                let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
                let silent = self.origin.elapsed().saturating_sub(last);
                if silent > self.max_silence {
                    Pulse::Stale(silent)
                } else {
                    Pulse::Ok
                }
            }
        }
    }
}

/// Held by a running worker thread; dropping it marks the thread stopped.
#[derive(Debug)]
pub struct Alive(Arc<Heartbeat>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.state.store(STOPPED, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_is_ok_while_it_beats_and_stopped_once_it_returns() {
        let hb = Heartbeat::new("worker", Duration::from_secs(60));
        assert_eq!(hb.pulse(), Pulse::NotStarted);
        let h = hb.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _alive = h.running();
            h.beat();
            let _ = rx.recv();
        });
        while hb.pulse() == Pulse::NotStarted {
            std::thread::yield_now();
        }
        assert_eq!(hb.pulse(), Pulse::Ok);
        drop(tx);
        t.join().unwrap();
        assert_eq!(hb.pulse(), Pulse::Stopped);
    }

    #[test]
    fn a_panicking_thread_counts_as_stopped() {
        let hb = Heartbeat::new("worker", Duration::from_secs(60));
        let h = hb.clone();
        let t = std::thread::spawn(move || {
            let _alive = h.running();
            panic!("boom");
        });
        assert!(t.join().is_err());
        assert_eq!(hb.pulse(), Pulse::Stopped);
    }

    #[test]
    fn a_silent_thread_becomes_stale() {
        let hb = Heartbeat::new("worker", Duration::from_millis(20));
        let _alive = hb.running();
        std::thread::sleep(Duration::from_millis(50));
        assert!(matches!(hb.pulse(), Pulse::Stale(d) if d >= Duration::from_millis(20)));
        assert_eq!(
            Pulse::Stale(Duration::from_secs(90)).describe(),
            "stuck: no heartbeat for 90 s"
        );
    }
}
