//! Each language's wording of dates, times and seat counts, and French elision.
//!
//! chrono only knows English names and no French at all, so the tables live here. Every
//! instant is converted to the configured zone first: the rider cares about the
//! wall-clock time at the meeting point, DST included. The year is written only when it
//! is not the current one (a trip next January, booked in December).

use chrono::{DateTime, Datelike, Timelike};
use chrono_tz::Tz;

use crate::domain::Lang;

const DAYS_FR: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];
const MONTHS_FR: [&str; 12] = [
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
const DAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The wordings of one language, relative to the year the reader is in.
#[derive(Debug, Clone, Copy)]
pub struct Words {
    pub lang: Lang,
    /// The reader's current year (in the configured zone): other years are written out.
    pub this_year: i32,
}

impl Words {
    /// "jeudi 3 décembre" / "Thursday 3 December"; "1er" for the first of the month in
    /// French; the year added when it is not `this_year`.
    pub fn date(&self, dt: &DateTime<Tz>) -> String {
        let weekday = dt.weekday().num_days_from_monday() as usize;
        let month = dt.month0() as usize;
        let day = dt.day();
        let mut s = match self.lang {
            Lang::Fr => {
                let day = if day == 1 {
                    "1er".to_owned()
                } else {
                    day.to_string()
                };
                format!("{} {day} {}", DAYS_FR[weekday], MONTHS_FR[month])
            }
            Lang::En => format!("{} {day} {}", DAYS_EN[weekday], MONTHS_EN[month]),
        };
        if dt.year() != self.this_year {
            s.push_str(&format!(" {}", dt.year()));
        }
        s
    }

    /// The date, always with its year (the SMTP test's timestamp).
    pub fn date_with_year(&self, dt: &DateTime<Tz>) -> String {
        let words = Words {
            this_year: dt.year() + 1,
            ..*self
        };
        words.date(dt)
    }

    /// French "8 h 30", "8 h", "0 h 30" (no leading zero, as French typography writes
    /// hours); English "8:30 am", "12:00 pm", "12:30 am".
    pub fn time(&self, dt: &DateTime<Tz>) -> String {
        let (h, m) = (dt.hour(), dt.minute());
        match self.lang {
            Lang::Fr if m == 0 => format!("{h} h"),
            Lang::Fr => format!("{h} h {m:02}"),
            Lang::En => {
                let suffix = if h < 12 { "am" } else { "pm" };
                let h12 = match h % 12 {
                    0 => 12,
                    h => h,
                };
                format!("{h12}:{m:02} {suffix}")
            }
        }
    }

    /// "jeudi 3 décembre à 8 h" / "Thursday 3 December at 8:00 am".
    pub fn datetime(&self, dt: &DateTime<Tz>) -> String {
        let at = match self.lang {
            Lang::Fr => "à",
            Lang::En => "at",
        };
        format!("{} {at} {}", self.date(dt), self.time(dt))
    }

    /// "1 place", "3 places" / "1 seat", "3 seats" (French singular for 0 and 1).
    pub fn seats(&self, n: u64) -> String {
        match self.lang {
            Lang::Fr if n <= 1 => format!("{n} place"),
            Lang::Fr => format!("{n} places"),
            Lang::En if n == 1 => "1 seat".to_owned(),
            Lang::En => format!("{n} seats"),
        }
    }

    /// "aucune place libre", "1 place libre", "2 places libres" / "no seats left", ...
    pub fn seats_left(&self, n: u64) -> String {
        match (self.lang, n) {
            (Lang::Fr, 0) => "aucune place libre".to_owned(),
            (Lang::Fr, 1) => "1 place libre".to_owned(),
            (Lang::Fr, n) => format!("{n} places libres"),
            (Lang::En, 0) => "no seats left".to_owned(),
            (Lang::En, 1) => "1 seat left".to_owned(),
            (Lang::En, n) => format!("{n} seats left"),
        }
    }
}

/// Whether French elides a short word ("de", "le", "que") before `word`: a vowel, a mute
/// h, or a y sounding as a vowel ("d'Yves" but "de Yannick", whose y is a consonant).
pub fn elides_before(word: &str) -> bool {
    let lower = word.trim_start().to_lowercase();
    let mut chars = lower.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let vowel = |c: char| "aeiouàâäéèêëîïôöùûüœæ".contains(c);
    match first {
        'y' => chars.next().is_some_and(|c| !vowel(c) && c != 'y'),
        'h' => !ASPIRATED_H.iter().any(|w| lower.starts_with(w)),
        c => vowel(c),
    }
}

/// Words whose h is "aspiré" (no elision: "de Hollande", "le Havre"). Names of people
/// almost all take elision ("d'Hector", "d'Hélène"); these are mostly places.
const ASPIRATED_H: [&str; 12] = [
    "hollande",
    "havre",
    "haguenau",
    "hongrie",
    "hameau",
    "halle",
    "hangar",
    "haut",
    "hêtre",
    "hérisson",
    "hockey",
    "hall",
];

/// "de Marie" / "d'Inès", "le Mans"... `word` is "de", "le" or "que" (any other word is
/// returned followed by a space, unchanged).
pub fn elide(word: &str, next: &str) -> String {
    let elided = match word {
        "de" => "d'",
        "De" => "D'",
        "le" => "l'",
        "Le" => "L'",
        "que" => "qu'",
        "Que" => "Qu'",
        "la" => "l'",
        "La" => "L'",
        _ => return format!("{word} "),
    };
    if elides_before(next) {
        elided.to_owned()
    } else {
        format!("{word} ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::datetime_fr::{local, parse_instant};
    use chrono_tz::Europe::Paris;

    fn paris(s: &str) -> DateTime<Tz> {
        local(parse_instant(s).unwrap(), Paris)
    }

    const FR: Words = Words {
        lang: Lang::Fr,
        this_year: 2026,
    };
    const EN: Words = Words {
        lang: Lang::En,
        this_year: 2026,
    };

    #[test]
    fn french_hours_have_no_leading_zero() {
        assert_eq!(FR.time(&paris("2026-12-03T07:30:00Z")), "8 h 30");
        assert_eq!(FR.time(&paris("2026-12-02T23:30:00Z")), "0 h 30");
        assert_eq!(FR.time(&paris("2026-12-03T07:00:00Z")), "8 h");
        assert_eq!(FR.time(&paris("2026-12-03T07:05:00Z")), "8 h 05");
        assert_eq!(FR.time(&paris("2026-12-03T17:45:00Z")), "18 h 45");
        assert_eq!(
            FR.datetime(&paris("2026-12-03T07:30:00Z")),
            "jeudi 3 décembre à 8 h 30"
        );
    }

    #[test]
    fn english_uses_twelve_hours() {
        assert_eq!(EN.time(&paris("2026-12-03T07:30:00Z")), "8:30 am");
        assert_eq!(EN.time(&paris("2026-12-02T23:30:00Z")), "12:30 am");
        assert_eq!(EN.time(&paris("2026-12-03T11:00:00Z")), "12:00 pm");
        assert_eq!(EN.time(&paris("2026-12-03T17:45:00Z")), "6:45 pm");
        assert_eq!(
            EN.datetime(&paris("2026-12-03T07:00:00Z")),
            "Thursday 3 December at 8:00 am"
        );
    }

    #[test]
    fn the_year_appears_only_when_it_is_not_this_one() {
        assert_eq!(
            FR.date(&paris("2026-12-01T10:00:00Z")),
            "mardi 1er décembre"
        );
        assert_eq!(
            FR.date(&paris("2027-01-01T10:00:00Z")),
            "vendredi 1er janvier 2027"
        );
        assert_eq!(
            EN.date(&paris("2027-01-01T10:00:00Z")),
            "Friday 1 January 2027"
        );
        // The local date decides: 23:30 UTC on 31 December is already 2027 in Paris.
        assert_eq!(
            FR.datetime(&paris("2026-12-31T23:30:00Z")),
            "vendredi 1er janvier 2027 à 0 h 30"
        );
        assert_eq!(
            FR.date_with_year(&paris("2026-12-01T10:00:00Z")),
            "mardi 1er décembre 2026"
        );
    }

    #[test]
    fn seat_counts() {
        assert_eq!(FR.seats(1), "1 place");
        assert_eq!(FR.seats(2), "2 places");
        assert_eq!(EN.seats(1), "1 seat");
        assert_eq!(EN.seats(3), "3 seats");
        assert_eq!(FR.seats_left(0), "aucune place libre");
        assert_eq!(EN.seats_left(0), "no seats left");
        assert_eq!(EN.seats_left(2), "2 seats left");
    }

    #[test]
    fn elision_before_vowels_mute_h_and_vowel_y() {
        let cases = [
            ("de", "Inès", "d'"),
            ("de", "Hector", "d'"),
            ("de", "Hélène Dupré", "d'"),
            ("de", "Yves", "d'"),
            ("de", "Yvonne", "d'"),
            ("de", "Yannick", "de "),
            ("de", "Yolande", "de "),
            ("de", "Élodie", "d'"),
            ("de", "Œdipe", "d'"),
            ("de", "ursule", "d'"),
            ("de", "Marie", "de "),
            ("de", "Wendy", "de "),
            ("de", "Hollande", "de "),
            ("le", "Havre", "le "),
            ("le", "Aéroport", "l'"),
            ("que", "Anne", "qu'"),
            ("que", "Paul", "que "),
            ("de", "", "de "),
            ("de", "42", "de "),
            ("de", "« Zoé »", "de "),
            ("à", "Inès", "à "),
        ];
        for (word, next, want) in cases {
            assert_eq!(elide(word, next), want, "{word} {next}");
        }
    }
}
