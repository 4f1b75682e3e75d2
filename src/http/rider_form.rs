//! The riders' forms as data: decoding a urlencoded body, checking the fields a person
//! typed, and the French messages shown next to them. Pure (no I/O), unit-tested below.
//!
//! The service validates again (it is the authority); this layer only adds what a page
//! needs beyond the JSON API: every error at once, in French, keyed by the form's field.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use crate::domain::seats::SeatError;
use crate::domain::time::local_instant;
use crate::domain::validate::{
    self, FieldError, MAX_LABEL_CHARS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS,
};
use crate::service::offers::{MAX_DEPARTURE_AHEAD, MAX_OFFER_SEATS};
use crate::service::quota::Capped;
use crate::service::riders::TripFilter;
use crate::service::{OfferInput, PlaceInput, ReservationInput, ServiceError};

/// The fields of the "offer a trip" form, in display order.
pub const OFFER_FIELDS: [&str; 8] = [
    "name",
    "email",
    "origin",
    "destination",
    "date",
    "time",
    "seats",
    "lang",
];

/// The fields of the seat-request form.
pub const SEAT_FIELDS: [&str; 6] = ["name", "email", "seats", "pickup", "message", "lang"];

/// The hidden field people never see and bots fill in.
pub const HONEYPOT: &str = "website";
/// The signed form token.
pub const TOKEN: &str = "form_token";

/// Field name → value, first occurrence wins; undecodable pairs are dropped.
#[derive(Debug, Clone, Default)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    pub fn parse(encoded: &str) -> Fields {
        let mut map = HashMap::new();
        for pair in encoded.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if let (Some(k), Some(v)) = (decode(k), decode(v)) {
                map.entry(k).or_insert(v);
            }
        }
        Fields(map)
    }

    /// The trimmed value ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }

    fn optional(&self, name: &str) -> Option<String> {
        let v = self.get(name);
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// The values to put back into the form, as typed.
    pub fn values(&self, names: &[&str]) -> Value {
        let mut m = Map::new();
        for name in names {
            let v = self.0.get(*name).map_or("", String::as_str);
            m.insert((*name).to_owned(), json!(v));
        }
        Value::Object(m)
    }
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Field → French message; rendered next to the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors(BTreeMap<&'static str, String>);

impl FormErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        // The first problem of a field is the one worth telling.
        self.0.entry(field).or_insert_with(|| message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// Every field of the form is present (`null` when fine): upon errors on a missing key.
    pub fn to_json(&self, names: &[&str]) -> Value {
        let mut m = Map::new();
        for name in names {
            m.insert((*name).to_owned(), json!(self.0.get(name)));
        }
        Value::Object(m)
    }

    /// `to_json` in the page's language: the English page gets each message translated.
    pub fn to_json_in(&self, names: &[&str], en: bool) -> Value {
        let mut v = self.to_json(names);
        if en && let Some(m) = v.as_object_mut() {
            for message in m.values_mut() {
                if let Some(text) = message.as_str() {
                    *message = json!(english(text));
                }
            }
        }
        v
    }

    fn check<T>(&mut self, field: &'static str, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|e| self.add(field, french(&e))).ok()
    }
}

/// The French wording of a domain or service validation message.
pub fn french(e: &FieldError) -> String {
    let m = e.message.as_str();
    if m == "must not be empty" {
        return "Ce champ est obligatoire.".to_owned();
    }
    if let Some(n) = m
        .strip_prefix("must be at most ")
        .and_then(|r| r.strip_suffix(" characters"))
    {
        return format!("C'est trop long\u{a0}: {n} caractères au plus.");
    }
    if m.contains("control characters") {
        return "Ce texte contient des caractères non autorisés.".to_owned();
    }
    if m == "must be a valid email address" {
        return "Cette adresse e-mail ne semble pas valide (exemple\u{a0}: prenom@exemple.fr)."
            .to_owned();
    }
    if m == "is the driver's own address" {
        return "C'est l'adresse du conducteur de ce trajet\u{a0}: on ne peut pas réserver sa propre voiture."
            .to_owned();
    }
    if m == "already has an active request on this ride" {
        return "Vous avez déjà une demande en cours pour ce trajet\u{a0}: la réponse du conducteur vous parviendra par e-mail."
            .to_owned();
    }
    if m.ends_with("days ahead") {
        return "Un trajet se propose au plus un an à l'avance.".to_owned();
    }
    if m == "must be in the future" {
        return "Cette date est déjà passée.".to_owned();
    }
    "Cette valeur n'est pas acceptée.".to_owned()
}

/// The English wording of a French message of the riders' forms (field messages and
/// notices). The French wording stays the single source; a message without an English
/// wording here is shown in French rather than not at all.
pub fn english(french: &str) -> String {
    let number = |prefix: &str, suffix: &str| {
        french
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_owned)
    };
    if let Some(n) = number("C'est trop long\u{a0}: ", " caractères au plus.") {
        return format!("This is too long: {n} characters at most.");
    }
    if let Some(n) = number("Il ne reste que ", " places sur ce trajet.") {
        return format!("Only {n} seats are left on this trip.");
    }
    if let Some(n) = number("Choisissez un nombre entre 1 et ", ".") {
        return format!("Choose a number between 1 and {n}.");
    }
    let text = match french {
        "Ce champ est obligatoire." => "This field is required.",
        "Ce texte contient des caractères non autorisés." => {
            "This text contains characters that are not allowed."
        }
        "Cette adresse e-mail ne semble pas valide (exemple\u{a0}: prenom@exemple.fr)." => {
            "This email address does not look valid (for example: firstname@example.com)."
        }
        "C'est l'adresse du conducteur de ce trajet\u{a0}: on ne peut pas réserver sa propre voiture." => {
            "This is the address of this trip's driver: you cannot book a seat in your own car."
        }
        "Vous avez déjà une demande en cours pour ce trajet\u{a0}: la réponse du conducteur vous parviendra par e-mail." => {
            "You already have a request in progress for this trip: the driver's answer will reach you by email."
        }
        "Un trajet se propose au plus un an à l'avance." => {
            "A trip can be offered at most one year ahead."
        }
        "Cette date est déjà passée." => "This date has already passed.",
        "Cette valeur n'est pas acceptée." => "This value is not accepted.",
        "Il n'y a plus de place libre sur ce trajet." => "There are no seats left on this trip.",
        "Il ne reste qu'une place sur ce trajet." => "Only one seat is left on this trip.",
        "Cette adresse a déjà reçu beaucoup d'e-mails de notre part dans la dernière heure\u{a0}: réessayez un peu plus tard." => {
            "This address has already received a lot of emails from us in the last hour: please try again a little later."
        }
        "Demandez au moins une place." => "Ask for at least one seat.",
        "Une seule place est possible." => "Only one seat is possible.",
        "Choisissez le français ou l'anglais." => "Choose French or English.",
        "Indiquez une date, par exemple 2026-12-24." => "Enter a date, for example 2026-12-24.",
        "Indiquez une heure, par exemple 08:30." => "Enter a time, for example 08:30.",
        "Cette date et cette heure sont déjà passées." => {
            "This date and time have already passed."
        }
        "Ce formulaire était ouvert depuis longtemps\u{a0}: vérifiez vos informations, puis envoyez-le de nouveau." => {
            "This form had been open for a long time: check your details, then send it again."
        }
        "Pour votre sécurité, ce formulaire doit être envoyé depuis cette page\u{a0}: vérifiez vos informations, puis envoyez-le de nouveau." => {
            "For your security, this form must be sent from this page: check your details, then send it again."
        }
        "Ce conducteur a reçu beaucoup de demandes dans la dernière heure\u{a0}: rien n'a été envoyé, réessayez un peu plus tard." => {
            "This driver has received a lot of requests in the last hour: nothing was sent, please try again a little later."
        }
        other => other,
    };
    text.to_owned()
}

/// Which form field a service error is about ("driver_email" → "email").
pub fn form_field(service_field: &str) -> &'static str {
    match service_field {
        "driver_name" | "passenger_name" => "name",
        "driver_email" | "passenger_email" => "email",
        f if f.starts_with("origin") => "origin",
        f if f.starts_with("destination") => "destination",
        "departure_at" => "date",
        "seats" => "seats",
        f if f.starts_with("pickup") => "pickup",
        "message" => "message",
        _ => "name",
    }
}

/// A service refusal that belongs next to a field, in French; `None` for the others
/// (unknown, cancelled or departed offer, database trouble), which get their own page.
pub fn service_field_error(e: &ServiceError) -> Option<(&'static str, String)> {
    match e {
        ServiceError::Invalid(f) => Some((form_field(&f.field), french(f))),
        ServiceError::NoSeats(SeatError::NotEnough { left, .. }) => Some((
            "seats",
            match left {
                ..=0 => "Il n'y a plus de place libre sur ce trajet.".to_owned(),
                1 => "Il ne reste qu'une place sur ce trajet.".to_owned(),
                n => format!("Il ne reste que {n} places sur ce trajet."),
            },
        )),
        // The address typed in the form: the rider may be told about it.
        ServiceError::RecipientCapped {
            who: Capped::Passenger | Capped::LinkRecipient,
            ..
        } => Some((
            "email",
            "Cette adresse a déjà reçu beaucoup d'e-mails de notre part dans la dernière heure\u{a0}: réessayez un peu plus tard."
                .to_owned(),
        )),
        ServiceError::NoSeats(SeatError::TooFew) => {
            Some(("seats", "Demandez au moins une place.".to_owned()))
        }
        _ => None,
    }
}

fn seats(errors: &mut FormErrors, raw: &str, max: i64) -> Option<i64> {
    if raw.is_empty() {
        errors.add("seats", "Ce champ est obligatoire.");
        return None;
    }
    match raw.parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Some(n),
        Ok(_) if max == 1 => {
            errors.add("seats", "Une seule place est possible.");
            None
        }
        _ => {
            errors.add("seats", format!("Choisissez un nombre entre 1 et {max}."));
            None
        }
    }
}

fn lang(errors: &mut FormErrors, raw: &str) -> Option<String> {
    match raw {
        "" => None,
        "fr" | "en" => Some(raw.to_owned()),
        _ => {
            errors.add("lang", "Choisissez le français ou l'anglais.");
            None
        }
    }
}

/// "Offer a trip": the JSON API's input, with the local date and time turned into an
/// instant in `jobs.timezone`.
pub fn offer_input(f: &Fields, tz: Tz, now: DateTime<Utc>) -> Result<OfferInput, FormErrors> {
    let mut e = FormErrors::default();
    let name = e.check(
        "name",
        validate::single_line("name", f.get("name"), MAX_NAME_CHARS),
    );
    let email = e.check("email", validate::email("email", f.get("email")));
    let origin = e.check(
        "origin",
        validate::single_line("origin", f.get("origin"), MAX_LABEL_CHARS),
    );
    let destination = e.check(
        "destination",
        validate::single_line("destination", f.get("destination"), MAX_LABEL_CHARS),
    );
    let date = match f.get("date") {
        "" => {
            e.add("date", "Ce champ est obligatoire.");
            None
        }
        d => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| e.add("date", "Indiquez une date, par exemple 2026-12-24."))
            .ok(),
    };
    let time = match f.get("time") {
        "" => {
            e.add("time", "Ce champ est obligatoire.");
            None
        }
        t => NaiveTime::parse_from_str(t, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
            .map_err(|_| e.add("time", "Indiquez une heure, par exemple 08:30."))
            .ok(),
    };
    let departure = match (date, time) {
        (Some(d), Some(t)) => {
            let at = local_instant(tz, d, t);
            if at <= now {
                e.add("date", "Cette date et cette heure sont déjà passées.");
                None
            } else if at > now + MAX_DEPARTURE_AHEAD {
                e.add("date", "Un trajet se propose au plus un an à l'avance.");
                None
            } else {
                Some(at)
            }
        }
        _ => None,
    };
    let seats = seats(&mut e, f.get("seats"), MAX_OFFER_SEATS);
    let lang = lang(&mut e, f.get("lang"));
    match (name, email, origin, destination, departure, seats) {
        (Some(name), Some(email), Some(origin), Some(destination), Some(at), Some(seats))
            if e.is_empty() =>
        {
            Ok(OfferInput {
                driver_name: name,
                driver_email: email,
                origin: place(origin),
                destination: place(destination),
                departure_at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
                seats,
                lang,
            })
        }
        _ => Err(e),
    }
}

fn place(label: String) -> PlaceInput {
    PlaceInput {
        label,
        lat: None,
        lon: None,
    }
}

/// "Request a seat" on an offer with `seats_left` seats.
pub fn seat_input(f: &Fields, seats_left: i64) -> Result<ReservationInput, FormErrors> {
    let mut e = FormErrors::default();
    let name = e.check(
        "name",
        validate::single_line("name", f.get("name"), MAX_NAME_CHARS),
    );
    let email = e.check("email", validate::email("email", f.get("email")));
    let seats = seats(&mut e, f.get("seats"), seats_left.max(1));
    let pickup = match f.optional("pickup") {
        None => None,
        Some(p) => e.check(
            "pickup",
            validate::single_line("pickup", &p, MAX_LABEL_CHARS),
        ),
    };
    let message = e
        .check(
            "message",
            validate::free_text("message", f.get("message"), MAX_MESSAGE_CHARS),
        )
        .flatten();
    let lang = lang(&mut e, f.get("lang"));
    match (name, email, seats) {
        (Some(name), Some(email), Some(seats)) if e.is_empty() => Ok(ReservationInput {
            passenger_name: name,
            passenger_email: email,
            seats,
            pickup: pickup.map(place),
            message,
            lang,
        }),
        _ => Err(e),
    }
}

/// The listing's filters from its query string; a date that is not one is ignored
/// (and reported, so the rider knows why nothing was filtered).
pub fn trip_filter(query: &str) -> (TripFilter, Value, bool) {
    let f = Fields::parse(query);
    let text = |name: &str| {
        let v: String = f.get(name).chars().take(MAX_LABEL_CHARS).collect();
        (!v.is_empty() && !v.chars().any(char::is_control)).then_some(v)
    };
    let date_raw = f.get("date");
    let date = NaiveDate::parse_from_str(date_raw, "%Y-%m-%d").ok();
    let bad_date = !date_raw.is_empty() && date.is_none();
    let filter = TripFilter {
        origin: text("origin"),
        destination: text("destination"),
        date,
    };
    (
        filter,
        f.values(&["origin", "destination", "date"]),
        bad_date,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_french_message_of_the_forms_has_an_english_wording() {
        let source = include_str!("rider_form.rs");
        let pages = include_str!("rider_pages.rs");
        let mut checked = 0;
        for text in [source, pages] {
            // Every French sentence literal of the forms, as written in the source.
            for piece in text.split('"').skip(1).step_by(2) {
                let french = piece.replace("\\u{a0}", "\u{a0}");
                let is_message = french.ends_with('.')
                    && french.chars().next().is_some_and(char::is_uppercase)
                    && (french.contains('é')
                        || french.contains("Ce ")
                        || french.contains("Il ")
                        || french.contains("Indiquez"));
                if !is_message || french.contains('{') || french.starts_with("This") {
                    continue;
                }
                checked += 1;
                assert_ne!(
                    english(&french),
                    french,
                    "no English wording for {french:?}"
                );
            }
        }
        assert!(checked >= 15, "only {checked} messages found");
        assert_eq!(
            english("C'est trop long\u{a0}: 100 caractères au plus."),
            "This is too long: 100 characters at most."
        );
        assert_eq!(
            english("Il ne reste que 3 places sur ce trajet."),
            "Only 3 seats are left on this trip."
        );
        assert_eq!(
            english("Choisissez un nombre entre 1 et 8."),
            "Choose a number between 1 and 8."
        );
    }
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 6, 1, 8, 0, 0).unwrap()
    }

    #[test]
    fn urlencoded_bodies_are_decoded() {
        let f = Fields::parse("name=Jean+Dupont&email=a%40b.fr&x&name=second&bad=%zz");
        assert_eq!(f.get("name"), "Jean Dupont");
        assert_eq!(f.get("email"), "a@b.fr");
        assert_eq!(f.get("x"), "");
        assert_eq!(f.get("bad"), "");
        assert_eq!(f.get("absent"), "");
        assert_eq!(
            Fields::parse("message=L%C3%A0-bas%0D%0A%3Cb%3E").get("message"),
            "Là-bas\r\n<b>"
        );
    }

    #[test]
    fn a_complete_offer_becomes_the_api_input_in_local_time() {
        let f = Fields::parse(
            "name=Jean&email=jean%40example.org&origin=Lyon&destination=Grenoble\
             &date=2030-06-10&time=09%3A30&seats=3&lang=fr",
        );
        let input = offer_input(&f, chrono_tz::Europe::Paris, now()).unwrap();
        // 09:30 in Paris in June is 07:30 UTC.
        assert_eq!(input.departure_at, "2030-06-10T07:30:00Z");
        assert_eq!((input.seats, input.origin.label.as_str()), (3, "Lyon"));
    }

    #[test]
    fn every_offer_problem_is_told_at_once_in_french() {
        let f = Fields::parse(
            "name=&email=nope&origin=Lyon&date=2030-05-01&time=08%3A00&seats=9&lang=de",
        );
        let e = offer_input(&f, chrono_tz::Europe::Paris, now()).unwrap_err();
        assert_eq!(e.get("name"), Some("Ce champ est obligatoire."));
        assert!(e.get("email").unwrap().contains("adresse e-mail"));
        assert_eq!(e.get("destination"), Some("Ce champ est obligatoire."));
        assert!(e.get("date").unwrap().contains("passées"));
        assert!(e.get("seats").unwrap().contains("entre 1 et 8"));
        assert!(e.get("lang").is_some());
        assert_eq!(e.get("origin"), None);
        let far = Fields::parse("date=2031-07-01&time=08%3A00");
        let e = offer_input(&far, chrono_tz::Europe::Paris, now()).unwrap_err();
        assert!(e.get("date").unwrap().contains("un an"));
        let json = e.to_json(&OFFER_FIELDS);
        assert!(json["origin"].is_string() && json["lang"].is_null());
    }

    #[test]
    fn seat_requests_are_bounded_by_the_seats_left() {
        let ok = Fields::parse("name=Marie&email=marie%40example.org&seats=2&pickup=&message=");
        let input = seat_input(&ok, 2).unwrap();
        assert_eq!(
            (input.seats, input.pickup.is_none(), input.message),
            (2, true, None)
        );
        let e = seat_input(&ok, 1).unwrap_err();
        assert_eq!(e.get("seats"), Some("Une seule place est possible."));
        let e = seat_input(&Fields::parse("seats=abc"), 3).unwrap_err();
        assert!(e.get("seats").unwrap().contains("entre 1 et 3"));
        assert_eq!(e.get("name"), Some("Ce champ est obligatoire."));
    }

    #[test]
    fn service_refusals_land_next_to_their_field() {
        let e = ServiceError::Invalid(FieldError::new(
            "passenger_email",
            "already has an active request on this ride",
        ));
        let (field, msg) = service_field_error(&e).unwrap();
        assert_eq!(field, "email");
        assert!(msg.contains("déjà une demande"));
        let e = ServiceError::NoSeats(SeatError::NotEnough { asked: 2, left: 1 });
        assert_eq!(
            service_field_error(&e),
            Some((
                "seats",
                "Il ne reste qu'une place sur ce trajet.".to_owned()
            ))
        );
        assert_eq!(service_field_error(&ServiceError::OfferNotFound(3)), None);
    }

    #[test]
    fn listing_filters_come_from_the_query() {
        let (f, values, bad) = trip_filter("origin=Lyon&destination=&date=2030-06-10");
        assert_eq!(f.origin.as_deref(), Some("Lyon"));
        assert_eq!(f.destination, None);
        assert_eq!(f.date, NaiveDate::from_ymd_opt(2030, 6, 10));
        assert_eq!(values["origin"], "Lyon");
        assert!(!bad);
        let (f, _, bad) = trip_filter("date=demain");
        assert_eq!((f.date, bad), (None, true));
    }
}
