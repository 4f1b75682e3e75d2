//! Expiry and J-1 reminders with an injected clock, DST days and catch-up after downtime.

use crate::support::*;
use carette::domain::Status;
use carette::service::jobs::Job;

#[test]
fn unanswered_requests_expire_after_24h_or_at_departure() {
    let f = fixture();
    let t0 = utc(2026, 12, 1, 8, 0);
    let far = f
        .service
        .create_offer(&offer_input(utc(2026, 12, 10, 7, 0), 3), t0)
        .unwrap();
    let soon = f
        .service
        .create_offer(&offer_input(utc(2026, 12, 1, 12, 0), 3), t0)
        .unwrap();
    let old = f
        .service
        .request_seat(far.id, &request("A", "a@example.org", 1), t0)
        .unwrap();
    let young = f
        .service
        .request_seat(
            far.id,
            &request("B", "b@example.org", 1),
            utc(2026, 12, 1, 20, 0),
        )
        .unwrap();
    let departing = f
        .service
        .request_seat(soon.id, &request("C", "c@example.org", 1), t0)
        .unwrap();
    let confirmed = f
        .service
        .request_seat(far.id, &request("D", "d@example.org", 1), t0)
        .unwrap();
    f.service.accept(confirmed.id, t0).unwrap();

    // 23 h 59 later nothing is due.
    let r = f
        .service
        .expire_due(utc(2026, 12, 1, 7, 59) + chrono::Duration::days(1))
        .unwrap();
    assert_eq!(r.reservations, 1, "only the one whose trip departed");
    assert_eq!(
        f.service.get_reservation(departing.id).unwrap().status,
        Status::Expired
    );
    let r = f.service.expire_due(utc(2026, 12, 2, 8, 1)).unwrap();
    assert_eq!((r.reservations, r.emails_queued), (1, 2));
    assert_eq!(
        f.service.get_reservation(old.id).unwrap().status,
        Status::Expired
    );
    assert_eq!(
        f.service.get_reservation(young.id).unwrap().status,
        Status::Pending
    );
    assert_eq!(
        f.service.get_reservation(confirmed.id).unwrap().status,
        Status::Confirmed
    );
    // Idempotent: a second run finds nothing and sends nothing.
    let before = dump(&f.path);
    assert_eq!(
        f.service
            .expire_due(utc(2026, 12, 2, 8, 2))
            .unwrap()
            .reservations,
        0
    );
    assert_eq!(dump(&f.path), before);
    let expired_mails: Vec<_> = outbox(&f.path)
        .into_iter()
        .filter(|(t, _)| t.starts_with("expired_"))
        .collect();
    assert_eq!(expired_mails.len(), 4);
    assert!(expired_mails.contains(&("expired_driver".into(), "jean@example.org".into())));
    assert!(expired_mails.contains(&("expired_passenger".into(), "a@example.org".into())));
}

fn confirmed_on(f: &Fixture, departure: chrono::DateTime<chrono::Utc>, email: &str) -> i64 {
    let t = departure - chrono::Duration::days(5);
    let o = f
        .service
        .create_offer(&offer_input(departure, 3), t)
        .unwrap();
    let r = f
        .service
        .request_seat(o.id, &request("P", email, 1), t)
        .unwrap();
    f.service.accept(r.id, t).unwrap();
    r.id
}

fn reminders(f: &Fixture) -> Vec<(String, String)> {
    outbox(&f.path)
        .into_iter()
        .filter(|(t, _)| t.starts_with("reminder_"))
        .collect()
}

/// A UTC instant from a Paris wall-clock time (the earlier one when ambiguous).
fn paris(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono_tz::Europe::Paris
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// (passenger, "demain"/"aujourd'hui") of every passenger reminder queued, sorted.
fn reminded(f: &Fixture) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let mut rows: Vec<(String, String)> = conn
        .prepare(
            "SELECT recipient, json_extract(context, '$.when_fr') FROM outbox
             WHERE template = 'reminder_passenger'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    rows
}

fn pair(who: &str, word: &str) -> (String, String) {
    (format!("{who}@example.org"), word.to_owned())
}

#[test]
fn every_run_reminds_until_the_end_of_tomorrow_whatever_the_hour() {
    // (run at, Paris time on 2026-12-03) -> who is reminded, and with which word.
    let cases = [
        (
            (6, 30),
            vec![
                pair("today", "aujourd'hui"),
                pair("early", "demain"),
                pair("late", "demain"),
            ],
        ),
        (
            (10, 0),
            vec![
                pair("today", "aujourd'hui"),
                pair("early", "demain"),
                pair("late", "demain"),
            ],
        ),
        // At 23:59 today's 20:00 trip has left; tomorrow's are still reminded.
        (
            (23, 59),
            vec![pair("early", "demain"), pair("late", "demain")],
        ),
    ];
    for ((h, m), mut expected) in cases {
        expected.sort();
        let f = fixture();
        confirmed_on(&f, paris(2026, 12, 3, 20, 0), "today@example.org");
        confirmed_on(&f, paris(2026, 12, 4, 0, 30), "early@example.org");
        confirmed_on(&f, paris(2026, 12, 4, 23, 30), "late@example.org");
        confirmed_on(&f, paris(2026, 12, 5, 0, 30), "dayafter@example.org");
        let now = paris(2026, 12, 3, h, m);
        let report = f.service.run_job(Job::Reminders, now).unwrap();
        assert_eq!(reminded(&f), expected, "run at {h:02}:{m:02}");
        assert_eq!(report.reservations, expected.len());
        // One driver email per trip, next to its passengers'.
        assert_eq!(
            reminders(&f).len(),
            2 * expected.len(),
            "run at {h:02}:{m:02}"
        );
        // Once, ever: running again (hand, cron, catch-up) sends nothing new.
        let before = dump(&f.path);
        let again = f
            .service
            .send_reminders(now + chrono::Duration::seconds(30))
            .unwrap();
        assert_eq!(again.reservations, 0);
        let after = dump(&f.path);
        assert_eq!(
            before
                .iter()
                .filter(|l| !l.contains("job_runs"))
                .collect::<Vec<_>>(),
            after
                .iter()
                .filter(|l| !l.contains("job_runs"))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn reminders_follow_paris_days_across_both_dst_changes() {
    // Spring forward, Sunday 2026-03-29 (23 h long). A 06:30 run on the 28th covers the
    // whole 29th, up to 23:59 CEST (21:59 UTC), not the 30th.
    let f = fixture();
    confirmed_on(&f, paris(2026, 3, 29, 3, 30), "first@example.org"); // right after the gap
    confirmed_on(&f, paris(2026, 3, 29, 23, 30), "last@example.org");
    confirmed_on(&f, paris(2026, 3, 30, 0, 30), "monday@example.org");
    f.service
        .run_job(Job::Reminders, paris(2026, 3, 28, 6, 30))
        .unwrap();
    assert_eq!(
        reminded(&f),
        vec![pair("first", "demain"), pair("last", "demain")]
    );
    // The 29th's 10:00 slot (08:00 UTC) runs once, reminds Monday's trip, says "demain".
    assert!(
        f.service
            .job_is_due(Job::Reminders, utc(2026, 3, 29, 8, 0))
            .unwrap()
    );
    f.service
        .run_job(Job::Reminders, utc(2026, 3, 29, 8, 0))
        .unwrap();
    assert_eq!(
        reminded(&f),
        vec![
            pair("first", "demain"),
            pair("last", "demain"),
            pair("monday", "demain")
        ]
    );
    let mut t = utc(2026, 3, 29, 8, 1);
    while t < utc(2026, 3, 30, 7, 59) {
        assert!(!f.service.job_is_due(Job::Reminders, t).unwrap(), "{t}");
        t += chrono::Duration::minutes(7);
    }

    // Fall back, Sunday 2026-10-25 (25 h long): 02:30 happens twice. A 23:59 run on the
    // 24th covers both, and the last hour of the 25th, but not the 26th.
    let f = fixture();
    confirmed_on(&f, utc(2026, 10, 25, 0, 30), "cest@example.org"); // 02:30 CEST
    confirmed_on(&f, utc(2026, 10, 25, 1, 30), "cet@example.org"); // 02:30 CET
    confirmed_on(&f, utc(2026, 10, 25, 22, 59), "lastminute@example.org"); // 23:59 CET
    confirmed_on(&f, utc(2026, 10, 25, 23, 0), "monday@example.org"); // 00:00 on the 26th
    f.service
        .run_job(Job::Reminders, paris(2026, 10, 24, 23, 59))
        .unwrap();
    assert_eq!(
        reminded(&f),
        vec![
            pair("cest", "demain"),
            pair("cet", "demain"),
            pair("lastminute", "demain")
        ]
    );
    // The 25th's 10:00 CET slot is 09:00 UTC; at 08:30 UTC (09:30 local) it is not yet due.
    assert!(
        !f.service
            .job_is_due(Job::Reminders, utc(2026, 10, 25, 8, 30))
            .unwrap()
    );
    f.service
        .run_job(Job::Reminders, utc(2026, 10, 25, 9, 0))
        .unwrap();
    assert_eq!(reminded(&f).len(), 4);
    assert!(reminded(&f).contains(&pair("monday", "demain")));
}

#[test]
fn after_a_30_hour_downtime_the_catch_up_reminds_todays_and_tomorrows_trips() {
    let f = fixture();
    // Ran the 2nd's 10:00 slot, then down from 09:00 on the 3rd to 15:00 on the 4th (30 h).
    f.service
        .run_job(Job::Reminders, paris(2026, 12, 2, 10, 0))
        .unwrap();
    confirmed_on(&f, paris(2026, 12, 4, 12, 0), "gone@example.org"); // left during the downtime
    confirmed_on(&f, paris(2026, 12, 4, 18, 0), "tonight@example.org");
    confirmed_on(&f, paris(2026, 12, 5, 8, 0), "tomorrow@example.org");
    confirmed_on(&f, paris(2026, 12, 6, 8, 0), "later@example.org");
    let restart = paris(2026, 12, 4, 15, 0);
    assert_eq!(
        restart - paris(2026, 12, 3, 9, 0),
        chrono::Duration::hours(30)
    );
    // The daemon's first tick: the 4th's slot is due and runs at once.
    let ticked = carette::scheduler::tick(&f.service, restart);
    assert!(ticked.iter().any(|(job, outcome)| *job == Job::Reminders
        && matches!(outcome, carette::scheduler::TickOutcome::Ran(r) if r.reservations == 2)));
    assert_eq!(
        reminded(&f),
        vec![pair("tomorrow", "demain"), pair("tonight", "aujourd'hui")]
    );
    assert!(
        f.service
            .run_job_if_due(Job::Reminders, restart)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.service.get_reservation(1).unwrap().status,
        Status::Confirmed,
        "reminders change no reservation"
    );
}

#[test]
fn expire_runs_hourly_and_records_its_runs() {
    let f = fixture();
    let t = utc(2026, 12, 1, 8, 15);
    assert!(f.service.job_is_due(Job::Expire, t).unwrap());
    f.service.run_job(Job::Expire, t).unwrap();
    assert!(
        !f.service
            .job_is_due(Job::Expire, utc(2026, 12, 1, 8, 59))
            .unwrap()
    );
    assert!(
        f.service
            .job_is_due(Job::Expire, utc(2026, 12, 1, 9, 0))
            .unwrap()
    );
    let last = f.service.last_job_run(Job::Expire).unwrap().unwrap();
    assert_eq!(last.slot, utc(2026, 12, 1, 8, 0));
    assert!(last.ok);
    assert_eq!(
        last.summary.as_deref(),
        Some("expired 0 request(s), queued 0 email(s)")
    );
}

/// The driver's reminder lists the requests still waiting on the trip, each with its own
/// accept and refuse links; the passengers' reminders say nothing of them.
#[test]
fn the_driver_reminder_lists_pending_requests_with_buttons() {
    use carette::mail::links::LinkBuilder;
    use carette::mail::render::Renderer;

    let f = fixture();
    let departure = utc(2026, 12, 4, 17, 0);
    let confirmed = confirmed_on(&f, departure, "paul@example.org");
    let offer = f.service.get_reservation(confirmed).unwrap().offer_id;
    let asked = utc(2026, 12, 3, 8, 0);
    let pending = f
        .service
        .request_seat(offer, &request("Inès", "ines@example.org", 2), asked)
        .unwrap()
        .id;
    f.service
        .run_job(Job::Reminders, utc(2026, 12, 3, 9, 0))
        .unwrap();
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let context: String = conn
        .query_row(
            "SELECT context FROM outbox WHERE template = 'reminder_driver'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let context: serde_json::Value = serde_json::from_str(&context).unwrap();
    let listed = context["pending"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["reservation_id"], pending);
    assert!(
        listed[0].get("email").is_none(),
        "no address before acceptance"
    );

    let links = LinkBuilder::new("https://rides.example.org", b"0123456789abcdef0123", 7);
    let now = utc(2026, 12, 3, 9, 1);
    let urls = links.links_for("reminder_driver", &context, now);
    let accept = urls["accept_by"][pending.to_string()].as_str().unwrap();
    let refuse = urls["refuse_by"][pending.to_string()].as_str().unwrap();
    let email = Renderer::new(chrono_tz::Europe::Paris, None)
        .unwrap()
        .render_at("reminder_driver", &context, &urls, now)
        .unwrap();
    assert!(
        email
            .text
            .contains("Demandes en attente de votre réponse (1) :")
    );
    assert!(email.text.contains("- Inès, 2 places"));
    assert!(email.text.contains(&format!("✔ Accepter : {accept}")));
    assert!(email.text.contains(&format!("✘ Refuser : {refuse}")));
    assert!(email.html.contains(&format!("href=\"{accept}\"")));
    let passenger: String = conn
        .query_row(
            "SELECT context FROM outbox WHERE template = 'reminder_passenger'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!passenger.contains("Inès"));
}
