//! `carette tui`: the operator's terminal UI.
//!
//! Reads go through the TUI's own read-only connection on a loader thread; the few writes
//! (retrying failed emails) go through a read-write `Service` opened on first use; the SMTP
//! test send runs on its own thread. The loop is generic over the ratatui backend so tests
//! drive it with `TestBackend` and a scripted event source.

pub mod app;
pub mod components;
pub mod data;
pub mod event;
pub mod loader;
pub mod settings;
pub mod theme;
pub mod ui;
pub mod view;

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::Event;

use crate::app::Env;
use crate::config::Config;
use crate::service::{self, Service};
use app::{Action, App};
use components::test_send::SendOutcome;
use data::Reader;
use event::{EventSource, TerminalEvents};
use loader::{Loader, ThreadLoader};
use settings::{MailSummary, Settings};

/// How long the loop waits for a key before looking for answers and redrawing.
const FRAME: Duration = Duration::from_millis(150);

pub type Clock = Box<dyn Fn() -> DateTime<Utc>>;
pub type SendFn = Arc<dyn Fn(&str) -> SendOutcome + Send + Sync>;

/// The read-write side, opened only when the operator first retries an email.
pub enum Writer {
    Open(Service),
    Lazy(Box<Env>),
}

impl Writer {
    fn get(&mut self) -> Result<&Service, String> {
        if let Writer::Lazy(env) = self {
            let service = env
                .open_service()
                .map_err(|e| format!("cannot open the database for writing: {e}"))?;
            *self = Writer::Open(service);
        }
        match self {
            Writer::Open(s) => Ok(s),
            Writer::Lazy(_) => Err("the database is not open for writing".into()),
        }
    }
}

/// Runs SMTP test sends, on a thread of their own unless `background` is false (tests).
pub struct Tester {
    send: SendFn,
    background: bool,
    tx: Sender<SendOutcome>,
    rx: Receiver<SendOutcome>,
}

impl Tester {
    pub fn new(send: SendFn, background: bool) -> Tester {
        let (tx, rx) = mpsc::channel();
        Tester {
            send,
            background,
            tx,
            rx,
        }
    }

    fn start(&self, to: String) {
        let (send, tx) = (Arc::clone(&self.send), self.tx.clone());
        let job = move || {
            // Logging would scribble over the screen.
            let outcome = tracing::subscriber::with_default(
                tracing::subscriber::NoSubscriber::default(),
                || send(&to),
            );
            let _ = tx.send(outcome);
        };
        if !self.background {
            job();
        } else if let Err(e) = std::thread::Builder::new()
            .name("tui-test-send".into())
            .spawn(job)
        {
            let _ = self.tx.send(SendOutcome {
                ok: false,
                summary: format!("cannot start the test send: {e}"),
                details: Vec::new(),
            });
        }
    }

    fn poll(&self) -> Vec<SendOutcome> {
        self.rx.try_iter().collect()
    }
}

/// Everything the loop does I/O with.
pub struct Runtime {
    pub loader: Box<dyn Loader>,
    pub writer: Writer,
    pub tester: Tester,
    pub clock: Clock,
}

/// The SMTP test of `carette test-email`, in the TUI's words.
pub fn smtp_test(config: &Config, to: &str) -> SendOutcome {
    use crate::mail::test_send;
    let attempt = test_send::attempt(config, to)
        .map(|a| a.to_string().lines().map(str::to_owned).collect::<Vec<_>>())
        .unwrap_or_default();
    match test_send::send_test(config, to) {
        Ok(report) => SendOutcome {
            ok: true,
            summary: format!(
                "accepted by {}:{}",
                report.attempt.host, report.attempt.port
            ),
            details: std::iter::once(format!("Server reply: {}", report.reply))
                .chain(attempt)
                .collect(),
        },
        Err(e) => {
            let text = e.to_string();
            let mut lines = text.lines().map(str::to_owned);
            SendOutcome {
                ok: false,
                summary: lines.next().unwrap_or_default(),
                details: lines.chain(attempt).collect(),
            }
        }
    }
}

pub fn settings(env: &Env) -> Settings {
    Settings {
        tz: env.config.jobs.timezone,
        expire_after_hours: env.config.jobs.expire_after_hours,
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        db_path: env.db_path.display().to_string(),
        mail: MailSummary::from_config(&env.config, &env.data_dir),
    }
}

/// Opens the read side, with an error that names the file and what to do.
pub fn open_reader(env: &Env) -> anyhow::Result<Reader> {
    let path = &env.db_path;
    if !path.exists() {
        anyhow::bail!(
            "no Carette database at {}: start the daemon (`carette serve`) or run `carette migrate` to create it, or set database.path to the right file",
            path.display()
        );
    }
    Reader::open(path, service::Settings::from_config(&env.config))
        .with_context(|| format!("cannot read the database {}", path.display()))
}

pub fn run(env: &Env) -> anyhow::Result<()> {
    let reader = open_reader(env)?;
    let loader = ThreadLoader::spawn(reader).context("cannot start the loader thread")?;
    let config = env.config.clone();
    let mut rt = Runtime {
        loader: Box::new(loader),
        writer: Writer::Lazy(Box::new(env.clone())),
        tester: Tester::new(Arc::new(move |to: &str| smtp_test(&config, to)), true),
        clock: Box::new(Utc::now),
    };
    let mut app = App::new(settings(env), Utc::now());
    // try_init installs the panic hook that restores the terminal before the message.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(e).context("cannot set up the terminal");
        }
    };
    // Log lines on stderr would land in the middle of the screen.
    let result =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            run_loop(&mut terminal, &mut app, &mut TerminalEvents, &mut rt)
        });
    ratatui::restore();
    result
}

fn backend_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("terminal: {e}")
}

pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: &mut dyn EventSource,
    rt: &mut Runtime,
) -> anyhow::Result<()> {
    let size = terminal.size().map_err(backend_error)?;
    app.resize(size.width, size.height);
    app.now = (rt.clock)();
    let first = app.start();
    perform(app, rt, first);
    while !app.quit {
        let tick = app.tick((rt.clock)());
        perform(app, rt, tick);
        for m in rt.loader.poll() {
            let next = app.on_message(m);
            perform(app, rt, next);
        }
        for outcome in rt.tester.poll() {
            app.on_test_result(outcome);
        }
        terminal.draw(|f| ui::draw(f, app)).map_err(backend_error)?;
        match events.next(FRAME)? {
            Some(Event::Key(key)) if key.is_press() => {
                let action = app.handle_key(key);
                perform(app, rt, action);
            }
            Some(Event::Resize(w, h)) => app.resize(w, h),
            _ => {}
        }
    }
    Ok(())
}

/// Carries out what a transition asked for.
pub fn perform(app: &mut App, rt: &mut Runtime, action: Action) {
    match action {
        Action::None | Action::Quit => {}
        Action::Load(tickets) => rt.loader.submit(tickets, app.now),
        Action::Retry(id) => {
            let now = app.now;
            let result = rt.writer.get().and_then(|s| {
                s.outbox_retry(id, now)
                    .map(|()| format!("Email #{id} re-queued for an immediate attempt"))
                    .map_err(|e| format!("Cannot retry email #{id}: {e}"))
            });
            app.on_retry_result(result);
        }
        Action::RetryAllFailed => {
            let now = app.now;
            let result = rt.writer.get().and_then(|s| {
                s.outbox_retry_all_failed(now)
                    .map(|n| format!("{n} failed email(s) re-queued for an immediate attempt"))
                    .map_err(|e| format!("Cannot retry the failed emails: {e}"))
            });
            app.on_retry_result(result);
        }
        Action::SendTest(to) => rt.tester.start(to),
    }
}
