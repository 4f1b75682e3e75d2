//! Magic links over real HTTP: a GET never changes anything, the POST does it once,
//! a replay shows the current state, expired and tampered links say so and leak nothing.

use crate::support::http::{start, t0};
use carette::domain::token::{LinkAction, Subject};
use chrono::Duration;

fn templates(rows: &[(String, String)]) -> Vec<(&str, &str)> {
    rows.iter().map(|(t, r)| (t.as_str(), r.as_str())).collect()
}

#[test]
fn the_seed_flow_request_then_accept() {
    let s = start();
    let offer = s.create_offer(3);
    let id = s.request_seat(offer, "marie@example.org", 2);
    assert_eq!(
        templates(&s.outbox()),
        [
            ("request_driver", "jean@example.org"),
            ("request_passenger", "marie@example.org")
        ]
    );
    let token = s.token(LinkAction::Accept, Subject::Reservation(id));

    // What an email scanner does: GET, twice. Nothing may change.
    let before = s.dump();
    for _ in 0..2 {
        let page = s.get(&format!("/api/reservation/accept?token={token}"));
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Accepter cette demande"));
        assert!(page.body.contains("Marie Curie"));
        assert!(page.body.contains("2 places"));
        assert!(page.body.contains("Lyon Part-Dieu → Grenoble Gare"));
        assert!(
            page.body.contains("lundi 10 juin à 9 h 30"),
            "{}",
            page.body
        );
        // The rider's text is escaped, not interpreted.
        assert!(page.body.contains("&lt;b&gt;rouge&lt;/b&gt;"));
        assert_eq!(page.body.matches("<form").count(), 1);
        assert!(page.body.contains("action=\"/api/reservation/accept\""));
        assert_eq!(page.form_token(), token);
    }
    assert_eq!(s.dump(), before);
    assert_eq!(s.status_of(id), "pending");

    // The button.
    let done = s.post_form("/api/reservation/accept", &format!("token={token}"));
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Demande acceptée"));
    assert_eq!(s.status_of(id), "confirmed");
    assert_eq!(
        templates(&s.outbox())[2..],
        [
            ("confirmed_passenger", "marie@example.org"),
            ("itinerary_driver", "jean@example.org")
        ]
    );
    let seats_left = s.get(&format!("/api/offers/{offer}")).json()["seats_left"].clone();
    assert_eq!(seats_left, 1);

    // Replays: the current state, no second change, no second email.
    let before = s.dump();
    let again = s.post_form("/api/reservation/accept", &format!("token={token}"));
    assert_eq!(again.status, 409);
    assert!(again.body.contains("Cette demande a déjà été acceptée"));
    let look = s.get(&format!("/api/reservation/accept?token={token}"));
    assert_eq!(look.status, 200);
    assert!(look.body.contains("Cette demande a déjà été acceptée"));
    assert!(!look.body.contains("<form"));
    assert_eq!(s.dump(), before);
}

#[test]
fn refuse_with_the_token_in_the_query() {
    let s = start();
    let offer = s.create_offer(3);
    let id = s.request_seat(offer, "marie@example.org", 1);
    let token = s.token(LinkAction::Refuse, Subject::Reservation(id));
    let done = s.post_form(&format!("/api/reservation/refuse?token={token}"), "");
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Demande refusée"));
    assert_eq!(s.status_of(id), "refused");
    assert_eq!(
        templates(&s.outbox()).last(),
        Some(&("refused_passenger", "marie@example.org"))
    );
    let again = s.get(&format!("/api/reservation/refuse?token={token}"));
    assert!(again.body.contains("Cette demande a déjà été refusée"));
    // An accept token for a refused request shows the state too.
    let accept = s.token(LinkAction::Accept, Subject::Reservation(id));
    let r = s.post_form("/api/reservation/accept", &format!("token={accept}"));
    assert_eq!(r.status, 409);
    assert!(r.body.contains("déjà été refusée"));
}

#[test]
fn passenger_cancels_then_replays() {
    let s = start();
    let offer = s.create_offer(3);
    let id = s.request_seat(offer, "marie@example.org", 1);
    s.service.accept(id, t0()).unwrap();
    let token = s.token(LinkAction::Cancel, Subject::Reservation(id));
    let page = s.get(&format!("/api/reservation/cancel?token={token}"));
    assert!(page.body.contains("Annuler votre réservation"));
    assert_eq!(s.status_of(id), "confirmed");
    let done = s.post_form("/api/reservation/cancel", &format!("token={token}"));
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Réservation annulée"));
    assert_eq!(s.status_of(id), "cancelled");
    let rows = s.outbox();
    assert_eq!(
        templates(&rows)[rows.len() - 2..],
        [
            ("cancelled_passenger", "marie@example.org"),
            ("cancelled_driver", "jean@example.org")
        ]
    );
    let before = s.dump();
    let again = s.post_form("/api/reservation/cancel", &format!("token={token}"));
    assert_eq!(again.status, 409);
    assert!(again.body.contains("Cette demande a été annulée"));
    assert_eq!(s.dump(), before);
}

#[test]
fn driver_removes_a_confirmed_passenger_only() {
    let s = start();
    let offer = s.create_offer(3);
    let id = s.request_seat(offer, "marie@example.org", 1);
    let token = s.token(LinkAction::Remove, Subject::Reservation(id));
    // Still pending: nothing to remove.
    let before = s.dump();
    let page = s.get(&format!("/api/reservation/remove?token={token}"));
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("il n'y a encore personne à retirer du trajet")
    );
    let r = s.post_form("/api/reservation/remove", &format!("token={token}"));
    assert_eq!(r.status, 409);
    assert_eq!(s.dump(), before);

    s.service.accept(id, t0()).unwrap();
    let page = s.get(&format!("/api/reservation/remove?token={token}"));
    assert!(page.body.contains("Retirer cette personne du trajet"));
    let done = s.post_form("/api/reservation/remove", &format!("token={token}"));
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Retrait confirmé"));
    assert_eq!(s.status_of(id), "removed");
    let rows = s.outbox();
    assert_eq!(
        templates(&rows)[rows.len() - 2..],
        [
            ("removed_passenger", "marie@example.org"),
            ("itinerary_driver", "jean@example.org")
        ]
    );
}

#[test]
fn offer_cancel_then_new_requests_are_refused() {
    let s = start();
    let offer = s.create_offer(3);
    let a = s.request_seat(offer, "marie@example.org", 1);
    let _b = s.request_seat(offer, "paul@example.org", 1);
    s.service.accept(a, t0()).unwrap();
    let token = s.token(LinkAction::OfferCancel, Subject::Offer(offer));
    let before = s.dump();
    let page = s.get(&format!("/api/offer/cancel?token={token}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Annuler ce trajet"));
    assert!(page.body.contains("2 réservations"));
    assert_eq!(s.dump(), before);

    let done = s.post_form("/api/offer/cancel", &format!("token={token}"));
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Trajet annulé"));
    let rows = s.outbox();
    let mut last3: Vec<_> = templates(&rows)[rows.len() - 3..].to_vec();
    last3.sort();
    assert_eq!(
        last3,
        [
            ("offer_cancelled_driver", "jean@example.org"),
            ("offer_cancelled_passenger", "marie@example.org"),
            ("offer_cancelled_passenger", "paul@example.org"),
        ]
    );

    let before = s.dump();
    let again = s.post_form("/api/offer/cancel", &format!("token={token}"));
    assert_eq!(again.status, 409);
    assert!(again.body.contains("Ce trajet a déjà été annulé"));
    let late = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &crate::support::http::reservation_body("Zoé", "zoe@example.org", 1),
    );
    assert_eq!(late.status, 409, "{}", late.body);
    assert_eq!(late.json()["field"], serde_json::Value::Null);
    assert_eq!(s.dump(), before);
}

#[test]
fn tampered_foreign_and_missing_tokens_are_invalid_and_leak_nothing() {
    let s = start();
    let offer = s.create_offer(3);
    let id = s.request_seat(offer, "marie@example.org", 1);
    let good = s.token(LinkAction::Accept, Subject::Reservation(id));
    let mut bytes = good.clone().into_bytes();
    bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let other_key =
        carette::domain::token::TokenSigner::new(b"another-key-another-key-another-key").sign(
            LinkAction::Accept,
            &Subject::Reservation(id),
            t0() + Duration::days(7),
        );
    let refuse = s.token(LinkAction::Refuse, Subject::Reservation(id));
    let before = s.dump();
    for path in [
        format!("/api/reservation/accept?token={tampered}"),
        format!("/api/reservation/accept?token={other_key}"),
        format!("/api/reservation/accept?token={refuse}"),
        "/api/reservation/accept?token=".to_owned(),
        "/api/reservation/accept".to_owned(),
        "/api/reservation/accept?token=%ff%fe".to_owned(),
    ] {
        for reply in [s.get(&path), s.post_form(&path, "")] {
            assert_eq!(reply.status, 400, "{path}");
            assert!(reply.body.contains("Lien invalide"));
            assert!(!reply.body.contains("Marie"));
            assert!(!reply.body.contains("Grenoble"));
        }
    }
    assert_eq!(s.dump(), before);
    assert_eq!(s.status_of(id), "pending");
}

#[test]
fn an_expired_link_says_so_and_emails_a_fresh_one() {
    let s = start();
    let offer = s.create_offer(3);
    let id = s.request_seat(offer, "marie@example.org", 1);
    let token = s.sign(
        LinkAction::Accept,
        Subject::Reservation(id),
        t0() + Duration::hours(1),
    );
    s.set_now(t0() + Duration::hours(2));
    let before = s.dump();
    for reply in [
        s.get(&format!("/api/reservation/accept?token={token}")),
        s.post_form("/api/reservation/accept", &format!("token={token}")),
    ] {
        assert_eq!(reply.status, 410);
        assert!(reply.body.contains("Lien expiré"));
        assert!(!reply.body.contains("Marie"));
        assert!(reply.body.contains("action=\"/api/link/resend\""));
        assert_eq!(reply.form_token(), token);
    }
    assert_eq!(s.dump(), before);
    assert_eq!(s.status_of(id), "pending");

    let sent = s.post_form("/api/link/resend", &format!("token={token}"));
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("nouveau lien"));
    assert_eq!(
        templates(&s.outbox()).last(),
        Some(&("request_driver", "jean@example.org"))
    );
    assert_eq!(s.outbox().len(), 3);
    // Pressing again right away: the same page, no second email.
    let again = s.post_form("/api/link/resend", &format!("token={token}"));
    assert_eq!(again.status, 200);
    assert_eq!(s.outbox().len(), 3);

    // Once answered, an old link gets the same page but nothing is sent.
    s.service.refuse(id, t0() + Duration::hours(2)).unwrap();
    s.set_now(t0() + Duration::hours(3));
    let n = s.outbox().len();
    let after = s.post_form("/api/link/resend", &format!("token={token}"));
    assert_eq!(after.status, 200);
    assert_eq!(after.body, sent.body);
    assert_eq!(s.outbox().len(), n);

    // A still-valid or forged token is not "resent".
    let valid = s.token(LinkAction::Cancel, Subject::Reservation(id));
    let r = s.post_form("/api/link/resend", &format!("token={valid}"));
    assert!(r.body.contains("encore valable"));
    let r = s.post_form("/api/link/resend", "token=abc.def");
    assert_eq!(r.status, 400);
    assert_eq!(s.outbox().len(), n);
}

#[test]
fn a_departed_trip_is_explained() {
    let s = start();
    let offer = s.create_offer(3);
    let id = s.request_seat(offer, "marie@example.org", 1);
    s.service.accept(id, t0()).unwrap();
    let later = crate::support::http::departure() + Duration::minutes(5);
    let token = s.sign(
        LinkAction::Remove,
        Subject::Reservation(id),
        later + Duration::days(1),
    );
    s.set_now(later);
    let before = s.dump();
    let page = s.get(&format!("/api/reservation/remove?token={token}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Ce trajet est déjà parti"));
    let r = s.post_form("/api/reservation/remove", &format!("token={token}"));
    assert_eq!(r.status, 409);
    assert!(r.body.contains("Ce trajet est déjà parti"));
    assert_eq!(s.dump(), before);
}

/// The last audit row of a reservation: (actor, from, to).
fn last_event(s: &crate::support::http::TestServer, id: i64) -> (String, String, String) {
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    conn.query_row(
        "SELECT actor, from_status, to_status FROM reservation_events
         WHERE reservation_id = ?1 ORDER BY id DESC LIMIT 1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

#[test]
fn an_answer_after_the_deadline_expires_the_request_once() {
    let s = start();
    let offer = s.create_offer(3);
    let r = s.post_json(
        &format!("/api/offers/{offer}/reservations"),
        &crate::support::http::reservation_body("Marie Curie", "marie@example.org", 1),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let deadline = t0() + Duration::hours(24);
    let deadline_s = deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // The API, the driver's email and the links share one deadline.
    assert_eq!(r.json()["expires_at"], deadline_s.as_str());
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    let emailed: String = conn
        .query_row(
            "SELECT json_extract(context, '$.reservation.expires_at') FROM outbox
             WHERE template = 'request_driver'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(emailed, deadline_s);
    let accept = s.token(LinkAction::Accept, Subject::Reservation(id));
    let refuse = s.token(LinkAction::Refuse, Subject::Reservation(id));

    // A minute before: still possible.
    s.set_now(deadline - Duration::minutes(1));
    let page = s.get(&format!("/api/reservation/accept?token={accept}"));
    assert!(
        page.body.contains("Accepter cette demande"),
        "{}",
        page.body
    );

    // At the deadline: the GET says so and changes nothing (scanners fetch links).
    s.set_now(deadline);
    let before = s.dump();
    for path in [
        format!("/api/reservation/accept?token={accept}"),
        format!("/api/reservation/refuse?token={refuse}"),
    ] {
        let page = s.get(&path);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Demande expirée"), "{}", page.body);
        assert!(page.body.contains("2 juin à 10 h"), "{}", page.body);
        assert!(!page.body.contains("<form"));
    }
    assert_eq!(s.dump(), before);
    assert_eq!(s.status_of(id), "pending");

    // The POST expires it on the spot: emails 8 and 9, once, and an audit row.
    let emails_before = s.outbox().len();
    let r = s.post_form("/api/reservation/accept", &format!("token={accept}"));
    assert_eq!(r.status, 409);
    assert!(r.body.contains("Demande expirée"), "{}", r.body);
    assert_eq!(s.status_of(id), "expired");
    assert_eq!(
        templates(&s.outbox()[emails_before..]),
        [
            ("expired_passenger", "marie@example.org"),
            ("expired_driver", "jean@example.org")
        ]
    );
    assert_eq!(
        last_event(&s, id),
        ("system".into(), "pending".into(), "expired".into())
    );
    assert_eq!(s.service.get_offer(offer).unwrap().seats_left, 3);

    // Replays (either button, either method) change nothing and send nothing.
    let before = s.dump();
    for (path, form) in [
        ("/api/reservation/accept", format!("token={accept}")),
        ("/api/reservation/refuse", format!("token={refuse}")),
    ] {
        let again = s.post_form(path, &form);
        assert_eq!(again.status, 409);
        assert!(again.body.contains("expiré"), "{}", again.body);
    }
    assert_eq!(s.dump(), before);
    // The hourly job finds nothing left to do.
    let report = s.service.expire_due(deadline + Duration::hours(1)).unwrap();
    assert_eq!(report.reservations, 0);
    assert_eq!(s.dump(), before);
}

#[test]
fn an_answer_after_departure_expires_the_request() {
    let s = start();
    let offer = s.create_offer(3);
    // Asked two hours before departure: the deadline is the departure.
    s.set_now(crate::support::http::departure() - Duration::hours(2));
    let id = s.request_seat(offer, "marie@example.org", 1);
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    let emailed: String = conn
        .query_row(
            "SELECT json_extract(context, '$.reservation.expires_at') FROM outbox
             WHERE template = 'request_driver'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let departure = crate::support::http::departure();
    assert_eq!(
        emailed,
        departure.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let refuse = s.token(LinkAction::Refuse, Subject::Reservation(id));
    s.set_now(crate::support::http::departure() + Duration::minutes(5));
    let page = s.get(&format!("/api/reservation/refuse?token={refuse}"));
    assert!(page.body.contains("Demande expirée"), "{}", page.body);
    assert_eq!(s.status_of(id), "pending");
    let r = s.post_form("/api/reservation/refuse", &format!("token={refuse}"));
    assert_eq!(r.status, 409);
    assert!(r.body.contains("Demande expirée"));
    assert_eq!(s.status_of(id), "expired");
    let expired: Vec<_> = s
        .outbox()
        .into_iter()
        .filter(|(t, _)| t.starts_with("expired_"))
        .collect();
    assert_eq!(expired.len(), 2);
}

#[test]
fn concurrent_accepts_for_the_last_seat() {
    let s = start();
    for round in 0..3 {
        let offer = s.create_offer(1);
        let ids: Vec<i64> = (0..2)
            .map(|i| s.request_seat(offer, &format!("p{round}-{i}@example.org"), 1))
            .collect();
        let tokens: Vec<String> = ids
            .iter()
            .map(|id| s.token(LinkAction::Accept, Subject::Reservation(*id)))
            .collect();
        let barrier = std::sync::Barrier::new(2);
        let replies: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = tokens
                .iter()
                .map(|t| {
                    let (s, barrier) = (&s, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        s.post_form("/api/reservation/accept", &format!("token={t}"))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = replies.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "round {round}");
        let loser = replies.iter().find(|r| r.status != 200).unwrap();
        assert_eq!(loser.status, 409);
        assert!(loser.body.contains("Plus assez de places"));
        let confirmed = ids
            .iter()
            .filter(|id| s.status_of(**id) == "confirmed")
            .count();
        assert_eq!(confirmed, 1);
        assert_eq!(s.service.get_offer(offer).unwrap().seats_left, 0);
    }
}

/// "Send me a fresh link" counts against the recipient's hourly cap like a seat request:
/// over it, a French "Trop de demandes" page, and nothing is written or sent.
#[test]
fn a_fresh_link_over_the_recipients_cap_gets_a_french_too_many_page() {
    let s = start();
    let offer = s.create_offer(8);
    // 20 seat requests: the driver's 20 emails of the hour.
    let ids: Vec<i64> = (0..20)
        .map(|i| s.request_seat(offer, &format!("p{i}@example.org"), 1))
        .collect();
    let expired = |action, id| {
        s.sign(
            action,
            Subject::Reservation(id),
            t0() + Duration::minutes(5),
        )
    };
    // Past the 10-minute resend cooldown, well within the hour.
    s.set_now(t0() + Duration::minutes(15));
    let to_driver = expired(LinkAction::Accept, ids[0]);
    let before = s.dump();
    let page = s.post_form("/api/link/resend", &format!("token={to_driver}"));
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("Trop de demandes"), "{}", page.body);
    assert!(
        page.body.contains("au cours de la dernière heure"),
        "{}",
        page.body
    );
    assert!(page.body.contains("rien n'a été modifié"), "{}", page.body);
    assert!(!page.body.contains("jean@"), "{}", page.body);
    assert!(page.header("retry-after").is_some());
    assert_eq!(s.dump(), before, "nothing written, nothing queued");

    // The passenger's own fresh link is not held back by the driver's inbox.
    let to_passenger = expired(LinkAction::Cancel, ids[0]);
    let sent = s.post_form("/api/link/resend", &format!("token={to_passenger}"));
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(
        templates(&s.outbox()).last(),
        Some(&("request_passenger", "p0@example.org"))
    );
}

/// The most one attacker can make Carette send one address in an hour, with everything
/// an attacker can hold: any number of addresses and offers of his own, and the links
/// those bring him. Requests, fresh links, and what the attacker's own links send the
/// other party all count against that party's hourly cap (20).
#[test]
fn what_one_attacker_can_send_one_address_in_an_hour() {
    use crate::support::http::TestServer;
    let ask = |s: &TestServer, offer: i64, email: &str| {
        s.post_json(
            &format!("/api/offers/{offer}/reservations"),
            &crate::support::http::reservation_body("X", email, 1),
        )
    };
    let act = |s: &TestServer, action: LinkAction, id: i64| {
        let subject = Subject::Reservation(id);
        let token = s.token(action, subject.clone());
        s.post_form(&action.path(&subject), &format!("token={token}"))
            .status
    };
    let to = |s: &TestServer, who: &str| s.outbox().iter().filter(|(_, r)| r == who).count();
    let offer_of = |s: &TestServer, driver: &str| {
        let mut body: serde_json::Value =
            serde_json::from_str(&crate::support::http::offer_body(8)).unwrap();
        body["driver_email"] = driver.into();
        let r = s.post_json("/api/offers", &body.to_string());
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_i64().unwrap()
    };

    // The victim drives (jean@example.org): request under ever new addresses, then
    // cancel each with the cancel link the attacker's own address received.
    let s = start();
    let offer = s.create_offer(8);
    for i in 0..100 {
        let r = ask(&s, offer, &format!("attacker{i}@example.net"));
        if r.status == 201 {
            let id = r.json()["id"].as_i64().unwrap();
            assert!([200, 429].contains(&act(&s, LinkAction::Cancel, id)));
        } else {
            assert_eq!(r.status, 429);
        }
    }
    assert_eq!(to(&s, "jean@example.org"), 20);

    // The victim is the passenger: the attacker drives, accepts then removes the victim
    // each time with his own driver links.
    let s = start();
    let victim = "victim@example.org";
    let offer = offer_of(&s, "attacker@example.net");
    for _ in 0..100 {
        let r = ask(&s, offer, victim);
        if r.status != 201 {
            // 422 once a removal was refused: the victim is still on board.
            assert!([422, 429].contains(&r.status), "{}", r.body);
            continue;
        }
        let id = r.json()["id"].as_i64().unwrap();
        for action in [LinkAction::Accept, LinkAction::Remove] {
            assert!([200, 429].contains(&act(&s, action, id)), "{action:?}");
        }
    }
    assert_eq!(to(&s, victim), 20);

    // Requests left pending for a day, then answered in one burst: the burst is capped.
    let s = start();
    let mut pending = Vec::new();
    for hour in 0..6 {
        s.set_now(t0() + Duration::hours(hour));
        for i in 0..25 {
            let offer = offer_of(&s, &format!("attacker{hour}-{i}@example.net"));
            let r = ask(&s, offer, victim);
            if r.status == 201 {
                pending.push(r.json()["id"].as_i64().unwrap());
            }
        }
    }
    // 20 in each of hours 0, 2, 4 (the window of 60 to 70 minutes spans the next hour).
    assert_eq!(pending.len(), 60);
    let burst = t0() + Duration::hours(7);
    s.set_now(burst);
    let before = to(&s, victim);
    let accepted = pending
        .iter()
        .filter(|id| act(&s, LinkAction::Accept, **id) == 200)
        .count();
    assert_eq!(accepted, 20, "the burst stops at the cap");
    assert_eq!(to(&s, victim) - before, 20);
}
