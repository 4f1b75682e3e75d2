//! Calendar invites (iCalendar, RFC 5545; iTIP methods, RFC 5546) attached to emails.
//!
//! UIDs are unique per install: `reservation-<id>.<install id>@<base_url host>`, the install
//! id being random and kept in the database (migration 05), so two installs, or a rebuilt
//! database, never update or cancel each other's events in a rider's calendar. The service
//! stores it in the email's context (`calendar.install`) when it queues the email; a row
//! queued before install ids existed gets no invite rather than a colliding one.
//!
//! Passengers get one event per reservation: REQUEST when confirmed or when the pickup time
//! moved, CANCEL when it ends after having been confirmed. Its SEQUENCE is the reservation's
//! `calendar_sequence`, which the store bumps on every change the calendar must see, so each
//! update supersedes the previous one.
//!
//! Drivers get one event per trip (`offer-<id>.…`) rather than one per passenger: it is what
//! a driver wants in a calendar, and a whole-offer cancellation can then be one CANCEL (an
//! iTIP message may only carry a single UID). Its SEQUENCE is the offer's stored counter,
//! bumped each time such an email is queued (`calendar.trip_sequence`): it strictly
//! increases, whatever the clocks, and is stable across retries. A pending request never
//! gets an invite.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// A ready-to-attach iCalendar object (CRLF lines, folded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub method: Method,
    pub uid: String,
    pub sequence: i64,
    pub text: String,
}

/// Who the invite is from and for.
#[derive(Debug, Clone, Copy)]
pub struct Parties<'a> {
    /// The host of `server.base_url`: the right-hand side of every UID.
    pub host: &'a str,
    pub organizer: &'a str,
    pub attendee: &'a str,
    pub attendee_name: Option<&'a str>,
}

/// How long the event lasts: neither the arrival time nor the drop-off is known, and a
/// zero-length event is easy to miss in a calendar.
const EVENT_LENGTH_MINUTES: i64 = 60;

/// Templates whose invite is the driver's trip event: queuing one bumps the offer's
/// calendar counter (see `calendar_context`).
pub fn is_trip_event(template: &str) -> bool {
    matches!(
        template,
        "itinerary_driver" | "cancelled_driver" | "offer_cancelled_driver"
    )
}

/// Templates that may carry an invite (whether they do depends on the reservation).
pub fn may_carry_invite(template: &str) -> bool {
    is_trip_event(template)
        || matches!(
            template,
            "confirmed_passenger"
                | "route_updated_passenger"
                | "cancelled_passenger"
                | "removed_passenger"
                | "offer_cancelled_passenger"
        )
}

/// The host part of `server.base_url` ("https://rides.example.org:8443/x" → "rides.example.org").
pub fn uid_host(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        .collect();
    if host.is_empty() {
        "carette.invalid".to_owned()
    } else {
        host.to_ascii_lowercase()
    }
}

/// The invite of outbox email `template`, if it carries one. `stamp` is the row's
/// creation time (DTSTAMP).
pub fn invite_for(
    template: &str,
    context: &Value,
    parties: Parties<'_>,
    stamp: DateTime<Utc>,
) -> Option<Invite> {
    let offer = context.get("offer").filter(|o| o.is_object())?;
    let reservation = context.get("reservation").filter(|r| r.is_object());
    let status = reservation.and_then(|r| str_of(r, "status"));
    let sequence = reservation
        .and_then(|r| r.get("calendar_sequence"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let was_confirmed = sequence > 0;
    let calendar = context.get("calendar").filter(|c| c.is_object())?;
    let install = str_of(calendar, "install")?;
    let host = parties.host;
    let (method, event) = match template {
        "confirmed_passenger" | "route_updated_passenger" | "pickup_time_passenger"
            if status == Some("confirmed") =>
        {
            (Method::Request, Event::Reservation)
        }
        "cancelled_passenger" | "removed_passenger" | "offer_cancelled_passenger"
            if was_confirmed =>
        {
            (Method::Cancel, Event::Reservation)
        }
        "itinerary_driver" => (Method::Request, Event::Trip),
        // A pending request withdrawn does not change the driver's trip.
        "cancelled_driver" if was_confirmed => (Method::Request, Event::Trip),
        "offer_cancelled_driver" => (Method::Cancel, Event::Trip),
        _ => return None,
    };
    let origin = str_of(offer, "origin").unwrap_or_default();
    let destination = str_of(offer, "destination").unwrap_or_default();
    let departure = instant(offer, "departure_at")?;
    let en = context.get("lang").and_then(Value::as_str) == Some("en");
    let summary = if en {
        format!("Carpool {origin} → {destination}")
    } else {
        format!("Covoiturage {origin} → {destination}")
    };
    let (uid, sequence, start, location, description) = match event {
        Event::Reservation => {
            let r = reservation?;
            let id = r.get("id").and_then(Value::as_i64)?;
            let pickup_label = str_of(r, "pickup");
            let start = instant(r, "pickup_at").unwrap_or(departure);
            let driver = str_of(offer, "driver_name").unwrap_or_default();
            let driver_email = str_of(offer, "driver_email").unwrap_or_default();
            let place = pickup_label.unwrap_or(origin);
            let description = if en {
                format!(
                    "Driver: {driver} <{driver_email}>\nTrip: {origin} → {destination}\nPickup: {place}"
                )
            } else {
                format!(
                    "Conducteur : {driver} <{driver_email}>\nTrajet : {origin} → {destination}\nPrise en charge : {place}"
                )
            };
            (
                format!("reservation-{id}.{install}@{host}"),
                sequence,
                start,
                pickup_label.unwrap_or(origin).to_owned(),
                description,
            )
        }
        Event::Trip => {
            let id = offer.get("id").and_then(Value::as_i64)?;
            let mut description = if en {
                format!("Trip: {origin} → {destination}\nPassengers:")
            } else {
                format!("Trajet : {origin} → {destination}\nPassagers :")
            };
            let passengers = context.get("passengers").and_then(Value::as_array);
            let passengers = passengers.map(Vec::as_slice).unwrap_or_default();
            if passengers.is_empty() {
                description.push_str(if en {
                    " none yet"
                } else {
                    " aucun pour le moment"
                });
            }
            for p in passengers {
                let name = str_of(p, "name").unwrap_or_default();
                let unknown = if en {
                    "place not given"
                } else {
                    "lieu non précisé"
                };
                let pickup = str_of(p, "pickup").unwrap_or(unknown);
                description.push_str(&format!("\n- {name} ({pickup})"));
            }
            let sequence = calendar.get("trip_sequence").and_then(Value::as_i64)?;
            (
                format!("offer-{id}.{install}@{host}"),
                sequence,
                departure,
                origin.to_owned(),
                description,
            )
        }
    };
    let mut cal = Calendar::default();
    cal.line("BEGIN:VCALENDAR");
    cal.line("VERSION:2.0");
    cal.line("PRODID:-//Carette//Carette//FR");
    cal.line("CALSCALE:GREGORIAN");
    cal.line(&format!("METHOD:{}", method.as_str()));
    cal.line("BEGIN:VEVENT");
    cal.line(&format!("UID:{uid}"));
    cal.line(&format!("SEQUENCE:{sequence}"));
    cal.line(&format!("DTSTAMP:{}", utc_stamp(stamp)));
    cal.line(&format!("DTSTART:{}", utc_stamp(start)));
    cal.line(&format!(
        "DTEND:{}",
        utc_stamp(start + Duration::minutes(EVENT_LENGTH_MINUTES))
    ));
    cal.line(&format!("SUMMARY:{}", escape_text(&summary)));
    cal.line(&format!("LOCATION:{}", escape_text(&location)));
    cal.line(&format!("DESCRIPTION:{}", escape_text(&description)));
    let status = match method {
        Method::Request => "CONFIRMED",
        Method::Cancel => "CANCELLED",
    };
    cal.line(&format!("STATUS:{status}"));
    cal.line(&format!(
        "ORGANIZER;CN=\"Carette\":mailto:{}",
        escape_uri(parties.organizer)
    ));
    let cn = parties
        .attendee_name
        .map(|n| format!(";CN=\"{}\"", param_value(n)))
        .unwrap_or_default();
    cal.line(&format!(
        "ATTENDEE{cn};ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:{}",
        escape_uri(parties.attendee)
    ));
    cal.line("TRANSP:OPAQUE");
    cal.line("END:VEVENT");
    cal.line("END:VCALENDAR");
    Some(Invite {
        method,
        uid,
        sequence,
        text: cal.0,
    })
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Reservation,
    Trip,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn instant(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    let s = str_of(v, key)?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn utc_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping (RFC 5545 §3.3.11); other control characters are dropped.
pub fn escape_text(s: &str) -> String {
    let normalized = s.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(normalized.len());
    for c in normalized.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A quoted parameter value may hold anything but DQUOTE and control characters.
fn param_value(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && !c.is_control()).collect()
}

/// Addresses come validated by lettre, but a calendar line must stay one line whatever.
fn escape_uri(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect()
}

/// Accumulates content lines, folded at 75 octets (never inside a UTF-8 character) and
/// ended with CRLF, as RFC 5545 §3.1 requires.
#[derive(Default)]
struct Calendar(String);

impl Calendar {
    fn line(&mut self, line: &str) {
        let mut budget = 75;
        let mut used = 0;
        for c in line.chars() {
            let len = c.len_utf8();
            if used + len > budget {
                self.0.push_str("\r\n ");
                // The leading space of a continuation line counts towards its 75 octets.
                budget = 74;
                used = 0;
            }
            self.0.push(c);
            used += len;
        }
        self.0.push_str("\r\n");
    }
}

#[cfg(test)]
#[path = "ics_tests.rs"]
mod tests;
