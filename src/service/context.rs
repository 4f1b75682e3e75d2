//! The JSON context stored with each outbox row; the mail layer renders it at send time
//! (and adds the signed links then, so no token is ever stored in the database).

use chrono::{DateTime, SecondsFormat, Utc};
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

fn reservation_json(r: &Reservation, extra: &Extra) -> Value {
    json!({
        "id": r.id,
        "passenger_name": r.passenger_name,
        "passenger_email": r.passenger_email,
        "seats": r.seats,
        "pickup": r.pickup.as_ref().map(|p| p.label.clone()),
        "message": r.message,
        "pickup_at": r.pickup_at.map(rfc3339),
        "previous_pickup_at": extra.previous_pickup_at.map(rfc3339),
        "status": r.status.as_str(),
        "previous_status": extra.previous_status.map(Status::as_str),
        "created_at": rfc3339(r.created_at),
        "expires_at": extra.expires_at.map(rfc3339),
        "calendar_sequence": r.calendar_sequence,
    })
}

fn passengers_json(ps: &[Reservation]) -> Value {
    Value::Array(
        ps.iter()
            .map(|p| {
                json!({
                    "reservation_id": p.id,
                    "name": p.passenger_name,
                    "email": p.passenger_email,
                    "seats": p.seats,
                    "pickup": p.pickup.as_ref().map(|x| x.label.clone()),
                    "pickup_at": p.pickup_at.map(rfc3339),
                })
            })
            .collect(),
    )
}

/// Pending requests of a trip as the driver's reminder lists them (no email address:
/// contact details are exchanged only once a request is accepted).
fn pending_json(ps: &[Reservation]) -> Value {
    Value::Array(
        ps.iter()
            .map(|p| {
                json!({
                    "reservation_id": p.id,
                    "name": p.passenger_name,
                    "seats": p.seats,
                    "pickup": p.pickup.as_ref().map(|x| x.label.clone()),
                    "message": p.message,
                    "created_at": rfc3339(p.created_at),
                })
            })
            .collect(),
    )
}

/// SPEC: contact details are exchanged only once the driver has said yes. A reservation
/// that is confirmed, or was (its calendar sequence moves on confirmation: a passenger
/// who was removed or cancelled after a yes already had the address), shares them;
/// a pending, refused or expired one never did.
pub fn contacts_shared(r: &Reservation) -> bool {
    r.status == Status::Confirmed || r.calendar_sequence > 0
}

fn remove_key(v: &mut Value, key: &str) {
    if let Some(m) = v.as_object_mut() {
        m.remove(key);
    }
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
) -> NewEmail {
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
) -> NewEmail {
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
    let mut offer_value = offer_json(offer);
    let mut reservation_value = reservation.map(|r| reservation_json(r, &extra));
    // Left out of the context altogether, not only of the wording: an override template
    // cannot print what is not there.
    if !shared {
        match to {
            To::Passenger => remove_key(&mut offer_value, "driver_email"),
            To::Driver => {
                if let Some(r) = &mut reservation_value {
                    remove_key(r, "passenger_email");
                }
            }
        }
    }
    let mut context = json!({
        "lang": lang.as_str(),
        "recipient_name": recipient_name,
        "offer": offer_value,
        "reservation": reservation_value,
        "passengers": passengers_json(passengers),
    });
    if let Some(pending) = extra.pending {
        context["pending"] = pending_json(pending);
    }
    if let Some(word) = extra.when_fr {
        // The same day word in each language; templates read the one of theirs.
        let en = if word == "demain" {
            "tomorrow"
        } else {
            "today"
        };
        context["when_fr"] = json!(word);
        context["when_en"] = json!(en);
    }
    NewEmail {
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
    emails: Vec<NewEmail>,
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

    pub fn push(&mut self, mut e: NewEmail) {
        if let Some(map) = e.context.as_object_mut() {
            map.insert("routing".to_owned(), self.routing.into());
        }
        self.emails.push(e);
    }

    /// Writes the emails to the outbox. Those that may carry a calendar invite get the
    /// install id for their UIDs and, for the driver's trip event, the offer's next SEQUENCE.
    pub fn commit(
        mut self,
        tx: &rusqlite::Connection,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let n = self.emails.len();
        let mut install = None;
        for e in &mut self.emails {
            if ics::may_carry_invite(e.template) {
                let id = match &install {
                    Some(id) => Value::clone(id),
                    None => install.insert(json!(install::install_id(tx)?)).clone(),
                };
                let mut calendar = json!({ "install": id });
                if let (true, Some(offer_id)) = (ics::is_trip_event(e.template), e.offer_id) {
                    calendar["trip_sequence"] =
                        json!(offers::next_calendar_sequence(tx, offer_id)?);
                }
                e.context["calendar"] = calendar;
            }
            outbox::enqueue(tx, e, now)?;
        }
        Ok(n)
    }
}
