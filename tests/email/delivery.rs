//! The outbox sender against a real SMTP server over TCP: state changes made through the
//! Service end up as parsed MIME messages, and every failure mode leaves the outbox right.

use crate::support::*;
use carette::mail::outgoing::Outgoing;
use carette::mail::sender::{OutboxSender, SenderOptions};
use carette::store::outbox::{self, EmailStatus, OutboxEmail};
use chrono::{DateTime, Duration, Utc};
use mail_parser::{MessageParser, MimeHeaders};

fn now() -> DateTime<Utc> {
    utc(2026, 12, 1, 9, 0)
}

fn sender(db: &Fixture, port: u16) -> OutboxSender {
    let config = smtp_config(port);
    let outgoing = Outgoing::from_config(&config, db.dir.path(), SECRET).unwrap();
    OutboxSender::new(db.service.clone(), outgoing, SenderOptions::with_workers(2))
}

/// Offer + request (2 emails) + accept (2 more); returns the reservation id.
fn request_and_accept(db: &Fixture) -> i64 {
    let offer = db
        .service
        .create_offer(&offer_input(utc(2026, 12, 3, 7, 0), 3), now())
        .unwrap();
    let r = db
        .service
        .request_seat(
            offer.id,
            &request_with_markup("Marie <Curie>", "marie@example.org"),
            now(),
        )
        .unwrap();
    db.service.accept(r.id, now()).unwrap();
    r.id
}

fn rows(db: &Fixture) -> Vec<OutboxEmail> {
    let mut rows = db.service.outbox_list(None, 100, 0).unwrap();
    rows.sort_by_key(|r| r.id);
    rows
}

/// (content type with parameters, decoded text) of every text/calendar-like part.
fn calendar_parts(raw: &[u8]) -> Vec<(String, String, Option<String>)> {
    let msg = MessageParser::default().parse(raw).unwrap();
    msg.parts
        .iter()
        .filter_map(|p| {
            let ct = p.content_type()?;
            let full = format!(
                "{}/{}; method={}",
                ct.ctype(),
                ct.subtype().unwrap_or_default(),
                ct.attribute("method").unwrap_or_default()
            );
            if !(full.contains("calendar") || full.contains("ics")) {
                return None;
            }
            let text = String::from_utf8_lossy(p.contents()).into_owned();
            Some((full, text, p.attachment_name().map(str::to_owned)))
        })
        .collect()
}

#[test]
fn a_request_then_accept_delivers_four_complete_emails() {
    let server = SmtpServer::start();
    let db = fixture();
    let id = request_and_accept(&db);
    let report = sender(&db, server.port()).deliver_due(now()).unwrap();
    assert_eq!((report.claimed, report.sent), (4, 4), "{report:?}");
    let got = server.received();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|m| m.auth_user.as_deref() == Some(USER)));

    // Email 1: the driver's request, with accept/refuse links and the rider's text escaped.
    let driver_mail = got.iter().find(|m| m.to == ["jean@example.org"]).unwrap();
    let msg = MessageParser::default().parse(&driver_mail.data).unwrap();
    let subject = msg.subject().unwrap();
    assert!(!subject.contains("=?"), "subject decoded: {subject}");
    assert_eq!(msg.from().unwrap().first().unwrap().address(), Some(USER));
    assert_eq!(
        msg.reply_to().unwrap().first().unwrap().address(),
        Some("marie@example.org")
    );
    let row = rows(&db)
        .into_iter()
        .find(|r| r.template == "request_driver")
        .unwrap();
    assert_eq!(
        msg.message_id(),
        Some(format!("{}@example.org", row.message_id).as_str())
    );
    let text = msg.body_text(0).unwrap();
    let html = msg.body_html(0).unwrap();
    assert!(
        text.contains("https://rides.example.org/api/reservation/accept?token="),
        "{text}"
    );
    assert!(text.contains("https://rides.example.org/api/reservation/refuse?token="));
    assert!(html.contains("/api/reservation/accept?token="));
    assert!(text.contains("<b>& une valise</b>"), "text is raw: {text}");
    assert!(
        html.contains("&lt;b&gt;&amp; une valise&lt;/b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>& une"));
    assert!(
        calendar_parts(&driver_mail.data).is_empty(),
        "no invite for a pending request"
    );

    // Email 3: the confirmation carries the calendar invite, inline and attached.
    let confirmed = got
        .iter()
        .filter(|m| m.to == ["marie@example.org"])
        .find(|m| !calendar_parts(&m.data).is_empty())
        .expect("the confirmation has an invite");
    let parts = calendar_parts(&confirmed.data);
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(
        parts
            .iter()
            .all(|(ct, _, _)| ct.ends_with("method=REQUEST"))
    );
    assert!(
        parts
            .iter()
            .any(|(_, _, name)| name.as_deref() == Some("invite.ics"))
    );
    let ics = &parts[0].1;
    assert!(ics.contains("METHOD:REQUEST\r\n"), "{ics}");
    assert!(ics.contains(&format!("UID:reservation-{id}@carette\r\n")));
    assert!(ics.contains("SEQUENCE:1\r\n"));
    assert!(ics.contains("LOCATION:Place Bellecour\r\n"));
    assert!(ics.contains("ORGANIZER;CN=\"Carette\":mailto:rides@example.org"));
    let msg = MessageParser::default().parse(&confirmed.data).unwrap();
    assert!(
        msg.body_text(0)
            .unwrap()
            .contains("/api/reservation/cancel?token=")
    );

    for row in rows(&db) {
        assert_eq!(row.status, EmailStatus::Sent, "{row:?}");
        assert_eq!(row.attempts, 1);
    }
    // Nothing left: a second pass sends nothing.
    assert_eq!(
        sender(&db, server.port())
            .deliver_due(now())
            .unwrap()
            .claimed,
        0
    );
    assert_eq!(server.count(), 4);
}

#[test]
fn a_4xx_is_retried_after_30_s_then_delivered() {
    let server = SmtpServer::start();
    server.on(Stage::Data, 451, "4.3.0 Try again later", Some(1));
    let db = fixture();
    request_and_accept(&db);
    let s = sender(&db, server.port());
    let report = s.deliver_due(now()).unwrap();
    assert_eq!((report.sent, report.retried), (3, 1), "{report:?}");
    let retried: Vec<_> = rows(&db)
        .into_iter()
        .filter(|r| r.status == EmailStatus::Queued)
        .collect();
    assert_eq!(retried.len(), 1);
    let r = &retried[0];
    assert_eq!(r.next_attempt_at, now() + Duration::seconds(30));
    assert!(r.last_error.as_deref().unwrap().contains("451"), "{r:?}");
    assert_eq!(
        s.deliver_due(now() + Duration::seconds(10))
            .unwrap()
            .claimed,
        0
    );
    let report = s.deliver_due(now() + Duration::seconds(31)).unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(server.count(), 4);
    let row = outbox_row(&db, r.id);
    assert_eq!((row.status, row.attempts), (EmailStatus::Sent, 2));
}

fn outbox_row(db: &Fixture, id: i64) -> OutboxEmail {
    db.service
        .store()
        .read(|c| outbox::get(c, id))
        .unwrap()
        .unwrap()
}

#[test]
fn backoff_doubles_up_to_an_hour_and_gives_up_after_three_days() {
    let o = SenderOptions::with_workers(1);
    let secs: Vec<i64> = (1..=9).map(|a| o.retry_delay(a).num_seconds()).collect();
    assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);

    let server = SmtpServer::start();
    server.on(Stage::Data, 421, "4.7.0 Too busy", None);
    let db = fixture();
    request_and_accept(&db);
    let s = sender(&db, server.port());
    assert_eq!(s.deliver_due(now()).unwrap().retried, 4);
    let late = now() + Duration::days(3) + Duration::minutes(1);
    let report = s.deliver_due(late).unwrap();
    assert_eq!(report.failed, 4, "{report:?}");
    for row in rows(&db) {
        assert_eq!(row.status, EmailStatus::Failed);
        let error = row.last_error.unwrap();
        assert!(
            error.contains("gave up after 2 attempts") && error.contains("421"),
            "{error}"
        );
    }
}

#[test]
fn a_server_down_then_up_delivers_everything_once() {
    let server = SmtpServer::start();
    let db = fixture();
    request_and_accept(&db);
    let s = sender(&db, server.port());
    server.stop();
    let report = s.deliver_due(now()).unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(report.retried + report.released, 4, "{report:?}");
    let until = report
        .paused_until
        .expect("the sender pauses while the server is down");
    assert!(rows(&db).iter().all(|r| r.status == EmailStatus::Queued));
    assert!(rows(&db).iter().any(|r| {
        r.last_error
            .as_deref()
            .is_some_and(|e| e.contains("unreachable"))
    }));
    server.restart();
    // Paused: nothing is tried before the retry time.
    assert_eq!(
        s.deliver_due(now() + Duration::seconds(5)).unwrap().claimed,
        0
    );
    let report = s.deliver_due(until + Duration::seconds(1)).unwrap();
    assert_eq!(report.sent, 4, "{report:?}");
    assert_eq!(server.count(), 4);
    assert!(rows(&db).iter().all(|r| r.status == EmailStatus::Sent));
}

#[test]
fn a_claim_left_by_a_crashed_sender_is_sent_once_after_its_lease() {
    let server = SmtpServer::start();
    let db = fixture();
    request_and_accept(&db);
    // A sender claims everything, then "crashes" before sending or recording anything.
    let claimed = db
        .service
        .store()
        .write(|tx| outbox::claim_due(tx, now(), Duration::minutes(5), 100))
        .unwrap();
    assert_eq!(claimed.len(), 4);
    // One of them had in fact been sent and recorded before the crash.
    db.service
        .store()
        .write(|tx| outbox::mark_sent(tx, claimed[0].id, now()))
        .unwrap();
    let s = sender(&db, server.port());
    assert_eq!(
        s.deliver_due(now() + Duration::minutes(1)).unwrap().claimed,
        0,
        "lease held"
    );
    let report = s.deliver_due(now() + Duration::minutes(6)).unwrap();
    assert_eq!((report.claimed, report.sent), (3, 3));
    assert_eq!(
        s.deliver_due(now() + Duration::minutes(30))
            .unwrap()
            .claimed,
        0
    );
    let got = server.received();
    assert_eq!(got.len(), 3, "the recorded one is never resent");
    let ids: Vec<String> = got
        .iter()
        .map(|m| {
            let msg = MessageParser::default().parse(&m.data).unwrap();
            msg.message_id().unwrap().to_owned()
        })
        .collect();
    for row in &claimed[1..] {
        assert!(ids.contains(&format!("{}@example.org", row.message_id)));
    }
}

#[test]
fn a_5xx_fails_at_once_with_the_servers_reason() {
    let server = SmtpServer::start();
    server.on(
        Stage::RcptTo,
        550,
        "5.1.1 <jean@example.org> No such user here",
        Some(1),
    );
    let db = fixture();
    request_and_accept(&db);
    let report = sender(&db, server.port()).deliver_due(now()).unwrap();
    assert_eq!((report.sent, report.failed), (3, 1), "{report:?}");
    let failed = db
        .service
        .outbox_list(Some(EmailStatus::Failed), 10, 0)
        .unwrap();
    assert_eq!(failed.len(), 1);
    let error = failed[0].last_error.as_deref().unwrap();
    assert!(
        error.contains("550") && error.contains("No such user here"),
        "{error}"
    );
    assert_eq!(failed[0].attempts, 1);
}

#[test]
fn a_refused_login_keeps_every_email_queued_and_pauses() {
    let server = SmtpServer::start();
    server.on(
        Stage::Auth,
        535,
        "5.7.8 Username and Password not accepted",
        None,
    );
    let db = fixture();
    request_and_accept(&db);
    let s = sender(&db, server.port());
    let report = s.deliver_due(now()).unwrap();
    assert_eq!((report.sent, report.released), (0, 4), "{report:?}");
    let until = report.paused_until.unwrap();
    assert_eq!(until, now() + Duration::minutes(1));
    for row in rows(&db) {
        assert_eq!(
            (row.status, row.attempts),
            (EmailStatus::Queued, 0),
            "{row:?}"
        );
        let error = row.last_error.unwrap();
        assert!(
            error.contains("535") && error.contains("app password"),
            "{error}"
        );
        assert!(!error.contains(PASSWORD));
        assert_eq!(row.next_attempt_at, until);
    }
    assert!(
        server
            .logins()
            .iter()
            .all(|(u, p)| u == USER && p == PASSWORD)
    );
    // Paused: no new login attempt (Gmail locks accounts that insist).
    let logins = server.logins().len();
    assert_eq!(
        s.deliver_due(now() + Duration::seconds(30))
            .unwrap()
            .claimed,
        0
    );
    assert_eq!(server.logins().len(), logins);
    // Still refused: the pause doubles.
    let report = s.deliver_due(until).unwrap();
    assert_eq!(report.paused_until, Some(until + Duration::minutes(2)));
    server.clear_rules();
    let report = s.deliver_due(until + Duration::minutes(2)).unwrap();
    assert_eq!(report.sent, 4, "{report:?}");
}

#[test]
fn dev_mode_writes_eml_files_and_marks_sent() {
    let db = fixture();
    request_and_accept(&db);
    let config = carette::config::Config::default();
    assert!(config.dev_mode());
    let outgoing = Outgoing::from_config(&config, db.dir.path(), SECRET).unwrap();
    let s = OutboxSender::new(db.service.clone(), outgoing, SenderOptions::with_workers(2));
    assert_eq!(s.deliver_due(now()).unwrap().sent, 4);
    let dir = db.dir.path().join("emails");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 4);
    for file in files {
        assert_eq!(file.extension().unwrap(), "eml");
        let raw = std::fs::read(&file).unwrap();
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert!(msg.message_id().unwrap().ends_with("@localhost"));
        assert!(msg.body_text(0).is_some() && msg.body_html(0).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "riders' emails are private");
        }
    }
}
