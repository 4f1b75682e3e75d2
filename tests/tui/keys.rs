//! Key handling as pure state transitions: a key in, the new state and the I/O asked for out.
//! No terminal, no database.

use carette::domain::Status;
use carette::store::browse::{Anchor, Row, SortKey};
use carette::store::outbox::{EmailStatus, OutboxEmail};
use carette::store::stats::Stats;
use carette::tui::app::{Action, App, MailSummary, Prompt, Settings, View};
use carette::tui::components::test_send::{SendOutcome, SendState};
use carette::tui::data::{Kind, Loaded, OutboxPage, Request, ReservationsPage, Ticket};
use carette::tui::loader::Message;
use chrono::{DateTime, Duration, TimeZone, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap()
}

fn app() -> App {
    App::new(
        Settings {
            tz: chrono_tz::Europe::Paris,
            expire_after_hours: 24,
            color: false,
            db_path: "/tmp/carette.db".into(),
            mail: MailSummary {
                dev_mode: true,
                headline: "DEV MODE".into(),
                details: vec![],
            },
        },
        now(),
    )
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

fn tickets(a: &Action) -> Vec<Ticket> {
    match a {
        Action::Load(t) => t.clone(),
        other => panic!("expected loads, got {other:?}"),
    }
}

fn requests(a: &Action) -> Vec<Request> {
    tickets(a).into_iter().map(|t| t.request).collect()
}

fn row(id: i64) -> Row {
    Row {
        id,
        offer_id: 1,
        status: Status::Pending,
        passenger_name: format!("P{id}"),
        passenger_email: format!("p{id}@example.org"),
        seats: 1,
        pickup: None,
        origin: "Lyon".into(),
        destination: "Grenoble".into(),
        departure_at: now() + Duration::days(1),
        created_at: now() - Duration::minutes(id),
        updated_at: now() - Duration::minutes(id),
    }
}

fn stats(pending: i64, failed: i64) -> Stats {
    Stats {
        pending,
        expired: 0,
        confirmed: 0,
        refused: 0,
        cancelled: 0,
        removed: 0,
        acceptance_rate: None,
        emails_sent_today: 0,
        emails_logged_today: 0,
        outbox_queued: 0,
        outbox_sending: 0,
        outbox_failed: failed,
        outbox_sent: 0,
        oldest_queued_age_seconds: None,
        pending_overdue: 0,
        routes_pending: 0,
        routes_failed: 0,
        route_last_failure: None,
    }
}

/// Feeds `loaded` as the answer to the ticket of `kind` in `a`.
fn answer(app: &mut App, a: &Action, kind: Kind, loaded: Loaded) -> Action {
    let t = tickets(a)
        .into_iter()
        .find(|t| t.request.kind() == kind)
        .expect("a load of that kind");
    app.on_message(Message::Loaded {
        ticket: t,
        result: Ok(loaded),
    })
}

fn answer_reservations(app: &mut App, a: &Action, rows: Vec<Row>, more: bool) -> Action {
    let page = ReservationsPage { rows, more };
    answer(app, a, Kind::Reservations, Loaded::Reservations(page))
}

#[test]
fn views_by_number_tab_and_back_tab() {
    let mut a = app();
    assert_eq!(a.view, View::Overview);
    let act = a.handle_key(ch('2'));
    assert_eq!(a.view, View::Reservations);
    assert!(matches!(
        requests(&act)[0],
        Request::Reservations {
            anchor: Anchor::First,
            ..
        }
    ));
    a.handle_key(key(KeyCode::Tab));
    assert_eq!(a.view, View::Outbox);
    a.handle_key(key(KeyCode::Tab));
    assert_eq!(a.view, View::TestSend);
    a.handle_key(key(KeyCode::Tab));
    assert_eq!(a.view, View::Overview);
    a.handle_key(key(KeyCode::BackTab));
    assert_eq!(a.view, View::TestSend);
    assert_eq!(
        a.handle_key(ch('4')),
        Action::None,
        "same view: nothing to load"
    );
}

#[test]
fn q_esc_and_ctrl_c_quit() {
    let mut a = app();
    assert_eq!(a.handle_key(ch('q')), Action::Quit);
    assert!(a.quit);
    let mut a = app();
    assert_eq!(a.handle_key(key(KeyCode::Esc)), Action::Quit);
    let mut a = app();
    a.handle_key(ch('2'));
    a.handle_key(ch('/'));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(a.handle_key(ctrl_c), Action::Quit, "even inside a prompt");
}

#[test]
fn help_takes_the_next_key_and_closes() {
    let mut a = app();
    a.handle_key(ch('?'));
    assert!(a.help);
    assert_eq!(a.handle_key(ch('q')), Action::None);
    assert!(!a.help && !a.quit);
}

#[test]
fn esc_closes_the_innermost_layer_first() {
    let mut a = app();
    let act = a.handle_key(ch('2'));
    answer_reservations(&mut a, &act, vec![row(1), row(2)], false);
    let act = a.handle_key(key(KeyCode::Enter));
    assert_eq!(a.detail.as_ref().map(|d| d.id), Some(1));
    assert_eq!(requests(&act), vec![Request::Detail(1)]);
    a.handle_key(key(KeyCode::Esc));
    assert!(a.detail.is_none() && !a.quit);
    a.handle_key(ch('/'));
    a.handle_key(key(KeyCode::Esc));
    assert!(a.prompt.is_none() && !a.quit);
    assert_eq!(a.handle_key(key(KeyCode::Esc)), Action::Quit);
}

#[test]
fn moving_past_the_page_reads_the_next_page_by_key() {
    let mut a = app();
    a.stats = Some(stats(250, 0));
    let act = a.handle_key(ch('2'));
    let page: Vec<Row> = (1..=100).map(row).collect();
    answer_reservations(&mut a, &act, page.clone(), true);
    assert_eq!(a.reservations.rows.len(), 100);
    assert_eq!(
        a.reservations.position_label(Some(250)),
        "row 1 · 1–100 of 250"
    );

    // vim keys and arrows move inside the page without any I/O.
    assert_eq!(a.handle_key(ch('j')), Action::None);
    assert_eq!(a.handle_key(key(KeyCode::Down)), Action::None);
    assert_eq!(a.handle_key(ch('k')), Action::None);
    assert_eq!(a.reservations.selected, 1);

    // G jumps to the last page, read backwards from the end.
    let act = a.handle_key(ch('G'));
    let Request::Reservations { anchor, query } = &requests(&act)[0] else {
        panic!()
    };
    assert_eq!(*anchor, Anchor::Last);
    assert_eq!(query.status, Some(Status::Pending));
    answer_reservations(&mut a, &act, (201..=250).map(row).collect(), true);
    assert_eq!(a.reservations.selected, 49);
    assert_eq!(a.reservations.offset, Some(200));

    // Back to the top, then down past the end of the first page: After(last key).
    let act = a.handle_key(ch('g'));
    answer_reservations(&mut a, &act, page, true);
    assert_eq!(
        (a.reservations.offset, a.reservations.selected),
        (Some(0), 0)
    );
    a.reservations.selected = 99;
    let act = a.handle_key(ch('j'));
    let Request::Reservations { anchor, .. } = &requests(&act)[0] else {
        panic!()
    };
    assert_eq!(*anchor, Anchor::After(row(100).key(SortKey::Created)));
    answer_reservations(&mut a, &act, (101..=200).map(row).collect(), true);
    assert_eq!(
        (a.reservations.offset, a.reservations.selected),
        (Some(100), 0)
    );

    // And up again: Before(first key), landing on the previous page's last row.
    let act = a.handle_key(key(KeyCode::Up));
    let Request::Reservations { anchor, .. } = &requests(&act)[0] else {
        panic!()
    };
    assert_eq!(*anchor, Anchor::Before(row(101).key(SortKey::Created)));
    answer_reservations(&mut a, &act, (1..=100).map(row).collect(), false);
    assert_eq!(
        (a.reservations.offset, a.reservations.selected),
        (Some(0), 99)
    );
}

#[test]
fn page_down_moves_one_screen() {
    let mut a = app();
    a.resize(80, 24);
    let act = a.handle_key(ch('2'));
    answer_reservations(&mut a, &act, (1..=100).map(row).collect(), false);
    a.handle_key(key(KeyCode::PageDown));
    assert_eq!(a.reservations.selected, 18);
    a.handle_key(key(KeyCode::PageUp));
    assert_eq!(a.reservations.selected, 0);
    a.handle_key(key(KeyCode::End));
    assert_eq!(
        a.reservations.selected, 99,
        "no more rows: End stays on this page"
    );
}

#[test]
fn a_stale_answer_is_dropped() {
    let mut a = app();
    let first = a.handle_key(ch('2'));
    let second = a.handle_key(ch('l')); // confirmed tab: supersedes the pending load
    answer_reservations(&mut a, &first, vec![row(1)], false);
    assert!(
        a.reservations.rows.is_empty(),
        "the pending tab's answer came too late"
    );
    answer_reservations(&mut a, &second, vec![row(2)], false);
    assert_eq!(a.reservations.rows[0].id, 2);
    assert_eq!(a.reservations.status(), Some(Status::Confirmed));
}

#[test]
fn tabs_sort_and_filter_restart_from_the_first_page() {
    let mut a = app();
    a.handle_key(ch('2'));
    let act = a.handle_key(key(KeyCode::Left));
    assert_eq!(
        a.reservations.status(),
        None,
        "left of pending wraps to All"
    );
    assert!(
        matches!(&requests(&act)[0], Request::Reservations { query, anchor: Anchor::First } if query.status.is_none())
    );
    let act = a.handle_key(ch('s'));
    assert!(
        matches!(&requests(&act)[0], Request::Reservations { query, .. } if !query.sort.descending)
    );
    let act = a.handle_key(ch('s'));
    assert!(
        matches!(&requests(&act)[0], Request::Reservations { query, .. } if query.sort.key == SortKey::Departure)
    );

    a.handle_key(ch('/'));
    for c in "Dupont%".chars() {
        a.handle_key(ch(c));
    }
    a.handle_key(key(KeyCode::Backspace));
    assert_eq!(a.prompt, Some(Prompt::Filter("Dupont".into())));
    let act = a.handle_key(key(KeyCode::Enter));
    assert!(a.prompt.is_none());
    assert!(
        matches!(&requests(&act)[0], Request::Reservations { query, anchor: Anchor::First } if query.filter == "Dupont")
    );
    // Digits in a prompt are text, not view switches.
    a.handle_key(ch('/'));
    a.handle_key(ch('3'));
    assert_eq!(a.view, View::Reservations);
    assert_eq!(a.prompt, Some(Prompt::Filter("Dupont3".into())));
}

fn email(id: i64, status: EmailStatus) -> OutboxEmail {
    OutboxEmail {
        id,
        template: "request_driver".into(),
        recipient: "jean@example.org".into(),
        reply_to: None,
        context: serde_json::json!({}),
        reservation_id: Some(1),
        offer_id: Some(1),
        status,
        attempts: 5,
        next_attempt_at: now(),
        last_error: Some("550 no such user".into()),
        message_id: "x".into(),
        created_at: now(),
        sent_at: None,
    }
}

fn outbox_with(a: &mut App, emails: Vec<OutboxEmail>) {
    let act = a.handle_key(ch('3'));
    let t = tickets(&act)
        .into_iter()
        .find(|t| matches!(t.request, Request::Outbox { .. }))
        .unwrap();
    a.on_message(Message::Loaded {
        ticket: t,
        result: Ok(Loaded::Outbox(OutboxPage {
            rows: emails,
            more: false,
        })),
    });
}

#[test]
fn retrying_asks_first() {
    let mut a = app();
    a.stats = Some(stats(0, 1));
    outbox_with(
        &mut a,
        vec![email(7, EmailStatus::Failed), email(6, EmailStatus::Sent)],
    );
    a.handle_key(ch('r'));
    assert!(matches!(&a.prompt, Some(Prompt::ConfirmRetry(t)) if t.id == 7));
    assert_eq!(a.handle_key(ch('n')), Action::None);
    assert!(a.prompt.is_none());
    a.handle_key(ch('r'));
    assert_eq!(a.handle_key(ch('y')), Action::Retry(7));

    a.handle_key(ch('j'));
    assert_eq!(a.handle_key(ch('r')), Action::None);
    assert!(a.prompt.is_none(), "a sent email is not retried");
    assert!(
        a.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("only failed"))
    );

    a.handle_key(ch('R'));
    assert_eq!(a.prompt, Some(Prompt::ConfirmRetryAll(1)));
    assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::RetryAllFailed);
    a.stats = Some(stats(0, 0));
    a.handle_key(ch('R'));
    assert!(a.prompt.is_none(), "nothing failed, nothing to confirm");
}

#[test]
fn test_send_prompts_validates_and_reports() {
    let mut a = app();
    a.handle_key(ch('4'));
    a.handle_key(key(KeyCode::Enter));
    assert_eq!(a.prompt, Some(Prompt::Address(String::new())));
    for c in "ops".chars() {
        a.handle_key(ch(c));
    }
    assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::None);
    assert!(a.notice.as_ref().is_some_and(|n| n.error));
    assert_eq!(
        a.prompt,
        Some(Prompt::Address("ops".into())),
        "the prompt stays open"
    );
    for c in "@example.org".chars() {
        a.handle_key(ch(c));
    }
    assert_eq!(
        a.handle_key(key(KeyCode::Enter)),
        Action::SendTest("ops@example.org".into())
    );
    assert!(a.test.is_sending());
    // While it runs, keys still work and a second send is refused.
    a.handle_key(key(KeyCode::Enter));
    assert!(a.prompt.is_none());
    a.on_test_result(SendOutcome {
        ok: false,
        summary: "the server refused the login: 535".into(),
        details: vec!["Check the app password".into()],
    });
    assert!(
        matches!(&a.test.state, SendState::Done { outcome, to, .. } if !outcome.ok && to == "ops@example.org")
    );
    a.handle_key(key(KeyCode::Enter));
    assert_eq!(
        a.prompt,
        Some(Prompt::Address("ops@example.org".into())),
        "last address offered again"
    );
}

#[test]
fn changes_reload_at_most_once_a_second_and_time_reloads_anyway() {
    let mut a = app();
    assert!(requests(&a.start()).contains(&Request::Stats));
    assert_eq!(
        a.on_message(Message::DataChanged),
        Action::None,
        "just loaded"
    );
    assert_eq!(a.tick(now() + Duration::milliseconds(500)), Action::None);
    let act = a.tick(now() + Duration::seconds(1));
    assert_eq!(requests(&act), vec![Request::Stats, Request::Activity]);
    assert_eq!(
        a.tick(now() + Duration::seconds(5)),
        Action::None,
        "nothing changed"
    );
    let act = a.tick(now() + Duration::seconds(31));
    assert_eq!(
        requests(&act),
        vec![Request::Stats, Request::Activity],
        "ages move"
    );
}

fn answer_outbox(app: &mut App, a: &Action, rows: Vec<OutboxEmail>, more: bool) -> Action {
    answer(
        app,
        a,
        Kind::Outbox,
        Loaded::Outbox(OutboxPage { rows, more }),
    )
}

/// The offset the outbox load in `a` reads from.
fn outbox_offset(a: &Action) -> usize {
    requests(a)
        .into_iter()
        .find_map(|r| match r {
            Request::Outbox { offset, .. } => Some(offset),
            _ => None,
        })
        .expect("an outbox load")
}

fn emails(ids: std::ops::RangeInclusive<i64>) -> Vec<OutboxEmail> {
    ids.map(|id| email(id, EmailStatus::Failed)).collect()
}

#[test]
fn the_outbox_pages_by_offset() {
    let mut a = app();
    a.stats = Some(stats(0, 250));
    let act = a.handle_key(ch('3'));
    assert_eq!(outbox_offset(&act), 0);
    answer_outbox(&mut a, &act, emails(1..=100), true);
    assert_eq!(a.handle_key(ch('j')), Action::None);
    assert_eq!(a.outbox.selected, 1);

    // G: the last page, at the offset the figures give (250 emails: 200).
    let act = a.handle_key(ch('G'));
    assert_eq!(outbox_offset(&act), 200);
    answer_outbox(&mut a, &act, emails(201..=250), false);
    assert_eq!(a.outbox.selected, 49);
    assert_eq!(a.handle_key(ch('j')), Action::None, "nothing after the end");
    assert_eq!(a.outbox.selected, 49);

    // Up past the top of the page: the previous page, on its last row.
    a.outbox.selected = 0;
    let act = a.handle_key(ch('k'));
    assert_eq!(outbox_offset(&act), 100);
    answer_outbox(&mut a, &act, emails(101..=200), true);
    assert_eq!(a.outbox.selected, 99);

    // Down past the end of the page: the next page, on its first row.
    let act = a.handle_key(ch('j'));
    assert_eq!(outbox_offset(&act), 200);
    answer_outbox(&mut a, &act, emails(201..=250), false);
    assert_eq!(a.outbox.selected, 0);

    // A reload keeps the selected email where it moved to.
    a.outbox.selected = 5;
    let act = a.refresh();
    assert_eq!(outbox_offset(&act), 200);
    answer_outbox(&mut a, &act, emails(199..=250), false);
    assert_eq!(a.outbox.selected, 7, "email #206 moved two lines down");

    // The rows of this page went away (sent, retried): start over at the top.
    let act = a.refresh();
    let again = answer_outbox(&mut a, &act, Vec::new(), false);
    assert_eq!(outbox_offset(&again), 0);
    answer_outbox(&mut a, &again, emails(1..=100), true);
    assert_eq!(a.outbox.selected, 0);

    // g from a later page reads the first one; a new tab starts from it too.
    a.outbox.selected = 99;
    let act = a.handle_key(ch('j'));
    answer_outbox(&mut a, &act, emails(101..=200), true);
    let act = a.handle_key(ch('g'));
    assert_eq!(outbox_offset(&act), 0);
    let act = a.handle_key(ch('l'));
    assert!(matches!(
        &requests(&act)[0],
        Request::Outbox {
            status: Some(EmailStatus::Queued),
            offset: 0
        }
    ));
    assert!(a.outbox.rows.is_empty(), "a new tab drops the old rows");
}

#[test]
fn an_empty_neighbour_ends_the_listing_and_an_emptied_page_starts_over() {
    let mut a = app();
    let act = a.handle_key(ch('2'));
    answer_reservations(&mut a, &act, (1..=100).map(row).collect(), true);
    a.reservations.selected = 99;
    let act = a.handle_key(ch('j'));
    answer_reservations(&mut a, &act, Vec::new(), false);
    assert_eq!(
        (a.reservations.rows.len(), a.reservations.selected),
        (100, 99),
        "the rows after went away: the page stays"
    );
    assert_eq!(a.handle_key(ch('j')), Action::None, "nothing read past it");

    // A reload of a page below the top reads from its first row; emptied, it starts over.
    let second_page = |a: &mut App| {
        a.reservations.selected = 99;
        let act = a.handle_key(ch('j'));
        answer_reservations(a, &act, (101..=200).map(row).collect(), true);
    };
    let mut a = app();
    let act = a.handle_key(ch('2'));
    answer_reservations(&mut a, &act, (1..=100).map(row).collect(), true);
    second_page(&mut a);
    let act = a.refresh();
    let from = row(101).key(SortKey::Created);
    assert!(
        requests(&act).iter().any(
            |r| matches!(r, Request::Reservations { anchor: Anchor::From(k), .. } if *k == from)
        )
    );
    let again = answer_reservations(&mut a, &act, Vec::new(), false);
    assert!(matches!(
        &requests(&again)[0],
        Request::Reservations {
            anchor: Anchor::First,
            ..
        }
    ));
    answer_reservations(&mut a, &again, (1..=3).map(row).collect(), false);
    assert_eq!(a.reservations.offset, Some(0));
    assert_eq!(a.reservations.position_label(None), "row 1 · 1–3 of 3");

    // The rows before went away: the page stays and nothing is read before it.
    let mut a = app();
    let act = a.handle_key(ch('2'));
    answer_reservations(&mut a, &act, (1..=100).map(row).collect(), true);
    second_page(&mut a);
    let act = a.handle_key(ch('k'));
    assert!(matches!(
        &requests(&act)[0],
        Request::Reservations {
            anchor: Anchor::Before(_),
            ..
        }
    ));
    answer_reservations(&mut a, &act, Vec::new(), false);
    assert_eq!(a.reservations.rows[0].id, 101);
    assert_eq!(a.handle_key(ch('k')), Action::None);
    assert_eq!(a.reservations.selected, 0);
}

#[test]
fn an_unreadable_outbox_page_shows_the_error_without_the_email_panel() {
    let mut a = app();
    a.resize(120, 40);
    let act = a.handle_key(ch('3'));
    answer_outbox(&mut a, &act, emails(1..=3), false);
    let screen = |a: &mut App| {
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
        t.draw(|f| carette::tui::ui::draw(f, a)).unwrap();
        t.backend().to_string()
    };
    assert!(screen(&mut a).contains("Selected email"));

    let act = a.refresh();
    let t = tickets(&act)
        .into_iter()
        .find(|t| t.request.kind() == Kind::Outbox)
        .unwrap();
    a.on_message(Message::Loaded {
        ticket: t,
        result: Err("disk I/O error".into()),
    });
    assert_eq!(a.outbox.rows.len(), 3, "the rows stay behind the error");
    let shown = screen(&mut a);
    assert!(shown.contains("Cannot read the outbox: disk I/O error"));
    assert!(!shown.contains("Selected email"), "{shown}");
}
