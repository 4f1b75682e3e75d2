//! SPEC: contact details are exchanged only once a reservation is confirmed. Every email
//! of every transition goes through a real SMTP server; each parsed message (headers,
//! every decoded part, the calendar invite included) is searched for addresses the
//! recipient must not know yet.

use std::collections::HashMap;

use crate::support::*;

use carette::mail::outgoing::Outgoing;
use carette::mail::sender::{OutboxSender, SenderOptions};
use carette::service::jobs::Job;
use chrono::{DateTime, Duration, Utc};
use mail_parser::MessageParser;

const DRIVER: &str = "jean@example.org";

fn now() -> DateTime<Utc> {
    utc(2026, 12, 1, 9, 0)
}

/// (template, Reply-To, everything the recipient can read) of every received email.
fn read_all(db: &Fixture, server: &SmtpServer) -> Vec<(String, String, Option<String>, String)> {
    let templates: HashMap<String, String> = db
        .service
        .outbox_list(None, 1000, 0)
        .unwrap()
        .into_iter()
        .map(|r| (format!("{}@example.org", r.message_id), r.template))
        .collect();
    server
        .received()
        .iter()
        .map(|m| {
            let msg = MessageParser::default().parse(&m.data).unwrap();
            let template = templates[msg.message_id().unwrap()].clone();
            let reply_to = msg
                .reply_to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_owned);
            // Raw headers and body, plus each part decoded (quoted-printable or base64
            // could otherwise hide an address from a plain search).
            let mut readable = m.text();
            for part in &msg.parts {
                readable.push('\n');
                readable.push_str(&String::from_utf8_lossy(part.contents()));
            }
            (m.to.join(","), template, reply_to, readable)
        })
        .collect()
}

#[test]
fn no_address_is_shared_before_the_driver_says_yes() {
    let server = SmtpServer::start();
    let db = fixture();
    let s = &db.service;
    let t = now();
    let a = s
        .create_offer(&offer_input(utc(2026, 12, 3, 7, 0), 3), t)
        .unwrap();
    let b = s
        .create_offer(&offer_input(utc(2026, 12, 4, 7, 0), 3), t)
        .unwrap();
    let ask = |offer: i64, email: &str| {
        s.request_seat(offer, &request_with_markup("Quelqu'un", email), t)
            .unwrap()
            .id
    };
    let marie = ask(a.id, "marie@example.org");
    let paul = ask(a.id, "paul@example.org");
    let _zoe = ask(a.id, "zoe@example.org");
    let lea = ask(a.id, "lea@example.org");
    let _tom = ask(b.id, "tom@example.org");
    let ana = ask(b.id, "ana@example.org");
    s.refuse(paul, t).unwrap();
    s.cancel(lea, t).unwrap();
    s.accept(marie, t).unwrap();
    s.accept(ana, t).unwrap();
    s.remove(ana, t).unwrap();
    s.cancel_offer(b.id, t).unwrap();
    // zoe's request (and tom's, cancelled with its offer) were never answered.
    let later = t + Duration::hours(25);
    s.run_job(Job::Expire, later).unwrap();

    let outgoing =
        Outgoing::from_config(&smtp_config(server.port()), db.dir.path(), SECRET).unwrap();
    let sender = OutboxSender::new(s.clone(), outgoing, SenderOptions::with_workers(2));
    let queued = s.outbox_list(None, 1000, 0).unwrap().len();
    while sender.deliver_due(later).unwrap().claimed > 0 {}
    assert!(server.wait_for(queued, std::time::Duration::from_secs(30)));
    let mails = read_all(&db, &server);
    assert_eq!(mails.len(), queued);

    // Only a passenger the driver said yes to may see the driver's address.
    let mut seen = std::collections::BTreeSet::new();
    for (to, template, reply_to, readable) in mails.iter().filter(|m| m.0 != DRIVER) {
        seen.insert(template.as_str());
        let shared = matches!(
            template.as_str(),
            "confirmed_passenger" | "removed_passenger"
        );
        assert_eq!(
            readable.contains(DRIVER),
            shared,
            "{template} to {to} shows the driver's address: {readable}"
        );
        assert_eq!(
            reply_to.as_deref(),
            shared.then_some(DRIVER),
            "{template} to {to}"
        );
    }
    for template in [
        "request_passenger",
        "refused_passenger",
        "expired_passenger",
        "cancelled_passenger",
        "offer_cancelled_passenger",
        "confirmed_passenger",
        "removed_passenger",
    ] {
        assert!(
            seen.contains(template),
            "{template} not exercised: {seen:?}"
        );
    }

    // And the driver sees a passenger's address only once he accepted that passenger.
    let never_confirmed = [
        "paul@example.org",
        "zoe@example.org",
        "lea@example.org",
        "tom@example.org",
    ];
    let mut driver_templates = std::collections::BTreeSet::new();
    for (_, template, reply_to, readable) in mails.iter().filter(|m| m.0 == DRIVER) {
        driver_templates.insert(template.as_str());
        for p in never_confirmed {
            assert!(!readable.contains(p), "{template} shows {p}: {readable}");
            assert_ne!(reply_to.as_deref(), Some(p), "{template}");
        }
        if template == "request_driver" {
            assert_eq!(reply_to, &None);
            assert!(
                !readable.contains("marie@") && !readable.contains("ana@"),
                "{readable}"
            );
        }
    }
    for template in [
        "request_driver",
        "cancelled_driver",
        "expired_driver",
        "itinerary_driver",
    ] {
        assert!(
            driver_templates.contains(template),
            "{template}: {driver_templates:?}"
        );
    }
    // The accepted passenger's address does reach the driver, with a Reply-To.
    assert!(
        mails
            .iter()
            .any(|(to, template, reply_to, readable)| to == DRIVER
                && template == "itinerary_driver"
                && reply_to.as_deref() == Some("marie@example.org")
                && readable.contains("marie@example.org"))
    );
}
