//! French wording of dates and times ("jeudi 3 décembre à 08 h 00").
//!
//! chrono only knows English day and month names, and riders read French, so the
//! tables live here. Every instant is converted to the configured zone first:
//! the rider cares about the wall-clock time at the meeting point, DST included.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;

const DAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// One of the wordings below, picked by name (template filters, derived fields).
pub type Wording = fn(&DateTime<Tz>) -> String;

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

/// "jeudi 3 décembre" (the first of the month is "1er", as French writes it).
/// The year is left out: emails are about trips days away, and the full form
/// reads better on a phone.
pub fn date_fr(dt: &DateTime<Tz>) -> String {
    let day = dt.day();
    let day_word = if day == 1 {
        "1er".to_owned()
    } else {
        day.to_string()
    };
    format!(
        "{} {} {}",
        DAYS[dt.weekday().num_days_from_monday() as usize],
        day_word,
        MONTHS[dt.month0() as usize]
    )
}

/// "jeudi 3 décembre 2026", for the rare texts where the year matters (the SMTP test).
pub fn date_with_year_fr(dt: &DateTime<Tz>) -> String {
    format!("{} {}", date_fr(dt), dt.year())
}

/// "08 h 00".
pub fn time_fr(dt: &DateTime<Tz>) -> String {
    format!("{:02} h {:02}", dt.hour(), dt.minute())
}

/// "jeudi 3 décembre à 08 h 00".
pub fn datetime_fr(dt: &DateTime<Tz>) -> String {
    format!("{} à {}", date_fr(dt), time_fr(dt))
}

/// The instant as wall-clock time in `tz`.
pub fn local(instant: DateTime<Utc>, tz: Tz) -> DateTime<Tz> {
    instant.with_timezone(&tz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Paris;

    fn paris(s: &str) -> DateTime<Tz> {
        local(parse_instant(s).unwrap(), Paris)
    }

    #[test]
    fn winter_time_is_utc_plus_one() {
        let dt = paris("2026-12-03T07:00:00Z");
        assert_eq!(datetime_fr(&dt), "jeudi 3 décembre à 08 h 00");
    }

    #[test]
    fn summer_time_after_the_march_change_is_utc_plus_two() {
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST at 01:00 UTC.
        assert_eq!(
            datetime_fr(&paris("2026-03-29T00:30:00Z")),
            "dimanche 29 mars à 01 h 30"
        );
        assert_eq!(
            datetime_fr(&paris("2026-03-29T01:30:00Z")),
            "dimanche 29 mars à 03 h 30"
        );
        assert_eq!(time_fr(&paris("2026-03-29T08:00:00Z")), "10 h 00");
    }

    #[test]
    fn october_change_back_to_winter_time() {
        // 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET.
        assert_eq!(time_fr(&paris("2026-10-25T00:30:00Z")), "02 h 30");
        assert_eq!(time_fr(&paris("2026-10-25T01:30:00Z")), "02 h 30");
    }

    #[test]
    fn first_of_month_and_every_month_name_is_french() {
        assert_eq!(date_fr(&paris("2026-08-01T10:00:00Z")), "samedi 1er août");
        let names: Vec<String> = (1..=12)
            .map(|m| date_fr(&paris(&format!("2026-{m:02}-15T12:00:00Z"))))
            .collect();
        for (name, month) in names.iter().zip(MONTHS) {
            assert!(name.ends_with(month), "{name} / {month}");
        }
        assert_eq!(names[1], "dimanche 15 février");
    }

    #[test]
    fn local_date_can_differ_from_utc_date() {
        assert_eq!(
            datetime_fr(&paris("2026-12-31T23:30:00Z")),
            "vendredi 1er janvier à 00 h 30"
        );
        assert_eq!(
            date_with_year_fr(&paris("2026-12-31T23:30:00Z")),
            "vendredi 1er janvier 2027"
        );
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
