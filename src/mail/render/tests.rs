use std::path::Path;

use chrono_tz::Europe::Paris;
use serde_json::{Value, json};

use super::*;

fn renderer() -> Renderer {
    Renderer::new(Paris, None).expect("built-in templates compile")
}

/// Read on the samples' day, so the wordings do not depend on the year the tests run in.
fn render(r: &Renderer, name: &str, context: &Value, links: &Value) -> RenderedEmail {
    r.render_at(name, context, links, super::sample::now())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn assert_sane(name: &str, email: &RenderedEmail) {
    assert!(!email.subject.is_empty(), "{name}: empty subject");
    assert!(!email.subject.contains(['\r', '\n']), "{name}: subject");
    assert!(
        email.text.ends_with('\n') && !email.text.contains("\n\n\n"),
        "{name}"
    );
    assert!(email.html.starts_with("<!DOCTYPE html>"), "{name}");
    assert!(email.html.trim_end().ends_with("</html>"), "{name}");
    // No upon tag survived, no English leaked from chrono.
    for body in [&email.subject, &email.text, &email.html] {
        assert!(
            !body.contains("{{") && !body.contains("{%"),
            "{name}: raw tag"
        );
        for english in ["Monday", "Thursday", "December", " AM", " PM"] {
            assert!(!body.contains(english), "{name}: {english}");
        }
    }
}

#[test]
fn builtin_templates_pass_their_own_check() {
    renderer().check().unwrap();
}

#[test]
fn every_template_renders_with_a_realistic_context() {
    let r = renderer();
    assert_eq!(Renderer::template_names().len(), 18);
    for name in Renderer::template_names() {
        let (context, links) = sample(name);
        let email = render(&r, name, &context, &links);
        assert_sane(name, &email);
        if *name != "test" {
            assert!(
                email.text.contains("Lyon Part-Dieu → Grenoble Gare"),
                "{name}"
            );
            assert!(email.text.contains("jeudi 3 décembre à 8 h"), "{name}");
        }
    }
}

#[test]
fn every_template_renders_with_nulls_and_no_passengers() {
    let r = renderer();
    for name in Renderer::template_names() {
        let (mut context, links) = sample(name);
        if let Some(res) = context["reservation"].as_object_mut() {
            res.insert("pickup".into(), Value::Null);
            res.remove("message"); // absent counts as null
            if !matches!(*name, "route_updated_passenger" | "pickup_time_passenger") {
                res.insert("pickup_at".into(), Value::Null);
            }
            res.insert("previous_pickup_at".into(), Value::Null);
        }
        context["passengers"] = json!([]);
        context["recipient_name"] = Value::Null;
        let email = render(&r, name, &context, &links);
        assert_sane(name, &email);
        assert!(
            email.text.starts_with("Bonjour,") || *name == "test",
            "{name}"
        );
        let lists = ["itinerary_driver", "cancelled_driver", "reminder_driver"];
        if lists.contains(name) {
            assert!(
                email
                    .text
                    .contains("Aucun passager confirmé pour le moment."),
                "{name}"
            );
            assert!(
                email
                    .html
                    .contains("Aucun passager confirmé pour le moment."),
                "{name}"
            );
        }
    }
}

#[test]
fn every_template_tolerates_no_links_at_all() {
    let r = renderer();
    for name in Renderer::template_names() {
        let (context, _) = sample(name);
        let email = render(&r, name, &context, &json!({}));
        assert!(!email.text.contains("https://"), "{name}");
        assert!(!email.text.contains("personnels"), "{name}");
    }
}

#[test]
fn passenger_emails_offer_cancel_link_exactly_when_given() {
    let r = renderer();
    let url = "https://carette.example.org/api/reservation/cancel?token=a&b";
    for name in Renderer::template_names()
        .iter()
        .filter(|n| n.ends_with("_passenger"))
    {
        let (context, _) = sample(name);
        let email = render(&r, name, &context, &json!({ "cancel": url }));
        assert!(email.text.contains(url), "{name}: text");
        assert!(email.html.contains("token=a&amp;b"), "{name}: html");
    }
}

#[test]
fn driver_request_has_buttons_deadline_and_links() {
    let r = renderer();
    let (context, links) = sample("request_driver");
    let email = render(&r, "request_driver", &context, &links);
    assert!(
        email
            .subject
            .starts_with("🔔 Nouvelle demande de réservation")
    );
    assert!(email.text.contains(
        "Sans réponse de votre part avant le mercredi 2 décembre à 8 h, la demande expirera."
    ));
    for key in ["accept", "refuse", "dashboard", "offer_cancel"] {
        let url = links[key].as_str().unwrap();
        assert!(email.text.contains(url), "{key}");
        assert!(email.html.contains(&format!("href=\"{url}\"")), "{key}");
    }
    assert!(email.html.contains(">Accepter</a>") && email.html.contains(">Refuser</a>"));
    assert!(email.text.contains("Message : « J'ai un petit sac. »"));
}

#[test]
fn the_printed_deadline_is_the_stored_one() {
    // The service stores `domain::request_deadline` (capped at departure); the email prints it.
    let r = renderer();
    let (mut context, links) = sample("request_driver");
    context["reservation"]["expires_at"] = json!("2026-12-03T07:00:00Z");
    let email = render(&r, "request_driver", &context, &links);
    assert!(email.text.contains("avant le jeudi 3 décembre à 8 h"));
}

#[test]
fn driver_lists_carry_each_remove_link() {
    let r = renderer();
    for name in ["itinerary_driver", "cancelled_driver", "reminder_driver"] {
        let (context, links) = sample(name);
        let email = render(&r, name, &context, &links);
        for id in ["5", "7"] {
            let url = links["remove"][id].as_str().unwrap();
            assert!(email.text.contains(url), "{name} {id}");
            assert!(email.html.contains(url), "{name} {id}");
        }
        assert!(email.text.contains("Marie Curie, 1 place"), "{name}");
        assert!(
            email.text.contains("Place Bellecour, vers 8 h 20"),
            "{name}"
        );
        assert!(email.text.contains("places libres : 1 sur 3"), "{name}");
    }
}

#[test]
fn rider_strings_are_escaped_in_html_and_raw_in_text() {
    let r = renderer();
    let evil = "<script>alert(1)</script> \"Bob\" & 'Al'";
    let (mut context, links) = sample("request_driver");
    context["reservation"]["passenger_name"] = json!(evil);
    context["reservation"]["message"] = json!("ligne 1\n<b>ligne 2</b>");
    context["offer"]["origin"] = json!("Gare & Co");
    let email = render(&r, "request_driver", &context, &links);
    assert!(!email.html.contains("<script>") && !email.html.contains("<b>"));
    assert!(
        email
            .html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &quot;Bob&quot; &amp; &#39;Al&#39;")
    );
    assert!(
        email
            .html
            .contains("ligne 1<br>\n&lt;b&gt;ligne 2&lt;/b&gt;")
    );
    assert!(email.html.contains("Gare &amp; Co"));
    assert!(email.text.contains(evil));
    assert!(email.text.contains("<b>ligne 2</b>"));
    assert!(email.subject.contains("Gare & Co"));
}

#[test]
fn subject_stays_on_one_line_whatever_the_names() {
    let r = renderer();
    let (mut context, links) = sample("cancelled_driver");
    context["reservation"]["passenger_name"] = json!("Eve\r\nBcc: victim@example.org\u{2028}x");
    let email = render(&r, "cancelled_driver", &context, &links);
    assert!(!email.subject.contains(['\r', '\n', '\u{2028}']));
    assert!(
        email
            .subject
            .starts_with("Annulation d'Eve Bcc: victim@example.org x — ")
    );
    assert_eq!(one_line("  a \t b\n"), "a b");
}

#[test]
fn dates_follow_the_configured_zone_and_dst() {
    let r = renderer();
    let (mut context, links) = sample("confirmed_passenger");
    context["offer"]["departure_at"] = json!("2026-03-29T08:00:00Z");
    context["reservation"]["pickup_at"] = json!("2026-03-29T08:15:00Z");
    let email = render(&r, "confirmed_passenger", &context, &links);
    assert!(email.text.contains("Départ : dimanche 29 mars à 10 h"));
    assert!(email.text.contains("vers 10 h 15"));
    let tokyo = Renderer::new(chrono_tz::Asia::Tokyo, None).unwrap();
    let email = render(&tokyo, "confirmed_passenger", &context, &links);
    assert!(email.text.contains("Départ : dimanche 29 mars à 17 h"));
}

#[test]
fn route_update_shows_old_and_new_time() {
    let r = renderer();
    let (context, links) = sample("route_updated_passenger");
    let email = render(&r, "route_updated_passenger", &context, &links);
    assert!(
        email
            .subject
            .starts_with("Nouvel horaire de prise en charge : 8 h 20")
    );
    assert!(
        email
            .text
            .contains("Ancien horaire : jeudi 3 décembre à 8 h 10")
    );
    assert!(
        email
            .text
            .contains("Nouvel horaire : jeudi 3 décembre à 8 h 20")
    );
}

#[test]
fn test_email_matches_the_original() {
    let r = renderer();
    let (context, links) = sample("test");
    let email = render(&r, "test", &context, &links);
    assert_eq!(email.subject, "🔔 Test Carette");
    assert!(email.text.contains("Si vous recevez ce mail, ça marche !"));
    assert!(email.text.contains("le mardi 1er décembre 2026 à 10 h"));
}

#[test]
fn errors_are_typed_never_panics() {
    let r = renderer();
    let (context, links) = sample("request_passenger");
    assert!(matches!(
        r.render("nope", &context, &links),
        Err(RenderError::UnknownTemplate(n)) if n == "nope"
    ));
    assert!(matches!(
        r.render("_footer", &context, &links),
        Err(RenderError::UnknownTemplate(_))
    ));
    assert!(matches!(
        crate::page::render(&r, "nope", &json!({})),
        Err(RenderError::UnknownTemplate(_))
    ));
    // A required field missing is an error, not a blank in a rider's email.
    let mut missing = context.clone();
    missing["offer"]
        .as_object_mut()
        .unwrap()
        .remove("driver_name");
    let err = r.render("request_passenger", &missing, &links).unwrap_err();
    assert!(matches!(err, RenderError::Template { .. }), "{err}");
    let mut bad_date = context.clone();
    bad_date["offer"]["departure_at"] = json!("demain");
    let err = r
        .render("request_passenger", &bad_date, &links)
        .unwrap_err();
    assert!(err.to_string().contains("offer.departure_at"), "{err}");
    let mut no_res = context;
    no_res["reservation"] = Value::Null;
    let err = r.render("request_passenger", &no_res, &links).unwrap_err();
    assert!(err.to_string().contains("needs a reservation"), "{err}");
    assert!(r.render("test", &json!([]), &links).is_err());
    assert!(r.render("test", &json!({}), &json!({"cancel": 3})).is_err());
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

#[test]
fn override_dir_replaces_builtin_files_and_adds_pages() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "test.subject", "Essai {{ sent_at_fr }}\n");
    write(dir.path(), "_footer.txt", "-- pied perso\n");
    write(
        dir.path(),
        "notes.md",
        "ignored: not a template extension {{",
    );
    std::fs::create_dir(dir.path().join("page")).unwrap();
    write(
        &dir.path().join("page"),
        "hello.html",
        "<p>{{ name }} — {{ at | datetime_fr }}</p>",
    );
    let r = Renderer::new(Paris, Some(dir.path())).unwrap();
    let (context, links) = sample("test");
    let email = render(&r, "test", &context, &links);
    assert_eq!(email.subject, "Essai mardi 1er décembre 2026 à 10 h");
    assert!(email.text.ends_with("-- pied perso\n"));
    let hello = json!({"name": "<Zoé>", "at": "2026-12-03T07:00:00Z"});
    let page = crate::page::render_at(&r, "hello", &hello, super::sample::now()).unwrap();
    assert_eq!(page, "<p>&lt;Zoé&gt; — jeudi 3 décembre à 8 h</p>");
    // Read a year later, the date says which year it was.
    let later = super::sample::now() + chrono::Duration::days(365);
    let page = crate::page::render_at(&r, "hello", &hello, later).unwrap();
    assert_eq!(page, "<p>&lt;Zoé&gt; — jeudi 3 décembre 2026 à 8 h</p>");
}

#[test]
fn broken_override_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "test.txt", "{% if %}");
    let err = Renderer::new(Paris, Some(dir.path())).unwrap_err();
    let file = dir.path().join("test.txt").display().to_string();
    let RenderError::Check(errors) = &err else {
        panic!("{err}");
    };
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(
        (errors[0].file.as_str(), errors[0].line),
        (file.as_str(), 1)
    );
    // Compiles, but names a field no context has: caught by the start-up check, with
    // the line of the faulty tag.
    write(dir.path(), "test.txt", "Bonjour\n\n{{ offer.nickname }}\n");
    let err = Renderer::new(Paris, Some(dir.path())).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("{file}:3: unknown variable `offer.nickname`")),
        "{err}"
    );
    // The English override folder is checked the same way.
    std::fs::remove_file(dir.path().join("test.txt")).unwrap();
    std::fs::create_dir(dir.path().join("en")).unwrap();
    write(
        &dir.path().join("en"),
        "request_driver.subject",
        "Hi {{ offer.departure_fr }}\n",
    );
    let err = Renderer::new(Paris, Some(dir.path())).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown variable `offer.departure_fr`"),
        "{err}"
    );
    let missing = dir.path().join("nope");
    assert!(matches!(
        Renderer::new(Paris, Some(&missing)),
        Err(RenderError::Io { .. })
    ));
}

#[test]
fn tidy_text_keeps_single_blank_lines() {
    assert_eq!(tidy_text("\n\na  \n\n\n\nb\n\n"), "a\n\nb\n");
}

#[test]
fn renderer_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Renderer>();
}

#[test]
fn html_bodies_have_balanced_tags() {
    let r = renderer();
    for (name, lang) in Renderer::template_names()
        .iter()
        .flat_map(|n| ["fr", "en"].map(|l| (n, l)))
    {
        let (mut context, links) = sample(name);
        context["lang"] = json!(lang);
        let html = render(&r, name, &context, &links).html;
        for tag in [
            "table", "tr", "td", "p", "a", "div", "span", "strong", "h1", "h2",
        ] {
            let opens = html.matches(&format!("<{tag}>")).count()
                + html.matches(&format!("<{tag} ")).count();
            let closes = html.matches(&format!("</{tag}>")).count();
            assert_eq!(opens, closes, "{name}: <{tag}>");
        }
        assert!(!html.contains("<img") && !html.contains("<script") && !html.contains("<link"));
    }
}

#[test]
fn english_is_escaped_like_french_and_says_which_language_it_is() {
    let r = renderer();
    let evil = "<script>alert(1)</script> \"Bob\" & 'Al'";
    for name in ["request_driver", "reminder_driver", "cancelled_driver"] {
        let (mut context, mut links) = sample(name);
        context["lang"] = json!("en");
        if context["reservation"].is_object() {
            context["reservation"]["passenger_name"] = json!(evil);
        }
        context["passengers"][0]["name"] = json!(evil);
        links["dashboard"] = json!("https://x.example/d?token=a&b");
        let email = render(&r, name, &context, &links);
        assert!(!email.html.contains("<script>"), "{name}");
        assert!(email.html.contains("&lt;script&gt;"), "{name}");
        assert!(email.html.contains("token=a&amp;b"), "{name}");
        assert!(email.html.contains("<html lang=\"en\""), "{name}");
        assert!(email.text.starts_with("Hello"), "{name}");
    }
}

#[test]
fn an_unknown_language_in_a_row_is_an_error_and_pages_fall_back_to_french() {
    let r = renderer();
    let (mut context, links) = sample("test");
    context["lang"] = json!("de");
    assert!(matches!(
        r.render("test", &context, &links),
        Err(RenderError::InvalidContext { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("page")).unwrap();
    write(&dir.path().join("page"), "only_fr.html", "<p>{{ x }}</p>");
    let r = Renderer::new(Paris, Some(dir.path())).unwrap();
    let page = crate::page::render(&r, "only_fr", &json!({"lang": "en", "x": "ok"})).unwrap();
    assert_eq!(page, "<p>ok</p>");
}

#[test]
fn reminders_say_tomorrow_or_today_in_each_language() {
    let r = renderer();
    for (lang, fr, en) in [("fr", "demain", "tomorrow"), ("en", "aujourd'hui", "today")] {
        let (mut context, links) = sample("reminder_passenger");
        context["lang"] = json!(lang);
        context["when_fr"] = json!(fr);
        context["when_en"] = json!(en);
        let email = render(&r, "reminder_passenger", &context, &links);
        let want = if lang == "fr" {
            "Petit rappel : votre covoiturage part demain !".to_owned()
        } else {
            "A quick reminder: your shared ride leaves today!".to_owned()
        };
        assert!(email.text.contains(&want), "{}", email.text);
    }
}
