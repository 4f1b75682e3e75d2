//! The scheduler thread: catch-up at start, survives a panicking task, stops on shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;
use carette::scheduler::{self, TickOutcome};
use carette::service::jobs::Job;
use carette::wakeup::Shutdown;

#[test]
fn tick_runs_due_jobs_once_per_slot() {
    let f = fixture();
    let t = utc(2026, 12, 3, 9, 30);
    let first = scheduler::tick(&f.service, t);
    assert!(
        first.iter().all(|(_, o)| matches!(o, TickOutcome::Ran(_))),
        "{first:?}"
    );
    let second = scheduler::tick(&f.service, t + chrono::Duration::minutes(1));
    assert!(
        second.iter().all(|(_, o)| *o == TickOutcome::NotDue),
        "{second:?}"
    );
    let next_hour = scheduler::tick(&f.service, utc(2026, 12, 3, 10, 0));
    assert_eq!(
        next_hour[0],
        (Job::Expire, TickOutcome::Ran(Default::default()))
    );
    assert_eq!(next_hour[1], (Job::Reminders, TickOutcome::NotDue));
}

#[test]
fn the_thread_catches_up_at_start_survives_panics_and_stops() {
    let f = fixture();
    let shutdown = Shutdown::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let task: scheduler::TickTask = Box::new(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        panic!("a broken task");
    });
    let beat = carette::heartbeat::Heartbeat::new("scheduler", Duration::from_secs(600));
    let handle = scheduler::spawn(
        f.service.clone(),
        vec![task],
        shutdown.clone(),
        beat.clone(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The tasks run after the jobs of the same tick: wait for both.
    while (f.service.last_job_run(Job::Reminders).unwrap().is_none()
        || calls.load(Ordering::SeqCst) == 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        f.service.last_job_run(Job::Expire).unwrap().is_some(),
        "expire ran at start"
    );
    assert!(
        f.service.last_job_run(Job::Reminders).unwrap().is_some(),
        "reminders caught up at start"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The panicking task did not take the thread down: its heartbeat still says so.
    assert_eq!(beat.pulse(), carette::heartbeat::Pulse::Ok);
    shutdown.trigger();
    // A generous bound: the scheduler sleeps a second at most between checks.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "the scheduler did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    handle
        .join()
        .expect("the thread survived the panicking task");
    assert_eq!(beat.pulse(), carette::heartbeat::Pulse::Stopped);
}
