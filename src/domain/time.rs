//! Time rules: the stored timestamp format and the local-time logic of the scheduled jobs.
//! All instants are UTC; the configured zone only decides "today", "tomorrow" and "10:00".

use std::fmt::Write as _;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

/// SPEC: timestamps are stored as UTC text `YYYY-MM-DD HH:MM:SS`, so `datetime('now')` compares.
pub const DB_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

// Both directions are written out rather than going through chrono's format strings:
// every row read or written converts a few timestamps, and the generic formatter and
// parser showed in profiles of the request path. Tested against DB_FORMAT below.
pub fn to_db(t: DateTime<Utc>) -> String {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format(DB_FORMAT).to_string();
    }
    let mut out = String::with_capacity(19);
    let _ = write!(
        out,
        "{year:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    out
}

pub fn from_db(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let fixed = b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':';
    if !fixed {
        return NaiveDateTime::parse_from_str(s, DB_FORMAT)
            .ok()
            .map(|n| n.and_utc());
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 7)?, num(8, 10)?)?;
    let time = NaiveTime::from_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)?;
    Some(date.and_time(time).and_utc())
}

/// The instant a local wall-clock time happens on `date`. A time inside the spring-forward
/// gap maps to the first instant after the gap; an ambiguous one (autumn) to the earlier.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        LocalResult::None => {
            // Walk forward minute by minute out of the gap (gaps are at most a few hours).
            let mut probe = naive;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            naive.and_utc()
        }
    }
}

pub fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// Local midnight (start of today in `tz`) as a UTC instant: "emails sent today" starts here.
pub fn start_of_local_day(tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    local_instant(tz, local_date(tz, now), NaiveTime::MIN)
}

/// [start, end) in UTC of a local calendar day.
pub fn local_day_bounds(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (
        local_instant(tz, date, NaiveTime::MIN),
        local_instant(tz, next, NaiveTime::MIN),
    )
}

/// The most recent scheduled reminder instant at or before `now`: today's `at` if it has
/// passed, else yesterday's. Runs are keyed by this slot, so a day has exactly one
/// (DST days included) and a missed slot is still "due" at the next start.
pub fn reminder_slot(tz: Tz, at: NaiveTime, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = local_date(tz, now);
    let slot = local_instant(tz, today, at);
    if slot <= now {
        slot
    } else {
        let yesterday = today.pred_opt().unwrap_or(today);
        local_instant(tz, yesterday, at)
    }
}

/// Every reminder run, whatever the hour (the daily slot, a catch-up at start, a cron or
/// hand-run `carette jobs reminders`), covers the trips departing after `now` and before
/// the end of tomorrow (local date): an early run still finds tomorrow's riders, and a run
/// after downtime still finds today's.
pub fn reminder_window(tz: Tz, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = local_date(tz, now);
    let after_tomorrow = today
        .checked_add_days(chrono::Days::new(2))
        .unwrap_or(today);
    (now, local_instant(tz, after_tomorrow, NaiveTime::MIN))
}

/// "aujourd'hui" or "demain": the departure's local day seen from `now`'s.
pub fn day_word_fr(tz: Tz, departure: DateTime<Utc>, now: DateTime<Utc>) -> &'static str {
    if local_date(tz, departure) <= local_date(tz, now) {
        "aujourd'hui"
    } else {
        "demain"
    }
}

/// Expiry runs hourly: its slot is the start of the current UTC hour.
pub fn hourly_slot(now: DateTime<Utc>) -> DateTime<Utc> {
    let secs = now.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written conversions agree with chrono's DB_FORMAT both ways, and refuse
    /// what chrono refuses.
    #[test]
    fn db_timestamps_match_the_format_both_ways() {
        let mut t = utc(1970, 1, 1, 0, 0);
        let end = utc(2100, 1, 1, 0, 0);
        while t < end {
            let text = to_db(t);
            assert_eq!(text, t.format(DB_FORMAT).to_string());
            assert_eq!(from_db(&text), Some(t));
            t += Duration::seconds(86_399 * 37 + 17);
        }
        for bad in [
            "",
            "2026-13-01 00:00:00",
            "2026-02-30 10:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01 10:60:00",
            "2026-01-01T10:00:00",
            "2026-01-01 10:00:0x",
            "2026-01-01 10:00",
        ] {
            assert_eq!(
                from_db(bad),
                NaiveDateTime::parse_from_str(bad, DB_FORMAT)
                    .ok()
                    .map(|n| n.and_utc()),
                "{bad:?}"
            );
            assert_eq!(from_db(bad), None, "{bad:?}");
        }
    }
    use chrono_tz::Europe::Paris;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn db_format_round_trips() {
        let t = utc(2026, 12, 3, 7, 5);
        assert_eq!(to_db(t), "2026-12-03 07:05:00");
        assert_eq!(from_db("2026-12-03 07:05:00"), Some(t));
        assert_eq!(from_db("2026-12-03T07:05:00Z"), None);
    }

    #[test]
    fn reminder_slot_is_local_ten_oclock_across_dst() {
        let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap();
        // Winter: 10:00 Paris = 09:00 UTC; summer: 08:00 UTC.
        assert_eq!(
            reminder_slot(Paris, ten, utc(2026, 12, 3, 9, 30)),
            utc(2026, 12, 3, 9, 0)
        );
        assert_eq!(
            reminder_slot(Paris, ten, utc(2026, 12, 3, 8, 59)),
            utc(2026, 12, 2, 9, 0)
        );
        // Spring-forward day 2026-03-29: 10:00 CEST = 08:00 UTC; the day before 09:00 UTC.
        assert_eq!(
            reminder_slot(Paris, ten, utc(2026, 3, 29, 8, 0)),
            utc(2026, 3, 29, 8, 0)
        );
        assert_eq!(
            reminder_slot(Paris, ten, utc(2026, 3, 29, 7, 59)),
            utc(2026, 3, 28, 9, 0)
        );
        // Fall-back day 2026-10-25: 10:00 CET = 09:00 UTC.
        assert_eq!(
            reminder_slot(Paris, ten, utc(2026, 10, 25, 9, 0)),
            utc(2026, 10, 25, 9, 0)
        );
        assert_eq!(
            reminder_slot(Paris, ten, utc(2026, 10, 25, 8, 30)),
            utc(2026, 10, 24, 8, 0)
        );
    }

    #[test]
    fn every_day_has_exactly_one_slot_even_on_dst_days() {
        for at in ["00:00", "02:30", "10:00", "23:59"] {
            let at = NaiveTime::parse_from_str(at, "%H:%M").unwrap();
            let mut t = utc(2026, 3, 27, 0, 0);
            let mut slots = std::collections::BTreeSet::new();
            while t < utc(2026, 3, 31, 0, 0) {
                slots.insert(reminder_slot(Paris, at, t));
                t += Duration::minutes(10);
            }
            let mut t = utc(2026, 10, 23, 0, 0);
            while t < utc(2026, 10, 27, 0, 0) {
                slots.insert(reminder_slot(Paris, at, t));
                t += Duration::minutes(10);
            }
            let days: std::collections::BTreeSet<_> =
                slots.iter().map(|s| local_date(Paris, *s)).collect();
            assert_eq!(slots.len(), days.len(), "one slot per local day for {at}");
        }
    }

    fn paris(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Paris
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_reminder_window_ends_with_tomorrow_whatever_the_hour() {
        // Winter: the end of 2026-12-04 in Paris is 23:00 UTC.
        let end = utc(2026, 12, 4, 23, 0);
        for now in [
            paris(2026, 12, 3, 0, 0),
            paris(2026, 12, 3, 6, 30),
            paris(2026, 12, 3, 10, 0),
            paris(2026, 12, 3, 23, 59),
        ] {
            assert_eq!(reminder_window(Paris, now), (now, end), "{now}");
        }
        // Spring forward: a run on the 28th covers the 29th (23 h long) until 22:00 UTC.
        let now = paris(2026, 3, 28, 6, 30);
        assert_eq!(reminder_window(Paris, now).1, utc(2026, 3, 29, 22, 0));
        // A run on the short day itself ends with the 30th.
        let now = paris(2026, 3, 29, 3, 0);
        assert_eq!(now, utc(2026, 3, 29, 1, 0));
        assert_eq!(reminder_window(Paris, now).1, utc(2026, 3, 30, 22, 0));
        // Fall back: the 25th is 25 h long; a run on the 24th ends at 23:00 UTC on the 25th.
        let now = paris(2026, 10, 24, 23, 59);
        assert_eq!(reminder_window(Paris, now).1, utc(2026, 10, 25, 23, 0));
    }

    #[test]
    fn the_day_word_is_the_real_local_day() {
        let now = paris(2026, 12, 3, 23, 59);
        assert_eq!(day_word_fr(Paris, paris(2026, 12, 4, 0, 1), now), "demain");
        assert_eq!(
            day_word_fr(Paris, paris(2026, 12, 3, 23, 59), now),
            "aujourd'hui"
        );
        // 23:30 UTC on the 3rd is already the 4th in Paris.
        let now = paris(2026, 12, 4, 0, 10);
        assert_eq!(
            day_word_fr(Paris, utc(2026, 12, 3, 23, 30), now),
            "aujourd'hui"
        );
        assert_eq!(
            day_word_fr(
                Paris,
                paris(2026, 10, 25, 2, 30),
                paris(2026, 10, 24, 22, 0)
            ),
            "demain"
        );
    }

    #[test]
    fn gap_times_move_forward() {
        // 02:30 does not exist in Paris on 2026-03-29: it becomes 03:00 CEST = 01:00 UTC.
        let t = local_instant(
            Paris,
            NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
            NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
        );
        assert_eq!(t, utc(2026, 3, 29, 1, 0));
    }

    #[test]
    fn local_days_and_hours() {
        assert_eq!(
            start_of_local_day(Paris, utc(2026, 12, 3, 22, 30)),
            utc(2026, 12, 2, 23, 0)
        );
        assert_eq!(
            start_of_local_day(Paris, utc(2026, 12, 3, 23, 30)),
            utc(2026, 12, 3, 23, 0)
        );
        assert_eq!(
            start_of_local_day(Paris, utc(2026, 7, 3, 12, 0)),
            utc(2026, 7, 2, 22, 0)
        );
        let (s, e) = local_day_bounds(Paris, NaiveDate::from_ymd_opt(2026, 10, 25).unwrap());
        assert_eq!(e - s, Duration::hours(25));
        assert_eq!(hourly_slot(utc(2026, 1, 1, 5, 59)), utc(2026, 1, 1, 5, 0));
    }
}
