//! Where terminal events come from: the real terminal, or a script in tests.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyModifiers};

pub trait EventSource {
    /// The next event, or None when `timeout` passed without one.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>>;
}

/// crossterm's event queue (the terminal in raw mode).
pub struct TerminalEvents;

impl EventSource for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        if event::poll(timeout)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A fixed sequence for tests: `None` entries are idle ticks. Running past the end is an
/// error, so a test whose script forgot to quit fails instead of hanging.
#[derive(Debug, Default)]
pub struct Scripted {
    events: VecDeque<Option<Event>>,
}

impl Scripted {
    pub fn new(events: impl IntoIterator<Item = Option<Event>>) -> Scripted {
        Scripted {
            events: events.into_iter().collect(),
        }
    }

    /// Each character as a key press, then `q` (quit).
    pub fn keys(keys: &str) -> Scripted {
        Scripted::new(keys.chars().chain(std::iter::once('q')).map(|c| {
            Some(Event::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )))
        }))
    }
}

impl EventSource for Scripted {
    fn next(&mut self, _timeout: Duration) -> io::Result<Option<Event>> {
        self.events
            .pop_front()
            .ok_or_else(|| io::Error::other("scripted events ran out before the TUI quit"))
    }
}
