use super::*;
use chrono::TimeZone;
use serde_json::json;

fn stamp() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

fn parties() -> Parties<'static> {
    Parties {
        host: "rides.example.org",
        organizer: "rides@example.org",
        attendee: "marie@example.org",
        attendee_name: Some("Marie \"la\" Curie"),
    }
}

fn context(status: &str, sequence: i64, pickup_at: Option<&str>) -> Value {
    json!({
        "offer": {"id": 12, "driver_name": "Jean", "driver_email": "jean@example.org",
                  "origin": "Lyon, Part-Dieu", "destination": "Grenoble; Gare",
                  "departure_at": "2026-12-03T07:00:00Z"},
        "reservation": {"id": 5, "status": status, "calendar_sequence": sequence,
                        "pickup": "Place Bellecour", "pickup_at": pickup_at},
        "passengers": [{"name": "Marie", "pickup": null}],
        "calendar": {"install": "0a1b2c", "trip_sequence": 3},
    })
}

fn unfold(text: &str) -> String {
    text.replace("\r\n ", "")
}

fn prop<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split("\r\n")
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
}

#[test]
fn confirmed_passenger_gets_a_request_at_the_pickup() {
    let ctx = context("confirmed", 1, Some("2026-12-03T07:20:00Z"));
    let invite = invite_for("confirmed_passenger", &ctx, parties(), stamp()).unwrap();
    assert_eq!(invite.method, Method::Request);
    let text = unfold(&invite.text);
    assert_eq!(prop(&text, "METHOD"), Some("REQUEST"));
    assert_eq!(
        prop(&text, "UID"),
        Some("reservation-5.0a1b2c@rides.example.org")
    );
    assert_eq!(prop(&text, "SEQUENCE"), Some("1"));
    assert_eq!(prop(&text, "DTSTART"), Some("20261203T072000Z"));
    assert_eq!(prop(&text, "DTEND"), Some("20261203T082000Z"));
    assert_eq!(prop(&text, "DTSTAMP"), Some("20261201T090000Z"));
    assert_eq!(prop(&text, "LOCATION"), Some("Place Bellecour"));
    assert_eq!(
        prop(&text, "SUMMARY"),
        Some("Covoiturage Lyon\\, Part-Dieu → Grenoble\\; Gare")
    );
    assert!(text.contains("ATTENDEE;CN=\"Marie la Curie\";"), "{text}");
}

#[test]
fn without_a_pickup_time_the_departure_and_origin_are_used() {
    let mut ctx = context("confirmed", 1, None);
    ctx["reservation"]["pickup"] = Value::Null;
    let invite = invite_for("confirmed_passenger", &ctx, parties(), stamp()).unwrap();
    assert_eq!(prop(&invite.text, "DTSTART"), Some("20261203T070000Z"));
    assert_eq!(prop(&invite.text, "LOCATION"), Some("Lyon\\, Part-Dieu"));
}

#[test]
fn endings_cancel_the_same_uid_with_a_higher_sequence() {
    let ctx = context("confirmed", 1, None);
    let request = invite_for("confirmed_passenger", &ctx, parties(), stamp()).unwrap();
    for template in [
        "cancelled_passenger",
        "removed_passenger",
        "offer_cancelled_passenger",
    ] {
        let ctx = context("cancelled", 2, None);
        let cancel = invite_for(template, &ctx, parties(), stamp()).unwrap();
        assert_eq!(cancel.method, Method::Cancel, "{template}");
        assert_eq!(cancel.uid, request.uid);
        assert!(cancel.sequence > request.sequence);
        assert_eq!(prop(&cancel.text, "STATUS"), Some("CANCELLED"));
    }
}

#[test]
fn a_pending_request_never_gets_an_invite() {
    for template in [
        "request_passenger",
        "request_driver",
        "refused_passenger",
        "expired_passenger",
        "expired_driver",
        "test",
    ] {
        let ctx = context("pending", 0, None);
        assert_eq!(
            invite_for(template, &ctx, parties(), stamp()),
            None,
            "{template}"
        );
    }
    // Withdrawn before any answer: there is nothing in any calendar to cancel.
    let ctx = context("cancelled", 0, None);
    assert_eq!(
        invite_for("cancelled_passenger", &ctx, parties(), stamp()),
        None
    );
    assert_eq!(
        invite_for("cancelled_driver", &ctx, parties(), stamp()),
        None
    );
}

#[test]
fn route_update_is_a_newer_request() {
    let ctx = context("confirmed", 2, Some("2026-12-03T07:30:00Z"));
    let invite = invite_for("route_updated_passenger", &ctx, parties(), stamp()).unwrap();
    assert_eq!((invite.method, invite.sequence), (Method::Request, 2));
    assert_eq!(prop(&invite.text, "DTSTART"), Some("20261203T073000Z"));
}

#[test]
fn the_driver_has_one_trip_event_updated_then_cancelled() {
    let mut ctx = context("confirmed", 1, None);
    let first = invite_for("itinerary_driver", &ctx, parties(), stamp()).unwrap();
    // The stored counter, not the clock: an earlier stamp does not lower it.
    let earlier = stamp() - Duration::days(1);
    ctx["calendar"]["trip_sequence"] = json!(4);
    let second = invite_for("itinerary_driver", &ctx, parties(), earlier).unwrap();
    ctx["calendar"]["trip_sequence"] = json!(5);
    let cancel = invite_for("offer_cancelled_driver", &ctx, parties(), earlier).unwrap();
    assert_eq!(first.uid, "offer-12.0a1b2c@rides.example.org");
    assert_eq!(
        (first.sequence, second.sequence, cancel.sequence),
        (3, 4, 5)
    );
    assert_eq!(
        (second.uid.as_str(), cancel.uid.as_str()),
        (first.uid.as_str(), first.uid.as_str())
    );
    assert_eq!(prop(&second.text, "SEQUENCE"), Some("4"));
    assert_eq!(cancel.method, Method::Cancel);
    assert!(unfold(&first.text).contains("- Marie (lieu non précisé)"));
}

#[test]
fn long_lines_fold_at_75_octets_without_splitting_characters() {
    let mut ctx = context("confirmed", 1, None);
    ctx["reservation"]["pickup"] = json!("é".repeat(100) + "\nsecond, line; \\ end");
    let invite = invite_for("confirmed_passenger", &ctx, parties(), stamp()).unwrap();
    assert!(invite.text.ends_with("END:VCALENDAR\r\n"));
    for line in invite.text.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line}", line.len());
    }
    assert!(!invite.text.replace("\r\n", "").contains('\n'));
    let location = prop(&unfold(&invite.text), "LOCATION").unwrap().to_owned();
    assert_eq!(location, "é".repeat(100) + "\\nsecond\\, line\\; \\\\ end");
}

#[test]
fn uids_name_the_install_and_the_host() {
    let ctx = context("confirmed", 1, None);
    let mine = invite_for("confirmed_passenger", &ctx, parties(), stamp()).unwrap();
    let mut other = ctx.clone();
    other["calendar"]["install"] = json!("ffee99");
    let theirs = invite_for("confirmed_passenger", &other, parties(), stamp()).unwrap();
    assert_ne!(mine.uid, theirs.uid, "same reservation id, another install");
    // A row queued before install ids existed gets no invite rather than a colliding one.
    let mut legacy = ctx.clone();
    legacy.as_object_mut().unwrap().remove("calendar");
    assert_eq!(
        invite_for("confirmed_passenger", &legacy, parties(), stamp()),
        None
    );
    assert_eq!(
        invite_for("itinerary_driver", &legacy, parties(), stamp()),
        None
    );
}

#[test]
fn the_uid_host_comes_from_the_base_url() {
    for (url, host) in [
        ("https://Rides.Example.org", "rides.example.org"),
        ("http://localhost:8080", "localhost"),
        (
            "https://user@carpool.example.org:8443/app/?x#y",
            "carpool.example.org",
        ),
        ("http://[::1]:8080/", "[::1]"),
        ("", "carette.invalid"),
    ] {
        assert_eq!(uid_host(url), host, "{url}");
    }
}
