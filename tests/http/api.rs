//! The JSON API over real HTTP: created objects, and every bad input answered with a clear
//! error naming the field, with nothing written anywhere.

use std::time::{Duration, Instant};

use crate::support::http::{config, offer_body, reservation_body, start, start_with};
use carette::domain::token::{LinkAction, Subject};
use serde_json::{Value, json};

#[test]
fn create_then_read_an_offer() {
    let s = start();
    let r = s.post_json("/api/offers", &offer_body(3));
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/offers/{id}").as_str())
    );
    assert_eq!(created["seats"], 3);
    assert_eq!(created["seats_left"], 3);
    assert_eq!(created["status"], "active");
    assert_eq!(created["driver_email"], "jean@example.org");
    assert_eq!(created["departure_at"], "2030-06-10T07:30:00Z");
    assert_eq!(
        created["origin"],
        json!({"label": "Lyon Part-Dieu", "lat": 45.76, "lon": 4.86})
    );
    assert_eq!(r.header("content-type"), Some("application/json"));

    let got = s.get(&format!("/api/offers/{id}"));
    assert_eq!(got.status, 200);
    let v = got.json();
    assert_eq!(v["seats_left"], 3);
    // The public view does not hand the driver's address to anyone who asks.
    assert!(v.get("driver_email").is_none());
}

#[test]
fn request_a_seat() {
    let s = start();
    let offer = s.create_offer(3);
    let r = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &reservation_body("Marie Curie", "marie@example.org", 2),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "pending");
    assert_eq!(v["offer_id"], offer);
    assert_eq!(v["seats"], 2);
    assert_eq!(v["pickup"]["label"], "Place Bellecour");
    assert_eq!(v["expires_at"], "2030-06-02T08:00:00Z");
    assert!(v["id"].as_i64().unwrap() > 0);
    // A pending request holds no seat yet.
    assert_eq!(
        s.get(&format!("/api/offers/{offer}")).json()["seats_left"],
        3
    );
}

fn with(base: &str, pointer: &[&str], value: Value) -> String {
    let mut v: Value = serde_json::from_str(base).unwrap();
    let (last, parents) = pointer.split_last().unwrap();
    let mut at = &mut v;
    for p in parents {
        at = &mut at[*p];
    }
    if value.is_null() {
        at.as_object_mut().unwrap().remove(*last);
    } else {
        at[*last] = value;
    }
    v.to_string()
}

#[test]
fn every_bad_input_is_refused_and_writes_nothing() {
    let s = start();
    let offer = s.create_offer(2);
    let offers = "/api/offers";
    let seats = format!("/api/offers/{offer}/reservations");
    let o = offer_body(2);
    let r = reservation_body("Marie", "marie@example.org", 1);
    let nul = Value::Null;
    let cases: Vec<(&str, String, u16, Option<&str>)> = vec![
        (offers, "{\"driver_name\": ".into(), 400, None),
        (offers, "not json".into(), 400, None),
        (offers, "".into(), 400, None),
        (offers, "[1, 2]".into(), 400, None),
        (
            offers,
            with(&o, &["driver_email"], nul.clone()),
            422,
            Some("driver_email"),
        ),
        (
            offers,
            with(&o, &["seats"], json!("three")),
            422,
            Some("seats"),
        ),
        (offers, with(&o, &["seats"], json!(1.5)), 422, Some("seats")),
        (offers, with(&o, &["seats"], json!(0)), 422, Some("seats")),
        (offers, with(&o, &["seats"], json!(9)), 422, Some("seats")),
        (
            offers,
            with(&o, &["origin", "label"], nul.clone()),
            422,
            Some("origin.label"),
        ),
        (
            offers,
            with(&o, &["origin", "lat"], json!(123.0)),
            422,
            Some("origin.lat"),
        ),
        (
            offers,
            with(&o, &["destination"], json!("Grenoble")),
            422,
            Some("destination"),
        ),
        (offers, with(&o, &["price"], json!(5)), 422, Some("price")),
        (
            offers,
            with(&o, &["driver_name"], json!("Jean\r\nBcc: x@y.z")),
            422,
            Some("driver_name"),
        ),
        (
            offers,
            with(&o, &["driver_name"], json!("   ")),
            422,
            Some("driver_name"),
        ),
        (
            offers,
            with(&o, &["driver_email"], json!("jean@")),
            422,
            Some("driver_email"),
        ),
        (
            offers,
            with(&o, &["departure_at"], json!("2030-05-01T08:00:00Z")),
            422,
            Some("departure_at"),
        ),
        (
            offers,
            with(&o, &["departure_at"], json!("demain")),
            422,
            Some("departure_at"),
        ),
        // More than 365 days ahead (the year 9999 made invalid calendar files).
        (
            offers,
            with(&o, &["departure_at"], json!("9999-12-31T23:59:59Z")),
            422,
            Some("departure_at"),
        ),
        (
            offers,
            with(&o, &["departure_at"], json!("2031-06-01T08:00:01Z")),
            422,
            Some("departure_at"),
        ),
        (
            &seats,
            with(&r, &["passenger_name"], json!("Marie\nEvil")),
            422,
            Some("passenger_name"),
        ),
        (
            &seats,
            with(&r, &["passenger_email"], json!(42)),
            422,
            Some("passenger_email"),
        ),
        (
            &seats,
            with(&r, &["passenger_email"], json!("JEAN@example.org")),
            422,
            Some("passenger_email"),
        ),
        // Most mail servers cannot deliver to an accented local part (no SMTPUTF8).
        (
            offers,
            with(&o, &["driver_email"], json!("jösé@example.org")),
            422,
            Some("driver_email"),
        ),
        (
            &seats,
            with(&r, &["passenger_email"], json!("jösé@example.org")),
            422,
            Some("passenger_email"),
        ),
        (
            &seats,
            with(&r, &["passenger_email"], json!("poison@exä mple.org")),
            422,
            Some("passenger_email"),
        ),
        (&seats, with(&r, &["seats"], json!(3)), 409, Some("seats")),
        (
            &seats,
            with(&r, &["pickup"], json!({"lat": 45.0, "lon": 4.0})),
            422,
            Some("pickup.label"),
        ),
        (
            &seats,
            with(&r, &["message"], json!("a\u{7}b")),
            422,
            Some("message"),
        ),
        ("/api/offers/999/reservations", r.clone(), 404, None),
        (offers, with(&o, &["lang"], json!("de")), 422, Some("lang")),
        (offers, with(&o, &["lang"], json!("EN")), 422, Some("lang")),
        (offers, with(&o, &["lang"], json!(1)), 422, Some("lang")),
        (
            &seats,
            with(&r, &["lang"], json!("fr-FR")),
            422,
            Some("lang"),
        ),
        (
            &seats,
            with(&r, &["lang"], json!(["en"])),
            422,
            Some("lang"),
        ),
        // Ambiguous input: a repeated key (serde_json alone would keep the last one).
        (
            &seats,
            format!("{{\"passenger_email\":\"evil@example.org\",{}", &r[1..]),
            422,
            Some("passenger_email"),
        ),
        (
            offers,
            format!("{{\"driver_name\":\"Paul\",{}", &o[1..]),
            422,
            Some("driver_name"),
        ),
        (
            &seats,
            r.replace("\"pickup\":{", "\"pickup\":{\"label\":\"Ailleurs\","),
            422,
            Some("pickup.label"),
        ),
        (
            offers,
            o.replace("\"origin\":{", "\"origin\":{\"lat\":1.0,"),
            422,
            Some("origin.lat"),
        ),
        // Names that print nothing.
        (
            offers,
            with(&o, &["driver_name"], json!("\u{200B}\u{200B}")),
            422,
            Some("driver_name"),
        ),
        (
            &seats,
            with(
                &r,
                &["passenger_name"],
                json!(" \u{200B}\u{200D}\u{2060}\u{FEFF} "),
            ),
            422,
            Some("passenger_name"),
        ),
        (
            &seats,
            with(&r, &["passenger_name"], json!("\u{3164}\u{2800}\u{00AD}")),
            422,
            Some("passenger_name"),
        ),
    ];
    for (path, body, status, field) in cases {
        let before = s.dump();
        let reply = s.post_json(path, &body);
        assert_eq!(reply.status, status, "{path} {body}: {}", reply.body);
        let v = reply.json();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        assert_eq!(v["field"].as_str(), field, "{body}: {v}");
        assert_eq!(s.dump(), before, "{path} {body} wrote something");
    }
    // The field error reads as English, naming the field.
    let reply = s.post_json(offers, &with(&o, &["seats"], json!("three")));
    assert_eq!(reply.json()["error"], "seats must be a whole number");
    let reply = s.post_json(
        &seats,
        r#"{"passenger_email":"a@b.org","passenger_email":"c@d.org","passenger_name":"M","seats":1}"#,
    );
    assert_eq!(
        reply.json()["error"],
        "passenger_email appears more than once; send each field once"
    );
    let reply = s.post_json(&seats, &with(&r, &["passenger_name"], json!("\u{200B}")));
    assert_eq!(
        reply.json()["error"],
        "passenger_name must contain at least one visible character"
    );
}

#[test]
fn a_departure_exactly_365_days_ahead_is_accepted() {
    let s = start();
    let o = crate::support::http::offer_body(2);
    // "Now" is 2030-06-01 08:00 UTC in these tests.
    let reply = s.post_json(
        "/api/offers",
        &with(&o, &["departure_at"], json!("2031-06-01T08:00:00Z")),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reply = s.post_json(
        "/api/offers",
        &with(&o, &["departure_at"], json!("2031-06-01T10:00:01+02:00")),
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.json()["error"],
        "departure_at must be at most 365 days ahead"
    );
}

#[test]
fn an_international_domain_is_accepted_and_kept_in_its_sendable_form() {
    let s = start();
    let offer = s.create_offer(3);
    let r = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &reservation_body("Marie", "marie@exämple.org", 1),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    let stored: String = conn
        .query_row(
            "SELECT passenger_email FROM carpool_reservations WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, "marie@xn--exmple-cua.org");
    let recipients: Vec<String> = conn
        .prepare("SELECT recipient FROM outbox WHERE reservation_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        recipients.contains(&"marie@xn--exmple-cua.org".to_owned()),
        "{recipients:?}"
    );
    assert!(recipients.iter().all(|r| r.is_ascii()), "{recipients:?}");
    // The same mailbox typed in its other spelling is the same rider.
    let again = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &reservation_body("Marie", "marie@EXÄMPLE.org", 1),
    );
    assert_eq!(again.status, 422, "{}", again.body);
    assert_eq!(again.json()["field"], "passenger_email");
}

#[test]
fn a_departed_offer_takes_no_request() {
    let s = start();
    let offer = s.create_offer(2);
    s.set_now(crate::support::http::departure());
    let before = s.dump();
    let reply = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &reservation_body("Marie", "marie@example.org", 1),
    );
    assert_eq!(reply.status, 409);
    assert_eq!(reply.json()["error"], "this ride has already departed");
    assert_eq!(s.dump(), before);
}

#[test]
fn content_type_size_path_and_method_errors() {
    let s = start();
    let before = s.dump();
    let body = offer_body(2);
    let r = s.request(
        "POST",
        "/api/offers",
        &[("Content-Type", "text/plain")],
        &body,
    );
    assert_eq!(r.status, 415);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    let r = s.request("POST", "/api/offers", &[], &body);
    assert_eq!(r.status, 415);

    // 8 MiB announced: refused before the body is read.
    let started = Instant::now();
    let head = format!(
        "POST /api/offers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"a\":\"",
        8 << 20
    );
    let out = s.raw(head.as_bytes(), Duration::from_secs(5));
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(out.contains("\"error\""));
    assert!(started.elapsed() < Duration::from_secs(3));
    // Streamed, with or without a length: cut off at the limit, answered while the
    // client is still sending.
    for (framing, chunked) in [
        ("Transfer-Encoding: chunked", true),
        ("Content-Length: 8388608", false),
    ] {
        let head = format!(
            "POST /api/offers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
        );
        let out = s.raw_stream(&head, 8 << 20, chunked);
        assert!(out.starts_with("HTTP/1.1 413"), "{framing}: {out}");
        assert!(out.contains("larger than 64 KiB"), "{out}");
    }

    let r = s.get("/api/nothing");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    let r = s.get("/nothing");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Page introuvable"));
    let r = s.get("/api/offers");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    let r = s.request("DELETE", "/api/reservation/accept", &[], "");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    let r = s.get("/api/offers/42");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "offer not found");
    assert_eq!(s.dump(), before);
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let s = start_with(crate::support::http::limited(1, 2));
    let before = s.dump();
    let bad = "{}";
    for _ in 0..2 {
        assert_eq!(s.post_json("/api/offers", bad).status, 422);
    }
    let r = s.post_json("/api/offers", &offer_body(2));
    assert_eq!(r.status, 429, "{}", r.body);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(r.json()["field"], Value::Null);
    assert_eq!(s.dump(), before);
    // Reads are not limited.
    assert_eq!(s.get("/api/offers/1").status, 404);
    // The link re-send button shares the budget: a French page.
    let r = s.post_form("/api/link/resend", "token=x");
    assert_eq!(r.status, 429);
    assert!(r.body.contains("Trop de demandes"));
}

#[test]
fn bearer_token_guards_the_api_only() {
    let mut c = config();
    c.api_token = Some("s3cret-token".into());
    let s = start_with(c);
    let before = s.dump();
    let r = s.post_json("/api/offers", &offer_body(2));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let auth = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer wrong"),
    ];
    assert_eq!(
        s.request("POST", "/api/offers", &auth, &offer_body(2))
            .status,
        401
    );
    assert_eq!(s.get("/api/offers/1").status, 401);
    assert_eq!(s.dump(), before);
    let auth = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer s3cret-token"),
    ];
    let r = s.request("POST", "/api/offers", &auth, &offer_body(2));
    assert_eq!(r.status, 201);
    // Links carry their own token.
    assert_eq!(s.get("/api/reservation/accept?token=x").status, 400);
    assert_eq!(s.get("/healthz").status, 200);
}

#[test]
fn cors_preflight_for_allowed_origins() {
    let mut c = config();
    c.cors_origins = vec!["https://widget.example".into()];
    let s = start_with(c);
    let pre = [
        ("Origin", "https://widget.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    let r = s.request("OPTIONS", "/api/offers", &pre, "");
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://widget.example")
    );
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("content-type")
    );
    let evil = [
        ("Origin", "https://evil.example"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let r = s.request("OPTIONS", "/api/offers", &evil, "");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = s.request(
        "POST",
        "/api/offers",
        &[
            ("Origin", "https://widget.example"),
            ("Content-Type", "application/json"),
        ],
        &offer_body(2),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://widget.example")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
}

/// The rider's `lang` is stored, returned, and decides the language of every email queued
/// for them and of the pages behind their links; absent, it is the configured default.
#[test]
fn each_rider_gets_their_own_language() {
    let s = start();
    let r = s.post_json("/api/offers", &with(&offer_body(3), &["lang"], json!("en")));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["lang"], "en");
    let offer = r.json()["id"].as_i64().unwrap();
    assert_eq!(s.get(&format!("/api/offers/{offer}")).json()["lang"], "en");
    let seats = format!("/api/offers/{offer}/reservations");
    let fr = s.post_json(&seats, &reservation_body("Inès", "ines@example.org", 1));
    assert_eq!(fr.json()["lang"], "fr", "the default");
    let en = s.post_json(
        &seats,
        &with(
            &reservation_body("Yannick", "yannick@example.org", 1),
            &["lang"],
            json!("en"),
        ),
    );
    assert_eq!(en.status, 201, "{}", en.body);
    assert_eq!(en.json()["lang"], "en");
    let (fr_id, en_id) = (
        fr.json()["id"].as_i64().unwrap(),
        en.json()["id"].as_i64().unwrap(),
    );

    let conn = rusqlite::Connection::open(&s.path).unwrap();
    let stored: Vec<(i64, String)> = conn
        .prepare("SELECT id, lang FROM carpool_reservations ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored, [(fr_id, "fr".to_owned()), (en_id, "en".to_owned())]);
    let offer_lang: String = conn
        .query_row(
            "SELECT lang FROM carpool_offers WHERE id = ?1",
            [offer],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(offer_lang, "en");
    // Each email carries its recipient's language: the driver's requests in English,
    // the passengers' confirmations in theirs.
    let queued: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT template, recipient, json_extract(context, '$.lang') FROM outbox ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lang_of = |template: &str, to: &str| {
        queued
            .iter()
            .find(|(t, r, _)| t == template && r == to)
            .map(|(_, _, l)| l.clone())
            .unwrap()
    };
    assert_eq!(lang_of("request_driver", "jean@example.org"), "en");
    assert_eq!(lang_of("request_passenger", "ines@example.org"), "fr");
    assert_eq!(lang_of("request_passenger", "yannick@example.org"), "en");

    // Link pages: the driver's accept page in English, each passenger's cancel page in
    // their own language, saying "request" while nothing is confirmed.
    let accept = s.token(LinkAction::Accept, Subject::Reservation(fr_id));
    let page = s
        .get(&format!("/api/reservation/accept?token={accept}"))
        .body;
    assert!(
        page.contains("<html lang=\"en\">") && page.contains("Accept this request?"),
        "{page}"
    );
    let cancel = s.token(LinkAction::Cancel, Subject::Reservation(fr_id));
    let page = s
        .get(&format!("/api/reservation/cancel?token={cancel}"))
        .body;
    assert!(
        page.contains("<html lang=\"fr\">") && page.contains("Annuler votre demande ?"),
        "{page}"
    );
    assert!(
        page.contains("Nous préviendrons Jean Dupont par e-mail."),
        "{page}"
    );
    let cancel = s.token(LinkAction::Cancel, Subject::Reservation(en_id));
    let page = s
        .get(&format!("/api/reservation/cancel?token={cancel}"))
        .body;
    assert!(page.contains("Cancel your request?"), "{page}");
}

/// POST /api/offers for a given driver address; returns the offer id.
fn offer_of(s: &crate::support::http::TestServer, driver_email: &str) -> i64 {
    let body = with(&offer_body(8), &["driver_email"], json!(driver_email));
    let r = s.post_json("/api/offers", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

/// Nobody can flood a driver's inbox by asking seats under ever new passenger addresses:
/// within any hour the 21st request is refused (429) before anything is written, and the
/// answer names the reason without revealing the driver's address.
#[test]
fn the_21st_request_to_one_driver_in_an_hour_is_429_and_writes_nothing() {
    let s = start();
    let offer = s.create_offer(8);
    let path = format!("/api/offers/{offer}/reservations");
    let ask = |i: usize| {
        s.post_json(
            &path,
            &reservation_body("P", &format!("p{i}@example.org"), 1),
        )
    };
    for i in 0..20 {
        // Spread over the hour: the cap is per hour, not per burst.
        s.set_now(crate::support::http::t0() + chrono::Duration::minutes(i as i64 * 3));
        let r = ask(i);
        assert_eq!(r.status, 201, "request {i}: {}", r.body);
    }
    let to_driver = |s: &crate::support::http::TestServer| {
        s.outbox()
            .iter()
            .filter(|(_, to)| to == "jean@example.org")
            .count()
    };
    assert_eq!(to_driver(&s), 20);
    let before = s.dump();
    let r = ask(20);
    assert_eq!(r.status, 429, "{}", r.body);
    let v = r.json();
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("driver of this offer has received too many emails in the last hour"),
        "{error}"
    );
    assert_eq!(v["field"], Value::Null);
    assert!(!r.body.contains("jean@"), "{}", r.body);
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(s.dump(), before, "a refused request writes nothing");
    assert_eq!(to_driver(&s), 20);

    // The first request (08:00) leaves the window at 09:10 at the latest: Retry-After
    // says when, and not a second earlier is another email allowed.
    let last = crate::support::http::t0() + chrono::Duration::minutes(57);
    assert_eq!(
        retry,
        (crate::support::http::t0() + chrono::Duration::minutes(70) - last).num_seconds()
    );
    s.set_now(
        crate::support::http::t0() + chrono::Duration::minutes(70) - chrono::Duration::seconds(1),
    );
    assert_eq!(ask(21).status, 429);
    assert_eq!(s.dump(), before);
    s.set_now(crate::support::http::t0() + chrono::Duration::minutes(70));
    assert_eq!(ask(21).status, 201);
    assert_eq!(to_driver(&s), 21);
}

/// The same for a passenger address used on many offers (a victim's address given as
/// the passenger), whatever its case.
#[test]
fn one_passenger_address_gets_at_most_20_request_emails_an_hour() {
    let s = start();
    for i in 0..20 {
        let offer = offer_of(&s, &format!("driver{i}@example.org"));
        let victim = if i % 2 == 0 {
            "victim@example.org"
        } else {
            "Victim@Example.ORG"
        };
        let r = s.post_json(
            &format!("/api/offers/{offer}/reservations"),
            &reservation_body("V", victim, 1),
        );
        assert_eq!(r.status, 201, "{i}: {}", r.body);
    }
    let offer = offer_of(&s, "driver20@example.org");
    let before = s.dump();
    let r = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &reservation_body("V", "VICTIM@example.org", 1),
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["field"], "passenger_email");
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("too many emails")
    );
    assert!(r.header("retry-after").is_some());
    assert_eq!(s.dump(), before);
    // Another passenger on that offer is not affected.
    let r = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &reservation_body("W", "other@example.org", 1),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}
