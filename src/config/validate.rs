//! Rules a TOML type cannot express. Each failure is (dotted key, message); messages
//! never quote a secret.

use super::{Config, PLACEHOLDER_SECRET};

type Failure = (&'static str, String);

/// Shortest accepted `security.secret_key`, in characters: 32 random characters of a
/// 64-symbol alphabet are 192 bits, far beyond brute force (`carette init` writes 43).
pub const MIN_SECRET_CHARS: usize = 32;
/// Fewest distinct characters in an accepted `security.secret_key`. A random key of 32
/// characters, even hexadecimal (16 symbols), has about 14; `aaaa…` or `abababab…` has
/// one or two and is guessable whatever its length.
pub const MIN_SECRET_DISTINCT_CHARS: usize = 8;
/// Shortest accepted `server.api_token` (it is compared in constant time and rate limited).
pub const MIN_API_TOKEN_CHARS: usize = 16;

pub(super) fn validate(config: &Config) -> Result<(), Failure> {
    server(config)?;
    smtp(config)?;
    let security = &config.security;
    if let Some(key) = &security.secret_key {
        check_secret_key(key).map_err(|m| ("security.secret_key", m.to_owned()))?;
    }
    // Upper bounds keep date arithmetic far from chrono's limits and catch unit mistakes.
    in_range(
        "security.token_ttl_days",
        security.token_ttl_days.into(),
        1,
        365,
    )?;
    in_range(
        "jobs.expire_after_hours",
        config.jobs.expire_after_hours.into(),
        1,
        8760,
    )?;
    in_range(
        "email.max_per_recipient_per_hour",
        config.email.max_per_recipient_per_hour.into(),
        1,
        // A load test sets a huge value to take the cap out of the measurement.
        1_000_000_000,
    )?;
    retention(config)?;
    let routing = &config.routing;
    if let Some(url) = &routing.osrm_url {
        http_url("routing.osrm_url", url)?;
    }
    in_range("routing.timeout_secs", routing.timeout_secs, 1, 300)?;
    if let Some(path) = &config.database.path
        && path.is_dir()
    {
        return fail(
            "database.path",
            format!(
                "{} is a directory; give a file path such as {}",
                path.display(),
                path.join("carette.db").display()
            ),
        );
    }
    if let Some(dir) = &config.email.templates_dir
        && !dir.is_dir()
    {
        return fail(
            "email.templates_dir",
            format!("{} is not a directory", dir.display()),
        );
    }
    Ok(())
}

/// Refuses the published placeholder and keys short enough to brute-force. The message
/// never contains the key.
pub fn check_secret_key(key: &str) -> Result<(), &'static str> {
    if key.trim() == PLACEHOLDER_SECRET || key.trim_start().starts_with("CHANGE-ME") {
        return Err(
            "is the placeholder from config.example.toml, which anyone can read: \
             replace it with a random value (`carette init` writes one), or remove it to \
             have a key generated in the data dir",
        );
    }
    if key.chars().count() < MIN_SECRET_CHARS {
        return Err("is too short: use at least 32 random characters (`carette init` writes one)");
    }
    let distinct: std::collections::HashSet<char> = key.chars().collect();
    if distinct.len() < MIN_SECRET_DISTINCT_CHARS {
        return Err(
            "has almost no variety (fewer than 8 different characters), so it is easy to \
             guess: use a random value (`carette init` writes one)",
        );
    }
    Ok(())
}

fn server(config: &Config) -> Result<(), Failure> {
    let server = &config.server;
    http_url("server.base_url", &server.base_url)?;
    if let Some(token) = &server.api_token {
        if token.chars().count() < MIN_API_TOKEN_CHARS {
            return fail(
                "server.api_token",
                "is too short: use at least 16 random characters".into(),
            );
        }
        if token.chars().any(char::is_whitespace) {
            return fail(
                "server.api_token",
                "must not contain spaces (it is sent in an HTTP header)".into(),
            );
        }
    }
    for origin in &server.cors_origins {
        if origin != "*" && !is_origin(origin) {
            return fail(
                "server.cors_origins",
                format!(
                    "invalid origin \"{origin}\": expected \"*\" or scheme://host[:port] such as \"https://example.org\""
                ),
            );
        }
    }
    for origin in &server.embed_origins {
        // No "*": a page that any site may frame invites clickjacking.
        if !is_origin(origin) {
            return fail(
                "server.embed_origins",
                format!(
                    "invalid origin \"{origin}\": expected scheme://host[:port] such as \"https://www.example.org\""
                ),
            );
        }
    }
    in_range(
        "server.rate_limit_per_minute",
        server.rate_limit_per_minute.into(),
        1,
        1_000_000,
    )?;
    in_range(
        "server.rate_limit_burst",
        server.rate_limit_burst.into(),
        1,
        1_000_000,
    )?;
    in_range(
        "server.max_connections_per_ip",
        server.max_connections_per_ip.into(),
        1,
        100_000,
    )?;
    in_range(
        "server.request_timeout_secs",
        server.request_timeout_secs,
        1,
        600,
    )
}

fn smtp(config: &Config) -> Result<(), Failure> {
    let smtp = &config.smtp;
    if let Some(host) = &smtp.host
        && (host.contains("://") || host.contains(char::is_whitespace) || host.contains('/'))
    {
        return fail(
            "smtp.host",
            format!(
                "invalid host \"{host}\": expected a host name such as \"smtp.gmail.com\", without scheme or port (the port is smtp.port)"
            ),
        );
    }
    if smtp.port == 0 {
        return fail("smtp.port", "must be from 1 to 65535".into());
    }
    if let Some(from) = &smtp.from
        && from.parse::<lettre::message::Mailbox>().is_err()
    {
        return fail(
            "smtp.from",
            format!(
                "invalid sender \"{from}\": expected \"Name <address@example.org>\" or \"address@example.org\""
            ),
        );
    }
    in_range("smtp.timeout_secs", smtp.timeout_secs, 1, 600)?;
    in_range("smtp.pool_size", smtp.pool_size.into(), 1, 64)?;
    in_range(
        "email.outbox_lease_secs",
        config.email.outbox_lease_secs,
        5,
        3600,
    )?;
    // A lease shorter than a send attempt could expire while the message is still being
    // sent: another sender (or a restarted daemon) would then send it a second time.
    let lease = config.email.outbox_lease_secs;
    if lease < smtp.timeout_secs.saturating_mul(2) {
        return fail(
            "email.outbox_lease_secs",
            format!(
                "{lease} is below twice smtp.timeout_secs ({}): an email still being sent could be sent twice; raise email.outbox_lease_secs to at least {} or lower smtp.timeout_secs",
                smtp.timeout_secs,
                smtp.timeout_secs.saturating_mul(2)
            ),
        );
    }
    let has_password = smtp.password.as_deref().is_some_and(|p| !p.is_empty());
    if smtp.auth && has_password && smtp.user.is_none() {
        return fail(
            "smtp.user",
            "required when smtp.password is set (the login, often the email address)".into(),
        );
    }
    if !config.dev_mode() {
        let why = if smtp.auth {
            "smtp.password is set"
        } else {
            "smtp.auth = false"
        };
        if smtp.host.is_none() {
            return fail(
                "smtp.host",
                format!(
                    "required because {why}, so emails are sent for real (unset the password for dev mode)"
                ),
            );
        }
        if smtp.from.is_none() {
            return fail(
                "smtp.from",
                format!("required because {why}: the sender, e.g. \"Carette <rides@example.org>\""),
            );
        }
    }
    Ok(())
}

fn retention(config: &Config) -> Result<(), Failure> {
    let r = &config.retention;
    for (key, days) in [
        ("retention.trips_days", r.trips_days),
        ("retention.sent_emails_days", r.sent_emails_days),
        ("retention.job_runs_days", r.job_runs_days),
        ("retention.eml_days", r.eml_days),
    ] {
        if days < 1 {
            // 0 would erase data the day it is written: surely a mistake, never a default.
            return fail(
                key,
                format!("{days} is not a number of days to keep data: expected 1 or more"),
            );
        }
        // Far enough for any policy, near enough to stay clear of date arithmetic limits.
        in_range(key, days.unsigned_abs(), 1, 36_500)?;
    }
    Ok(())
}

fn http_url(key: &'static str, url: &str) -> Result<(), Failure> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', ':']).next().unwrap_or_default());
    let bad_chars = url.contains(char::is_whitespace) || url.contains(['?', '#']);
    match host {
        Some(host) if !host.is_empty() && !bad_chars => Ok(()),
        _ => fail(
            key,
            format!(
                "invalid URL \"{url}\": expected http:// or https:// then a host, e.g. \"https://rides.example.org\" (no query or fragment)"
            ),
        ),
    }
}

/// A browser Origin: scheme://host[:port], nothing after.
fn is_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|r| {
        // rsplit and the ']' test keep IPv6 hosts ("[::1]:8080") whole.
        let (host, port) = match r.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, port),
            _ => (r, "1"),
        };
        !host.is_empty()
            // ';' ',' and quotes would let an origin smuggle a directive into a CSP header.
            && !host.contains(['/', '?', '#', ' ', ';', ',', '"', '\''])
            && port.parse::<u16>().is_ok_and(|p| p != 0)
    })
}

fn in_range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), Failure> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        fail(
            key,
            format!("{value} is out of range: expected {min} to {max}"),
        )
    }
}

fn fail(key: &'static str, message: String) -> Result<(), Failure> {
    Err((key, message))
}
