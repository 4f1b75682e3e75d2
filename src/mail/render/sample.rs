//! Realistic contexts and links for each email: the reference example of the schema the
//! service and mail layers build, used by `Renderer::check`, `carette templates check`
//! and `carette templates preview`, and by tests.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

const BASE: &str = "https://carette.example.org";

/// The moment the samples are read at (two days before the sample trip).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

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
    let previous_status = match template {
        "expired_passenger" | "expired_driver" | "refused_passenger" => json!("pending"),
        "confirmed_passenger" | "itinerary_driver" => json!("pending"),
        "cancelled_passenger"
        | "cancelled_driver"
        | "offer_cancelled_passenger"
        | "removed_passenger" => json!("confirmed"),
        _ => Value::Null,
    };
    let to_driver = template.ends_with("_driver");
    let offer = json!({
        "id": 12, "driver_name": "Jean Dupont", "driver_email": "jean@example.org",
        "origin": "Lyon Part-Dieu", "destination": "Grenoble Gare",
        "departure_at": "2026-12-03T07:00:00Z", "seats": 3, "seats_left": 1,
        "status": "active",
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
        "previous_status": previous_status,
        "created_at": "2026-12-01T07:00:00Z", "expires_at": "2026-12-02T07:00:00Z",
        "calendar_sequence": 1,
    });
    let passengers = json!([
        { "reservation_id": 5, "name": "Marie Curie", "email": "marie@example.org",
          "seats": 1, "pickup": "Place Bellecour", "pickup_at": "2026-12-03T07:20:00Z" },
        { "reservation_id": 7, "name": "Paul Martin", "email": "paul@example.org",
          "seats": 1, "pickup": null, "pickup_at": null },
    ]);
    let mut context = json!({
        "lang": "fr",
        "routing": true,
        "recipient_name": if to_driver { "Jean Dupont" } else { "Marie Curie" },
        "offer": offer,
        "reservation": if matches!(template, "reminder_driver" | "offer_cancelled_driver") {
            Value::Null
        } else {
            reservation
        },
        "passengers": if to_driver { passengers } else { json!([]) },
    });
    if template == "reminder_driver" {
        context["pending"] = json!([
            { "reservation_id": 8, "name": "Inès Martin", "seats": 2, "pickup": "Gare de Voiron",
              "message": "Nous avons deux valises.", "created_at": "2026-12-01T18:00:00Z" },
        ]);
    }
    let links = links(template, status, &context);
    (context, links)
}

/// The variants the checks render: the sample, then the same email with every optional
/// field empty, without routing, and with the other previous status, so a template
/// branch that names a missing field is caught whichever way it goes.
pub fn samples(template: &str) -> Vec<(Value, Value)> {
    let base = sample(template);
    let mut out = vec![base.clone()];
    if template == "test" {
        let (mut context, links) = base;
        context["sent_at"] = Value::Null;
        out.push((context, links));
        return out;
    }
    let (mut bare, links) = base.clone();
    if let Some(r) = bare["reservation"].as_object_mut() {
        r.insert("pickup".into(), Value::Null);
        r.insert("message".into(), Value::Null);
        r.insert("previous_pickup_at".into(), Value::Null);
        if !matches!(
            template,
            "route_updated_passenger" | "pickup_time_passenger"
        ) {
            r.insert("pickup_at".into(), Value::Null);
        }
        let other = match r.get("previous_status").and_then(Value::as_str) {
            Some("confirmed") => json!("pending"),
            Some("pending") => json!("confirmed"),
            _ => Value::Null,
        };
        r.insert("previous_status".into(), other);
    }
    bare["passengers"] = json!([]);
    bare["pending"] = json!([]);
    bare["recipient_name"] = Value::Null;
    bare["routing"] = json!(false);
    out.push((bare.clone(), links.clone()));
    let mut no_links = bare;
    no_links["routing"] = json!(true);
    out.push((no_links, json!({})));
    out
}

fn links(template: &str, status: &str, context: &Value) -> Value {
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
    if let Some(pending) = context.get("pending").and_then(Value::as_array) {
        for p in pending {
            if let Some(id) = p.get("reservation_id").and_then(Value::as_i64) {
                links["accept_by"][id.to_string()] =
                    json!(format!("{BASE}/api/reservation/accept?token=tok-a{id}"));
                links["refuse_by"][id.to_string()] =
                    json!(format!("{BASE}/api/reservation/refuse?token=tok-f{id}"));
            }
        }
    }
    links
}
