//! The driver's pages: one offer's reservations (token bound to that offer) and the
//! dashboard, whose buttons act through the magic-link endpoints.

use crate::support::http::{reservation_body, start, t0};
use carette::domain::token::{LinkAction, Subject};
use chrono::Duration;

/// (form action, token) of every button form on a page.
fn forms(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<form method=\"post\" action=\"") {
        rest = &rest[at + 28..];
        let action = rest[..rest.find('"').unwrap()].to_owned();
        let t = rest.find("name=\"token\" value=\"").unwrap() + 20;
        let token = rest[t..t + rest[t..].find('"').unwrap()].to_owned();
        out.push((action, token));
    }
    out
}

fn ask(s: &crate::support::http::TestServer, offer: i64, name: &str, email: &str) -> i64 {
    let r = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &reservation_body(name, email, 1),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

#[test]
fn the_offer_page_takes_only_that_offers_token() {
    let s = start();
    let a = s.create_offer(3);
    let b = s.create_offer(3);
    let marie = ask(&s, a, "Marie Curie", "marie@example.org");
    let paul = ask(&s, a, "Paul Langevin", "paul@example.org");
    let zoe = ask(&s, a, "Zoé Durand", "zoe@example.org");
    let _bertrand = ask(&s, b, "Bertrand Russell", "bertrand@example.org");
    s.service.accept(paul, t0()).unwrap();
    s.service.refuse(zoe, t0()).unwrap();
    let view_a = s.token(LinkAction::OfferView, Subject::Offer(a));
    let before = s.dump();

    let page = s.get(&format!("/api/offer/{a}/reservations?token={view_a}"));
    assert_eq!(page.status, 200, "{}", page.body);
    for text in [
        "Marie Curie",
        "Paul Langevin",
        "Zoé Durand",
        "Demandes en attente",
        "Passagers confirmés",
        "refusée",
    ] {
        assert!(page.body.contains(text), "{text}");
    }
    assert!(!page.body.contains("Bertrand"));
    // One signed button per possible action, each for the right reservation.
    let now = t0();
    let mut seen = Vec::new();
    for (action, token) in forms(&page.body) {
        let claims = s.signer.verify(&token, now).unwrap();
        seen.push((action, claims.action, claims.subject));
    }
    assert_eq!(
        seen,
        [
            (
                "/api/reservation/accept".to_owned(),
                LinkAction::Accept,
                Subject::Reservation(marie)
            ),
            (
                "/api/reservation/refuse".to_owned(),
                LinkAction::Refuse,
                Subject::Reservation(marie)
            ),
            (
                "/api/reservation/remove".to_owned(),
                LinkAction::Remove,
                Subject::Reservation(paul)
            ),
            (
                "/api/offer/cancel".to_owned(),
                LinkAction::OfferCancel,
                Subject::Offer(a)
            ),
        ]
    );

    // Offer A's token on offer B's page, or another kind of token: invalid, and silent.
    let dash = s.token(
        LinkAction::Dashboard,
        Subject::Driver("jean@example.org".into()),
    );
    let accept = s.token(LinkAction::Accept, Subject::Reservation(marie));
    for path in [
        format!("/api/offer/{b}/reservations?token={view_a}"),
        format!("/api/offer/{a}/reservations?token={dash}"),
        format!("/api/offer/{a}/reservations?token={accept}"),
        format!("/api/offer/{a}/reservations"),
    ] {
        let r = s.get(&path);
        assert_eq!(r.status, 400, "{path}");
        assert!(r.body.contains("Lien invalide"));
        assert!(!r.body.contains("Bertrand") && !r.body.contains("Marie"));
    }
    let old = s.sign(
        LinkAction::OfferView,
        Subject::Offer(a),
        t0() - Duration::hours(1),
    );
    let r = s.get(&format!("/api/offer/{a}/reservations?token={old}"));
    assert_eq!(r.status, 410);
    assert!(!r.body.contains("Marie"));
    let r = s.get(&format!("/api/offer/{b}/reservations?token={old}"));
    assert_eq!(r.status, 400);
    assert_eq!(s.dump(), before);
}

#[test]
fn the_dashboard_lists_upcoming_offers_and_its_buttons_act() {
    let s = start();
    let a = s.create_offer(3);
    let b = s.create_offer(2);
    let marie = ask(&s, a, "Marie Curie", "marie@example.org");
    let paul = ask(&s, b, "Paul Langevin", "paul@example.org");
    let token = s.token(
        LinkAction::Dashboard,
        Subject::Driver("jean@example.org".into()),
    );
    let before = s.dump();
    let page = s.get(&format!("/dashboard?token={token}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Bonjour Jean Dupont"));
    assert!(page.body.contains("Marie Curie") && page.body.contains("Paul Langevin"));
    assert_eq!(page.body.matches("<section class=\"card\">").count(), 2);
    assert_eq!(s.dump(), before, "a GET changed something");

    let buttons = forms(&page.body);
    let accept_marie = buttons
        .iter()
        .find(|(action, t)| {
            action == "/api/reservation/accept"
                && s.signer.verify(t, t0()).unwrap().subject == Subject::Reservation(marie)
        })
        .unwrap();
    let r = s.post_form(&accept_marie.0, &format!("token={}", accept_marie.1));
    assert_eq!(r.status, 200);
    assert_eq!(s.status_of(marie), "confirmed");
    assert_eq!(s.status_of(paul), "pending");

    // The page link of each offer works.
    let at = page.body.find("/api/offer/").unwrap();
    let href = &page.body[at..at + page.body[at..].find('"').unwrap()];
    assert!(href.contains("/reservations?token="));
    assert_eq!(s.get(href).status, 200);

    // Cancelling offer B from its button.
    let cancel_b = buttons
        .iter()
        .find(|(action, t)| {
            action == "/api/offer/cancel"
                && s.signer.verify(t, t0()).unwrap().subject == Subject::Offer(b)
        })
        .unwrap();
    let r = s.post_form(&cancel_b.0, &format!("token={}", cancel_b.1));
    assert_eq!(r.status, 200);
    assert_eq!(s.status_of(paul), "cancelled");
    let page = s.get(&format!("/dashboard?token={token}"));
    assert!(page.body.contains("trajet annulé"));

    // Someone else's dashboard is empty; an expired one offers a fresh link.
    let other = s.token(
        LinkAction::Dashboard,
        Subject::Driver("x@example.org".into()),
    );
    let r = s.get(&format!("/dashboard?token={other}"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("aucun trajet à venir"));
    assert!(!r.body.contains("Marie"));
    let old = s.sign(
        LinkAction::Dashboard,
        Subject::Driver("jean@example.org".into()),
        t0(),
    );
    let r = s.get(&format!("/dashboard?token={old}"));
    assert_eq!(r.status, 410);
    let n = s.outbox().len();
    let r = s.post_form("/api/link/resend", &format!("token={old}"));
    assert_eq!(r.status, 200);
    assert_eq!(s.outbox().len(), n + 1);
    assert_eq!(s.outbox().last().unwrap().0, "itinerary_driver");
    assert_eq!(s.get("/dashboard").status, 400);
}

#[test]
fn the_remaining_pages_render() {
    let s = start();
    let offer = s.create_offer(1);
    let first = ask(&s, offer, "Marie Curie", "marie@example.org");
    let second = ask(&s, offer, "Paul Langevin", "paul@example.org");
    s.service.accept(first, t0()).unwrap();

    // Accepting would overbook: said on GET, with a button to refuse instead.
    let accept = s.token(LinkAction::Accept, Subject::Reservation(second));
    let before = s.dump();
    let page = s.get(&format!("/api/reservation/accept?token={accept}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Plus assez de places"));
    assert!(
        page.body
            .contains("il n'y a plus aucune place libre sur ce trajet")
    );
    assert_eq!(s.dump(), before);
    let (action, token) = forms(&page.body).pop().unwrap();
    assert_eq!(action, "/api/reservation/refuse");
    let r = s.post_form(&action, &format!("token={token}"));
    assert_eq!(r.status, 200);
    assert_eq!(s.status_of(second), "refused");

    // French error pages outside the JSON API.
    let r = s.post_form("/dashboard", "");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert!(r.body.contains("Action impossible"));
    let head = "POST /api/reservation/cancel HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\n";
    let out = s.raw_stream(head, 1 << 20, false);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(out.contains("Envoi trop volumineux"));
    assert_eq!(s.status_of(first), "confirmed");
}

/// Every valid address opens its dashboard: `|` (the former token separator), `:`, dots,
/// a Unicode domain (Unicode local parts are refused at input; domain/token.rs tests them). A pending requester shows by name only; the address once accepted.
#[test]
fn the_dashboard_link_works_for_every_valid_address() {
    let s = start();
    for driver in [
        "jean|dupont@example.org",
        "a:b.c|1700000000@example.org",
        "zoe.muller|x@exämple.org",
    ] {
        let mut body: serde_json::Value =
            serde_json::from_str(&crate::support::http::offer_body(3)).unwrap();
        body["driver_email"] = driver.into();
        let r = s.post_json("/api/offers", &body.to_string());
        assert_eq!(r.status, 201, "{driver}: {}", r.body);
        let offer = r.json()["id"].as_i64().unwrap();
        // Signed for the address as stored, as the emails do.
        let stored = r.json()["driver_email"].as_str().unwrap().to_owned();
        let marie = ask(&s, offer, "Marie Curie", "marie@example.org");
        let token = s.token(LinkAction::Dashboard, Subject::Driver(stored.clone()));
        let page = s.get(&format!("/dashboard?token={token}"));
        assert_eq!(page.status, 200, "{driver}: {}", page.body);
        assert!(page.body.contains("Marie Curie"), "{driver}: {}", page.body);
        assert_eq!(page.body.matches("<section class=\"card\">").count(), 1);
        assert!(
            !page.body.contains("marie@example.org"),
            "pending: {}",
            page.body
        );
        // The public offer JSON never carries the driver's address.
        let public = s.get(&format!("/api/offers/{offer}"));
        assert_eq!(public.status, 200);
        assert!(
            public.json().get("driver_email").is_none(),
            "{}",
            public.body
        );
        assert!(!public.body.contains('@'), "{}", public.body);

        s.service.accept(marie, t0()).unwrap();
        let page = s.get(&format!("/dashboard?token={token}"));
        assert!(
            page.body.contains("marie@example.org"),
            "confirmed: {}",
            page.body
        );
    }
}
