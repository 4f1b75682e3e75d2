//! `carette test-email`, `carette outbox …` and the delivery of `carette jobs`, through
//! the binary, against the in-process SMTP server.

use std::net::TcpListener;
use std::path::Path;

use crate::support::*;
use carette::service::Settings;
use carette::store::outbox::{self, EmailStatus};
use chrono::{Duration, Utc};
use mail_parser::MessageParser;

fn test_email(config: &Path, to: &str) -> (i32, String) {
    let (code, out, err) = run_carette(
        &[
            "--config",
            config.to_str().unwrap(),
            "test-email",
            "--to",
            to,
        ],
        &[],
    );
    let all = format!("{out}{err}");
    assert!(!all.contains(PASSWORD), "password leaked: {all}");
    (code, all)
}

#[test]
fn test_email_success_prints_what_was_tried_and_the_answer() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), server.port(), "");
    let (code, out) = test_email(&config, "operator@example.org");
    assert_eq!(code, 0, "{out}");
    for expected in [
        "127.0.0.1",
        &server.port().to_string(),
        "none (plain text)",
        USER,
        "250 2.0.0 OK queued",
    ] {
        assert!(out.contains(expected), "{expected:?} missing in {out}");
    }
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["operator@example.org"]);
    let msg = MessageParser::default().parse(&got[0].data).unwrap();
    assert_eq!(msg.subject(), Some("🔔 Test Carette"));
    assert!(msg.body_text(0).unwrap().contains("ça marche"));
    assert!(msg.body_html(0).is_some());
}

#[test]
fn test_email_login_refused_gives_the_gmail_advice() {
    let server = SmtpServer::start();
    server.on(
        Stage::Auth,
        535,
        "5.7.8 Username and Password not accepted",
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), server.port(), "");
    let (code, out) = test_email(&config, "operator@example.org");
    assert_eq!(code, 1, "{out}");
    for expected in [
        "535",
        "Username and Password not accepted",
        "app password",
        "2-step",
        "SMTP_USER",
    ] {
        assert!(out.contains(expected), "{expected:?} missing in {out}");
    }
    assert_eq!(server.count(), 0);
}

#[test]
fn test_email_sender_refused_names_smtp_from() {
    let server = SmtpServer::start();
    server.on(
        Stage::MailFrom,
        553,
        "5.7.1 Sender address rejected: not owned by user",
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), server.port(), "");
    let (code, out) = test_email(&config, "operator@example.org");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("553") && out.contains("not owned by user"),
        "{out}"
    );
    assert!(out.contains("smtp.from"), "{out}");
}

#[test]
fn test_email_connection_refused_names_the_port() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), port, "");
    let (code, out) = test_email(&config, "operator@example.org");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("connection refused") && out.contains("smtp.port"),
        "{out}"
    );
}

#[test]
fn test_email_timeout_when_the_server_never_answers() {
    // Accepts connections (kernel backlog) but never says hello.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), port, "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("timeout_secs = 3", "timeout_secs = 1"),
    )
    .unwrap();
    let (code, out) = test_email(&config, "operator@example.org");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("timed out") && out.contains("firewall"),
        "{out}"
    );
    drop(silent);
}

#[test]
fn test_email_starttls_refused_explains_smtp_tls() {
    // The test server offers no STARTTLS: a required upgrade must fail before any login.
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), server.port(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("tls = \"none\"", "tls = \"starttls\""),
    )
    .unwrap();
    let (code, out) = test_email(&config, "operator@example.org");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("TLS") && out.contains("smtp.tls"), "{out}");
    assert!(server.logins().is_empty(), "no credentials before TLS");
}

#[test]
fn test_email_unknown_host_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 2525, "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("127.0.0.1", "no-such-host.invalid")).unwrap();
    let (code, out) = test_email(&config, "operator@example.org");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("no-such-host.invalid") && out.contains("smtp.host"),
        "{out}"
    );
}

#[test]
fn test_email_in_dev_mode_tests_nothing_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = \"{}\"\n",
            dir.path().join("c.db").display()
        ),
    )
    .unwrap();
    let (code, out) = test_email(&config, "operator@example.org");
    assert_ne!(code, 0);
    assert!(
        out.contains("nothing can be tested without SMTP settings"),
        "{out}"
    );
}

#[test]
fn jobs_in_dev_mode_log_each_email_and_keep_eml_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = \"{}\"\n[security]\nsecret_key = \"test-secret-0123456789abcdefghijklmnop\"\n",
            dir.path().join("carette.db").display()
        ),
    )
    .unwrap();
    let db = fixture_in(dir, Settings::default());
    let now = Utc::now();
    let offer = db
        .service
        .create_offer(&offer_input(now + Duration::days(2), 2), now)
        .unwrap();
    db.service
        .request_seat(
            offer.id,
            &request_with_markup("Marie", "marie@example.org"),
            now,
        )
        .unwrap();
    let (code, out, err) = run_carette(
        &["--config", config.to_str().unwrap(), "jobs", "expire"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("[DEV MODE] Email à jean@example.org: "),
        "{err}"
    );
    assert!(
        err.contains("[DEV MODE] Email à marie@example.org: "),
        "{err}"
    );
    assert!(out.contains("emails: 2 sent"), "{out}");
    let emails = db.dir.path().join("emails");
    assert_eq!(std::fs::read_dir(emails).unwrap().count(), 2);
}

#[test]
fn outbox_list_and_retry_through_the_binary() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), server.port(), "");
    let cfg = config.to_str().unwrap();
    let db = fixture_in(dir, Settings::default());
    let now = Utc::now();
    let offer = db
        .service
        .create_offer(&offer_input(now + Duration::days(2), 2), now)
        .unwrap();
    db.service
        .request_seat(
            offer.id,
            &request_with_markup("Marie", "marie@example.org"),
            now,
        )
        .unwrap();
    // Both emails fail for good (as after a 5xx).
    let lease = outbox::Lease {
        owner: "test".into(),
        claim: 1,
    };
    let rows = db
        .service
        .store()
        .write(|tx| outbox::claim_due(tx, &lease, now, Duration::minutes(5), 10))
        .unwrap();
    db.service
        .store()
        .write(|tx| {
            for r in &rows {
                outbox::mark_failed(tx, r.id, &lease, "550 5.1.1 mailbox unavailable")?;
            }
            Ok::<_, carette::store::StoreError>(())
        })
        .unwrap();
    let (code, out, _) = run_carette(&["--config", cfg, "outbox", "list", "--failed"], &[]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "header + 2 rows: {out}");
    assert!(out.contains("request_driver") && out.contains("550 5.1.1 mailbox unavailable"));

    let first = rows[0].id.to_string();
    let (code, out, _) = run_carette(&["--config", cfg, "outbox", "retry", &first], &[]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = run_carette(&["--config", cfg, "outbox", "retry", &first], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("only failed emails can be retried"), "{err}");
    let (code, out, _) = run_carette(&["--config", cfg, "outbox", "retry", "--all-failed"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("1 failed email(s) re-queued"), "{out}");
    let (_, out, _) = run_carette(&["--config", cfg, "outbox", "list", "--failed"], &[]);
    assert!(out.contains("no failed email"), "{out}");

    // `jobs` sends what is due, over SMTP this time.
    let (code, out, err) = run_carette(&["--config", cfg, "jobs", "expire"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!format!("{out}{err}").contains(PASSWORD));
    assert_eq!(server.count(), 2);
    let sent = db
        .service
        .outbox_list(Some(EmailStatus::Sent), 10, 0)
        .unwrap();
    assert_eq!(sent.len(), 2);
}

#[test]
fn jobs_with_a_refused_login_leave_emails_queued_and_say_what_to_check() {
    let server = SmtpServer::start();
    server.on(
        Stage::Auth,
        535,
        "5.7.8 Username and Password not accepted",
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), server.port(), "");
    let db = fixture_in(dir, Settings::default());
    let now = Utc::now();
    let offer = db
        .service
        .create_offer(&offer_input(now + Duration::days(2), 2), now)
        .unwrap();
    db.service
        .request_seat(
            offer.id,
            &request_with_markup("Marie", "marie@example.org"),
            now,
        )
        .unwrap();
    let (code, out, err) = run_carette(&["--config", config.to_str().unwrap(), "jobs", "all"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(!all.contains(PASSWORD), "password leaked: {all}");
    assert!(
        err.contains("SMTP login refused") && err.contains("app password"),
        "{err}"
    );
    assert!(out.contains("2 left queued"), "{out}");
    let queued = db
        .service
        .outbox_list(Some(EmailStatus::Queued), 10, 0)
        .unwrap();
    assert_eq!(queued.len(), 2);
    assert!(queued.iter().all(|r| r.attempts == 0));
    assert_eq!(server.count(), 0);
}

#[test]
fn jobs_reminders_by_hand_at_any_hour_reaches_tomorrows_riders() {
    use carette::domain::time::{day_word_fr, reminder_window};
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), server.port(), "");
    let db = fixture_in(dir, Settings::default());
    let now = Utc::now();
    let paris = chrono_tz::Europe::Paris;
    // Whatever the hour this runs: a trip soon, one at the very end of tomorrow (Paris),
    // and one just after it.
    let (_, end) = reminder_window(paris, now);
    let trips = [
        ("soon@example.org", now + Duration::hours(2)),
        ("late@example.org", end - Duration::minutes(1)),
        ("after@example.org", end + Duration::minutes(1)),
    ];
    for (email, departure) in trips {
        let offer = db
            .service
            .create_offer(&offer_input(departure, 2), now)
            .unwrap();
        let r = db
            .service
            .request_seat(offer.id, &request("Marie", email, 1), now)
            .unwrap();
        db.service.accept(r.id, now).unwrap();
    }
    let cfg = config.to_str().unwrap();
    let (code, out, err) = run_carette(&["--config", cfg, "jobs", "reminders"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reminded 2 reservation(s)"), "{out}{err}");
    let mut got: Vec<(String, String)> = server
        .received()
        .iter()
        .filter_map(|m| {
            let msg = MessageParser::default().parse(&m.data)?;
            msg.subject()?.contains("Rappel").then(|| {
                (
                    m.to.join(","),
                    msg.body_text(0).unwrap_or_default().into_owned(),
                )
            })
        })
        .collect();
    got.sort();
    let passengers: Vec<_> = got
        .iter()
        .filter(|(to, _)| to != "jean@example.org")
        .collect();
    assert_eq!(passengers.len(), 2, "{got:?}");
    let word = |departure| day_word_fr(paris, departure, Utc::now());
    assert_eq!(passengers[0].0, "late@example.org");
    assert!(
        passengers[0].1.contains("votre covoiturage part demain"),
        "{}",
        passengers[0].1
    );
    assert_eq!(passengers[1].0, "soon@example.org");
    let soon = format!("votre covoiturage part {}", word(trips[0].1));
    assert!(passengers[1].1.contains(&soon), "{}", passengers[1].1);
    // The driver's two reminders; nobody hears about the trip after tomorrow.
    assert_eq!(
        got.iter()
            .filter(|(to, _)| to == "jean@example.org")
            .count(),
        2
    );
    // Once, ever: a second run reminds nobody.
    let (code, out, _) = run_carette(&["--config", cfg, "jobs", "reminders"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("reminded 0 reservation(s)"), "{out}");
}
