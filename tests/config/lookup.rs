//! Lookup order, environment overrides, and rules spanning several keys.

use std::path::Path;

use carette::config::{Config, LoadedConfig, PLACEHOLDER_SECRET, load_with, parse_str};
use chrono::NaiveTime;

use crate::{env_of, load_file, no_env, write};

#[test]
fn a_missing_explicit_config_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("x/y.toml");
    let platform = write(dir.path(), "platform.toml", "");
    let message = load_with(Some(&missing), &no_env, Some(&platform))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!("config file {} does not exist", missing.display())
    );
}

#[test]
fn lookup_order_is_explicit_then_env_then_platform_then_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let explicit = write(dir.path(), "explicit.toml", "[smtp]\nport = 1001\n");
    let from_env = write(dir.path(), "env.toml", "[smtp]\nport = 1002\n");
    let platform = write(dir.path(), "platform.toml", "[smtp]\nport = 1003\n");
    let env = env_of(&[("CARETTE_CONFIG", from_env.to_str().unwrap())]);
    let port = |loaded: LoadedConfig| (loaded.config.smtp.port, loaded.source);

    let got = load_with(Some(&explicit), &env, Some(&platform)).unwrap();
    assert_eq!(port(got), (1001, Some(explicit.clone())));
    let got = load_with(None, &env, Some(&platform)).unwrap();
    assert_eq!(port(got), (1002, Some(from_env)));
    let got = load_with(None, &no_env, Some(&platform)).unwrap();
    assert_eq!(port(got), (1003, Some(platform)));
    let absent = dir.path().join("absent.toml");
    let got = load_with(None, &no_env, Some(&absent)).unwrap();
    assert_eq!(port(got), (587, None));
    assert!(load_with(None, &no_env, None).unwrap().config.dev_mode());
}

#[test]
fn a_missing_carette_config_file_is_an_error_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let env = env_of(&[("CARETTE_CONFIG", missing.to_str().unwrap())]);
    let message = load_with(None, &env, None).unwrap_err().to_string();
    assert!(message.contains(&format!("config file {} does not exist", missing.display())));
    assert!(message.contains("CARETTE_CONFIG"), "{message}");
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[server]\nbase_url = \"http://file\"\n[smtp]\nhost = \"file-host\"\nport = 25\n";
    let path = write(dir.path(), "c.toml", text);
    let env = env_of(&[
        ("SMTP_HOST", "smtp.gmail.com"),
        ("SMTP_PORT", " 587 "),
        ("SMTP_USER", "me@gmail.com"),
        ("SMTP_PASSWORD", "abcd efgh ijkl mnop"),
        ("SECRET_KEY", "an-env-secret-of-sufficient-length"),
        ("BASE_URL", "https://rides.example.org/"),
    ]);
    let c = load_with(Some(&path), &env, None).unwrap().config;
    assert_eq!(c.smtp.host.as_deref(), Some("smtp.gmail.com"));
    assert_eq!(c.smtp.port, 587);
    assert_eq!(c.smtp.user.as_deref(), Some("me@gmail.com"));
    assert_eq!(c.smtp.password.as_deref(), Some("abcd efgh ijkl mnop"));
    // FROM_EMAIL unset: the sender defaults to the login address, as in the original.
    assert_eq!(c.smtp.from.as_deref(), Some("me@gmail.com"));
    assert_eq!(
        c.security.secret_key.as_deref(),
        Some("an-env-secret-of-sufficient-length")
    );
    assert_eq!(c.server.base_url, "https://rides.example.org");
    assert!(!c.dev_mode());

    let env = env_of(&[
        ("FROM_EMAIL", "Rides <rides@example.org>"),
        ("SMTP_HOST", ""),
    ]);
    let c = load_with(Some(&path), &env, None).unwrap().config;
    assert_eq!(c.smtp.from.as_deref(), Some("Rides <rides@example.org>"));
    assert_eq!(
        c.smtp.host.as_deref(),
        Some("file-host"),
        "empty variable = unset"
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    let cases = [
        (
            "SMTP_PORT",
            "abc",
            "environment variable SMTP_PORT (smtp.port): invalid port \"abc\"",
        ),
        (
            "SMTP_PORT",
            "70000",
            "environment variable SMTP_PORT (smtp.port)",
        ),
        (
            "BASE_URL",
            "rides.example.org",
            "environment variable BASE_URL (server.base_url)",
        ),
        (
            "FROM_EMAIL",
            "not a mailbox",
            "environment variable FROM_EMAIL (smtp.from)",
        ),
    ];
    for (var, value, expected) in cases {
        let message = load_with(None, &env_of(&[(var, value)]), None)
            .unwrap_err()
            .to_string();
        assert!(message.starts_with(expected), "{var}={value}: {message}");
    }
}

#[test]
fn sending_for_real_requires_host_and_sender() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "c.toml",
        "[smtp]\nuser = \"login\"\npassword = \"pw-1234\"\n",
    );
    let message = load_file(&path).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}: smtp.host: required", path.display())),
        "{message}"
    );
    assert!(!message.contains("pw-1234"));

    let path = write(
        dir.path(),
        "relay.toml",
        "[smtp]\nauth = false\nhost = \"localhost\"\n",
    );
    let message = load_file(&path).unwrap_err().to_string();
    assert!(
        message.contains("smtp.from: required because smtp.auth = false"),
        "{message}"
    );

    let path = write(
        dir.path(),
        "nouser.toml",
        "[smtp]\nhost = \"h\"\npassword = \"pw\"\n",
    );
    assert!(
        load_file(&path)
            .unwrap_err()
            .to_string()
            .contains("smtp.user: required")
    );
}

#[test]
fn empty_password_means_dev_mode_and_auth_false_means_relay() {
    let c = parse_str("[smtp]\npassword = \"\"\n", Path::new("c.toml")).unwrap();
    assert!(c.smtp.password.is_none() && c.dev_mode());
    let c = parse_str("[smtp]\nauth = false\n", Path::new("c.toml")).unwrap();
    assert!(!c.dev_mode());
}

#[test]
fn the_email_summary_says_how_emails_leave() {
    let c = parse_str("[smtp]\npassword = \"\"\n", Path::new("c.toml")).unwrap();
    assert_eq!(
        c.email_summary(),
        "DEV MODE: emails are logged and saved, not sent"
    );
    let c = parse_str(
        "[smtp]\nhost = \"smtp.example.org\"\npassword = \"p\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert_eq!(c.email_summary(), "SMTP smtp.example.org:587 · STARTTLS");
    let c = parse_str(
        "[smtp]\nauth = false\nhost = \"localhost\"\nport = 25\ntls = \"none\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert_eq!(
        c.email_summary(),
        "SMTP localhost:25 · no TLS (plain text) · unauthenticated relay"
    );
}

#[test]
fn reminder_time_accepts_a_toml_time_literal_without_seconds() {
    let c = parse_str("[jobs]\nreminder_time = 07:05:00\n", Path::new("c.toml")).unwrap();
    assert_eq!(
        c.jobs.reminder_time,
        NaiveTime::from_hms_opt(7, 5, 0).unwrap()
    );
    // TOML 1.1 allows omitting the seconds.
    let c = parse_str("[jobs]\nreminder_time = 18:45\n", Path::new("c.toml")).unwrap();
    assert_eq!(
        c.jobs.reminder_time,
        NaiveTime::from_hms_opt(18, 45, 0).unwrap()
    );
    let err = parse_str("[jobs]\nreminder_time = 07:05:30\n", Path::new("c.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("c.toml: jobs.reminder_time: invalid time"),
        "{err}"
    );
    for bad in ["9:00", "10:00:00", "10:60", " 10:00", "ab:cd"] {
        let text = format!("[jobs]\nreminder_time = \"{bad}\"\n");
        assert!(
            parse_str(&text, Path::new("c.toml")).is_err(),
            "{bad} accepted"
        );
    }
}

#[test]
fn validate_rules_on_a_config_built_in_code() {
    assert!(Config::default().validate().is_ok());
    let mut c = Config::default();
    c.security.token_ttl_days = 0;
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "security.token_ttl_days: 0 is out of range: expected 1 to 365"
    );
    let mut c = Config::default();
    c.server.cors_origins = vec!["https://example.org/path".into()];
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .starts_with("server.cors_origins")
    );
    // No "*" for framing, and nothing that could smuggle a directive into the CSP header.
    for bad in [
        "*",
        "https://example.org/path",
        "https://a.example;script-src",
        "example.org",
    ] {
        let mut c = Config::default();
        c.server.embed_origins = vec![bad.into()];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .starts_with("server.embed_origins"),
            "{bad}"
        );
    }
    let mut c = Config::default();
    c.server.embed_origins = vec!["https://www.example.org".into()];
    assert!(c.validate().is_ok());
    let mut c = Config::default();
    c.security.secret_key = Some(PLACEHOLDER_SECRET.into());
    let message = c.validate().unwrap_err().to_string();
    assert!(
        message.contains("placeholder") && !message.contains(PLACEHOLDER_SECRET),
        "{message}"
    );
}
