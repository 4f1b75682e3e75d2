//! The TUI's state and its pure transitions: a key, a loaded page or a tick goes in, the
//! state changes and an `Action` says what I/O the event loop should do next. Nothing here
//! touches the terminal, the database or the clock, so every transition is a plain test.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

mod loads;
mod prompt;

pub use super::settings::{MailSummary, Settings};
pub use super::view::View;

use super::components::detail::{self, DetailState};
use super::components::help::Context;
use super::components::outbox::{self, OutboxState};
use super::components::reservations::ReservationsState;
use super::components::test_send::{self, SendOutcome, TestSendState};
use super::data::{Activity, Kind, Ticket};
use crate::store::stats::Stats;

const NOTICE_FOR: Duration = Duration::seconds(8);
const MAX_INPUT: usize = 200;

/// A one-line question at the bottom of the screen; it takes every key until answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Filter(String),
    Address(String),
    ConfirmRetry(outbox::RetryTarget),
    ConfirmRetryAll(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    None,
    Quit,
    Load(Vec<Ticket>),
    Retry(i64),
    RetryAllFailed,
    SendTest(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct App {
    pub now: DateTime<Utc>,
    pub settings: Settings,
    pub view: View,
    pub help: bool,
    pub prompt: Option<Prompt>,
    /// Terminal width and height (PgUp/PgDn move by one screen).
    pub size: (u16, u16),
    pub stats: Option<Stats>,
    pub activity: Option<Activity>,
    pub reservations: ReservationsState,
    pub detail: Option<DetailState>,
    pub outbox: OutboxState,
    pub test: TestSendState,
    pub notice: Option<Notice>,
    /// Set while the database cannot be read at all.
    pub unavailable: Option<String>,
    pub quit: bool,
    seq: u64,
    /// The newest ticket of each kind: older answers are dropped.
    wanted: HashMap<Kind, u64>,
    dirty: bool,
    last_refresh: Option<DateTime<Utc>>,
}

impl App {
    pub fn new(settings: Settings, now: DateTime<Utc>) -> App {
        App {
            now,
            settings,
            view: View::Overview,
            help: false,
            prompt: None,
            size: (80, 24),
            stats: None,
            activity: None,
            reservations: ReservationsState::default(),
            detail: None,
            outbox: OutboxState::default(),
            test: TestSendState::default(),
            notice: None,
            unavailable: None,
            quit: false,
            seq: 0,
            wanted: HashMap::new(),
            dirty: false,
            last_refresh: None,
        }
    }

    /// The keyboard context, for the footer and the help.
    pub fn context(&self) -> Context {
        match (self.view, &self.detail) {
            (View::Reservations, Some(_)) => Context::Detail,
            (v, _) => Context::View(v),
        }
    }

    pub fn say(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
            at: self.now,
        });
    }

    pub fn switch_to(&mut self, view: View) -> Action {
        if view == self.view {
            return Action::None;
        }
        self.view = view;
        let mut out = Vec::new();
        self.view_loads(&mut out);
        App::load(out)
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
    }

    /// Rows a PgDn moves: about one screen of the current table.
    fn step(&self) -> usize {
        let chrome = match self.view {
            View::Outbox => 11,
            _ => 6,
        };
        usize::from(self.size.1.saturating_sub(chrome)).max(1)
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Action::Quit;
        }
        if self.help {
            self.help = false;
            return Action::None;
        }
        if let Some(prompt) = self.prompt.take() {
            return self.prompt_key(prompt, &key);
        }
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Action::Quit;
            }
            KeyCode::Char('?') => {
                self.help = true;
                return Action::None;
            }
            KeyCode::Tab => return self.switch_to(View::ALL[(self.view.index() + 1) % 4]),
            KeyCode::BackTab => return self.switch_to(View::ALL[(self.view.index() + 3) % 4]),
            KeyCode::Char(c @ '1'..='4') => {
                let i = usize::from(c as u8 - b'1');
                return self.switch_to(View::ALL[i]);
            }
            KeyCode::F(5) => return self.refresh(),
            _ => {}
        }
        if let (View::Reservations, Some(d)) = (self.view, self.detail.as_mut()) {
            if d.handle_key(&key, usize::from(self.size.1.saturating_sub(4)))
                == detail::Outcome::Close
            {
                self.detail = None;
            }
            return Action::None;
        }
        if key.code == KeyCode::Esc {
            self.quit = true;
            return Action::Quit;
        }
        let step = self.step();
        let mut out = Vec::new();
        match self.view {
            View::Overview => {}
            View::Reservations => {
                let o = self
                    .reservations
                    .handle_key(&key, step, self.stats.as_ref());
                self.res_ticket(o, &mut out);
            }
            View::Outbox => {
                let o = self.outbox.handle_key(&key, step, self.stats.as_ref());
                self.outbox_ticket(o, &mut out);
            }
            View::TestSend => match self.test.handle_key(&key) {
                test_send::Outcome::AskAddress(prefill) => {
                    self.prompt = Some(Prompt::Address(prefill));
                }
                test_send::Outcome::Notice(text) => self.say(text, false),
                test_send::Outcome::None => {}
            },
        }
        App::load(out)
    }

    /// Time passes: reload what changed (at most once a second) and what ages.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Action {
        self.now = now;
        if self
            .notice
            .as_ref()
            .is_some_and(|n| now - n.at >= NOTICE_FOR)
        {
            self.notice = None;
        }
        self.maybe_refresh()
    }

    pub fn on_retry_result(&mut self, result: Result<String, String>) {
        match result {
            Ok(text) => self.say(text, false),
            Err(e) => self.say(e, true),
        }
    }

    pub fn on_test_result(&mut self, outcome: SendOutcome) {
        let text = if outcome.ok {
            "Test email accepted by the SMTP server".to_owned()
        } else {
            format!("Test email failed: {}", outcome.summary)
        };
        let error = !outcome.ok;
        self.test.finish(outcome, self.now);
        self.say(text, error);
    }
}
