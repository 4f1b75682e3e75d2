//! TOML parsing with errors that name the key (found from toml's error span) and custom
//! deserializers whose messages tell the operator what a valid value looks like.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use toml::de::{DeTable, DeValue};

use super::{Config, ConfigError};

/// Keys whose values are secrets: their error messages never quote the value.
pub(super) const SECRET_KEYS: [&str; 3] =
    ["smtp.password", "security.secret_key", "server.api_token"];

pub(super) fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
    let root = DeTable::parse(text).map_err(|e| {
        let (line, column) = position(text, e.span().map_or(0, |s| s.start));
        ConfigError::Syntax {
            path: source.to_path_buf(),
            line,
            column,
            // `message()` rather than Display: Display quotes the source line, which may
            // hold a password.
            message: e.message().to_owned(),
        }
    })?;
    Config::deserialize(toml::de::Deserializer::from(root)).map_err(|e| {
        // Parse again only on this error path: the first tree was consumed.
        let key = e.span().and_then(|span| {
            let root = DeTable::parse(text).ok()?;
            find_key(root.get_ref(), &span, "")
        });
        let line = e.span().map(|s| position(text, s.start).0);
        let (key, message) = describe(key, e.message());
        ConfigError::Key {
            path: source.to_path_buf(),
            key,
            message,
            line,
        }
    })
}

/// 1-based line and column of a byte offset.
pub(super) fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.as_bytes().get(..offset).unwrap_or_default();
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = text
        .get(line_start..offset)
        .map_or(offset - line_start, |s| s.chars().count())
        + 1;
    (line, column)
}

/// The dotted path of the key (or value) at `span`; the deepest match wins, since a
/// `[section]` header's span does not cover the keys below it.
pub(super) fn find_key(table: &DeTable<'_>, span: &Range<usize>, prefix: &str) -> Option<String> {
    let inside = |outer: Range<usize>| outer.start <= span.start && span.end <= outer.end;
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        if let DeValue::Table(child) = value.get_ref()
            && let Some(found) = find_key(child, span, &path)
        {
            return Some(found);
        }
        if inside(key.span()) || inside(value.span()) {
            return Some(path);
        }
    }
    None
}

/// Span of the value of a dotted key, for pointing validation errors at a line.
pub(super) fn key_span(table: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
    let (head, rest) = key.split_once('.').unwrap_or((key, ""));
    let value = table.get(head)?;
    match (rest, value.get_ref()) {
        ("", _) => Some(value.span()),
        (rest, DeValue::Table(child)) => key_span(child, rest),
        _ => None,
    }
}

/// Turns serde's message into one for an operator, without quoting secret values.
fn describe(key: Option<String>, raw: &str) -> (String, String) {
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        // The span normally gives the full path; fall back to the bare name.
        let key = key.unwrap_or_else(|| name.to_owned());
        let mut message = format!("unknown key `{key}`");
        if let Some(best) = closest(name, &valid) {
            message.push_str(&format!(" (did you mean `{best}`?)"));
        }
        if !valid.is_empty() {
            message.push_str(&format!("; valid keys here: {}", valid.join(", ")));
        }
        return (key, message);
    }
    let key = key.unwrap_or_else(|| "(document)".to_owned());
    let message = if SECRET_KEYS.contains(&key.as_str()) {
        match raw.rsplit_once(", expected ") {
            Some((_, expected)) => format!("invalid value (not shown), expected {expected}"),
            None => "invalid value (not shown)".to_owned(),
        }
    } else {
        raw.replace("expected u16", "expected a whole number from 0 to 65535")
            .replace(
                "expected u32",
                "expected a whole number from 0 to 4294967295",
            )
            .replace("expected u64", "expected a whole number, 0 or more")
            .replace("expected a sequence", "expected an array")
            .replace("expected struct ", "expected a table: ")
    };
    (key, message)
}

/// The valid name nearest to a typo, if it is near enough to be a plausible intent.
fn closest<'a>(typo: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(typo, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

pub(super) fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.trim().parse().map_err(|_| {
        D::Error::custom(format!(
            "invalid listen address \"{text}\": expected IP:port such as \"127.0.0.1:8080\" or \"[::]:8080\""
        ))
    })
}

/// A list of IPs / CIDR blocks; the first bad one is named.
pub(super) fn ip_nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<crate::net::IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| s.parse().map_err(D::Error::custom))
        .collect()
}

pub(super) fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(trim_trailing_slashes(&String::deserialize(d)?))
}

pub(super) fn trim_trailing_slashes(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// Accepts the documented string form "HH:MM" and, as a convenience, a TOML local time
/// literal without seconds (`reminder_time = 10:00`).
pub(super) fn reminder_time<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
    match toml::Value::deserialize(d)? {
        toml::Value::String(text) => parse_hhmm(&text).map_err(D::Error::custom),
        toml::Value::Datetime(toml::value::Datetime {
            date: None,
            time: Some(t),
            offset: None,
        }) if t.second == 0 && t.nanosecond == 0 => {
            NaiveTime::from_hms_opt(t.hour.into(), t.minute.into(), 0)
                .ok_or_else(|| D::Error::custom("invalid time: expected \"HH:MM\""))
        }
        other => Err(D::Error::custom(format!(
            "invalid time {other}: expected a string \"HH:MM\" (24-hour clock, e.g. \"10:00\")"
        ))),
    }
}

/// Strict "HH:MM": two digits each, so "9:00", "10h" and "10:00:00" are refused rather
/// than guessed at.
pub(super) fn parse_hhmm(text: &str) -> Result<NaiveTime, String> {
    let invalid =
        || format!("invalid time \"{text}\": expected \"HH:MM\" (24-hour clock, e.g. \"10:00\")");
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return Err(invalid());
    }
    let number = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let (Some(hour), Some(minute)) = (number(&bytes[..2]), number(&bytes[3..])) else {
        return Err(invalid());
    };
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(invalid)
}

pub(super) fn timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map_err(|_| {
        D::Error::custom(format!(
            "unknown time zone \"{name}\": expected an IANA name such as \"Europe/Paris\""
        ))
    })
}

/// `~/` is expanded (operators write it, shells don't expand it inside TOML) and relative
/// paths are anchored at the config file's directory, so a daemon started from `/` by
/// systemd finds the same files as the operator's shell.
pub(super) fn resolve_path(path: &Path, base: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(dirs) = directories::BaseDirs::new()
    {
        return dirs.home_dir().join(rest);
    }
    if path.is_relative() {
        base.join(path)
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hhmm_is_strict() {
        assert_eq!(parse_hhmm("00:00"), Ok(NaiveTime::MIN));
        assert_eq!(
            parse_hhmm("23:59"),
            Ok(NaiveTime::from_hms_opt(23, 59, 0).unwrap())
        );
        for bad in [
            "24:00",
            "12:60",
            "1:00",
            "12:0",
            "12-00",
            "+1:00",
            "١٢:٠٠",
            "",
        ] {
            assert!(parse_hhmm(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 6), (2, 1));
        assert_eq!(position(text, text.find('=').unwrap()), (1, 3));
        assert_eq!(position(text, text.rfind('=').unwrap()), (2, 4));
        assert_eq!(position(text, 10_000).0, 3, "clamped to the end");
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let valid = ["host", "port", "password"];
        assert_eq!(closest("passwd", &valid), Some("password"));
        assert_eq!(closest("hots", &valid), Some("host"));
        assert_eq!(closest("timezone", &valid), None);
    }
}
