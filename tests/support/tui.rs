//! Shared by the tui_* tests: a database seeded through the Service at a fixed clock, and
//! the TUI wired to it with an inline loader and a TestBackend.

use std::path::PathBuf;
use std::sync::Arc;

use carette::config::Config;
use carette::service::jobs::Job;
use carette::service::{OfferInput, PlaceInput, ReservationInput, Service, Settings};
use carette::store::{Store, outbox};
use carette::tui::app::{App, MailSummary, Settings as TuiSettings};
use carette::tui::components::test_send::SendOutcome;
use carette::tui::data::Reader;
use carette::tui::event::Scripted;
use carette::tui::loader::InlineLoader;
use carette::tui::{Runtime, Tester, Writer, run_loop};
use chrono::{DateTime, Duration, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

/// Sunday 15 March 2026, 12:00 UTC (13:00 in Paris): every test runs at this instant.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap()
}

pub struct Seeded {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub service: Service,
    pub failed_email: i64,
}

fn place(label: &str) -> PlaceInput {
    PlaceInput {
        label: label.into(),
        lat: None,
        lon: None,
    }
}

fn offer(
    svc: &Service,
    driver: (&str, &str),
    route: (&str, &str),
    departs: DateTime<Utc>,
    seats: i64,
    at: DateTime<Utc>,
) -> i64 {
    svc.create_offer(
        &OfferInput {
            driver_name: driver.0.into(),
            driver_email: driver.1.into(),
            origin: place(route.0),
            destination: place(route.1),
            departure_at: departs.to_rfc3339(),
            seats,
            lang: None,
        },
        at,
    )
    .unwrap()
    .id
}

fn request(
    svc: &Service,
    offer: i64,
    name: &str,
    email: &str,
    seats: i64,
    at: DateTime<Utc>,
) -> i64 {
    svc.request_seat(
        offer,
        &ReservationInput {
            passenger_name: name.into(),
            passenger_email: email.into(),
            seats,
            pickup: Some(place("Place Bellecour")),
            message: Some("J'ai un petit sac".into()),
            lang: None,
        },
        at,
    )
    .unwrap()
    .id
}

/// Three rides and nine requests in every status, their emails partly sent, one failed,
/// and one run of each job.
pub fn seeded() -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carette.db");
    let store = Store::open(&path).unwrap();
    let svc = Service::new(Arc::new(store), Settings::default());
    let t = now();
    let h = Duration::hours;
    let lyon = offer(
        &svc,
        ("Jean Dupont", "jean@example.org"),
        ("Lyon Part-Dieu", "Grenoble Gare"),
        t + Duration::days(2),
        4,
        t - h(72),
    );
    let paris = offer(
        &svc,
        ("Claire Martin", "claire@example.org"),
        ("Paris Gare de Lyon", "Dijon Ville"),
        t + Duration::days(1),
        3,
        t - h(72),
    );
    let nantes = offer(
        &svc,
        ("Paul Girard", "paul@example.org"),
        ("Nantes", "Rennes"),
        t + Duration::days(5),
        2,
        t - h(72),
    );

    let expired = request(
        &svc,
        nantes,
        "Ernest Lenoir",
        "ernest@example.org",
        1,
        t - h(50),
    );
    svc.run_job(Job::Expire, t - h(20)).unwrap();
    let _ = expired;
    request(
        &svc,
        nantes,
        "Odile Marchand",
        "odile@example.org",
        1,
        t - h(26),
    );
    let confirmed = request(
        &svc,
        paris,
        "Alice Bernard",
        "alice@example.org",
        2,
        t - h(9),
    );
    svc.accept(confirmed, t - h(8)).unwrap();
    let removed = request(&svc, paris, "Bruno Petit", "bruno@example.org", 1, t - h(7));
    svc.accept(removed, t - h(6)).unwrap();
    svc.remove(removed, t - h(5)).unwrap();
    let refused = request(&svc, lyon, "Chloé Roux", "chloe@example.org", 1, t - h(4));
    svc.refuse(refused, t - h(3)).unwrap();
    let cancelled = request(&svc, lyon, "David Moreau", "david@example.org", 1, t - h(3));
    svc.cancel(cancelled, t - Duration::minutes(150)).unwrap();
    let confirmed2 = request(
        &svc,
        lyon,
        "Émilie Fournier",
        "emilie@example.org",
        2,
        t - h(2),
    );
    svc.accept(confirmed2, t - Duration::minutes(90)).unwrap();
    request(
        &svc,
        lyon,
        "François Blanc",
        "francois@example.org",
        1,
        t - Duration::minutes(45),
    );
    request(
        &svc,
        paris,
        "Gaëlle Henry",
        "gaelle@example.org",
        1,
        t - Duration::minutes(5),
    );
    svc.run_job(Job::Reminders, t - h(2)).unwrap();

    // The outbox as a running daemon would leave it: older emails sent, one given up on.
    let failed_email = svc
        .store()
        .write(|tx| {
            let ids: Vec<(i64, String)> = tx
                .prepare("SELECT id, created_at FROM outbox ORDER BY id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let cutoff = carette::domain::time::to_db(t - h(1));
            // Outcomes are recorded only under the claim that holds the row: claim them.
            let lease = outbox::Lease {
                owner: "fixture".into(),
                claim: 1,
            };
            tx.execute(
                "UPDATE outbox SET status = 'sending', lease_owner = 'fixture', lease_claim = 1",
                [],
            )?;
            let mut failed = 0;
            for (i, (id, created)) in ids.iter().enumerate() {
                if i == 3 {
                    outbox::mark_failed(
                        tx,
                        *id,
                        &lease,
                        "550 5.1.1 <ernest@example.org>: mailbox unavailable",
                    )?;
                    tx.execute("UPDATE outbox SET attempts = 5 WHERE id = ?1", [id])?;
                    failed = *id;
                } else if *created < cutoff {
                    let sent =
                        carette::domain::time::from_db(created).unwrap() + Duration::minutes(1);
                    outbox::mark_sent(tx, *id, &lease, sent, outbox::Channel::Smtp)?;
                    tx.execute("UPDATE outbox SET attempts = 1 WHERE id = ?1", [id])?;
                }
            }
            tx.execute(
                "UPDATE outbox SET status = 'queued', lease_owner = NULL, lease_claim = NULL
                 WHERE status = 'sending'",
                [],
            )?;
            Ok::<_, carette::store::StoreError>(failed)
        })
        .unwrap();
    Seeded {
        dir,
        path,
        service: svc,
        failed_email,
    }
}

pub fn smtp_config() -> Config {
    let mut c = Config::default();
    c.smtp.host = Some("smtp.example.org".into());
    c.smtp.user = Some("rides@example.org".into());
    c.smtp.password = Some("app-password".into());
    c.smtp.from = Some("Carette <rides@example.org>".into());
    c
}

pub fn tui_settings(mail: MailSummary) -> TuiSettings {
    TuiSettings {
        tz: chrono_tz::Europe::Paris,
        expire_after_hours: 24,
        color: false,
        db_path: "/var/lib/carette/carette.db".into(),
        mail,
    }
}

pub fn app() -> App {
    App::new(
        tui_settings(MailSummary::from_config(
            &smtp_config(),
            std::path::Path::new("/var/lib/carette"),
        )),
        now(),
    )
}

pub fn reader(s: &Seeded) -> Reader {
    Reader::open(&s.path, Settings::default()).unwrap()
}

/// A test send that answers at once, as a real server accepting the message would.
pub fn accepting_sender() -> Tester {
    Tester::new(
        Arc::new(|to: &str| SendOutcome {
            ok: true,
            summary: "accepted by smtp.example.org:587".into(),
            details: vec![
                "Server reply: 250 2.0.0 OK queued".into(),
                format!("To:          {to}"),
            ],
        }),
        false,
    )
}

pub fn runtime(s: &Seeded, tester: Tester) -> Runtime {
    Runtime {
        loader: Box::new(InlineLoader::new(reader(s))),
        writer: Writer::Open(s.service.clone()),
        tester,
        clock: Box::new(now),
    }
}

pub fn press(code: KeyCode) -> Option<Event> {
    Some(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

pub fn chars(s: &str) -> Vec<Option<Event>> {
    s.chars().map(|c| press(KeyCode::Char(c))).collect()
}

/// Runs the real loop on a `width`×`height` TestBackend through `events` (then Ctrl-C,
/// which quits even with a prompt open) and
/// returns the terminal as it was last drawn, plus the app for further checks.
pub fn drive_with(
    s: &Seeded,
    app: &mut App,
    tester: Tester,
    width: u16,
    height: u16,
    events: Vec<Option<Event>>,
) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut rt = runtime(s, tester);
    let mut script = events;
    script.push(None);
    script.push(Some(Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    ))));
    run_loop(&mut terminal, app, &mut Scripted::new(script), &mut rt).unwrap();
    terminal
}

pub fn drive(
    s: &Seeded,
    width: u16,
    height: u16,
    events: Vec<Option<Event>>,
) -> Terminal<TestBackend> {
    drive_with(s, &mut app(), accepting_sender(), width, height, events)
}
