//! A wake-up between threads (not an OS signal): "there is new work", with a timed wait so
//! workers still poll (another process, e.g. a cron `jobs` run, may have queued work).

use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Wakeup {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        if let Ok(mut f) = self.flag.lock() {
            *f = true;
            self.cv.notify_all();
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
