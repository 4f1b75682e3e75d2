//! Running loads: on a background thread in the real TUI (a search over a million rows
//! must never freeze the keyboard), inline in tests (deterministic frames).
//!
//! The loader also watches `PRAGMA data_version` on the read connection and reports when
//! another connection committed, so the screen reloads only when something changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::data::{Kind, Loaded, Reader, Request, Ticket};
use crate::service::{QueryInterrupt, ServiceError};

/// How often the background thread looks at `data_version` while idle.
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub enum Message {
    Loaded {
        ticket: Ticket,
        result: Result<Loaded, String>,
    },
    /// Another connection committed since the last check.
    DataChanged,
    /// The database could not even be asked whether it changed.
    Unavailable(String),
}

pub trait Loader {
    fn submit(&mut self, tickets: Vec<Ticket>, now: DateTime<Utc>);
    /// Answers and change notifications that arrived since the last call.
    fn poll(&mut self) -> Vec<Message>;
}

/// Tracks `data_version` and turns a move into one `DataChanged`.
struct Watch {
    version: Option<i64>,
    last_error: Option<String>,
}

impl Watch {
    fn new(reader: &Reader) -> Watch {
        Watch {
            version: reader.data_version().ok(),
            last_error: None,
        }
    }

    fn check(&mut self, reader: &Reader) -> Option<Message> {
        match reader.data_version() {
            Ok(v) => {
                self.last_error = None;
                let changed = self.version.is_some_and(|old| old != v);
                self.version = Some(v);
                changed.then_some(Message::DataChanged)
            }
            Err(e) => {
                let text = e.to_string();
                // Say it once, not four times a second.
                if self.last_error.as_deref() == Some(text.as_str()) {
                    None
                } else {
                    self.last_error = Some(text.clone());
                    Some(Message::Unavailable(text))
                }
            }
        }
    }
}

fn run_inline(reader: &Reader, ticket: Ticket, now: DateTime<Utc>) -> Message {
    let result = reader.load(&ticket.request, now).map_err(|e| e.to_string());
    Message::Loaded { ticket, result }
}

/// Runs each load when it is submitted.
pub struct InlineLoader {
    reader: Reader,
    watch: Watch,
    out: Vec<Message>,
}

impl InlineLoader {
    pub fn new(reader: Reader) -> InlineLoader {
        let watch = Watch::new(&reader);
        InlineLoader {
            reader,
            watch,
            out: Vec::new(),
        }
    }
}

impl Loader for InlineLoader {
    fn submit(&mut self, tickets: Vec<Ticket>, now: DateTime<Utc>) {
        for t in tickets {
            self.out.push(run_inline(&self.reader, t, now));
        }
    }

    fn poll(&mut self) -> Vec<Message> {
        if let Some(m) = self.watch.check(&self.reader) {
            self.out.push(m);
        }
        std::mem::take(&mut self.out)
    }
}

/// Runs loads on its own thread, newest request of each kind only.
pub struct ThreadLoader {
    jobs: Sender<(Vec<Ticket>, DateTime<Utc>)>,
    results: Receiver<Message>,
    /// The request being read right now, so a different one of its kind can cut it short.
    running: Arc<Mutex<Option<Request>>>,
    interrupt: Option<QueryInterrupt>,
}

impl ThreadLoader {
    pub fn spawn(reader: Reader) -> std::io::Result<ThreadLoader> {
        let (jobs, job_rx) = mpsc::channel();
        let (result_tx, results) = mpsc::channel();
        let running = Arc::new(Mutex::new(None));
        let interrupt = reader.interrupt_handle().ok();
        let worker_running = Arc::clone(&running);
        std::thread::Builder::new()
            .name("tui-loader".into())
            .spawn(move || worker(&reader, &job_rx, &result_tx, &worker_running))?;
        Ok(ThreadLoader {
            jobs,
            results,
            running,
            interrupt,
        })
    }
}

impl Loader for ThreadLoader {
    fn submit(&mut self, tickets: Vec<Ticket>, now: DateTime<Utc>) {
        let superseding: Vec<Request> = tickets.iter().map(|t| t.request.clone()).collect();
        // A dead worker shows up as answers that never come; the UI stays usable.
        let _ = self.jobs.send((tickets, now));
        // A new search or page replaces a slow one still running (a scan for a filter over
        // a million rows); the same request again (a refresh) lets it finish.
        if let (Some(handle), Ok(running)) = (&self.interrupt, self.running.lock())
            && let Some(current) = running.as_ref()
            && superseding
                .iter()
                .any(|r| r.kind() == current.kind() && r != current)
        {
            // Under the lock: the worker is still inside that load, not in another query.
            handle.interrupt();
        }
    }

    fn poll(&mut self) -> Vec<Message> {
        self.results.try_iter().collect()
    }
}

/// What the screen looks at first: the page under the cursor before the figures.
fn priority(kind: Kind) -> u8 {
    match kind {
        Kind::Detail => 0,
        Kind::Reservations => 1,
        Kind::Outbox => 2,
        Kind::Stats => 3,
        Kind::Activity => 4,
    }
}

type Queue = BTreeMap<(u8, Kind), (Ticket, DateTime<Utc>)>;

fn enqueue(queue: &mut Queue, tickets: Vec<Ticket>, now: DateTime<Utc>) {
    for t in tickets {
        let kind = t.request.kind();
        queue.insert((priority(kind), kind), (t, now));
    }
}

/// The previous run of a kind: repeating the same request waits `DUTY` times as long as it
/// took, so a slow refresh (a filtered scan) under a busy daemon uses at most a fifth of a
/// core instead of all of it. A different request (the operator moved) runs at once.
struct LastRun {
    request: Request,
    finished: Instant,
    took: Duration,
}

const DUTY: u32 = 4;

fn ready_at(last: &HashMap<Kind, LastRun>, ticket: &Ticket) -> Option<Instant> {
    last.get(&ticket.request.kind())
        .filter(|l| l.request == ticket.request)
        .map(|l| l.finished + l.took * DUTY)
}

fn interrupted(result: &Result<Loaded, ServiceError>) -> bool {
    matches!(result, Err(e) if e.is_interrupted())
}

fn worker(
    reader: &Reader,
    jobs: &Receiver<(Vec<Ticket>, DateTime<Utc>)>,
    results: &Sender<Message>,
    running: &Mutex<Option<Request>>,
) {
    let mut watch = Watch::new(reader);
    let mut queue = Queue::new();
    let mut last: HashMap<Kind, LastRun> = HashMap::new();
    loop {
        let wait = queue
            .values()
            .map(|(t, _)| {
                ready_at(&last, t).map_or(Duration::ZERO, |at| {
                    at.saturating_duration_since(Instant::now())
                })
            })
            .min()
            .map_or(POLL, |w| w.min(POLL));
        match jobs.recv_timeout(wait) {
            Ok((tickets, now)) => enqueue(&mut queue, tickets, now),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        loop {
            // Newer requests replace queued ones of the same kind before each load.
            for (tickets, now) in jobs.try_iter() {
                enqueue(&mut queue, tickets, now);
            }
            let now_instant = Instant::now();
            let Some(key) = queue
                .iter()
                .find(|(_, (t, _))| ready_at(&last, t).is_none_or(|at| at <= now_instant))
                .map(|(k, _)| *k)
            else {
                break;
            };
            let Some((ticket, now)) = queue.remove(&key) else {
                break;
            };
            if let Ok(mut r) = running.lock() {
                *r = Some(ticket.request.clone());
            }
            let start = Instant::now();
            let result = reader.load(&ticket.request, now);
            if let Ok(mut r) = running.lock() {
                *r = None;
            }
            if interrupted(&result) {
                for (tickets, now) in jobs.try_iter() {
                    enqueue(&mut queue, tickets, now);
                }
                // Cut short for a newer request: drop it. Hit by an interrupt meant for its
                // predecessor: run it again.
                queue.entry(key).or_insert((ticket, now));
                continue;
            }
            last.insert(
                key.1,
                LastRun {
                    request: ticket.request.clone(),
                    finished: Instant::now(),
                    took: start.elapsed(),
                },
            );
            let message = Message::Loaded {
                ticket,
                result: result.map_err(|e| e.to_string()),
            };
            if results.send(message).is_err() {
                return;
            }
        }
        if let Some(m) = watch.check(reader)
            && results.send(m).is_err()
        {
            return;
        }
    }
}
