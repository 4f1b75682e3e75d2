//! Reading the instants of a template context, and placing them in the configured zone
//! (the wordings themselves are in `mail::words`, per language).

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

/// A timestamp in the context JSON that is neither RFC 3339 nor the store's UTC text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date-time {0:?}: expected RFC 3339, e.g. \"2026-12-03T07:00:00Z\"")]
pub struct InvalidDateTime(pub String);

/// Parses an instant written as RFC 3339, or as the store's UTC text
/// `YYYY-MM-DD HH:MM:SS` (so values read straight from SQLite also work).
pub fn parse_instant(value: &str) -> Result<DateTime<Utc>, InvalidDateTime> {
    let trimmed = value.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(dt.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S")
        .map(|naive| naive.and_utc())
        .map_err(|_| InvalidDateTime(value.to_owned()))
}

/// The instant as wall-clock time in `tz`.
pub fn local(instant: DateTime<Utc>, tz: Tz) -> DateTime<Tz> {
    instant.with_timezone(&tz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Lang;
    use crate::mail::words::Words;
    use chrono_tz::Europe::Paris;

    const FR: Words = Words {
        lang: Lang::Fr,
        this_year: 2026,
    };

    fn paris(s: &str) -> DateTime<Tz> {
        local(parse_instant(s).unwrap(), Paris)
    }

    #[test]
    fn winter_time_is_utc_plus_one() {
        let dt = paris("2026-12-03T07:00:00Z");
        assert_eq!(FR.datetime(&dt), "jeudi 3 décembre à 8 h");
    }

    #[test]
    fn summer_time_after_the_march_change_is_utc_plus_two() {
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST at 01:00 UTC.
        assert_eq!(
            FR.datetime(&paris("2026-03-29T00:30:00Z")),
            "dimanche 29 mars à 1 h 30"
        );
        assert_eq!(
            FR.datetime(&paris("2026-03-29T01:30:00Z")),
            "dimanche 29 mars à 3 h 30"
        );
        assert_eq!(FR.time(&paris("2026-03-29T08:00:00Z")), "10 h");
    }

    #[test]
    fn october_change_back_to_winter_time() {
        // 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET.
        assert_eq!(FR.time(&paris("2026-10-25T00:30:00Z")), "2 h 30");
        assert_eq!(FR.time(&paris("2026-10-25T01:30:00Z")), "2 h 30");
    }

    #[test]
    fn first_of_month_and_every_month_name_is_french() {
        assert_eq!(FR.date(&paris("2026-08-01T10:00:00Z")), "samedi 1er août");
        assert_eq!(
            FR.date(&paris("2026-02-15T12:00:00Z")),
            "dimanche 15 février"
        );
        for m in 1..=12 {
            let name = FR.date(&paris(&format!("2026-{m:02}-15T12:00:00Z")));
            assert!(name.chars().all(|c| !c.is_ascii_uppercase()), "{name}");
        }
    }

    #[test]
    fn accepts_offsets_and_store_format_rejects_garbage() {
        assert_eq!(
            parse_instant("2026-12-03T08:00:00+01:00").unwrap(),
            parse_instant("2026-12-03 07:00:00").unwrap()
        );
        assert!(parse_instant("3 décembre").is_err());
        assert!(parse_instant("").is_err());
    }
}
