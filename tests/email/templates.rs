//! Snapshots of every email's subject and plain-text body, in French, with a fixed
//! realistic context (Europe/Paris). Review the .snap files as the riders would read them.

use carette::mail::render::{RenderedEmail, Renderer};
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
        "status": status, "created_at": "2026-12-01T07:00:00Z",
        "expires_at": "2026-12-02T07:00:00Z", "calendar_sequence": 0,
    })
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
                          "reservation": reservation(status), "passengers": [] });
        (ctx, links.clone())
    };
    let driver = |res: Value, list: Value| {
        let mut offer = offer();
        // 3 seats: Paul holds one, Marie one when confirmed.
        let taken = list.as_array().map_or(0, Vec::len);
        offer["seats_left"] = json!(3 - taken);
        let ctx = json!({ "recipient_name": "Jean Dupont", "offer": offer,
                          "reservation": res, "passengers": list });
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
        "reminder_driver" => driver(Value::Null, passengers(true)),
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

fn render(name: &str, context: &Value, links: &Value) -> RenderedEmail {
    let renderer = Renderer::new(chrono_tz::Europe::Paris, None).unwrap();
    renderer
        .render(name, context, links)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
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
}

#[test]
fn request_driver_html() {
    let (context, links) = fixture("request_driver");
    insta::assert_snapshot!(
        "request_driver_html",
        render("request_driver", &context, &links).html
    );
}
