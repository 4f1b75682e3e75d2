//! Snapshots of every email's subject and plain-text body, in French and in English, with
//! a fixed realistic context (Europe/Paris), read on 1 December 2026. Review the .snap
//! files as the riders would read them.

use carette::mail::render::{RenderedEmail, Renderer};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

const BASE: &str = "https://covoit.example.org";

fn offer() -> Value {
    json!({
        "id": 12, "driver_name": "Jean Dupont", "driver_email": "jean@example.org",
        "origin": "Lyon Part-Dieu", "destination": "Grenoble Gare",
        "departure_at": "2026-12-03T07:00:00Z", "seats": 3, "seats_left": 1,
        "status": "active",
    })
}

fn reservation(status: &str) -> Value {
    json!({
        "id": 5, "passenger_name": "Marie Curie", "passenger_email": "marie@example.org",
        "seats": 1, "pickup": "Place Bellecour", "message": "J'ai un petit sac.\nMerci !",
        "pickup_at": "2026-12-03T07:20:00Z", "previous_pickup_at": null,
        "status": status, "previous_status": previous(status), "created_at": "2026-12-01T07:00:00Z",
        "expires_at": "2026-12-02T07:00:00Z", "calendar_sequence": 0,
    })
}

/// The status before the change each email announces (a cancelled booking held a seat).
fn previous(status: &str) -> Value {
    match status {
        "cancelled" | "removed" => json!("confirmed"),
        "confirmed" | "refused" | "expired" => json!("pending"),
        _ => Value::Null,
    }
}

/// The confirmed passengers: Paul, plus Marie once her request is accepted.
fn passengers(with_marie: bool) -> Value {
    let paul = json!({ "reservation_id": 9, "name": "Paul Martin", "email": "paul@example.org",
                       "seats": 1, "pickup": null, "pickup_at": null });
    let marie = json!({ "reservation_id": 5, "name": "Marie Curie", "email": "marie@example.org",
                        "seats": 1, "pickup": "Place Bellecour",
                        "pickup_at": "2026-12-03T07:20:00Z" });
    if with_marie {
        json!([marie, paul])
    } else {
        json!([paul])
    }
}

fn url(path: &str, token: &str) -> String {
    format!("{BASE}{path}?token={token}")
}

fn driver_links() -> Value {
    json!({
        "offer_cancel": url("/api/offer/cancel", "OC"),
        "offer_page": url("/api/offer/12/reservations", "OP"),
        "dashboard": url("/dashboard", "DB"),
        "remove": {
            "5": url("/api/reservation/remove", "RM5"),
            "9": url("/api/reservation/remove", "RM9"),
        },
    })
}

/// The context and links the service and mail layers build for `name`.
fn fixture(name: &str) -> (Value, Value) {
    let cancel = json!({ "cancel": url("/api/reservation/cancel", "CA") });
    let none = json!({});
    let passenger = |status: &str, links: &Value| {
        let ctx = json!({ "recipient_name": "Marie Curie", "offer": offer(),
                          "reservation": reservation(status), "passengers": [],
                          "routing": true });
        (ctx, links.clone())
    };
    let driver = |res: Value, list: Value| {
        let mut offer = offer();
        // 3 seats: Paul holds one, Marie one when confirmed.
        let taken = list.as_array().map_or(0, Vec::len);
        offer["seats_left"] = json!(3 - taken);
        let ctx = json!({ "recipient_name": "Jean Dupont", "offer": offer,
                          "reservation": res, "passengers": list, "routing": true });
        (ctx, driver_links())
    };
    match name {
        "request_driver" => {
            let (ctx, mut links) = driver(reservation("pending"), passengers(false));
            links["accept"] = json!(url("/api/reservation/accept", "AC"));
            links["refuse"] = json!(url("/api/reservation/refuse", "RF"));
            (ctx, links)
        }
        "request_passenger" => passenger("pending", &cancel),
        "confirmed_passenger" | "reminder_passenger" => passenger("confirmed", &cancel),
        "pickup_time_passenger" => passenger("confirmed", &cancel),
        "route_updated_passenger" => {
            let (mut ctx, links) = passenger("confirmed", &cancel);
            ctx["reservation"]["pickup_at"] = json!("2026-12-03T07:35:00Z");
            ctx["reservation"]["previous_pickup_at"] = json!("2026-12-03T07:20:00Z");
            (ctx, links)
        }
        "refused_passenger" => passenger("refused", &none),
        "cancelled_passenger" | "offer_cancelled_passenger" => passenger("cancelled", &none),
        "expired_passenger" => passenger("expired", &none),
        "removed_passenger" => passenger("removed", &none),
        "itinerary_driver" => driver(reservation("confirmed"), passengers(true)),
        "cancelled_driver" => driver(reservation("cancelled"), passengers(false)),
        "expired_driver" => driver(reservation("expired"), passengers(false)),
        "reminder_driver" => {
            let (mut ctx, mut links) = driver(Value::Null, passengers(true));
            // One request still waiting: the reminder offers to answer it.
            ctx["pending"] = json!([{ "reservation_id": 11, "name": "Inès Moreau", "seats": 2,
                "pickup": "Gare de Voiron", "message": "Deux valises, merci !",
                "created_at": "2026-12-01T18:00:00Z" }]);
            links["accept_by"] = json!({ "11": url("/api/reservation/accept", "AC11") });
            links["refuse_by"] = json!({ "11": url("/api/reservation/refuse", "RF11") });
            (ctx, links)
        }
        "offer_cancelled_driver" => {
            let (ctx, _) = driver(Value::Null, json!([]));
            (ctx, json!({ "dashboard": url("/dashboard", "DB") }))
        }
        "offer_created_driver" => {
            let (mut ctx, links) = driver(Value::Null, json!([]));
            ctx["offer"]["seats_left"] = json!(3);
            (ctx, links)
        }
        "test" => (
            json!({ "recipient_name": null, "offer": null, "reservation": null,
                    "passengers": [], "sent_at": "2026-12-01T09:30:00Z" }),
            none,
        ),
        other => panic!("no fixture for {other}"),
    }
}

/// The day the riders read these emails.
fn today() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

fn render(name: &str, context: &Value, links: &Value) -> RenderedEmail {
    let renderer = Renderer::new(chrono_tz::Europe::Paris, None).unwrap();
    renderer
        .render_at(name, context, links, today())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn english(mut context: Value) -> Value {
    context["lang"] = json!("en");
    context
}

fn snapshot_text(email: &RenderedEmail) -> String {
    format!("Subject: {}\n\n{}", email.subject, email.text)
}

#[test]
fn every_email_subject_and_text() {
    for name in Renderer::template_names() {
        let (context, links) = fixture(name);
        let email = render(name, &context, &links);
        insta::assert_snapshot!(*name, snapshot_text(&email));
    }
}

#[test]
fn every_email_subject_and_text_in_english() {
    for name in Renderer::template_names() {
        let (context, links) = fixture(name);
        let email = render(name, &english(context), &links);
        insta::assert_snapshot!(format!("{name}_en"), snapshot_text(&email));
        for french in [
            "Bonjour",
            "Départ",
            "réservation",
            "Prise en charge",
            "places",
            " h ",
        ] {
            assert!(
                !email.text.contains(french),
                "{name}: {french:?} in English"
            );
            assert!(
                !email.html.contains(french),
                "{name}: {french:?} in English HTML"
            );
        }
        assert!(email.html.contains("<html lang=\"en\""), "{name}");
    }
}

/// A cancelled request held no seat: neither rider reads "réservation" or "places libérées".
#[test]
fn cancelled_request_is_a_request_not_a_booking() {
    for name in [
        "cancelled_passenger",
        "cancelled_driver",
        "offer_cancelled_passenger",
    ] {
        let (mut context, links) = fixture(name);
        context["reservation"]["previous_status"] = json!("pending");
        context["passengers"] = json!([]);
        let email = render(name, &context, &links);
        insta::assert_snapshot!(format!("{name}_was_pending"), snapshot_text(&email));
        assert!(!email.text.contains("libér"), "{name}");
        let email = render(name, &english(context), &links);
        insta::assert_snapshot!(format!("{name}_was_pending_en"), snapshot_text(&email));
        assert!(
            !email.text.contains("released") && !email.text.contains("frees up"),
            "{name}"
        );
    }
}

/// Names starting with a vowel, a mute h or a vowel-sounding y take "d'"; "Yannick" does not.
#[test]
fn french_elision_before_names() {
    for (name, want) in [
        ("Inès", "d'Inès"),
        ("Hector", "d'Hector"),
        ("Yves", "d'Yves"),
        ("Yannick", "de Yannick"),
        ("Marie", "de Marie"),
    ] {
        let (mut context, links) = fixture("expired_driver");
        context["reservation"]["passenger_name"] = json!(name);
        let email = render("expired_driver", &context, &links);
        assert!(
            email
                .text
                .contains(&format!("La demande de réservation {want} (1 place)")),
            "{name}: {}",
            email.text
        );
        let html_want = want.replace('\'', "&#39;");
        assert!(
            email
                .html
                .contains(&html_want.replace(name, &format!("<strong>{name}</strong>"))),
            "{name}"
        );
        let (mut context, links) = fixture("cancelled_driver");
        context["reservation"]["passenger_name"] = json!(name);
        let email = render("cancelled_driver", &context, &links);
        assert!(
            email.subject.starts_with(&format!("Annulation {want} — ")),
            "{}",
            email.subject
        );
    }
}

/// Without itinerary recalculation, the time shown is said to be the departure time; with it,
/// the pickup time is announced as coming; once known, it is shown.
#[test]
fn pickup_time_or_departure_time_said_clearly() {
    let (mut context, links) = fixture("confirmed_passenger");
    context["reservation"]["pickup_at"] = Value::Null;
    context["routing"] = json!(false);
    let email = render("confirmed_passenger", &context, &links);
    insta::assert_snapshot!("confirmed_passenger_no_routing", snapshot_text(&email));
    assert!(
        email
            .text
            .contains("L'heure indiquée (8 h) est celle du départ de Lyon Part-Dieu")
    );
    let email = render("reminder_passenger", &english(context.clone()), &links);
    assert!(
        email
            .text
            .contains("The time shown (8:00 am) is when the trip leaves Lyon Part-Dieu")
    );
    context["routing"] = json!(true);
    let email = render("reminder_passenger", &context, &links);
    assert!(email.text.contains(
        "Heure de passage : nous vous l'enverrons par e-mail dès qu'elle sera calculée."
    ));
    let (context, links) = fixture("reminder_passenger");
    let email = render("reminder_passenger", &context, &links);
    assert!(
        email
            .text
            .contains("Prise en charge : Place Bellecour, vers 8 h 20")
    );
}

/// Trips in another year say which one.
#[test]
fn the_year_is_written_when_it_is_not_this_one() {
    let (mut context, links) = fixture("request_passenger");
    context["offer"]["departure_at"] = json!("2027-01-04T07:30:00Z");
    let email = render("request_passenger", &context, &links);
    assert!(
        email
            .text
            .contains("Départ : lundi 4 janvier 2027 à 8 h 30"),
        "{}",
        email.text
    );
    let email = render("request_passenger", &english(context), &links);
    assert!(
        email
            .text
            .contains("Departure: Monday 4 January 2027 at 8:30 am"),
        "{}",
        email.text
    );
}

#[test]
fn driver_list_empty_and_passenger_without_pickup() {
    let (mut context, links) = fixture("cancelled_driver");
    context["passengers"] = json!([]);
    context["offer"]["seats_left"] = json!(3);
    let email = render("cancelled_driver", &context, &links);
    insta::assert_snapshot!("cancelled_driver_last_passenger", snapshot_text(&email));

    let (mut context, links) = fixture("confirmed_passenger");
    context["reservation"]["pickup"] = Value::Null;
    context["reservation"]["pickup_at"] = Value::Null;
    context["recipient_name"] = Value::Null;
    let email = render("confirmed_passenger", &context, &links);
    insta::assert_snapshot!("confirmed_passenger_no_pickup", snapshot_text(&email));
    let email = render("confirmed_passenger", &english(context), &links);
    insta::assert_snapshot!("confirmed_passenger_no_pickup_en", snapshot_text(&email));
}

#[test]
fn request_driver_html() {
    let (context, links) = fixture("request_driver");
    insta::assert_snapshot!(
        "request_driver_html",
        render("request_driver", &context, &links).html
    );
    insta::assert_snapshot!(
        "request_driver_html_en",
        render("request_driver", &english(context), &links).html
    );
}
