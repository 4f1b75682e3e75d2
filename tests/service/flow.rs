//! The reservation lifecycle through the service layer, on a real SQLite file.

use crate::support::*;
use carette::domain::Status;
use carette::service::ServiceError;

fn now() -> chrono::DateTime<chrono::Utc> {
    utc(2026, 12, 1, 8, 0)
}

fn departure() -> chrono::DateTime<chrono::Utc> {
    utc(2026, 12, 3, 7, 0)
}

#[test]
fn request_then_accept_writes_state_audit_and_emails_together() {
    let f = fixture();
    let offer = f
        .service
        .create_offer(&offer_input(departure(), 3), now())
        .unwrap();
    assert_eq!((offer.seats, offer.seats_left), (3, 3));

    let r = f
        .service
        .request_seat(
            offer.id,
            &request("Marie Curie", "marie@example.org", 2),
            now(),
        )
        .unwrap();
    assert_eq!(r.status, Status::Pending);
    assert_eq!(
        outbox(&f.path),
        vec![
            ("request_driver".into(), "jean@example.org".into()),
            ("request_passenger".into(), "marie@example.org".into())
        ]
    );

    let out = f.service.accept(r.id, now()).unwrap();
    assert_eq!(out.reservation.status, Status::Confirmed);
    assert_eq!(out.offer.seats_left, 1);
    assert_eq!(out.emails_queued, 2);
    let mails = outbox(&f.path);
    assert_eq!(
        mails[2],
        ("confirmed_passenger".into(), "marie@example.org".into())
    );
    assert_eq!(
        mails[3],
        ("itinerary_driver".into(), "jean@example.org".into())
    );

    // The contract columns answer the seed's SQL as is.
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let (status, created): (String, String) = conn
        .query_row(
            "SELECT status, created_at FROM carpool_reservations WHERE id = ?1",
            [r.id],
            |x| Ok((x.get(0)?, x.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "confirmed");
    assert_eq!(created, "2026-12-01 08:00:00");
    let history = f
        .service
        .store()
        .read(|c| carette::store::reservations::history(c, r.id))
        .unwrap();
    let steps: Vec<_> = history
        .iter()
        .map(|h| (h.from_status.clone(), h.to_status.clone(), h.actor.clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (None, "pending".into(), "passenger".into()),
            (Some("pending".into()), "confirmed".into(), "driver".into())
        ]
    );
    // The driver's email carries the passenger list; its reply goes to the passenger.
    let (ctx, reply_to): (String, Option<String>) = conn
        .query_row(
            "SELECT context, reply_to FROM outbox WHERE template = 'itinerary_driver'",
            [],
            |x| Ok((x.get(0)?, x.get(1)?)),
        )
        .unwrap();
    let ctx: serde_json::Value = serde_json::from_str(&ctx).unwrap();
    assert_eq!(ctx["passengers"][0]["name"], "Marie Curie");
    assert_eq!(ctx["offer"]["seats_left"], 1);
    assert_eq!(reply_to.as_deref(), Some("marie@example.org"));
}

#[test]
fn refuse_cancel_and_remove_send_their_emails() {
    let f = fixture();
    let offer = f
        .service
        .create_offer(&offer_input(departure(), 4), now())
        .unwrap();
    let a = f
        .service
        .request_seat(offer.id, &request("A", "a@example.org", 1), now())
        .unwrap();
    let b = f
        .service
        .request_seat(offer.id, &request("B", "b@example.org", 1), now())
        .unwrap();
    let c = f
        .service
        .request_seat(offer.id, &request("C", "c@example.org", 1), now())
        .unwrap();
    assert_eq!(
        f.service.refuse(a.id, now()).unwrap().reservation.status,
        Status::Refused
    );
    f.service.accept(b.id, now()).unwrap();
    assert_eq!(
        f.service.cancel(b.id, now()).unwrap().reservation.status,
        Status::Cancelled
    );
    f.service.accept(c.id, now()).unwrap();
    let out = f.service.remove(c.id, now()).unwrap();
    assert_eq!(out.reservation.status, Status::Removed);
    assert_eq!(out.offer.seats_left, 4, "the seat is freed");
    let templates: Vec<String> = outbox(&f.path)
        .into_iter()
        .map(|(t, _)| t)
        .skip(6)
        .collect();
    assert_eq!(
        templates,
        [
            "refused_passenger",
            "confirmed_passenger",
            "itinerary_driver",
            "cancelled_passenger",
            "cancelled_driver",
            "confirmed_passenger",
            "itinerary_driver",
            "removed_passenger",
            "itinerary_driver"
        ]
    );
}

#[test]
fn illegal_transitions_are_refused_and_change_nothing() {
    let f = fixture();
    let offer = f
        .service
        .create_offer(&offer_input(departure(), 2), now())
        .unwrap();
    let r = f
        .service
        .request_seat(offer.id, &request("Marie", "marie@example.org", 1), now())
        .unwrap();
    f.service.refuse(r.id, now()).unwrap();
    let before = dump(&f.path);
    for (result, text) in [
        (
            f.service.accept(r.id, now()),
            "a refused reservation cannot be accepted",
        ),
        (
            f.service.refuse(r.id, now()),
            "a refused reservation cannot be refused",
        ),
        (
            f.service.cancel(r.id, now()),
            "a refused reservation cannot be cancelled",
        ),
        (
            f.service.remove(r.id, now()),
            "a refused reservation cannot be removed",
        ),
    ] {
        match result {
            Err(ServiceError::Illegal { error, reservation }) => {
                assert_eq!(error.to_string(), text);
                assert_eq!(
                    reservation.status,
                    Status::Refused,
                    "the current state is reported"
                );
            }
            other => panic!("expected Illegal, got {other:?}"),
        }
    }
    let pending = f
        .service
        .request_seat(offer.id, &request("Paul", "paul@example.org", 1), now())
        .unwrap();
    let err = f.service.remove(pending.id, now()).unwrap_err();
    assert!(
        err.to_string()
            .contains("only confirmed passengers can be removed"),
        "{err}"
    );
    assert!(matches!(
        f.service.accept(999, now()),
        Err(ServiceError::ReservationNotFound(999))
    ));
    // Only Paul's request (and its two emails + audit row + Paul's hourly email
    // counter) was added in between.
    let after = dump(&f.path);
    assert_eq!(after.len(), before.len() + 5);
    // (The counts and the driver's hourly email counter moved with Paul's request:
    // derived rows, the only changes.)
    assert!(
        before
            .iter()
            .filter(|row| {
                !row.starts_with("reservation_status_counts:")
                    && !row.starts_with("outbox_status_counts:")
                    && !row.starts_with("reservation_hourly_counts:")
                    && !row.starts_with("recipient_email_counts:")
            })
            .all(|row| after.contains(row)),
        "existing rows unchanged"
    );
}

#[test]
fn bad_input_is_rejected_field_by_field_and_writes_nothing() {
    let f = fixture();
    let offer = f
        .service
        .create_offer(&offer_input(departure(), 2), now())
        .unwrap();
    let before = dump(&f.path);

    let mut cases: Vec<(carette::service::OfferInput, &str)> = Vec::new();
    let mut o = offer_input(departure(), 2);
    o.driver_name = "  ".into();
    cases.push((o, "driver_name"));
    let mut o = offer_input(departure(), 2);
    o.driver_name = "Jean\r\nBcc: spam@example.org".into();
    cases.push((o, "driver_name"));
    let mut o = offer_input(departure(), 2);
    o.driver_email = "not-an-address".into();
    cases.push((o, "driver_email"));
    let mut o = offer_input(departure(), 0);
    o.seats = 0;
    cases.push((o, "seats"));
    cases.push((offer_input(utc(2026, 11, 30, 8, 0), 2), "departure_at"));
    let mut o = offer_input(departure(), 2);
    o.departure_at = "demain matin".into();
    cases.push((o, "departure_at"));
    let mut o = offer_input(departure(), 2);
    o.origin.label = "x".repeat(201);
    cases.push((o, "origin.label"));
    let mut o = offer_input(departure(), 2);
    o.destination.lat = Some(123.0);
    o.destination.lon = Some(1.0);
    cases.push((o, "destination.lat"));
    for (input, field) in cases {
        let err = f.service.create_offer(&input, now()).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }

    let mut bad = vec![
        (request("", "m@example.org", 1), "passenger_name"),
        (request("Marie\nX", "m@example.org", 1), "passenger_name"),
        (request("Marie", "m@", 1), "passenger_email"),
        (request("Marie", "m@example.org", 0), "seats"),
        (request("Marie", "m@example.org", 3), "seats"),
        (request("Marie", "jean@example.org", 1), "passenger_email"),
    ];
    let mut long_message = request("Marie", "m@example.org", 1);
    long_message.message = Some("a".repeat(1001));
    bad.push((long_message, "message"));
    for (input, field) in bad {
        let err = f.service.request_seat(offer.id, &input, now()).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
    assert!(matches!(
        f.service
            .request_seat(4242, &request("Marie", "m@example.org", 1), now()),
        Err(ServiceError::OfferNotFound(4242))
    ));
    let err = f
        .service
        .request_seat(offer.id, &request("Marie", "m@example.org", 3), now())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "only 2 seat(s) left on this ride, 3 requested"
    );
    assert_eq!(dump(&f.path), before, "nothing was written");
}

#[test]
fn no_request_after_departure_or_cancellation_and_no_duplicate() {
    let f = fixture();
    let offer = f
        .service
        .create_offer(&offer_input(departure(), 2), now())
        .unwrap();
    f.service
        .request_seat(offer.id, &request("Marie", "m@example.org", 1), now())
        .unwrap();
    let err = f
        .service
        .request_seat(offer.id, &request("Marie", "M@example.org", 1), now())
        .unwrap_err();
    assert_eq!(err.field(), Some("passenger_email"));
    let later = utc(2026, 12, 3, 7, 0);
    assert!(matches!(
        f.service
            .request_seat(offer.id, &request("Paul", "p@example.org", 1), later),
        Err(ServiceError::OfferDeparted { .. })
    ));
    let out = f.service.cancel_offer(offer.id, now()).unwrap();
    assert!(out.changed);
    assert_eq!(out.reservations_cancelled, 1);
    assert!(matches!(
        f.service
            .request_seat(offer.id, &request("Paul", "p@example.org", 1), now()),
        Err(ServiceError::OfferCancelled { .. })
    ));
    // A replayed cancel changes nothing and sends nothing.
    let before = dump(&f.path);
    assert!(!f.service.cancel_offer(offer.id, now()).unwrap().changed);
    assert_eq!(dump(&f.path), before);
    let templates: Vec<String> = outbox(&f.path).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        templates,
        [
            "request_driver",
            "request_passenger",
            "offer_cancelled_passenger",
            "offer_cancelled_driver"
        ]
    );
}

#[test]
fn accepting_never_overbooks() {
    let f = fixture();
    let offer = f
        .service
        .create_offer(&offer_input(departure(), 2), now())
        .unwrap();
    let a = f
        .service
        .request_seat(offer.id, &request("A", "a@example.org", 2), now())
        .unwrap();
    let b = f
        .service
        .request_seat(offer.id, &request("B", "b@example.org", 1), now())
        .unwrap();
    f.service.accept(a.id, now()).unwrap();
    let before = dump(&f.path);
    let err = f.service.accept(b.id, now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "only 0 seat(s) left on this ride, 1 requested"
    );
    assert_eq!(dump(&f.path), before);
    assert_eq!(f.service.get_offer(offer.id).unwrap().seats_left, 0);
}

#[test]
fn stats_follow_the_seeds_formulas() {
    let f = fixture();
    let offer = f
        .service
        .create_offer(&offer_input(departure(), 8), now())
        .unwrap();
    let ids: Vec<i64> = (0..5)
        .map(|i| {
            f.service
                .request_seat(
                    offer.id,
                    &request("P", &format!("p{i}@example.org"), 1),
                    now(),
                )
                .unwrap()
                .id
        })
        .collect();
    f.service.accept(ids[0], now()).unwrap();
    f.service.accept(ids[1], now()).unwrap();
    f.service.accept(ids[2], now()).unwrap();
    f.service.refuse(ids[3], now()).unwrap();
    let s = f.service.stats(now()).unwrap();
    assert_eq!(
        (s.pending, s.confirmed, s.refused, s.expired, s.cancelled),
        (1, 3, 1, 0, 0)
    );
    assert_eq!(s.acceptance_rate, Some(75.0));
    assert_eq!(s.emails_sent_today, 0);
    assert_eq!(s.outbox_queued, 10 + 6 + 1);
    let empty = fixture();
    assert_eq!(empty.service.stats(now()).unwrap().acceptance_rate, None);
}

/// (template, calendar.install, calendar.trip_sequence) of every outbox row, in order.
fn calendars(f: &Fixture) -> Vec<(String, Option<String>, Option<i64>)> {
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    conn.prepare(
        "SELECT template, json_extract(context, '$.calendar.install'),
                json_extract(context, '$.calendar.trip_sequence') FROM outbox ORDER BY id",
    )
    .unwrap()
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn install_id(path: &std::path::Path) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT install_id FROM install", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn calendar_ids_are_per_install_and_trip_sequences_only_grow() {
    let (a, b) = (fixture(), fixture());
    for f in [&a, &b] {
        let o = f
            .service
            .create_offer(&offer_input(departure(), 3), now())
            .unwrap();
        let r = f
            .service
            .request_seat(o.id, &request("Marie", "marie@example.org", 1), now())
            .unwrap();
        f.service.accept(r.id, now()).unwrap();
    }
    // Same reservation and offer ids in both databases, yet different calendar identities.
    let (ida, idb) = (install_id(&a.path), install_id(&b.path));
    assert_ne!(ida, idb);
    assert!(
        ida.len() == 32 && ida.chars().all(|c| c.is_ascii_hexdigit()),
        "{ida}"
    );
    // Kept with the data: reopening the file (a restart) keeps it.
    drop(carette::store::Store::open(&a.path).unwrap());
    assert_eq!(install_id(&a.path), ida);

    // Invites carry it; emails without an invite do not need it.
    let id = Some(ida.clone());
    assert_eq!(
        calendars(&a),
        vec![
            ("request_driver".into(), None, None),
            ("request_passenger".into(), None, None),
            ("confirmed_passenger".into(), id.clone(), None),
            ("itinerary_driver".into(), id.clone(), Some(1)),
        ]
    );
    // The trip's SEQUENCE is a stored counter: a change stamped earlier (clock moved back)
    // still gets a higher one, and so does every later change.
    let earlier = now() - chrono::Duration::hours(3);
    let r = a
        .service
        .request_seat(1, &request("Paul", "paul@example.org", 1), earlier)
        .unwrap();
    a.service.accept(r.id, earlier).unwrap();
    a.service.cancel(r.id, earlier).unwrap();
    a.service.cancel_offer(1, now()).unwrap();
    let trip: Vec<(String, i64)> = calendars(&a)
        .into_iter()
        .filter_map(|(t, _, seq)| seq.map(|s| (t, s)))
        .collect();
    assert_eq!(
        trip,
        vec![
            ("itinerary_driver".to_string(), 1),
            ("itinerary_driver".to_string(), 2),
            ("cancelled_driver".to_string(), 3),
            ("offer_cancelled_driver".to_string(), 4),
        ]
    );
}

#[test]
fn the_activity_chart_counts_requests_by_local_day() {
    let f = fixture();
    let o = f
        .service
        .create_offer(
            &offer_input(utc(2026, 12, 10, 7, 0), 3),
            utc(2026, 11, 30, 8, 0),
        )
        .unwrap();
    // 22:30 UTC on the 1st is 23:30 in Paris, still the 1st; 23:30 UTC is already the 2nd.
    let late = f
        .service
        .request_seat(
            o.id,
            &request("A", "a@example.org", 1),
            utc(2026, 12, 1, 22, 30),
        )
        .unwrap();
    f.service.accept(late.id, utc(2026, 12, 1, 22, 40)).unwrap();
    let after_midnight = f
        .service
        .request_seat(
            o.id,
            &request("B", "b@example.org", 1),
            utc(2026, 12, 1, 23, 30),
        )
        .unwrap();
    f.service
        .refuse(after_midnight.id, utc(2026, 12, 2, 7, 0))
        .unwrap();
    let days = f
        .service
        .daily_activity(utc(2026, 12, 2, 12, 0), 3)
        .unwrap();
    let got: Vec<(String, u64, u64, u64)> = days
        .iter()
        .map(|d| (d.date.to_string(), d.requests, d.confirmed, d.refused))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-11-30".to_string(), 0, 0, 0),
            ("2026-12-01".to_string(), 1, 1, 0),
            ("2026-12-02".to_string(), 1, 0, 1),
        ]
    );
}
