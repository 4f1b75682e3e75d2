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
        "previous_status": previous_status.clone(),
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
    if template.starts_with("reminder_") {
        context["when_fr"] = json!("demain");
        context["when_en"] = json!("tomorrow");
    }
    if template == "reminder_driver" {
        context["pending"] = json!([
            { "reservation_id": 8, "name": "Inès Martin", "seats": 2, "pickup": "Gare de Voiron",
              "message": "Nous avons deux valises.", "created_at": "2026-12-01T18:00:00Z" },
        ]);
    }
    // Contact details only once the driver said yes (`service::context::contacts_shared`):
    // an override naming them in an email about a request must fail the check.
    let shared = status == "confirmed" || previous_status == json!("confirmed");
    if !shared {
        if to_driver {
            if let Some(r) = context["reservation"].as_object_mut() {
                r.remove("passenger_email");
            }
        } else if let Some(o) = context["offer"].as_object_mut() {
            o.remove("driver_email");
        }
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

/// The link pages the checks render, each with the contexts the HTTP layer builds for it
/// (`http::pages`, `http::links`, `http::dashboard`): every action and every status.
pub fn page_samples() -> Vec<(&'static str, Value)> {
    let offer = |cancelled: bool| {
        json!({
            "id": 12, "driver_name": "Jean Dupont", "driver_email": "jean@example.org",
            "origin": "Lyon Part-Dieu", "destination": "Grenoble Gare",
            "departure_at": "2026-12-03T07:00:00Z", "seats": 3, "seats_left": 1,
            "seats_fr": "3 places", "seats_en": "3 seats",
            "seats_left_fr": "1 place libre", "seats_left_en": "1 seat left",
            "status": if cancelled { "cancelled" } else { "active" },
            "is_cancelled": cancelled, "is_departed": false,
        })
    };
    let reservation = |status: &str, pickup: bool| {
        let mut r = json!({
            "id": 5, "passenger_name": "Inès Martin", "passenger_email": "ines@example.org",
            "seats": 2, "seats_fr": "2 places", "seats_en": "2 seats",
            "pickup": if pickup { json!("Place Bellecour") } else { Value::Null },
            "message": if pickup { json!("Deux valises.") } else { Value::Null },
            "pickup_at": if pickup { json!("2026-12-03T07:20:00Z") } else { Value::Null },
            "created_at": "2026-12-01T07:00:00Z", "status": status,
            "was_pending": status == "cancelled",
        });
        for s in [
            "pending",
            "confirmed",
            "refused",
            "expired",
            "cancelled",
            "removed",
        ] {
            r[format!("is_{s}")] = json!(s == status);
        }
        r
    };
    let actions = ["accept", "refuse", "cancel", "remove", "offer_cancel"];
    let action = |a: &str| {
        let mut v = json!({});
        for x in actions {
            v[format!("is_{x}")] = json!(x == a);
        }
        v
    };
    let form = json!({ "url": "/api/reservation/accept", "token": "tok" });
    let affected = |n: u64| {
        if n == 0 {
            Value::Null
        } else {
            json!({ "count": n, "fr": format!("{n} réservations"), "en": format!("{n} bookings") })
        }
    };
    let card = |pending: bool| {
        let mut p = reservation("pending", true);
        p["accept_token"] = json!("tok-a");
        p["refuse_token"] = json!("tok-r");
        let mut c = reservation("confirmed", false);
        c["remove_token"] = json!("tok-rm");
        json!({
            "offer": offer(false), "live": true,
            "pending": if pending { json!([p]) } else { json!([]) },
            "confirmed": if pending { json!([c]) } else { json!([]) },
            "others": if pending {
                json!([reservation("refused", false), reservation("expired", false),
                       reservation("cancelled", false), reservation("removed", false)])
            } else {
                json!([])
            },
            "cancel_token": if pending { json!("tok-oc") } else { Value::Null },
            "view_url": if pending { json!("/api/offer/12/reservations?token=t") } else { Value::Null },
        })
    };
    let mut out = Vec::new();
    for a in actions {
        let on_offer = a == "offer_cancel";
        for (status, pickup) in [("pending", true), ("confirmed", false)] {
            let r = if on_offer {
                Value::Null
            } else {
                reservation(status, pickup)
            };
            for n in [0, 3] {
                out.push((
                    "confirm",
                    json!({ "action": action(a), "form": form, "offer": offer(false),
                            "reservation": r, "affected": affected(n) }),
                ));
            }
            let done = if a == "cancel" {
                reservation("cancelled", pickup)
            } else {
                r.clone()
            };
            out.push((
                "done",
                json!({ "action": action(a), "offer": offer(on_offer), "reservation": done,
                        "affected": affected(if pickup { 2 } else { 0 }) }),
            ));
        }
        for status in [
            "pending",
            "confirmed",
            "refused",
            "expired",
            "cancelled",
            "removed",
        ] {
            let r = if on_offer {
                Value::Null
            } else {
                reservation(status, true)
            };
            out.push((
                "already",
                json!({ "action": action(a), "offer": offer(on_offer), "reservation": r }),
            ));
        }
    }
    out.push(("departed", json!({ "offer": offer(false) })));
    for (left, pickup) in [(1, true), (0, false)] {
        let mut o = offer(false);
        o["seats_left"] = json!(left);
        out.push((
            "no_seats",
            json!({ "offer": o, "reservation": reservation("pending", pickup),
                    "refuse_form": form }),
        ));
    }
    out.push(("offer", json!({ "card": card(true) })));
    out.push(("offer", json!({ "card": card(false) })));
    out.push((
        "dashboard",
        json!({ "driver_name": "Jean Dupont", "driver_email": "jean@example.org",
                "cards": [card(true), card(false)] }),
    ));
    out.push((
        "dashboard",
        json!({ "driver_name": null, "driver_email": "jean@example.org", "cards": [] }),
    ));
    for code in [400, 404, 405, 408, 413, 429, 500] {
        out.push((
            "error",
            json!({ "status": code, "is_not_found": code == 404, "is_method": code == 405,
                    "is_too_large": code == 413, "is_too_many": code == 429,
                    "is_timeout": code == 408, "is_bad_request": code == 400,
                    "is_server": code >= 500 }),
        ));
    }
    out.extend(rider_page_samples(&offer(false), &offer(true)));
    out.push(("expired", json!({ "form": form, "ttl_days": 7 })));
    out.push(("invalid", json!({})));
    out.push(("resent", json!({ "ttl_days": 7 })));
    out.push((
        "still_valid",
        json!({ "url": "/api/reservation/accept?token=t" }),
    ));
    out
}

/// The riders' pages (`http::rider_pages`): the listing (full, empty, filtered), both
/// forms (blank, with errors, with a notice), closed offers, the pages after a POST and
/// every error, framed and not.
fn rider_page_samples(open: &Value, cancelled: &Value) -> Vec<(&'static str, Value)> {
    let public = |o: &Value| {
        let mut o = o.clone();
        if let Some(m) = o.as_object_mut() {
            m.remove("driver_email");
            m.insert("url".into(), json!("/trajets/12"));
            m.insert("is_full".into(), json!(false));
        }
        o
    };
    let choices = json!([{ "n": 1, "selected": true }, { "n": 2, "selected": false }]);
    let errors = |fields: &[&str], with: bool| {
        let mut e = json!({});
        for f in fields {
            e[*f] = if with {
                json!("Ce champ est à corriger.")
            } else {
                Value::Null
            };
        }
        e
    };
    let offer_fields = [
        "name",
        "email",
        "origin",
        "destination",
        "date",
        "time",
        "seats",
        "lang",
    ];
    let seat_fields = ["name", "email", "seats", "lang", "pickup", "message"];
    let values = |fields: &[&str]| {
        let mut v = json!({});
        for f in fields {
            v[*f] = json!("<b>Inès & co</b>");
        }
        v
    };
    let form = |fields: &[&str], with_errors: bool, notice: bool, lang_en: bool| {
        json!({
            "action": "/trajets/nouveau", "token": "tok",
            "values": values(fields), "errors": errors(fields, with_errors),
            "has_errors": with_errors,
            "notice": if notice { json!("Ce formulaire était ouvert depuis longtemps.") } else { Value::Null },
            "seat_choices": choices, "lang_en": lang_en,
        })
    };
    let mut out = Vec::new();
    for embed in [false, true] {
        let base = if embed { "/embed" } else { "" };
        let frame = |mut v: Value| {
            v["embed"] = json!(embed);
            v["base"] = json!(base);
            v["switch_url"] = json!(format!("{base}/trajets?lang=en"));
            v
        };
        for (offers, has_filter, bad_date, truncated) in [
            (json!([public(open)]), false, false, false),
            (json!([public(open), public(open)]), true, false, true),
            (json!([]), false, false, false),
            (json!([]), true, true, false),
        ] {
            out.push((
                "trajets_list",
                frame(json!({
                    "offers": offers, "count": 2, "truncated": truncated,
                    "filter": { "origin": "Lyon", "destination": "", "date": "2026-12-03" },
                    "has_filter": has_filter, "bad_date": bad_date, "today": "2026-12-01",
                })),
            ));
        }
        for (with_errors, notice, lang_en) in [
            (false, false, false),
            (true, false, true),
            (false, true, false),
        ] {
            out.push((
                "trajets_new",
                frame(json!({
                    "form": form(&offer_fields, with_errors, notice, lang_en),
                    "today": "2026-12-01", "timezone": "Europe/Paris",
                })),
            ));
            out.push((
                "trajets_offer",
                frame(json!({
                    "offer": public(open), "closed": null, "expire_hours": 48,
                    "form": form(&seat_fields, with_errors, notice, lang_en),
                })),
            ));
        }
        for (c, d, f) in [
            (true, false, false),
            (false, true, false),
            (false, false, true),
        ] {
            out.push((
                "trajets_offer",
                frame(json!({
                    "offer": if c { public(cancelled) } else { public(open) },
                    "closed": { "is_cancelled": c, "is_departed": d, "is_full": f },
                    "expire_hours": 48, "form": form(&seat_fields, false, false, false),
                })),
            ));
        }
        out.push((
            "trajets_published",
            frame(json!({ "offer": public(open), "expire_hours": 48 })),
        ));
        out.push(("trajets_published", frame(json!({ "offer": null }))));
        out.push((
            "trajets_sent",
            frame(json!({ "offer": public(open), "expire_hours": 48 })),
        ));
        for code in [400, 403, 404, 408, 409, 413, 415, 429, 500, 503] {
            out.push((
                "trajets_error",
                frame(json!({
                    "status": code, "is_not_found": code == 404, "is_forbidden": code == 403,
                    "is_too_large": code == 413, "is_too_many": code == 429,
                    "is_timeout": code == 408, "is_bad_request": code == 400 || code == 415,
                    "is_conflict": code == 409, "is_busy": code == 503,
                })),
            ));
        }
    }
    out
}
