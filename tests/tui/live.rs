//! The TUI against the real database: its figures are `carette stats`'s, another process's
//! writes show up after the next refresh (`PRAGMA data_version`), retries write through the
//! Service, and a missing database is a clear message.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration as StdDuration;

use crate::support::tui::{accepting_sender, app, chars, drive, now, press, reader, seeded};
use carette::app::Env;
use carette::config::Config;
use carette::service::{PlaceInput, ReservationInput};
use carette::store::outbox::EmailStatus;
use carette::tui::app::View;
use carette::tui::event::EventSource;
use carette::tui::loader::{InlineLoader, Loader, Message};
use carette::tui::{Runtime, Writer, run_loop};
use chrono::{DateTime, Duration, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

fn screen(t: &Terminal<TestBackend>) -> String {
    t.backend().to_string()
}

#[test]
fn overview_figures_are_the_service_stats() {
    let s = seeded();
    let mut a = app();
    let terminal = crate::support::tui::drive_with(&s, &mut a, accepting_sender(), 80, 24, vec![]);
    let expected = s.service.stats(now()).unwrap();
    assert_eq!(a.stats.as_ref(), Some(&expected));
    let text = screen(&terminal);
    for (label, value) in [
        ("Pending  ", expected.pending.to_string()),
        ("Confirmed", expected.confirmed.to_string()),
        ("Refused  ", expected.refused.to_string()),
        ("Expired  ", expected.expired.to_string()),
        ("Cancelled", expected.cancelled.to_string()),
        ("Emails sent today", expected.emails_sent_today.to_string()),
        (
            "Emails logged today",
            expected.emails_logged_today.to_string(),
        ),
        ("Failed  ", expected.outbox_failed.to_string()),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label} on screen:\n{text}"));
        let shown = line
            .split('│')
            .find(|cell| cell.contains(label))
            .and_then(|cell| cell.split_whitespace().last())
            .unwrap();
        assert_eq!(shown, value, "{label}");
    }
    let rate = carette::tui::components::overview::rate(expected.acceptance_rate);
    assert!(
        text.lines()
            .flat_map(|l| l.split('│'))
            .any(|cell| cell.contains("Acceptance rate") && cell.trim().ends_with(&rate)),
        "{rate} not shown:\n{text}"
    );
}

#[test]
fn overview_figures_are_carette_stats_json() {
    let s = seeded();
    let cfg = s.dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!("[database]\npath = {:?}\n", s.path.display().to_string()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carette"))
        .args(["--config", cfg.to_str().unwrap(), "stats", "--json"])
        .env_remove("CARETTE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The CLI reads the real clock: the TUI's reader is asked at the same instant.
    let tui = reader(&s).stats(Utc::now()).unwrap();
    let tui = serde_json::to_value(&tui).unwrap();
    for key in [
        "pending",
        "expired",
        "confirmed",
        "refused",
        "cancelled",
        "acceptance_rate",
        "emails_sent_today",
        "emails_logged_today",
        "outbox_queued",
        "outbox_failed",
    ] {
        assert_eq!(cli[key], tui[key], "{key}");
    }
}

/// One event of a timeline and what happens just before it.
type Step = (Option<Event>, Option<Box<dyn FnOnce()>>);

/// Events for the real loop, with a clock that moves half a second per event, and a hook
/// run before a given event (another process writing, between two frames).
struct Timeline {
    clock: Rc<Cell<DateTime<Utc>>>,
    events: Vec<Step>,
}

impl EventSource for Timeline {
    fn next(&mut self, _: StdDuration) -> std::io::Result<Option<Event>> {
        self.clock
            .set(self.clock.get() + Duration::milliseconds(500));
        if self.events.is_empty() {
            return Err(std::io::Error::other("timeline ran out"));
        }
        let (event, hook) = self.events.remove(0);
        if let Some(h) = hook {
            h();
        }
        Ok(event)
    }
}

fn idle(n: usize) -> Vec<Step> {
    (0..n).map(|_| (None, None)).collect()
}

fn quit() -> Step {
    (
        Some(Event::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        ))),
        None,
    )
}

#[test]
fn another_connections_write_appears_after_the_next_refresh() {
    let s = seeded();
    let clock = Rc::new(Cell::new(now()));
    let writer = s.service.clone();
    let mut events = vec![(press(KeyCode::Char('2')), None)];
    let write: Box<dyn FnOnce()> = Box::new(move || {
        writer
            .request_seat(
                1,
                &ReservationInput {
                    passenger_name: "Hélène Nouvelle".into(),
                    passenger_email: "helene@example.org".into(),
                    seats: 1,
                    pickup: Some(PlaceInput {
                        label: "Perrache".into(),
                        lat: None,
                        lon: None,
                    }),
                    message: None,
                    lang: None,
                },
                now() + Duration::seconds(1),
            )
            .unwrap();
    });
    // The write happens half a second into the timeline's second event; two more events
    // (one second of the loop's clock) later the screen must show it.
    events.push((None, Some(write)));
    events.extend(idle(2));
    events.push(quit());
    let c = Rc::clone(&clock);
    let mut rt = Runtime {
        loader: Box::new(InlineLoader::new(reader(&s))),
        writer: Writer::Open(s.service.clone()),
        tester: accepting_sender(),
        clock: Box::new(move || c.get()),
    };
    let mut a = app();
    let before = s.service.stats(now()).unwrap().pending;
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    run_loop(
        &mut terminal,
        &mut a,
        &mut Timeline {
            clock: Rc::clone(&clock),
            events,
        },
        &mut rt,
    )
    .unwrap();
    assert_eq!(a.view, View::Reservations);
    assert_eq!(a.stats.as_ref().map(|s| s.pending), Some(before + 1));
    assert_eq!(a.reservations.rows[0].passenger_name, "Hélène Nouvelle");
    assert!(screen(&terminal).contains("Hélène Nouvelle"));
}

#[test]
fn data_version_moves_only_on_another_connections_commit() {
    let s = seeded();
    let mut loader = InlineLoader::new(reader(&s));
    assert!(loader.poll().is_empty(), "nothing changed yet");
    loader.submit(Vec::new(), now());
    assert!(loader.poll().is_empty(), "reading is not a change");
    s.service
        .run_job(carette::service::jobs::Job::Expire, now())
        .unwrap();
    let msgs = loader.poll();
    assert!(
        matches!(msgs.as_slice(), [Message::DataChanged]),
        "{msgs:?}"
    );
    assert!(loader.poll().is_empty(), "reported once");
}

#[test]
fn retry_from_the_outbox_writes_through_the_service() {
    let s = seeded();
    let failed = s.failed_email;
    let clock = Rc::new(Cell::new(now()));
    let mut events: Vec<Step> = chars("3hry").into_iter().map(|e| (e, None)).collect();
    events.extend(idle(4));
    events.push(quit());
    let c = Rc::clone(&clock);
    let mut rt = Runtime {
        loader: Box::new(InlineLoader::new(reader(&s))),
        writer: Writer::Open(s.service.clone()),
        tester: accepting_sender(),
        clock: Box::new(move || c.get()),
    };
    let mut a = app();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    run_loop(
        &mut terminal,
        &mut a,
        &mut Timeline {
            clock: Rc::clone(&clock),
            events,
        },
        &mut rt,
    )
    .unwrap();
    let e = s
        .service
        .outbox_list(Some(EmailStatus::Queued), 100, 0)
        .unwrap()
        .into_iter()
        .find(|e| e.id == failed)
        .expect("the failed email is queued again");
    assert_eq!(e.attempts, 0);
    assert_eq!(a.stats.as_ref().map(|s| s.outbox_failed), Some(0));
    let text = screen(&terminal);
    assert!(
        text.contains(&format!("Email #{failed} re-queued")),
        "{text}"
    );
    assert!(
        text.contains("No failed email."),
        "the failed tab emptied:\n{text}"
    );
}

#[test]
fn a_missing_database_is_a_message_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.db");
    let mut config = Config::default();
    config.database.path = Some(path.clone());
    let env = Env::from_config(config, None).unwrap();
    let err = carette::tui::open_reader(&env).err().unwrap().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("carette migrate"), "{err}");
    assert!(!path.exists(), "the TUI never creates the database");

    // An empty file is not a Carette database either.
    std::fs::write(&path, b"").unwrap();
    let err = format!("{:#}", carette::tui::open_reader(&env).err().unwrap());
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("carette migrate"), "{err}");
}

#[test]
fn carette_tui_without_a_database_exits_with_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!("[database]\npath = {:?}\n", db.display().to_string()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carette"))
        .args(["--config", cfg.to_str().unwrap(), "tui"])
        .env_remove("CARETTE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    assert!(!db.exists());
    // Nothing was sent to the terminal: no alternate screen to leave behind.
    assert!(out.stdout.is_empty());
}

#[test]
fn every_view_survives_every_size() {
    let s = seeded();
    for (w, h) in [(1, 1), (10, 3), (79, 23), (80, 24), (81, 30), (200, 60)] {
        for script in ["", "2", "2\n", "2h", "3", "3h", "4", "?", "2/x"] {
            let events = script
                .chars()
                .map(|c| match c {
                    '\n' => press(KeyCode::Enter),
                    c => press(KeyCode::Char(c)),
                })
                .collect();
            drive(&s, w, h, events);
        }
    }
}

/// The production loader: answers come from its thread, a commit elsewhere is noticed,
/// and asking the same thing twice still gets both answers.
#[test]
fn thread_loader_answers_and_notices_changes() {
    use carette::tui::data::{Request, Ticket};
    use carette::tui::loader::ThreadLoader;

    let s = seeded();
    let mut loader = ThreadLoader::spawn(reader(&s)).unwrap();
    let wait_for = |loader: &mut ThreadLoader, want: usize| {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        while got.len() < want && std::time::Instant::now() < deadline {
            got.extend(loader.poll());
            std::thread::sleep(StdDuration::from_millis(10));
        }
        got
    };
    let ticket = |seq| Ticket {
        seq,
        request: Request::Stats,
    };
    loader.submit(vec![ticket(1)], now());
    let got = wait_for(&mut loader, 1);
    assert!(
        matches!(got.as_slice(), [Message::Loaded { ticket, result: Ok(_) }] if ticket.seq == 1),
        "{got:?}"
    );
    loader.submit(vec![ticket(2)], now());
    let got = wait_for(&mut loader, 1);
    assert!(
        matches!(got.as_slice(), [Message::Loaded { ticket, .. }] if ticket.seq == 2),
        "{got:?}"
    );
    s.service
        .run_job(carette::service::jobs::Job::Expire, now())
        .unwrap();
    let got = wait_for(&mut loader, 1);
    assert!(matches!(got.as_slice(), [Message::DataChanged]), "{got:?}");
}
