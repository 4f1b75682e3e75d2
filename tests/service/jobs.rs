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

#[test]
fn reminders_go_out_once_for_tomorrows_trips_in_local_time() {
    let f = fixture();
    // Tomorrow (Paris) = 2026-12-04: 00:30 Paris is 23:30 UTC on the 3rd, still "tomorrow".
    confirmed_on(&f, utc(2026, 12, 3, 23, 30), "early@example.org");
    confirmed_on(&f, utc(2026, 12, 4, 17, 0), "late@example.org");
    confirmed_on(&f, utc(2026, 12, 4, 23, 30), "dayafter@example.org"); // 00:30 on the 5th in Paris
    confirmed_on(&f, utc(2026, 12, 3, 15, 0), "today@example.org");
    let at_ten = utc(2026, 12, 3, 9, 0); // 10:00 Paris (CET)
    assert!(f.service.job_is_due(Job::Reminders, at_ten).unwrap());
    let report = f.service.run_job(Job::Reminders, at_ten).unwrap();
    assert_eq!(report.reservations, 2);
    let mut got = reminders(&f);
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "reminder_driver".to_string(),
                "jean@example.org".to_string()
            ),
            ("reminder_driver".into(), "jean@example.org".into()),
            ("reminder_passenger".into(), "early@example.org".into()),
            ("reminder_passenger".into(), "late@example.org".into()),
        ]
    );
    // Same slot: not due again; forcing it sends nothing new (once, ever).
    assert!(
        !f.service
            .job_is_due(Job::Reminders, utc(2026, 12, 3, 15, 0))
            .unwrap()
    );
    f.service
        .run_job(Job::Reminders, utc(2026, 12, 3, 15, 0))
        .unwrap();
    assert_eq!(reminders(&f).len(), 4);
    // Before 10:00 the next day, the slot is still the 3rd's: not due.
    assert!(
        !f.service
            .job_is_due(Job::Reminders, utc(2026, 12, 4, 8, 59))
            .unwrap()
    );
    assert!(
        f.service
            .job_is_due(Job::Reminders, utc(2026, 12, 4, 9, 0))
            .unwrap()
    );
}

#[test]
fn reminder_slots_follow_paris_time_on_dst_days() {
    // Spring forward, 2026-03-29: 10:00 CEST is 08:00 UTC.
    let f = fixture();
    confirmed_on(&f, utc(2026, 3, 30, 6, 0), "spring@example.org");
    // At 07:59 UTC (09:59 CEST) the current slot is still the 28th's, which covers the 29th's trips.
    let before_ten = utc(2026, 3, 29, 7, 59);
    assert_eq!(
        f.service.job_slot(Job::Reminders, before_ten),
        utc(2026, 3, 28, 9, 0)
    );
    f.service.run_job(Job::Reminders, before_ten).unwrap();
    assert!(!f.service.job_is_due(Job::Reminders, before_ten).unwrap());
    assert_eq!(
        reminders(&f).len(),
        0,
        "the 28th's slot covers the 29th's trips only"
    );
    assert!(
        f.service
            .job_is_due(Job::Reminders, utc(2026, 3, 29, 8, 0))
            .unwrap()
    );
    f.service
        .run_job(Job::Reminders, utc(2026, 3, 29, 8, 0))
        .unwrap();
    assert_eq!(reminders(&f).len(), 2);
    // Ticking every minute for the rest of the day never runs it twice.
    let mut t = utc(2026, 3, 29, 8, 1);
    while t < utc(2026, 3, 30, 7, 59) {
        assert!(!f.service.job_is_due(Job::Reminders, t).unwrap(), "{t}");
        t += chrono::Duration::minutes(7);
    }

    // Fall back, 2026-10-25: 10:00 CET is 09:00 UTC; 08:30 UTC is 09:30 local, not yet.
    let f = fixture();
    confirmed_on(&f, utc(2026, 10, 26, 6, 0), "autumn@example.org");
    f.service
        .run_job(Job::Reminders, utc(2026, 10, 25, 8, 30))
        .unwrap();
    assert_eq!(reminders(&f).len(), 0);
    assert!(
        f.service
            .job_is_due(Job::Reminders, utc(2026, 10, 25, 9, 0))
            .unwrap()
    );
    f.service
        .run_job(Job::Reminders, utc(2026, 10, 25, 9, 0))
        .unwrap();
    assert_eq!(reminders(&f).len(), 2);
}

#[test]
fn a_missed_reminder_run_catches_up_at_start_for_the_right_day() {
    let f = fixture();
    confirmed_on(&f, utc(2026, 12, 4, 15, 0), "p@example.org");
    // The daemon ran the 2nd's slot, then was down from before 10:00 on the 3rd until
    // 08:00 on the 4th: the 3rd's slot is due at start and covers the 4th's trips.
    f.service
        .run_job(Job::Reminders, utc(2026, 12, 2, 9, 0))
        .unwrap();
    let restart = utc(2026, 12, 4, 7, 0);
    assert!(f.service.job_is_due(Job::Reminders, restart).unwrap());
    let r = f
        .service
        .run_job_if_due(Job::Reminders, restart)
        .unwrap()
        .unwrap();
    assert_eq!(r.reservations, 1);
    assert!(
        f.service
            .run_job_if_due(Job::Reminders, restart)
            .unwrap()
            .is_none()
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
