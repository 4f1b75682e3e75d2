//! Configuration: the shipped example, fixtures of every invalid case, lookup order and
//! environment overrides. Secrets and `carette init` are in the submodules.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

mod init;
mod lookup;
mod secrets;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use carette::config::{
    Config, ConfigError, LoadedConfig, PLACEHOLDER_SECRET, TlsMode, load_with, parse_str,
};
use chrono::NaiveTime;

const EXAMPLE: &str = include_str!("../../config.example.toml");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

/// An environment made of the given pairs only, so tests never touch the real one.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
    load_with(Some(path), &no_env, None)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn example_parses_to_the_defaults_except_the_placeholder_secret() {
    let mut parsed = parse_str(EXAMPLE, Path::new("config.example.toml")).unwrap();
    assert_eq!(
        parsed.security.secret_key.as_deref(),
        Some(PLACEHOLDER_SECRET)
    );
    parsed.security.secret_key = None;
    assert_eq!(parsed, Config::default());
}

#[test]
fn example_documents_every_key_and_its_commented_examples_are_valid() {
    // Uncomment the "# key = value" lines: they must be real keys with valid values.
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| !k.contains(' ')) =>
            {
                rest
            }
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let full = parse_str(&uncommented, Path::new("/etc/carette/config.toml")).unwrap();
    assert!(full.smtp.password.is_some() && full.routing.osrm_url.is_some());

    let table: toml::Table = toml::from_str(&uncommented).unwrap();
    let documented: BTreeSet<String> = table
        .iter()
        .flat_map(|(section, keys)| {
            let keys = keys.as_table().unwrap();
            keys.keys().map(move |k| format!("{section}.{k}"))
        })
        .collect();
    let expected: BTreeSet<String> = [
        "server.listen",
        "server.base_url",
        "server.api_token",
        "server.cors_origins",
        "server.embed_origins",
        "server.rate_limit_per_minute",
        "server.rate_limit_burst",
        "server.trusted_proxies",
        "server.max_connections_per_ip",
        "server.request_timeout_secs",
        "database.path",
        "smtp.host",
        "smtp.port",
        "smtp.user",
        "smtp.password",
        "smtp.from",
        "smtp.tls",
        "smtp.auth",
        "smtp.timeout_secs",
        "smtp.pool_size",
        "security.secret_key",
        "security.token_ttl_days",
        "jobs.expire_after_hours",
        "jobs.reminder_time",
        "jobs.timezone",
        "routing.osrm_url",
        "routing.notify_threshold_minutes",
        "routing.timeout_secs",
        "routing.stop_minutes",
        "email.templates_dir",
        "email.outbox_lease_secs",
        "email.default_lang",
        "retention.trips_days",
        "retention.sent_emails_days",
        "retention.job_runs_days",
        "retention.eml_days",
        "email.max_per_recipient_per_hour",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, expected);
}

#[test]
fn every_key_of_a_full_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    let path = write(
        dir.path(),
        "full.toml",
        &std::fs::read_to_string(fixture("full.toml")).unwrap(),
    );
    let loaded = load_file(&path).unwrap();
    assert_eq!(loaded.source.as_deref(), Some(path.as_path()));
    let c = loaded.config;
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(
        c.server.base_url, "https://rides.example.org",
        "trailing slash dropped"
    );
    assert_eq!(
        c.server.api_token.as_deref(),
        Some("widget-token-0123456789")
    );
    assert_eq!(
        c.server.cors_origins,
        ["https://www.example.org", "http://[::1]:3000"]
    );
    assert_eq!(
        (c.server.rate_limit_per_minute, c.server.rate_limit_burst),
        (60, 20)
    );
    let proxies: Vec<String> = c
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(proxies, ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"]);
    assert_eq!(
        (
            c.server.max_connections_per_ip,
            c.server.request_timeout_secs
        ),
        (8, 3)
    );
    // Relative paths are anchored at the config file's directory.
    assert_eq!(c.database.path, Some(dir.path().join("data/rides.db")));
    assert_eq!(c.email.templates_dir, Some(dir.path().join("templates")));
    assert_eq!(c.email.default_lang, carette::domain::Lang::En);
    assert_eq!(c.smtp.host.as_deref(), Some("smtp.example.org"));
    assert_eq!(
        (c.smtp.port, c.smtp.tls, c.smtp.auth),
        (465, TlsMode::Tls, true)
    );
    assert_eq!(c.smtp.password.as_deref(), Some("app password with spaces"));
    assert_eq!(c.smtp.from.as_deref(), Some("Carette <rides@example.org>"));
    assert_eq!((c.smtp.timeout_secs, c.smtp.pool_size), (30, 8));
    assert_eq!(c.security.token_ttl_days, 14);
    assert_eq!(c.jobs.expire_after_hours, 48);
    assert_eq!(
        c.jobs.reminder_time,
        NaiveTime::from_hms_opt(18, 30, 0).unwrap()
    );
    assert_eq!(c.jobs.timezone, chrono_tz::America::Montreal);
    assert_eq!(c.routing.osrm_url.as_deref(), Some("http://localhost:5000"));
    assert_eq!(
        (c.routing.notify_threshold_minutes, c.routing.timeout_secs),
        (10, 3)
    );
    assert_eq!(c.routing.stop_minutes, 1);
    assert_eq!(c.email.max_per_recipient_per_hour, 50);
    assert!(!c.dev_mode());
}

/// Each invalid fixture: the key its error must name, and a fragment of the reason.
const INVALID: [(&str, &str, &str); 22] = [
    (
        "unknown_key.toml",
        "smtp.passwd",
        "unknown key `smtp.passwd` (did you mean `password`?)",
    ),
    (
        "unknown_section.toml",
        "smpt",
        "unknown key `smpt` (did you mean `smtp`?)",
    ),
    ("wrong_type.toml", "smtp.port", "expected a whole number"),
    (
        "bad_listen.toml",
        "server.listen",
        "invalid listen address \"localhost\"",
    ),
    (
        "unknown_timezone.toml",
        "jobs.timezone",
        "unknown time zone \"Europe/Pariss\"",
    ),
    (
        "dotted_keys.toml",
        "jobs.timezone",
        "unknown time zone \"Mars/Olympus\"",
    ),
    (
        "reminder_25h.toml",
        "jobs.reminder_time",
        "invalid time \"25:00\"",
    ),
    (
        "reminder_10h.toml",
        "jobs.reminder_time",
        "expected \"HH:MM\"",
    ),
    ("bad_tls.toml", "smtp.tls", "unknown variant `ssl`"),
    (
        "bad_lang.toml",
        "email.default_lang",
        "expected \"fr\" or \"en\"",
    ),
    (
        "bad_base_url.toml",
        "server.base_url",
        "expected http:// or https://",
    ),
    ("negative_number.toml", "security.token_ttl_days", "-1"),
    (
        "password_wrong_type.toml",
        "smtp.password",
        "invalid value (not shown)",
    ),
    ("short_secret.toml", "security.secret_key", "too short"),
    (
        "retention_zero.toml",
        "retention.trips_days",
        "0 is not a number of days to keep data",
    ),
    (
        "retention_negative.toml",
        "retention.eml_days",
        "-3 is not a number of days to keep data",
    ),
    ("secret_31_chars.toml", "security.secret_key", "at least 32"),
    (
        "low_variety_secret.toml",
        "security.secret_key",
        "almost no variety",
    ),
    (
        "lease_below_smtp_timeout.toml",
        "email.outbox_lease_secs",
        "90 is below twice smtp.timeout_secs (60)",
    ),
    ("syntax_error.toml", "line 3", "invalid TOML"),
    (
        "bad_trusted_proxy.toml",
        "server.trusted_proxies",
        "host bits are set (did you mean \"10.0.0.0/8\"?)",
    ),
    (
        "zero_request_timeout.toml",
        "server.request_timeout_secs",
        "expected 1 to 600",
    ),
];

#[test]
fn every_invalid_fixture_names_the_file_and_the_key() {
    for (name, key, reason) in INVALID {
        let path = fixture(name);
        let message = load_file(&path).unwrap_err().to_string();
        let prefix = format!("{}: {key}", path.display());
        assert!(
            message.starts_with(&prefix),
            "{name}: {message:?} should start with {prefix:?}"
        );
        assert!(
            message.contains(reason),
            "{name}: {message:?} should contain {reason:?}"
        );
    }
}

#[test]
fn errors_point_at_the_line() {
    let message = load_file(&fixture("unknown_key.toml"))
        .unwrap_err()
        .to_string();
    assert!(message.ends_with("(line 4)"), "{message}");
    // Validation errors (after parsing) are located too.
    let message = load_file(&fixture("bad_base_url.toml"))
        .unwrap_err()
        .to_string();
    assert!(message.ends_with("(line 2)"), "{message}");
}

#[test]
fn no_secret_value_appears_in_any_error() {
    let secrets = [
        "hunter2-secret-value",
        "unterminated-secret-value",
        "918273645546372819",
        "tiny-secret-val",
        "abababababababababab",
        "Zq8-vR2_pL5xK9mT3wN7bY1cH4jF6dA",
    ];
    for (name, _, _) in INVALID {
        let error = load_file(&fixture(name)).unwrap_err();
        for text in [error.to_string(), format!("{error:?}")] {
            for secret in secrets {
                assert!(!text.contains(secret), "{name} leaks a secret: {text}");
            }
        }
    }
    let env = env_of(&[("SECRET_KEY", "short-env-key")]);
    let error = load_with(None, &env, None).unwrap_err().to_string();
    assert!(
        error.starts_with("environment variable SECRET_KEY"),
        "{error}"
    );
    assert!(!error.contains("short-env-key"), "{error}");
    let env = env_of(&[("SMTP_PASSWORD", "pw-in-env-123")]);
    let error = load_with(None, &env, None).unwrap_err().to_string();
    assert!(error.starts_with("smtp.user: required"), "{error}");
    assert!(!error.contains("pw-in-env-123"), "{error}");
}

#[test]
fn debug_output_hides_secrets() {
    let mut config = Config::default();
    config.smtp.password = Some("pw-visible?".into());
    config.security.secret_key = Some("key-visible?".into());
    config.server.api_token = Some("token-visible?".into());
    let debug = format!("{config:?}");
    assert!(!debug.contains("visible?"), "{debug}");
    assert!(debug.contains("password: Some(\"***\")"), "{debug}");
}
