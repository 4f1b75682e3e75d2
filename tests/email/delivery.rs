//! The outbox sender against a real SMTP server over TCP: state changes made through the
//! Service end up as parsed MIME messages, and every failure mode leaves the outbox right.

use std::time::Instant;

use crate::support::*;
use carette::mail::outgoing::Outgoing;
use carette::mail::sender::{OutboxSender, SenderOptions};
use carette::service::outbox::{Channel, Outcome};
use carette::store::outbox::{EmailStatus, OutboxEmail};
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

/// Some email was tried and found the SMTP server unreachable.
fn tried_and_unreachable(db: &Fixture) -> bool {
    rows(db).iter().any(|r| {
        r.last_error
            .as_deref()
            .is_some_and(|e| e.contains("unreachable"))
    })
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
    // Contact details are exchanged only once the driver accepts (email/privacy.rs).
    assert!(msg.reply_to().is_none());
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
    // Unique per install: the random id kept in the database, and the base_url host.
    let install: String = rusqlite::Connection::open(&db.path)
        .unwrap()
        .query_row("SELECT install_id FROM install", [], |r| r.get(0))
        .unwrap();
    assert_eq!(install.len(), 32, "{install}");
    assert!(
        ics.contains(&format!(
            "UID:reservation-{id}.{install}@rides.example.org\r\n"
        )),
        "{ics}"
    );
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
    let stats = db.service.stats(now()).unwrap();
    assert_eq!((stats.emails_sent_today, stats.emails_logged_today), (4, 0));
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
    // The first email to reach DATA is retried; the newer one to the same rider waits
    // with it, in order.
    assert_eq!(
        (report.sent, report.retried, report.released),
        (2, 1, 1),
        "{report:?}"
    );
    let waiting: Vec<_> = rows(&db)
        .into_iter()
        .filter(|r| r.status == EmailStatus::Queued)
        .collect();
    assert_eq!(waiting.len(), 2);
    assert_eq!(waiting[0].recipient, waiting[1].recipient, "{waiting:?}");
    let r = &waiting[0];
    assert_eq!(r.next_attempt_at, now() + Duration::seconds(30));
    assert!(r.last_error.as_deref().unwrap().contains("451"), "{r:?}");
    assert_eq!(waiting[1].next_attempt_at, r.next_attempt_at);
    assert_eq!(waiting[1].attempts, 0, "held back, not attempted");
    assert_eq!(
        s.deliver_due(now() + Duration::seconds(10))
            .unwrap()
            .claimed,
        0
    );
    let report = s.deliver_due(now() + Duration::seconds(31)).unwrap();
    assert_eq!(report.sent, 2);
    assert_eq!(server.count(), 4);
    let row = outbox_row(&db, r.id);
    assert_eq!((row.status, row.attempts), (EmailStatus::Sent, 2));
}

fn outbox_row(db: &Fixture, id: i64) -> OutboxEmail {
    db.service.outbox_get(id).unwrap().unwrap()
}

#[test]
fn backoff_doubles_up_to_an_hour_and_gives_up_after_three_days() {
    let o = SenderOptions::with_workers(1);
    let secs: Vec<i64> = (1..=9).map(|a| o.retry_delay(a).num_seconds()).collect();
    assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);

    let server = SmtpServer::start();
    server.on(Stage::Data, 452, "4.3.1 Insufficient system storage", None);
    let db = fixture();
    request_and_accept(&db);
    let s = sender(&db, server.port());
    let report = s.deliver_due(now()).unwrap();
    // Each rider's oldest email is retried; the newer ones wait behind them.
    assert_eq!((report.retried, report.released), (2, 2), "{report:?}");
    assert_eq!(
        report.paused_until, None,
        "a 4xx of one message pauses nothing"
    );
    let late = now() + Duration::days(3) + Duration::minutes(1);
    let report = s.deliver_due(late).unwrap();
    assert_eq!(report.failed, 4, "{report:?}");
    for row in rows(&db) {
        assert_eq!(row.status, EmailStatus::Failed);
        let error = row.last_error.unwrap();
        assert!(
            error.contains("gave up after")
                && error.contains("over 3 days")
                && error.contains("452"),
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
    assert!(tried_and_unreachable(&db));
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

/// While paused, new work does not wake the sender: each queued email woke it, it found the
/// pause and slept again, a futex round trip per seat request on a loaded daemon whose SMTP
/// server was down. The wake-up stays set for when the pause ends; a stop ends it at once.
#[test]
fn a_paused_sender_sleeps_through_new_work_and_stops_at_once() {
    let server = SmtpServer::start();
    let db = fixture();
    request_and_accept(&db);
    let s = sender(&db, server.port());
    server.stop();
    let wakeup = db.service.outbox_wakeup().clone();
    let stop = carette::wakeup::Shutdown::new(vec![wakeup.clone()]);
    let thread = s.spawn(stop.clone()).unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while !tried_and_unreachable(&db) {
        assert!(Instant::now() < deadline, "the sender never tried");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for _ in 0..3 {
        wakeup.notify();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            wakeup.wait(std::time::Duration::ZERO),
            "the paused sender took the wake-up"
        );
    }
    let asked = Instant::now();
    stop.trigger();
    thread.join().unwrap();
    assert!(asked.elapsed() < std::time::Duration::from_secs(5));
    assert!(rows(&db).iter().all(|r| r.status != EmailStatus::Sending));
}

fn message_ids(server: &SmtpServer) -> Vec<String> {
    server
        .received()
        .iter()
        .map(|m| {
            let msg = MessageParser::default().parse(&m.data).unwrap();
            msg.message_id().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_claim_left_by_a_dead_sender_is_sent_at_once_by_the_next_one() {
    let server = SmtpServer::start();
    let db = fixture();
    request_and_accept(&db);
    // A sender claims everything, then its process dies before sending or recording
    // anything (dropping the instance without unregistering is what a crash leaves).
    let dead = db.service.outbox_register_sender(now()).unwrap();
    let (lease, claimed) = db
        .service
        .outbox_claim(&dead, now(), Duration::minutes(5), 100)
        .unwrap();
    assert_eq!(claimed.len(), 4);
    // One of them had in fact been sent and recorded before the crash.
    let sent = Outcome::Sent {
        at: now(),
        channel: Channel::Smtp,
    };
    let lost = db
        .service
        .outbox_record(&lease, &[(claimed[0].clone(), sent)])
        .unwrap();
    assert!(lost.is_empty());
    drop(dead);
    assert_eq!(db.service.outbox_senders().unwrap().len(), 1);

    // A new sender a second later, long before the 5-minute lease ends.
    let s = sender(&db, server.port());
    let report = s.deliver_due(now() + Duration::seconds(1)).unwrap();
    assert_eq!((report.claimed, report.sent), (3, 3), "{report:?}");
    assert_eq!(
        s.deliver_due(now() + Duration::minutes(30))
            .unwrap()
            .claimed,
        0
    );
    let ids = message_ids(&server);
    assert_eq!(ids.len(), 3, "the recorded one is never resent");
    for row in &claimed[1..] {
        assert!(ids.contains(&format!("{}@example.org", row.message_id)));
    }
    // The dead instance is forgotten; the live one is registered until it stops.
    let senders = db.service.outbox_senders().unwrap();
    assert_eq!(senders.len(), 1);
    assert_eq!(senders[0].pid, i64::from(std::process::id()));
    drop(s);
    assert!(db.service.outbox_senders().unwrap().is_empty());
}

#[test]
fn a_live_senders_claim_is_left_alone_until_its_lease_ends() {
    let server = SmtpServer::start();
    let db = fixture();
    request_and_accept(&db);
    // Alive but stuck (e.g. a hung connection): its process still holds its lock.
    let stuck = db.service.outbox_register_sender(now()).unwrap();
    let (_, claimed) = db
        .service
        .outbox_claim(&stuck, now(), Duration::minutes(5), 100)
        .unwrap();
    assert_eq!(claimed.len(), 4);
    let s = sender(&db, server.port());
    assert_eq!(
        s.deliver_due(now() + Duration::minutes(1)).unwrap().claimed,
        0,
        "lease held by a live sender"
    );
    let report = s.deliver_due(now() + Duration::minutes(6)).unwrap();
    assert_eq!((report.claimed, report.sent), (4, 4), "{report:?}");
    drop(stuck);
}

#[test]
fn a_sender_whose_claim_was_taken_over_cannot_flip_the_row() {
    let server = SmtpServer::start();
    let db = fixture();
    request_and_accept(&db);
    let slow = db.service.outbox_register_sender(now()).unwrap();
    let (old_lease, claimed) = db
        .service
        .outbox_claim(&slow, now(), Duration::minutes(5), 100)
        .unwrap();
    // Its lease runs out; another sender takes the rows over and sends them.
    let s = sender(&db, server.port());
    let report = s.deliver_due(now() + Duration::minutes(6)).unwrap();
    assert_eq!(report.sent, 4, "{report:?}");
    // Then the slow one comes back with outcomes of its own: none is written.
    let late: Vec<_> = claimed
        .iter()
        .map(|r| (r.clone(), Outcome::Failed("550 too late".into())))
        .collect();
    let lost = db.service.outbox_record(&old_lease, &late).unwrap();
    assert_eq!(lost.len(), 4);
    let retry: Vec<_> = claimed
        .iter()
        .map(|r| {
            (
                r.clone(),
                Outcome::Retry {
                    at: now(),
                    error: "x".into(),
                },
            )
        })
        .collect();
    assert_eq!(
        db.service.outbox_record(&old_lease, &retry).unwrap().len(),
        4
    );
    for row in rows(&db) {
        assert_eq!(row.status, EmailStatus::Sent, "{row:?}");
        assert_eq!(row.last_error, None);
    }
    // Even the same sender's older claim of a row it claimed again is refused.
    let db2 = fixture();
    request_and_accept(&db2);
    let me = db2.service.outbox_register_sender(now()).unwrap();
    let (first, rows1) = db2
        .service
        .outbox_claim(&me, now(), Duration::minutes(5), 1)
        .unwrap();
    let (second, rows2) = db2
        .service
        .outbox_claim(&me, now() + Duration::minutes(6), Duration::minutes(5), 1)
        .unwrap();
    assert_eq!(
        rows1[0].id, rows2[0].id,
        "the expired claim is claimed again"
    );
    let fail = [(rows1[0].clone(), Outcome::Failed("stale".into()))];
    assert_eq!(db2.service.outbox_record(&first, &fail).unwrap().len(), 1);
    assert!(
        db2.service
            .outbox_record(&second, &fail)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn sent_at_is_when_the_server_accepted_the_email() {
    let server = SmtpServer::start();
    server.set_data_delay(std::time::Duration::from_millis(1100));
    let db = fixture();
    request_and_accept(&db);
    let config = smtp_config(server.port());
    let outgoing = Outgoing::from_config(&config, db.dir.path(), SECRET).unwrap();
    let s = OutboxSender::new(db.service.clone(), outgoing, SenderOptions::with_workers(1));
    assert_eq!(s.deliver_due(now()).unwrap().sent, 4);
    let mut sent: Vec<_> = rows(&db).iter().map(|r| r.sent_at.unwrap()).collect();
    sent.sort();
    // One connection, each email taking over a second: the last one was accepted at
    // least 4 s after the claim, and each one after the one before.
    assert!(sent[0] >= now() + Duration::seconds(1), "{sent:?}");
    assert!(sent[3] >= now() + Duration::seconds(4), "{sent:?}");
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "{sent:?}");
}

/// A seat request per passenger: 2 emails each (driver, passenger).
fn requests(db: &Fixture, passengers: &[&str]) {
    let offer = db
        .service
        .create_offer(&offer_input(utc(2026, 12, 3, 7, 0), 8), now())
        .unwrap();
    for p in passengers {
        db.service
            .request_seat(offer.id, &request("P", p, 1), now())
            .unwrap();
    }
}

#[test]
fn one_bad_address_fails_alone_and_the_rest_of_the_batch_goes_at_once() {
    let server = SmtpServer::start();
    // A server without SMTPUTF8 that does not know one of the recipients.
    server.advertise_smtputf8(false);
    server.refuse_recipient("p3@example.org", "5.1.1 <p3@example.org> No such user here");
    let db = fixture();
    let passengers: Vec<String> = (0..14).map(|i| format!("p{i}@example.org")).collect();
    let refs: Vec<&str> = passengers.iter().map(String::as_str).collect();
    requests(&db, &refs);
    // Two rows queued by an older version that took non-ASCII addresses.
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    conn.execute(
        "UPDATE outbox SET recipient = 'jösé@example.org' WHERE recipient = 'p5@example.org'",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE outbox SET recipient = 'poison@exämple.org' WHERE recipient = 'p0@example.org'",
        [],
    )
    .unwrap();
    let total = rows(&db).len();
    assert_eq!(total, 28);

    let config = smtp_config(server.port());
    let outgoing = Outgoing::from_config(&config, db.dir.path(), SECRET).unwrap();
    let mut options = SenderOptions::with_workers(2);
    options.batch_size = 100;
    let s = OutboxSender::new(db.service.clone(), outgoing, options);
    let started = Instant::now();
    let report = s.deliver_due(now()).unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "{} good emails delivered {elapsed:?} after the batch started, next to 3 bad addresses",
        report.sent
    );
    assert_eq!(report.paused_until, None, "nothing pauses: {report:?}");
    assert_eq!((report.sent, report.failed), (total - 3, 3), "{report:?}");
    assert_eq!(server.count(), total - 3);
    let failed = db
        .service
        .outbox_list(Some(EmailStatus::Failed), 10, 0)
        .unwrap();
    let reason = |to: &str| {
        failed
            .iter()
            .find(|r| r.recipient == to)
            .and_then(|r| r.last_error.clone())
            .unwrap_or_else(|| panic!("{to} not failed: {failed:?}"))
    };
    assert!(reason("jösé@example.org").contains("SMTPUTF8"));
    assert!(reason("poison@exämple.org").contains("SMTPUTF8"));
    assert!(reason("p3@example.org").contains("No such user here"));
    for row in rows(&db) {
        assert!(
            row.status == EmailStatus::Sent || row.status == EmailStatus::Failed,
            "{row:?}"
        );
        assert_eq!(row.attempts, 1);
    }
    // Every other rider got their email in that same pass.
    let got: Vec<String> = server.received().iter().map(|m| m.to[0].clone()).collect();
    for p in &passengers {
        if p != "p0@example.org" && p != "p3@example.org" && p != "p5@example.org" {
            assert!(got.contains(p), "{p} not delivered");
        }
    }
}

#[test]
fn a_421_or_a_refusing_greeting_pauses_instead_of_failing_emails() {
    // 421 "closing channel" answers MAIL FROM once: the connection, not the message.
    let server = SmtpServer::start();
    server.on(Stage::MailFrom, 421, "4.3.2 Shutting down", Some(1));
    let db = fixture();
    request_and_accept(&db);
    let report = sender(&db, server.port()).deliver_due(now()).unwrap();
    assert!(report.paused_until.is_some(), "{report:?}");
    assert_eq!(report.failed, 0);
    // The other worker may have finished its email meanwhile; none failed, the rest waits.
    let all = rows(&db);
    assert!(
        all.iter().all(|r| r.status != EmailStatus::Failed),
        "{all:?}"
    );
    assert!(all.iter().any(|r| r.status == EmailStatus::Queued
        && r.last_error.as_deref().is_some_and(|e| e.contains("421"))));

    // A server that answers every greeting 554: a 5xx, but the server's, not the emails'.
    let server = SmtpServer::start();
    server.on(Stage::Connect, 554, "5.3.2 No service for you", None);
    let db = fixture();
    request_and_accept(&db);
    let report = sender(&db, server.port()).deliver_due(now()).unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(report.paused_until.is_some(), "{report:?}");
    assert!(rows(&db).iter().all(|r| r.status == EmailStatus::Queued));
    assert!(
        rows(&db)
            .iter()
            .any(|r| r.last_error.as_deref().is_some_and(|e| e.contains("554"))),
        "{:?}",
        rows(&db)
    );
}

#[test]
fn after_a_pause_the_oldest_email_goes_first() {
    let server = SmtpServer::start();
    let db = fixture();
    let offer = db
        .service
        .create_offer(&offer_input(utc(2026, 12, 3, 7, 0), 3), now())
        .unwrap();
    let r = db
        .service
        .request_seat(offer.id, &request("Marie", "marie@example.org", 1), now())
        .unwrap();
    let config = smtp_config(server.port());
    let outgoing = Outgoing::from_config(&config, db.dir.path(), SECRET).unwrap();
    let s = OutboxSender::new(db.service.clone(), outgoing, SenderOptions::with_workers(1));
    // The server is down: the two request emails wait (one retried, one held back).
    server.stop();
    let report = s.deliver_due(now()).unwrap();
    let until = report.paused_until.expect("paused");
    // Meanwhile the driver accepts: two newer emails, due at once.
    db.service
        .accept(r.id, now() + Duration::seconds(10))
        .unwrap();
    server.restart();
    let report = s.deliver_due(until + Duration::seconds(1)).unwrap();
    assert_eq!(report.sent, 4, "{report:?}");
    // One connection, so the server saw them in claim order: oldest first.
    let by_mid: std::collections::HashMap<String, String> = rows(&db)
        .into_iter()
        .map(|r| (format!("{}@example.org", r.message_id), r.template))
        .collect();
    let order: Vec<&str> = message_ids(&server)
        .iter()
        .map(|m| by_mid[m].as_str())
        .collect();
    assert_eq!(
        order[..2].iter().collect::<std::collections::BTreeSet<_>>(),
        ["request_driver", "request_passenger"].iter().collect(),
        "{order:?}"
    );
    let marie: Vec<&str> = order
        .iter()
        .copied()
        .filter(|t| t.ends_with("_passenger"))
        .collect();
    assert_eq!(marie, ["request_passenger", "confirmed_passenger"]);
}

#[test]
fn a_retried_email_is_not_overtaken_by_a_newer_one_to_the_same_rider() {
    let server = SmtpServer::start();
    // Greylisting: Marie's server asks to come back later, once.
    server.answer_recipient(
        "marie@example.org",
        "451 4.7.1 Greylisted, try again later",
        Some(1),
    );
    let db = fixture();
    let offer = db
        .service
        .create_offer(&offer_input(utc(2026, 12, 3, 7, 0), 3), now())
        .unwrap();
    let r = db
        .service
        .request_seat(offer.id, &request("Marie", "marie@example.org", 1), now())
        .unwrap();
    let s = sender(&db, server.port());
    let report = s.deliver_due(now()).unwrap();
    assert_eq!((report.sent, report.retried), (1, 1), "{report:?}");
    assert_eq!(report.paused_until, None);
    // The driver accepts 10 s later: "confirmed" to Marie is due at once, her older
    // "request" only at +30 s. The driver's own email goes; Marie's waits for her first.
    db.service
        .accept(r.id, now() + Duration::seconds(10))
        .unwrap();
    let report = s.deliver_due(now() + Duration::seconds(11)).unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    assert!(
        server
            .received()
            .iter()
            .all(|m| m.to != ["marie@example.org"])
    );
    let t = now() + Duration::seconds(31);
    let mut sent = 0;
    while sent < 2 {
        let report = s.deliver_due(t).unwrap();
        assert!(report.claimed > 0, "{report:?}");
        sent += report.sent;
    }
    let marie: Vec<String> = server
        .received()
        .iter()
        .filter(|m| m.to == ["marie@example.org"])
        .map(|m| {
            let msg = MessageParser::default().parse(&m.data).unwrap();
            msg.message_id().unwrap().to_owned()
        })
        .collect();
    let template = |mid: &str| {
        rows(&db)
            .into_iter()
            .find(|r| mid.starts_with(&r.message_id))
            .unwrap()
            .template
    };
    let order: Vec<String> = marie.iter().map(|m| template(m)).collect();
    assert_eq!(order, ["request_passenger", "confirmed_passenger"]);
    assert!(rows(&db).iter().all(|r| r.status == EmailStatus::Sent));
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
    // Written, not sent: counted apart from what an SMTP server accepted.
    let stats = db.service.stats(now()).unwrap();
    assert_eq!((stats.emails_sent_today, stats.emails_logged_today), (0, 4));
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
