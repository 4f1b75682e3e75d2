//! The one fixture module of the integration tests, included by every test binary:
//! a Service over a real SQLite file, sample inputs, the binary runner, and the real
//! peers the tests talk to (in-process SMTP server, OSRM stub, HTTP server, TUI harness).
#![allow(dead_code, unused_imports)]

pub mod daemon;
pub mod db;
pub mod hot_queries;
pub mod http;
pub mod osrm_stub;
pub mod smtp_server;
pub mod tui;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use carette::config::{Config, TlsMode};
use carette::service::{OfferInput, PlaceInput, ReservationInput, Service, Settings};
use carette::store::Store;
use chrono::{DateTime, TimeZone, Utc};

pub use db::{dump, outbox};
pub use smtp_server::{Received, SmtpServer, Stage};

/// Never in any output: tests grep for it.
pub const PASSWORD: &str = "s3cret-Pa55word-xyz";
pub const USER: &str = "rides@example.org";
pub const FROM: &str = "Carette <rides@example.org>";
/// The server secret of every test configuration (also never in any output).
pub const SECRET_KEY: &str = "test-secret-0123456789abcdef-0123456789";
pub const SECRET: &[u8] = SECRET_KEY.as_bytes();

/// A Service over a fresh SQLite file in its own temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub service: Service,
}

pub fn fixture() -> Fixture {
    fixture_with(Settings::default())
}

pub fn fixture_with(settings: Settings) -> Fixture {
    fixture_in(tempfile::tempdir().unwrap(), settings)
}

pub fn fixture_in(dir: tempfile::TempDir, settings: Settings) -> Fixture {
    let path = dir.path().join("carette.db");
    let store = Store::open(&path).unwrap();
    let service = Service::new(Arc::new(store), settings);
    Fixture { dir, path, service }
}

pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

pub fn place(label: &str) -> PlaceInput {
    PlaceInput {
        label: label.into(),
        lat: None,
        lon: None,
    }
}

pub fn offer_input(departure: DateTime<Utc>, seats: i64) -> OfferInput {
    OfferInput {
        driver_name: "Jean Dupont".into(),
        driver_email: "jean@example.org".into(),
        origin: place("Lyon Part-Dieu"),
        destination: place("Grenoble Gare"),
        departure_at: departure.to_rfc3339(),
        seats,
        lang: None,
    }
}

pub fn request(name: &str, email: &str, seats: i64) -> ReservationInput {
    ReservationInput {
        passenger_name: name.into(),
        passenger_email: email.into(),
        seats,
        pickup: Some(place("Place Bellecour")),
        message: Some("J'ai un petit sac".into()),
        lang: None,
    }
}

/// A one-seat request whose message carries markup, for the escaping checks.
pub fn request_with_markup(name: &str, email: &str) -> ReservationInput {
    ReservationInput {
        message: Some("J'ai un sac <b>& une valise</b>".into()),
        ..request(name, email, 1)
    }
}

/// SMTP settings for the in-process server: plain TCP (it has no TLS), with login.
pub fn smtp_config(port: u16) -> Config {
    let mut c = Config::default();
    c.smtp.host = Some("127.0.0.1".into());
    c.smtp.port = port;
    c.smtp.tls = TlsMode::None;
    c.smtp.user = Some(USER.into());
    c.smtp.password = Some(PASSWORD.into());
    c.smtp.from = Some(FROM.into());
    c.smtp.timeout_secs = 5;
    c.server.base_url = "https://rides.example.org".into();
    c
}

/// The same settings as a TOML file (for the binary), with the database in `dir`.
pub fn write_config(dir: &Path, port: u16, extra_smtp: &str) -> PathBuf {
    let text = format!(
        r#"[server]
base_url = "https://rides.example.org"

[database]
path = "{db}"

[security]
secret_key = "{SECRET_KEY}"

[smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
user = "{USER}"
password = "{PASSWORD}"
from = "{FROM}"
timeout_secs = 3
{extra_smtp}
"#,
        db = dir.join("carette.db").display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary with `args` and none of the seed's environment overrides;
/// returns (exit code, stdout, stderr).
pub fn run_carette(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_carette"));
    cmd.args(args)
        .env_remove("CARETTE_CONFIG")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info");
    for var in [
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "FROM_EMAIL",
        "SECRET_KEY",
        "BASE_URL",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
