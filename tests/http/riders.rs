//! The riders' pages over real HTTP, as a person uses them: GET the form, POST it
//! urlencoded, follow the redirect; then the database and the outbox say what happened.
//! Refused posts (CSRF, honeypot, oversize, bad fields) leave the database unchanged.

use crate::support::http::{self as http_support, Reply, TestServer, start, start_with, t0};
use carette::http::HttpConfig;
use chrono::{Duration, TimeZone, Utc};

/// Form-encodes pairs like a browser does.
fn encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                b => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the hidden form token in a page.
fn form_token(html: &str) -> String {
    let key = "name=\"form_token\" value=\"";
    let at = html
        .find(key)
        .unwrap_or_else(|| panic!("no form token in {html}"))
        + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// POSTs a form the way a browser on our own page does (Origin null under
/// no-referrer, Sec-Fetch-Site same-origin).
fn submit(s: &TestServer, path: &str, pairs: &[(&str, &str)]) -> Reply {
    submit_with(
        s,
        path,
        pairs,
        &[("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
    )
}

fn submit_with(
    s: &TestServer,
    path: &str,
    pairs: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Reply {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    s.request("POST", path, &headers, &encode(pairs))
}

fn offer_fields(token: &str) -> Vec<(&str, &str)> {
    vec![
        ("form_token", token),
        ("name", "Jean Dupont"),
        ("email", "jean@example.org"),
        ("origin", "Lyon Part-Dieu"),
        ("destination", "Grenoble Gare"),
        ("date", "2030-06-10"),
        ("time", "09:30"),
        ("seats", "3"),
        ("lang", "fr"),
        ("website", ""),
    ]
}

fn seat_fields<'a>(token: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("form_token", token),
        ("name", "Marie Curie"),
        ("email", email),
        ("seats", "1"),
        ("pickup", "Place Bellecour"),
        ("message", "J'ai un petit sac <b>rouge</b>"),
        ("lang", "fr"),
        ("website", ""),
    ]
}

#[test]
fn offering_a_trip_from_the_page_publishes_it_and_emails_the_driver() {
    let s = start();
    let form = s.get("/trajets/nouveau");
    assert_eq!(form.status, 200, "{}", form.body);
    for label in [
        "<label for=\"name\">",
        "<label for=\"email\">",
        "<label for=\"origin\">",
        "<label for=\"destination\">",
        "<label for=\"date\">",
        "<label for=\"time\">",
        "<label for=\"seats\">",
        "<label for=\"lang\">",
    ] {
        assert!(form.body.contains(label), "{label}");
    }
    assert!(form.body.contains("<html lang=\"fr\">"));
    assert!(form.body.contains("name=\"viewport\""));
    assert!(!form.body.contains("<script"));
    let token = form_token(&form.body);

    let posted = submit(&s, "/trajets/nouveau", &offer_fields(&token));
    assert_eq!(posted.status, 303, "{}", posted.body);
    let location = posted.header("location").unwrap().to_owned();
    let id: i64 = location
        .strip_prefix("/trajets/")
        .and_then(|r| r.strip_suffix("/publie"))
        .unwrap()
        .parse()
        .unwrap();

    let done = s.get(&location);
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Trajet publié"), "{}", done.body);
    assert!(done.body.contains("Lyon Part-Dieu → Grenoble Gare"));
    assert!(!done.body.contains("jean@example.org"));

    let offer = s.service.get_offer(id).unwrap();
    assert_eq!(offer.driver_email, "jean@example.org");
    assert_eq!(offer.seats, 3);
    // 09:30 local time in Paris, summer: 07:30 UTC.
    assert_eq!(
        offer.departure_at,
        Utc.with_ymd_and_hms(2030, 6, 10, 7, 30, 0).unwrap()
    );
    assert_eq!(
        s.outbox(),
        vec![(
            "offer_created_driver".to_owned(),
            "jean@example.org".to_owned()
        )]
    );

    // The new offer is on the public listing, without its driver's address.
    let list = s.get("/trajets");
    assert!(list.body.contains(&format!("href=\"/trajets/{id}\"")));
    assert!(!list.body.contains("@"), "{}", list.body);
}

#[test]
fn requesting_a_seat_from_the_page_is_the_api_use_case() {
    let s = start();
    let id = s.create_offer(3);
    let page = s.get(&format!("/trajets/{id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Réserver"));
    assert!(page.body.contains("Jean Dupont"));
    assert!(!page.body.contains("jean@example.org"));
    for label in ["name", "email", "seats", "pickup", "message", "lang"] {
        assert!(
            page.body.contains(&format!("<label for=\"{label}\">")),
            "{label}"
        );
    }
    let token = form_token(&page.body);

    let posted = submit(
        &s,
        &format!("/trajets/{id}"),
        &seat_fields(&token, "marie@example.org"),
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    let location = posted.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/trajets/{id}/demande-envoyee"));
    let sent = s.get(&location);
    assert_eq!(sent.status, 200);
    assert!(sent.body.contains("Demande envoyée"), "{}", sent.body);

    let conn = rusqlite::Connection::open(&s.path).unwrap();
    let (name, email, seats, status, pickup, message): (
        String,
        String,
        i64,
        String,
        String,
        String,
    ) = conn
        .query_row(
            "SELECT passenger_name, passenger_email, seats, status, pickup, message
             FROM carpool_reservations WHERE offer_id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        (name.as_str(), email.as_str(), seats, status.as_str()),
        ("Marie Curie", "marie@example.org", 1, "pending")
    );
    assert_eq!(pickup, "Place Bellecour");
    assert_eq!(message, "J'ai un petit sac <b>rouge</b>");
    assert_eq!(
        s.outbox(),
        vec![
            ("request_driver".to_owned(), "jean@example.org".to_owned()),
            (
                "request_passenger".to_owned(),
                "marie@example.org".to_owned()
            ),
        ]
    );

    // The same address asking again is told so next to its field; nothing more is written.
    let again = s.get(&format!("/trajets/{id}"));
    let before = s.dump();
    let twice = submit(
        &s,
        &format!("/trajets/{id}"),
        &seat_fields(&form_token(&again.body), "marie@example.org"),
    );
    assert_eq!(twice.status, 422, "{}", twice.body);
    assert!(twice.body.contains("déjà une demande en cours"));
    assert_eq!(s.dump(), before);
}

#[test]
fn form_errors_show_the_form_again_with_the_input_kept() {
    let s = start();
    let id = s.create_offer(2);
    let token = form_token(&s.get(&format!("/trajets/{id}")).body);
    let before = s.dump();
    let r = submit(
        &s,
        &format!("/trajets/{id}"),
        &[
            ("form_token", &token),
            ("name", ""),
            ("email", "marie-at-example"),
            ("seats", "2"),
            ("pickup", "Gare <Perrache> & \"quai\""),
            ("message", "Ligne 1\r\nLigne 2 <script>x</script>"),
            ("lang", "fr"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(s.dump(), before, "a refused form writes nothing");
    // French messages next to their fields.
    assert!(
        r.body
            .contains("<p class=\"error\" id=\"name-error\">Ce champ est obligatoire.</p>")
    );
    assert!(
        r.body
            .contains("id=\"email-error\">Cette adresse e-mail ne semble pas valide")
    );
    // What the rider typed is back, escaped.
    assert!(r.body.contains("value=\"marie-at-example\""));
    assert!(
        r.body
            .contains("value=\"Gare &lt;Perrache&gt; &amp; &quot;quai&quot;\"")
    );
    assert!(
        r.body
            .contains("Ligne 2 &lt;script&gt;x&lt;/script&gt;</textarea>")
    );
    assert!(!r.body.contains("<script>"));
    assert!(r.body.contains("<option value=\"2\" selected>"));
    // A fresh token, so the corrected form goes through.
    let fixed = submit(
        &s,
        &format!("/trajets/{id}"),
        &seat_fields(&form_token(&r.body), "marie@example.org"),
    );
    assert_eq!(fixed.status, 303, "{}", fixed.body);

    // The offer form too: every problem at once, input kept.
    let token = form_token(&s.get("/trajets/nouveau").body);
    let before = s.dump();
    let mut fields = offer_fields(&token);
    fields.retain(|(k, _)| !matches!(*k, "destination" | "time"));
    fields.push(("destination", ""));
    fields.push(("time", "25:99"));
    fields.retain(|(k, _)| *k != "date");
    fields.push(("date", "2030-05-01"));
    let r = submit(&s, "/trajets/nouveau", &fields);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(s.dump(), before);
    assert!(
        r.body
            .contains("id=\"destination-error\">Ce champ est obligatoire.")
    );
    assert!(r.body.contains("id=\"time-error\">Indiquez une heure"));
    assert!(r.body.contains("value=\"Lyon Part-Dieu\""));
    assert!(r.body.contains("value=\"25:99\""));

    // A departure already past: told on the date field.
    let mut past = offer_fields(&token);
    past.retain(|(k, _)| *k != "date");
    past.push(("date", "2030-05-31"));
    let r = submit(&s, "/trajets/nouveau", &past);
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("id=\"date-error\">Cette date et cette heure sont déjà passées.")
    );
    assert_eq!(s.dump(), before);
}

#[test]
fn forged_or_foreign_posts_are_refused_and_write_nothing() {
    let s = start();
    let id = s.create_offer(3);
    let other = s.create_offer(3);
    let path = format!("/trajets/{id}");
    let good = form_token(&s.get(&path).body);
    let for_other = form_token(&s.get(&format!("/trajets/{other}")).body);
    let offer_token = form_token(&s.get("/trajets/nouveau").body);
    let before = s.dump();

    // No token, a token of another form, a tampered one: the form comes back, 403.
    for token in [
        "",
        for_other.as_str(),
        offer_token.as_str(),
        &format!("{good}x"),
    ] {
        let r = submit(&s, &path, &seat_fields(token, "marie@example.org"));
        assert_eq!(r.status, 403, "token {token:?}: {}", r.body);
        assert!(r.body.contains("depuis cette page"));
        assert!(r.body.contains("value=\"Marie Curie\""), "input kept");
    }
    // A token for the offer form does not create a reservation, nor the reverse.
    let r = submit(&s, "/trajets/nouveau", &offer_fields(&good));
    assert_eq!(r.status, 403);

    // Another site posting (browsers say so and pages cannot lie about it).
    for headers in [
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Sec-Fetch-Site", "same-site")],
        vec![("Origin", "https://evil.example")],
        vec![
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
    ] {
        let r = submit_with(
            &s,
            &path,
            &seat_fields(&good, "marie@example.org"),
            &headers,
        );
        assert_eq!(r.status, 403, "{headers:?}");
        assert!(r.body.contains("Envoi refusé"));
    }
    // A form left open too long: shown again, filled in, with a fresh token.
    s.set_now(t0() + Duration::hours(3));
    let r = submit(&s, &path, &seat_fields(&good, "marie@example.org"));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("ouvert depuis longtemps"));
    assert_ne!(form_token(&r.body), good);
    // Not a form at all.
    let r = s.request(
        "POST",
        &path,
        &[("Content-Type", "application/json")],
        "{\"name\":\"x\"}",
    );
    assert_eq!(r.status, 415);
    assert_eq!(s.dump(), before, "nothing written by any refused post");

    // The fresh token works (same client, within its lifetime), also with the Origin a
    // browser sends when it does send one: the address it used.
    let fresh = form_token(&r_body(&s, &path));
    let origin = s.base.clone();
    let ok = submit_with(
        &s,
        &path,
        &seat_fields(&fresh, "marie@example.org"),
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(ok.status, 303, "{}", ok.body);
}

fn r_body(s: &TestServer, path: &str) -> String {
    s.get(path).body
}

#[test]
fn a_filled_honeypot_looks_like_success_and_writes_nothing() {
    let s = start();
    let id = s.create_offer(3);
    let token = form_token(&s.get(&format!("/trajets/{id}")).body);
    let before = s.dump();
    let mut fields = seat_fields(&token, "bot@example.org");
    fields.retain(|(k, _)| *k != "website");
    fields.push(("website", "https://spam.example"));
    let r = submit(&s, &format!("/trajets/{id}"), &fields);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some(format!("/trajets/{id}/demande-envoyee").as_str())
    );
    assert_eq!(s.dump(), before);

    let token = form_token(&s.get("/trajets/nouveau").body);
    let mut fields = offer_fields(&token);
    fields.retain(|(k, _)| *k != "website");
    fields.push(("website", "x"));
    let r = submit(&s, "/trajets/nouveau", &fields);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Trajet publié"));
    assert_eq!(s.dump(), before);
}

#[test]
fn an_oversized_form_is_refused_with_413() {
    let s = start();
    let id = s.create_offer(3);
    let token = form_token(&s.get(&format!("/trajets/{id}")).body);
    let before = s.dump();
    let huge = "x".repeat(80 * 1024);
    let mut fields = seat_fields(&token, "marie@example.org");
    fields.push(("message", &huge));
    let r = submit(&s, &format!("/trajets/{id}"), &fields);
    assert_eq!(r.status, 413);
    assert!(r.body.contains("trop volumineux"));
    assert_eq!(s.dump(), before);
}

#[test]
fn form_posts_share_the_apis_rate_limit() {
    let s = start_with(http_support::limited(1, 2));
    let id = s.create_offer(3); // one of the burst
    let token = form_token(&s.get(&format!("/trajets/{id}")).body);
    let first = submit(
        &s,
        &format!("/trajets/{id}"),
        &seat_fields(&token, "a@example.org"),
    );
    assert_eq!(first.status, 303, "{}", first.body);
    let before = s.dump();
    let token = form_token(&s.get(&format!("/trajets/{id}")).body);
    let r = submit(
        &s,
        &format!("/trajets/{id}"),
        &seat_fields(&token, "b@example.org"),
    );
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(r.body.contains("Trop de demandes"));
    assert_eq!(s.dump(), before);
}

#[test]
fn the_listing_shows_upcoming_offers_with_seats_left_filtered() {
    let s = start();
    let open = s.create_offer(3);
    let full = s.create_offer(1);
    let r = s.request_seat(full, "marie@example.org", 1);
    s.service.accept(r, t0()).unwrap();
    let cancelled = s.create_offer(2);
    s.service.cancel_offer(cancelled, t0()).unwrap();
    let mut other = carette::service::OfferInput {
        driver_name: "Alice Martin".into(),
        driver_email: "alice@example.org".into(),
        origin: carette::service::PlaceInput {
            label: "Annecy".into(),
            lat: None,
            lon: None,
        },
        destination: carette::service::PlaceInput {
            label: "Chambéry".into(),
            lat: None,
            lon: None,
        },
        departure_at: "2030-06-12T06:00:00Z".into(),
        seats: 2,
        lang: None,
    };
    let annecy = s.service.create_offer(&other, t0()).unwrap().id;
    other.departure_at = "2030-06-01T09:00:00Z".into();
    let soon = s.service.create_offer(&other, t0()).unwrap().id;
    s.set_now(Utc.with_ymd_and_hms(2030, 6, 1, 9, 30, 0).unwrap()); // `soon` has left

    let list = s.get("/trajets");
    assert_eq!(list.status, 200);
    let link = |id: i64| format!("href=\"/trajets/{id}\"");
    assert!(list.body.contains(&link(open)));
    assert!(list.body.contains(&link(annecy)));
    for gone in [full, cancelled, soon] {
        assert!(!list.body.contains(&link(gone)), "offer {gone} listed");
    }
    assert!(!list.body.contains('@'), "no address ever: {}", list.body);
    // Soonest first.
    assert!(list.body.find(&link(open)) < list.body.find(&link(annecy)));

    let by_origin = s.get("/trajets?origin=lyon&destination=");
    assert!(by_origin.body.contains(&link(open)));
    assert!(!by_origin.body.contains(&link(annecy)));
    assert!(by_origin.body.contains("value=\"lyon\""));
    let by_dest = s.get("/trajets?destination=Chamb%C3%A9ry");
    assert!(by_dest.body.contains(&link(annecy)) && !by_dest.body.contains(&link(open)));
    // 2030-06-12 local (Paris): 06:00Z is 08:00 local.
    let by_date = s.get("/trajets?date=2030-06-12");
    assert!(by_date.body.contains(&link(annecy)) && !by_date.body.contains(&link(open)));
    let none = s.get("/trajets?origin=%25");
    assert!(none.body.contains("Aucun trajet"), "% is literal");
    let bad = s.get("/trajets?date=demain");
    assert!(bad.body.contains("n'a pas été comprise"));

    // A full, cancelled or departed offer shows why, and no form.
    for (id, why) in [
        (full, "complet"),
        (cancelled, "annulé par son conducteur"),
        (soon, "déjà parti"),
    ] {
        let page = s.get(&format!("/trajets/{id}"));
        assert_eq!(page.status, 200);
        assert!(page.body.contains(why), "{id}: {}", page.body);
        assert!(!page.body.contains("form_token"));
    }
    assert_eq!(s.get("/trajets/999").status, 404);
}

#[test]
fn pages_are_framed_only_by_the_configured_origins() {
    let s = start();
    let list = s.get("/trajets");
    let csp = list.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(list.header("x-frame-options"), Some("DENY"));

    let s = start_with(HttpConfig {
        embed_origins: vec![
            "https://www.example.org".into(),
            "https://asso.example".into(),
        ],
        ..http_support::config()
    });
    let id = s.create_offer(3);
    for path in [
        "/embed",
        "/embed/trajets/nouveau",
        &format!("/embed/trajets/{id}"),
        "/trajets",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(
            csp.contains("frame-ancestors https://www.example.org https://asso.example"),
            "{path}: {csp}"
        );
        assert!(csp.contains("default-src 'none'"));
        assert_eq!(r.header("x-frame-options"), None, "{path}");
    }
    // Other pages stay unframeable.
    let health = s.get("/healthz");
    assert_eq!(health.header("x-frame-options"), Some("DENY"));

    // The embedded variant: no outer chrome, and every link and form stays under /embed.
    let embed = s.get("/embed");
    assert!(!embed.body.contains("<header>"));
    assert!(embed.body.contains("class=\"embed\""));
    assert!(
        embed
            .body
            .contains(&format!("href=\"/embed/trajets/{id}\""))
    );
    assert!(embed.body.contains("href=\"/embed/trajets/nouveau\""));
    let page = s.get(&format!("/embed/trajets/{id}"));
    assert!(
        page.body
            .contains(&format!("action=\"/embed/trajets/{id}\""))
    );
    let posted = submit(
        &s,
        &format!("/embed/trajets/{id}"),
        &seat_fields(&form_token(&page.body), "marie@example.org"),
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    assert_eq!(
        posted.header("location"),
        Some(format!("/embed/trajets/{id}/demande-envoyee").as_str())
    );
    // The language chosen in the form reaches the use case.
    let token = form_token(&s.get(&format!("/trajets/{id}")).body);
    let mut english = seat_fields(&token, "paul@example.org");
    english.retain(|(k, _)| *k != "lang");
    english.push(("lang", "en"));
    assert_eq!(submit(&s, &format!("/trajets/{id}"), &english).status, 303);
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    let langs: Vec<(String, String)> = conn
        .prepare("SELECT passenger_email, lang FROM carpool_reservations ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        langs,
        [
            ("marie@example.org".to_owned(), "fr".to_owned()),
            ("paul@example.org".to_owned(), "en".to_owned())
        ]
    );
    assert!(s.get("/trajets").body.contains("<header>"));
}

#[test]
fn the_forms_share_the_per_recipient_email_cap() {
    let s = start();
    let cap = s.service.settings().max_per_recipient_per_hour as usize;
    // Offering trips in someone's name: each sends them an email, so it counts.
    for _ in 0..cap {
        let token = form_token(&s.get("/trajets/nouveau").body);
        let r = submit(&s, "/trajets/nouveau", &offer_fields(&token));
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let token = form_token(&s.get("/trajets/nouveau").body);
    let before = s.dump();
    let r = submit(&s, "/trajets/nouveau", &offer_fields(&token));
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(
        r.body
            .contains("id=\"email-error\">Cette adresse a déjà reçu beaucoup d&#39;e-mails")
    );
    assert!(r.body.contains("value=\"Lyon Part-Dieu\""), "input kept");
    assert_eq!(s.dump(), before);

    // Seat requests to one driver: past the cap, the asker is told "later", not whose inbox.
    let offers = [s.create_offer(8), s.create_offer(8), s.create_offer(8)];
    let emails: Vec<String> = (0..=cap).map(|i| format!("p{i}@example.org")).collect();
    // jean@example.org already got `cap` emails above: the first request is refused.
    let id = offers[0];
    let token = form_token(&s.get(&format!("/trajets/{id}")).body);
    let before = s.dump();
    let r = submit(
        &s,
        &format!("/trajets/{id}"),
        &seat_fields(&token, &emails[0]),
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Ce conducteur a reçu beaucoup de demandes"));
    assert!(!r.body.contains("jean@example.org"));
    assert!(r.header("retry-after").is_some());
    assert_eq!(s.dump(), before);
}

/// `fields` with `key` set to `value` (replacing any earlier one).
fn with<'a>(
    mut fields: Vec<(&'a str, &'a str)>,
    key: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    fields.retain(|(k, _)| *k != key);
    fields.push((key, value));
    fields
}

#[test]
fn pages_are_in_english_with_lang_en_and_french_by_default() {
    let s = start();
    let id = s.create_offer(3);

    // No language asked: French, even for a browser that prefers English.
    for r in [
        s.get("/trajets"),
        s.request(
            "GET",
            "/trajets",
            &[("Accept-Language", "en-GB,en;q=0.9")],
            "",
        ),
        s.get("/trajets?lang=fr"),
    ] {
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("<html lang=\"fr\">"), "{}", r.body);
        assert!(r.body.contains("<h1>Trajets proposés</h1>"));
        assert!(r.body.contains(&format!("href=\"/trajets/{id}\"")));
        assert!(
            r.body
                .contains("href=\"/trajets?lang=en\" hreflang=\"en\" lang=\"en\">English</a>")
        );
        assert!(!r.body.contains("Trips on offer"));
    }

    let r = s.get("/trajets?lang=en");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<html lang=\"en\">"), "{}", r.body);
    assert!(r.body.contains("<h1>Trips on offer</h1>"));
    assert!(r.body.contains("Pick one to ask for a seat"));
    assert!(!r.body.contains("Trajets proposés"));
    // Every link and the filter form keep the language; the switch goes back to French.
    assert!(r.body.contains(&format!("href=\"/trajets/{id}?lang=en\"")));
    assert!(r.body.contains("href=\"/trajets/nouveau?lang=en\""));
    assert!(
        r.body
            .contains("<input type=\"hidden\" name=\"lang\" value=\"en\">")
    );
    assert!(
        r.body
            .contains("href=\"/trajets?lang=fr\" hreflang=\"fr\" lang=\"fr\">Français</a>")
    );
    assert!(!r.body.contains("@"), "{}", r.body);

    // A filtered English listing is still English (lang is not taken for a filter).
    let r = s.get("/trajets?lang=en&origin=Nowhere");
    assert!(
        r.body.contains("No upcoming trip matches your search."),
        "{}",
        r.body
    );

    // The framed variant too, with its own prefix.
    let r = s.get("/embed/trajets?lang=en");
    assert!(r.body.contains("<html lang=\"en\">"));
    assert!(
        r.body
            .contains(&format!("href=\"/embed/trajets/{id}?lang=en\""))
    );
    assert!(r.body.contains("href=\"/embed/trajets?lang=fr\""));
    assert!(!r.body.contains("<header>"));

    let r = s.get(&format!("/trajets/{id}?lang=en"));
    assert!(r.body.contains("<h1>Book a seat</h1>"), "{}", r.body);
    assert!(
        r.body
            .contains(&format!("action=\"/trajets/{id}?lang=en\""))
    );
    assert!(
        r.body
            .contains("<option value=\"en\" selected>English</option>")
    );
    assert!(r.body.contains(&format!("href=\"/trajets/{id}?lang=fr\"")));
    let r = s.get("/trajets/999999?lang=en");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Trip not found"), "{}", r.body);
    let r = s.get("/trajets/999999");
    assert!(r.body.contains("Trajet introuvable"), "{}", r.body);
}

#[test]
fn the_english_forms_post_and_redirect_to_english_confirmations() {
    let s = start();
    let form = s.get("/trajets/nouveau?lang=en");
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("<html lang=\"en\">"));
    assert!(form.body.contains("<h1>Offer a trip</h1>"));
    assert!(
        form.body
            .contains("<label for=\"email\">Your email address</label>")
    );
    assert!(form.body.contains("action=\"/trajets/nouveau?lang=en\""));
    assert!(
        form.body
            .contains("<option value=\"en\" selected>English</option>")
    );
    let token = form_token(&form.body);

    let fields = with(offer_fields(&token), "lang", "en");
    let posted = submit(&s, "/trajets/nouveau?lang=en", &fields);
    assert_eq!(posted.status, 303, "{}", posted.body);
    let location = posted.header("location").unwrap().to_owned();
    let id: i64 = location
        .strip_prefix("/trajets/")
        .and_then(|r| r.strip_suffix("/publie?lang=en"))
        .unwrap_or_else(|| panic!("{location}"))
        .parse()
        .unwrap();
    let done = s.get(&location);
    assert_eq!(done.status, 200);
    assert!(done.body.contains("<html lang=\"en\">"));
    assert!(done.body.contains("<h1>Trip posted</h1>"), "{}", done.body);
    assert!(
        done.body
            .contains(&format!("href=\"/trajets/{id}?lang=en\""))
    );
    assert_eq!(s.service.get_offer(id).unwrap().lang.as_str(), "en");
    assert_eq!(
        s.outbox(),
        vec![(
            "offer_created_driver".to_owned(),
            "jean@example.org".to_owned()
        )]
    );

    // The seat form, framed this time.
    let page = s.get(&format!("/embed/trajets/{id}?lang=en"));
    assert!(
        page.body
            .contains(&format!("action=\"/embed/trajets/{id}?lang=en\""))
    );
    let token = form_token(&page.body);
    let fields = with(seat_fields(&token, "marie@example.org"), "lang", "en");
    let posted = submit(&s, &format!("/embed/trajets/{id}?lang=en"), &fields);
    assert_eq!(posted.status, 303, "{}", posted.body);
    let location = posted.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        format!("/embed/trajets/{id}/demande-envoyee?lang=en")
    );
    let sent = s.get(&location);
    assert!(sent.body.contains("<h1>Request sent</h1>"), "{}", sent.body);
    assert!(
        sent.body
            .contains("Your request is on its way to Jean Dupont")
    );
    assert_eq!(s.outbox().len(), 3);
}

#[test]
fn an_english_form_error_shows_again_in_english_with_the_input_kept() {
    let s = start();
    let id = s.create_offer(2);
    let token = form_token(&s.get(&format!("/trajets/{id}?lang=en")).body);
    let before = s.dump();
    let bad = [
        ("form_token", token.as_str()),
        ("name", ""),
        ("email", "marie-at-example"),
        ("seats", "2"),
        ("pickup", "Gare <Perrache> & \"quai\""),
        ("message", "Line 1 <script>x</script>"),
        ("lang", "en"),
    ];
    let r = submit(&s, &format!("/trajets/{id}?lang=en"), &bad);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(s.dump(), before, "a refused form writes nothing");
    assert!(r.body.contains("<html lang=\"en\">"));
    assert!(r.body.contains("A few details need fixing"));
    assert!(
        r.body
            .contains("<p class=\"error\" id=\"name-error\">This field is required.</p>"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("id=\"email-error\">This email address does not look valid")
    );
    assert!(!r.body.contains("Ce champ est obligatoire"));
    assert!(r.body.contains("value=\"marie-at-example\""));
    assert!(
        r.body
            .contains("value=\"Gare &lt;Perrache&gt; &amp; &quot;quai&quot;\"")
    );
    assert!(
        r.body
            .contains("Line 1 &lt;script&gt;x&lt;/script&gt;</textarea>")
    );
    assert!(r.body.contains("<option value=\"2\" selected>"));
    assert!(
        r.body
            .contains(&format!("action=\"/trajets/{id}?lang=en\""))
    );

    // A POST whose address names no language follows the form's choice of language...
    let r = submit(&s, &format!("/trajets/{id}"), &bad);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("<html lang=\"en\">"), "{}", r.body);
    assert!(r.body.contains("This field is required."));
    // ...and the address wins when it names one.
    let r = submit(&s, &format!("/trajets/{id}?lang=fr"), &bad);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("<html lang=\"fr\">"), "{}", r.body);
    assert!(r.body.contains("Ce champ est obligatoire."));
    assert_eq!(s.dump(), before);

    // The offer form: a past departure, told in English on the date field.
    let token = form_token(&s.get("/trajets/nouveau?lang=en").body);
    let past = with(
        with(offer_fields(&token), "date", "2030-05-31"),
        "lang",
        "en",
    );
    let r = submit(&s, "/trajets/nouveau?lang=en", &past);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("id=\"date-error\">This date and time have already passed."),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"Lyon Part-Dieu\""));
    assert_eq!(s.dump(), before);

    // A stale form token: the notice is English too.
    let stale = with(offer_fields("forged"), "lang", "en");
    let r = submit(&s, "/trajets/nouveau?lang=en", &stale);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body
            .contains("For your security, this form must be sent from this page")
    );
    assert_eq!(s.dump(), before);
}
