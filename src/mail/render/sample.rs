//! A realistic context and links for each email: the reference example of the
//! schema the service and mail layers build, used by `Renderer::check` and tests.

use serde_json::{Value, json};

const BASE: &str = "https://carette.example.org";

/// Returns `(context, links)` for `template`, as the service/mail layers would.
pub fn sample(template: &str) -> (Value, Value) {
    if template == "test" {
        let context = json!({
            "recipient_name": null, "offer": null, "reservation": null, "passengers": [],
            "sent_at": "2026-12-01T09:00:00Z",
        });
        return (context, json!({}));
    }
    let status = match template {
        "request_driver" | "request_passenger" => "pending",
        "refused_passenger" => "refused",
        "expired_passenger" | "expired_driver" => "expired",
        "cancelled_passenger" | "cancelled_driver" | "offer_cancelled_passenger" => "cancelled",
        "removed_passenger" => "removed",
        _ => "confirmed",
    };
    let to_driver = template.ends_with("_driver");
    let offer = json!({
        "id": 12, "driver_name": "Jean Dupont", "driver_email": "jean@example.org",
        "origin": "Lyon Part-Dieu", "destination": "Grenoble Gare",
        "departure_at": "2026-12-03T07:00:00Z", "seats": 3, "seats_left": 1,
    });
    let reservation = json!({
        "id": 5, "passenger_name": "Marie Curie", "passenger_email": "marie@example.org",
        "seats": 1, "pickup": "Place Bellecour", "message": "J'ai un petit sac.",
        "pickup_at": "2026-12-03T07:20:00Z",
        "previous_pickup_at": if template == "route_updated_passenger" {
            json!("2026-12-03T07:10:00Z")
        } else {
            Value::Null
        },
        "status": status,
        "created_at": "2026-12-01T07:00:00Z", "expires_at": "2026-12-02T07:00:00Z",
    });
    let passengers = json!([
        { "reservation_id": 5, "name": "Marie Curie", "email": "marie@example.org",
          "seats": 1, "pickup": "Place Bellecour", "pickup_at": "2026-12-03T07:20:00Z" },
        { "reservation_id": 7, "name": "Paul Martin", "email": "paul@example.org",
          "seats": 1, "pickup": null, "pickup_at": null },
    ]);
    let context = json!({
        "recipient_name": if to_driver { "Jean Dupont" } else { "Marie Curie" },
        "offer": offer,
        "reservation": if matches!(
            template,
            "reminder_driver" | "offer_cancelled_driver" | "offer_created_driver"
        ) {
            Value::Null
        } else {
            reservation
        },
        "passengers": if to_driver { passengers } else { json!([]) },
    });
    (context, links(template, status))
}

fn links(template: &str, status: &str) -> Value {
    let token =
        |action: &str| format!("{BASE}/api/{action}?token=tok-{}", action.replace('/', "-"));
    if !template.ends_with("_driver") {
        return if matches!(status, "pending" | "confirmed") {
            json!({ "cancel": token("reservation/cancel") })
        } else {
            json!({})
        };
    }
    if template == "offer_cancelled_driver" {
        return json!({ "dashboard": format!("{BASE}/dashboard?token=tok-dash") });
    }
    let mut links = json!({
        "offer_cancel": token("offer/cancel"),
        "offer_page": format!("{BASE}/api/offer/12/reservations?token=tok-page"),
        "dashboard": format!("{BASE}/dashboard?token=tok-dash"),
        "remove": {
            "5": format!("{BASE}/api/reservation/remove?token=tok-r5"),
            "7": format!("{BASE}/api/reservation/remove?token=tok-r7"),
        },
    });
    if template == "request_driver" {
        links["accept"] = json!(token("reservation/accept"));
        links["refuse"] = json!(token("reservation/refuse"));
    }
    links
}
