//! The JSON context stored with each outbox row; the mail layer renders it at send time
//! (and adds the signed links then, so no token is ever stored in the database).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::Status;
use crate::domain::model::{Offer, Reservation};
use crate::mail::ics;
use crate::store::outbox::{self, NewEmail};
use crate::store::{StoreError, install, offers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum To {
    Driver,
    Passenger,
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The offer as emails and pages see it.
pub fn offer_json(o: &Offer) -> Value {
    json!({
        "id": o.id,
        "driver_name": o.driver_name,
        "driver_email": o.driver_email,
        "origin": o.origin.label,
        "destination": o.destination.label,
        "departure_at": rfc3339(o.departure_at),
        "seats": o.seats,
        "seats_left": o.seats_left,
        "status": o.status.as_str(),
    })
}

// The context's shapes. Typed rather than built as `serde_json::Value`: building, dropping
// and serialising the maps took a sixth of the writer thread's time on the seat request.
// Fields are declared in alphabetical order so the stored JSON reads as it did when it
// was a sorted map; a key left out (`skip_serializing_if`) is absent, not null.

#[derive(Debug, Clone, Serialize)]
struct OfferContext {
    departure_at: String,
    destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver_email: Option<String>,
    driver_name: String,
    id: i64,
    origin: String,
    seats: i64,
    seats_left: i64,
    status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct ReservationContext {
    calendar_sequence: i64,
    created_at: String,
    expires_at: Option<String>,
    id: i64,
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    passenger_email: Option<String>,
    passenger_name: String,
    pickup: Option<String>,
    pickup_at: Option<String>,
    previous_pickup_at: Option<String>,
    previous_status: Option<&'static str>,
    seats: i64,
    status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct PassengerContext {
    email: String,
    name: String,
    pickup: Option<String>,
    pickup_at: Option<String>,
    reservation_id: i64,
    seats: i64,
}

/// A pending request as the driver's reminder lists it (no email address: contact
/// details are exchanged only once a request is accepted).
#[derive(Debug, Clone, Serialize)]
struct PendingContext {
    created_at: String,
    message: Option<String>,
    name: String,
    pickup: Option<String>,
    reservation_id: i64,
    seats: i64,
}

/// What calendar invites need: the install id for UIDs, the trip's next SEQUENCE.
#[derive(Debug, Clone, Serialize)]
struct CalendarContext {
    install: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    trip_sequence: Option<i64>,
}

/// The JSON stored with an outbox row, rendered at send time.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EmailContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    calendar: Option<CalendarContext>,
    lang: &'static str,
    offer: OfferContext,
    passengers: Vec<PassengerContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<Vec<PendingContext>>,
    recipient_name: String,
    reservation: Option<ReservationContext>,
    /// Whether pickup times are computed: set by [`EmailBatch::push`].
    routing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    when_en: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    when_fr: Option<&'static str>,
}

/// An email about to be queued: the outbox row's fields with its context still typed.
#[derive(Debug, Clone)]
pub(crate) struct Email {
    pub template: &'static str,
    pub recipient: String,
    pub reply_to: Option<String>,
    pub context: EmailContext,
    pub reservation_id: Option<i64>,
    pub offer_id: Option<i64>,
}

impl Email {
    fn into_new_email(self) -> Result<NewEmail, StoreError> {
        Ok(NewEmail {
            template: self.template,
            recipient: self.recipient,
            reply_to: self.reply_to,
            context: serde_json::to_string(&self.context).map_err(|e| StoreError::Corrupt {
                table: "outbox",
                message: format!("email context not serialisable: {e}"),
            })?,
            reservation_id: self.reservation_id,
            offer_id: self.offer_id,
        })
    }
}

fn offer_context(o: &Offer, with_driver_email: bool) -> OfferContext {
    OfferContext {
        departure_at: rfc3339(o.departure_at),
        destination: o.destination.label.clone(),
        driver_email: with_driver_email.then(|| o.driver_email.clone()),
        driver_name: o.driver_name.clone(),
        id: o.id,
        origin: o.origin.label.clone(),
        seats: o.seats,
        seats_left: o.seats_left,
        status: o.status.as_str(),
    }
}

fn reservation_context(
    r: &Reservation,
    extra: &Extra,
    with_passenger_email: bool,
) -> ReservationContext {
    ReservationContext {
        calendar_sequence: r.calendar_sequence,
        created_at: rfc3339(r.created_at),
        expires_at: extra.expires_at.map(rfc3339),
        id: r.id,
        message: r.message.clone(),
        passenger_email: with_passenger_email.then(|| r.passenger_email.clone()),
        passenger_name: r.passenger_name.clone(),
        pickup: r.pickup.as_ref().map(|p| p.label.clone()),
        pickup_at: r.pickup_at.map(rfc3339),
        previous_pickup_at: extra.previous_pickup_at.map(rfc3339),
        previous_status: extra.previous_status.map(Status::as_str),
        seats: r.seats,
        status: r.status.as_str(),
    }
}

fn passenger_context(p: &Reservation) -> PassengerContext {
    PassengerContext {
        email: p.passenger_email.clone(),
        name: p.passenger_name.clone(),
        pickup: p.pickup.as_ref().map(|x| x.label.clone()),
        pickup_at: p.pickup_at.map(rfc3339),
        reservation_id: p.id,
        seats: p.seats,
    }
}

fn pending_context(p: &Reservation) -> PendingContext {
    PendingContext {
        created_at: rfc3339(p.created_at),
        message: p.message.clone(),
        name: p.passenger_name.clone(),
        pickup: p.pickup.as_ref().map(|x| x.label.clone()),
        reservation_id: p.id,
        seats: p.seats,
    }
}

/// SPEC: contact details are exchanged only once the driver has said yes. A reservation
/// that is confirmed, or was (its calendar sequence moves on confirmation: a passenger
/// who was removed or cancelled after a yes already had the address), shares them;
/// a pending, refused or expired one never did.
pub fn contacts_shared(r: &Reservation) -> bool {
    r.status == Status::Confirmed || r.calendar_sequence > 0
}

/// Extra per-email facts beyond offer, reservation and passenger list.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extra<'a> {
    pub expires_at: Option<DateTime<Utc>>,
    pub previous_pickup_at: Option<DateTime<Utc>>,
    /// The status before the change this email announces: says whether seats were held.
    pub previous_status: Option<Status>,
    /// Still-pending requests on the trip (the driver's reminder).
    pub pending: Option<&'a [Reservation]>,
    /// Reminders: "demain" or "aujourd'hui", the departure's local day seen from the run.
    pub when_fr: Option<&'static str>,
}

pub(crate) fn offer_email(
    template: &'static str,
    offer: &Offer,
    reservation: Option<&Reservation>,
    passengers: &[Reservation],
    to: To,
) -> Email {
    offer_email_with(
        template,
        offer,
        reservation,
        passengers,
        to,
        Extra::default(),
    )
}

pub(crate) fn offer_email_with(
    template: &'static str,
    offer: &Offer,
    reservation: Option<&Reservation>,
    passengers: &[Reservation],
    to: To,
    extra: Extra<'_>,
) -> Email {
    let shared = reservation.is_some_and(contacts_shared);
    let (recipient, recipient_name, reply_to) = match (to, reservation) {
        (To::Passenger, Some(r)) => (
            r.passenger_email.clone(),
            r.passenger_name.clone(),
            shared.then(|| offer.driver_email.clone()),
        ),
        (To::Driver, Some(r)) => (
            offer.driver_email.clone(),
            offer.driver_name.clone(),
            shared.then(|| r.passenger_email.clone()),
        ),
        // Passenger emails always carry their reservation; this arm is the driver with no reservation.
        (_, None) => (offer.driver_email.clone(), offer.driver_name.clone(), None),
    };
    let lang = match (to, reservation) {
        (To::Passenger, Some(r)) => r.lang,
        _ => offer.lang,
    };
    // Left out of the context altogether, not only of the wording: an override template
    // cannot print what is not there.
    let context = EmailContext {
        calendar: None,
        lang: lang.as_str(),
        offer: offer_context(offer, shared || to == To::Driver),
        passengers: passengers.iter().map(passenger_context).collect(),
        pending: extra
            .pending
            .map(|ps| ps.iter().map(pending_context).collect()),
        recipient_name,
        reservation: reservation
            .map(|r| reservation_context(r, &extra, shared || to == To::Passenger)),
        routing: false,
        // The same day word in each language; templates read the one of theirs.
        when_en: extra.when_fr.map(|word| {
            if word == "demain" {
                "tomorrow"
            } else {
                "today"
            }
        }),
        when_fr: extra.when_fr,
    };
    Email {
        template,
        recipient,
        reply_to,
        context,
        reservation_id: reservation.map(|r| r.id),
        offer_id: Some(offer.id),
    }
}

/// Context of the SMTP test email.
pub fn test_email_context(now: DateTime<Utc>) -> Value {
    json!({
        "recipient_name": null,
        "offer": null,
        "reservation": null,
        "passengers": [],
        "sent_at": rfc3339(now),
    })
}

/// Emails gathered during a use case, written to the outbox inside its transaction.
#[derive(Debug)]
pub(crate) struct EmailBatch {
    emails: Vec<Email>,
    routing: bool,
}

impl EmailBatch {
    /// `routing`: whether pickup times are computed (an OSRM server is configured), so an
    /// email without one can say whether it is coming or is the departure time.
    pub fn new(routing: bool) -> EmailBatch {
        EmailBatch {
            emails: Vec::new(),
            routing,
        }
    }

    pub fn push(&mut self, mut e: Email) {
        e.context.routing = self.routing;
        self.emails.push(e);
    }

    /// Writes the emails to the outbox. Those that may carry a calendar invite get the
    /// install id for their UIDs and, for the driver's trip event, the offer's next SEQUENCE.
    pub fn commit(
        self,
        tx: &rusqlite::Connection,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let n = self.emails.len();
        let mut install: Option<String> = None;
        for mut e in self.emails {
            if ics::may_carry_invite(e.template) {
                let id = match &install {
                    Some(id) => id.clone(),
                    None => install.insert(install::install_id(tx)?).clone(),
                };
                let trip_sequence = match (ics::is_trip_event(e.template), e.offer_id) {
                    (true, Some(offer_id)) => Some(offers::next_calendar_sequence(tx, offer_id)?),
                    _ => None,
                };
                e.context.calendar = Some(CalendarContext {
                    install: id,
                    trip_sequence,
                });
            }
            outbox::enqueue(tx, &e.into_new_email()?, now)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::domain::Lang;
    use crate::domain::model::{OfferStatus, Place};

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 10, h, 0, 0).unwrap()
    }

    fn place(label: &str) -> Place {
        Place {
            label: label.to_owned(),
            lat: None,
            lon: None,
        }
    }

    fn offer() -> Offer {
        Offer {
            id: 7,
            driver_name: "Jean".to_owned(),
            driver_email: "jean@example.org".to_owned(),
            origin: place("Lyon"),
            destination: place("Grenoble"),
            departure_at: at(8),
            seats: 3,
            seats_left: 2,
            status: OfferStatus::Active,
            created_at: at(1),
            lang: Lang::Fr,
        }
    }

    fn reservation(status: Status, calendar_sequence: i64) -> Reservation {
        Reservation {
            id: 11,
            offer_id: 7,
            passenger_name: "Marie".to_owned(),
            passenger_email: "marie@example.org".to_owned(),
            seats: 1,
            status,
            pickup: Some(place("Gare")),
            message: None,
            pickup_at: None,
            created_at: at(2),
            updated_at: at(2),
            calendar_sequence,
            lang: Lang::En,
        }
    }

    fn context_of(e: &Email) -> Value {
        serde_json::to_value(&e.context).unwrap()
    }

    #[test]
    fn a_pending_request_hides_each_partys_address_from_the_other() {
        let (o, r) = (offer(), reservation(Status::Pending, 0));
        let extra = Extra {
            expires_at: Some(at(5)),
            ..Extra::default()
        };
        let driver = offer_email_with("request_driver", &o, Some(&r), &[], To::Driver, extra);
        assert_eq!(
            (driver.recipient.as_str(), driver.reply_to.as_deref()),
            ("jean@example.org", None)
        );
        assert_eq!(
            context_of(&driver),
            json!({
                "lang": "fr",
                "recipient_name": "Jean",
                "offer": {
                    "id": 7, "driver_name": "Jean", "driver_email": "jean@example.org",
                    "origin": "Lyon", "destination": "Grenoble",
                    "departure_at": "2026-12-10T08:00:00Z", "seats": 3, "seats_left": 2,
                    "status": "active",
                },
                "reservation": {
                    "id": 11, "passenger_name": "Marie", "seats": 1, "pickup": "Gare",
                    "message": null, "pickup_at": null, "previous_pickup_at": null,
                    "status": "pending", "previous_status": null,
                    "created_at": "2026-12-10T02:00:00Z", "expires_at": "2026-12-10T05:00:00Z",
                    "calendar_sequence": 0,
                },
                "passengers": [],
                "routing": false,
            })
        );
        let passenger =
            offer_email_with("request_passenger", &o, Some(&r), &[], To::Passenger, extra);
        let v = context_of(&passenger);
        assert_eq!(v["lang"], "en", "the passenger's language");
        assert!(v["offer"].get("driver_email").is_none(), "{v}");
        assert_eq!(v["reservation"]["passenger_email"], "marie@example.org");
    }

    #[test]
    fn once_confirmed_both_addresses_are_shared_and_extras_show() {
        let (o, r) = (offer(), reservation(Status::Confirmed, 1));
        let pending = [reservation(Status::Pending, 0)];
        let extra = Extra {
            pending: Some(&pending),
            when_fr: Some("demain"),
            ..Extra::default()
        };
        let mut batch = EmailBatch::new(true);
        batch.push(offer_email_with(
            "reminder_driver",
            &o,
            Some(&r),
            std::slice::from_ref(&r),
            To::Driver,
            extra,
        ));
        let e = &batch.emails[0];
        assert_eq!(e.reply_to.as_deref(), Some("marie@example.org"));
        let v = context_of(e);
        assert_eq!(v["offer"]["driver_email"], "jean@example.org");
        assert_eq!(v["reservation"]["passenger_email"], "marie@example.org");
        assert_eq!(
            (v["when_fr"].as_str(), v["when_en"].as_str()),
            (Some("demain"), Some("tomorrow"))
        );
        assert_eq!(v["routing"], true);
        assert_eq!(
            v["passengers"],
            json!([{"reservation_id": 11, "name": "Marie", "email": "marie@example.org",
                    "seats": 1, "pickup": "Gare", "pickup_at": null}])
        );
        assert_eq!(
            v["pending"],
            json!([{"reservation_id": 11, "name": "Marie", "seats": 1, "pickup": "Gare",
                    "message": null, "created_at": "2026-12-10T02:00:00Z"}])
        );
        // No calendar before the batch is committed, and keys absent rather than null.
        let text = serde_json::to_string(&e.context).unwrap();
        assert!(!text.contains("\"calendar\":"), "{text}");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "lang",
                "offer",
                "passengers",
                "pending",
                "recipient_name",
                "reservation",
                "routing",
                "when_en",
                "when_fr"
            ]
        );
        // Stored in the same (sorted) key order a JSON map had.
        assert!(
            text.starts_with("{\"lang\":\"fr\",\"offer\":{\"departure_at\""),
            "{text}"
        );
    }
}
