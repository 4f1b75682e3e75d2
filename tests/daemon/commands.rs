//! `init`, `migrate` and `stats` through the real binary, with temp config files.

use std::path::Path;
use std::process::Command;

fn carette(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("CARETTE_CONFIG")
        .env_remove("SMTP_PASSWORD")
        .env_remove("SECRET_KEY")
        .output()
        .unwrap()
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("carette.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\npath = {:?}\n",
            dir.join("data").join("carette.db").to_str().unwrap()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn init_writes_a_private_config_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("etc").join("carette.toml");
    let out = carette(&cfg, &["init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(!text.contains(carette::config::PLACEHOLDER_SECRET));
    let again = carette(&cfg, &["init"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "usage error, as the README says"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains(cfg.to_str().unwrap()));
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        text,
        "not overwritten"
    );
}

#[test]
fn migrate_then_stats_json_has_specs_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let out = carette(&cfg, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = dir.path().join("data").join("carette.db");
    assert!(db.exists());

    // Seed through the service, then read the figures through the binary.
    let service = carette::service::Service::new(
        std::sync::Arc::new(carette::store::Store::open(&db).unwrap()),
        carette::service::Settings::default(),
    );
    let now = chrono::Utc::now();
    let offer = service
        .create_offer(
            &crate::support::offer_input(now + chrono::Duration::days(2), 3),
            now,
        )
        .unwrap();
    let a = service
        .request_seat(
            offer.id,
            &crate::support::request("A", "a@example.org", 1),
            now,
        )
        .unwrap();
    let b = service
        .request_seat(
            offer.id,
            &crate::support::request("B", "b@example.org", 1),
            now,
        )
        .unwrap();
    service
        .request_seat(
            offer.id,
            &crate::support::request("C", "c@example.org", 1),
            now,
        )
        .unwrap();
    service.accept(a.id, now).unwrap();
    service.refuse(b.id, now).unwrap();

    let out = carette(&cfg, &["stats", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "pending",
        "expired",
        "confirmed",
        "refused",
        "cancelled",
        "acceptance_rate",
        "emails_sent_today",
        "emails_logged_today",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["pending"], 1);
    assert_eq!(v["confirmed"], 1);
    assert_eq!(v["refused"], 1);
    assert_eq!(v["acceptance_rate"], 50.0);
    assert_eq!(v["emails_sent_today"], 0);
    assert_eq!(v["emails_logged_today"], 0);

    let out = carette(&cfg, &["stats"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Acceptance rate   50.0 %"), "{text}");

    // The seed's monitoring SQL runs as is on the contract tables.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let overdue: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM carpool_reservations WHERE status='pending' AND created_at < datetime('now','-24 hours')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(overdue, 0);
    let rate: f64 = conn
        .query_row(
            "SELECT COUNT(CASE WHEN status='confirmed' THEN 1 END) * 100.0 / COUNT(*) FROM carpool_reservations WHERE status IN ('confirmed', 'refused')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rate, 50.0);
}

#[test]
fn empty_database_reports_null_acceptance_rate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let out = carette(&cfg, &["stats", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["acceptance_rate"].is_null());
}

#[test]
fn config_errors_exit_2_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let out = carette(&missing, &["stats"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(missing.to_str().unwrap()));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[jobs]\ntimezone = \"Europe/Pariss\"\n").unwrap();
    let out = carette(&bad, &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("jobs.timezone") && err.contains("bad.toml"),
        "{err}"
    );
}

#[test]
fn a_database_from_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    assert!(carette(&cfg, &["migrate"]).status.success());
    let db = dir.path().join("data").join("carette.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 42)
        .unwrap();
    let out = carette(&cfg, &["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer Carette"));
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

/// Mistakes that would weaken the links or send emails twice stop `serve` at start,
/// exit 2, and the message names every key involved but never the secret itself.
#[test]
fn config_mistakes_stop_serve_with_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "lease_below_smtp_timeout.toml",
            &["email.outbox_lease_secs", "smtp.timeout_secs"],
            "",
        ),
        (
            "short_secret.toml",
            &["security.secret_key"],
            "tiny-secret-val",
        ),
        (
            "secret_31_chars.toml",
            &["security.secret_key", "at least 32"],
            "Zq8-vR2_pL5xK9mT3wN7bY1cH4jF6dA",
        ),
        (
            "low_variety_secret.toml",
            &["security.secret_key", "variety"],
            "abababababababab",
        ),
    ];
    for (name, needles, secret) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_carette"))
            .arg("--config")
            .arg(fixture(name))
            .arg("serve")
            .env("HOME", home.path())
            .env_remove("CARETTE_CONFIG")
            .env_remove("SMTP_PASSWORD")
            .env_remove("SECRET_KEY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        for needle in *needles {
            assert!(err.contains(needle), "{name}: {err:?} lacks {needle:?}");
        }
        if !secret.is_empty() {
            assert!(!err.contains(secret), "{name} leaks the secret: {err}");
        }
    }
    // The environment variable of the original system is held to the same rule.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .env("SECRET_KEY", "a".repeat(64))
        .env_remove("CARETTE_CONFIG")
        .env_remove("SMTP_PASSWORD")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("SECRET_KEY") && err.contains("variety"),
        "{err}"
    );
    assert!(
        !dir.path().join("data").join("carette.db").exists(),
        "nothing is created before the configuration is accepted"
    );
}
