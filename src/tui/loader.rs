//! Running loads: on a background thread in the real TUI (a search over a million rows
//! must never freeze the keyboard), inline in tests (deterministic frames).
//!
//! The loader also watches `PRAGMA data_version` on the read connection and reports when
//! another connection committed, so the screen reloads only when something changed.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::data::{Kind, Loaded, Reader, Ticket};

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

fn run(reader: &Reader, ticket: Ticket, now: DateTime<Utc>) -> Message {
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
            self.out.push(run(&self.reader, t, now));
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
}

impl ThreadLoader {
    pub fn spawn(reader: Reader) -> std::io::Result<ThreadLoader> {
        let (jobs, job_rx) = mpsc::channel();
        let (result_tx, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("tui-loader".into())
            .spawn(move || worker(&reader, &job_rx, &result_tx))?;
        Ok(ThreadLoader { jobs, results })
    }
}

impl Loader for ThreadLoader {
    fn submit(&mut self, tickets: Vec<Ticket>, now: DateTime<Utc>) {
        // A dead worker shows up as answers that never come; the UI stays usable.
        let _ = self.jobs.send((tickets, now));
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

fn worker(
    reader: &Reader,
    jobs: &Receiver<(Vec<Ticket>, DateTime<Utc>)>,
    results: &Sender<Message>,
) {
    let mut watch = Watch::new(reader);
    let mut queue = Queue::new();
    loop {
        match jobs.recv_timeout(POLL) {
            Ok((tickets, now)) => enqueue(&mut queue, tickets, now),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        loop {
            // Newer requests replace queued ones of the same kind before each load.
            for (tickets, now) in jobs.try_iter() {
                enqueue(&mut queue, tickets, now);
            }
            let Some((_, (ticket, now))) = queue.pop_first() else {
                break;
            };
            if results.send(run(reader, ticket, now)).is_err() {
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
