//! Seat requests and every transition of a reservation.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::context::{EmailBatch, Extra, To, offer_email_with};
use super::offers::PlaceInput;
use super::quota::{self, Capped};
use super::{Service, ServiceError};
use crate::domain::model::{Offer, OfferStatus, Reservation};
use crate::domain::seats::check_seats;
use crate::domain::validate::{self, FieldError, MAX_MESSAGE_CHARS, MAX_NAME_CHARS};
use crate::domain::{Action, Actor, Lang, Status};
use crate::domain::{Refusal, check_action, request_deadline};
use crate::store::{itinerary, offers, reservations};

/// POST /api/offers/{id}/reservations body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationInput {
    pub passenger_name: String,
    pub passenger_email: String,
    pub seats: i64,
    #[serde(default)]
    pub pickup: Option<PlaceInput>,
    #[serde(default)]
    pub message: Option<String>,
    /// "fr" or "en"; absent: `email.default_lang`.
    #[serde(default)]
    pub lang: Option<String>,
}

impl ReservationInput {
    fn validate(
        &self,
        offer_id: i64,
        default_lang: Lang,
    ) -> Result<reservations::NewReservation, FieldError> {
        Ok(reservations::NewReservation {
            offer_id,
            passenger_name: validate::single_line(
                "passenger_name",
                &self.passenger_name,
                MAX_NAME_CHARS,
            )?,
            passenger_email: validate::email("passenger_email", &self.passenger_email)?,
            seats: validate::seats("seats", self.seats, super::offers::MAX_OFFER_SEATS)?,
            pickup: self
                .pickup
                .as_ref()
                .map(|p| p.validate("pickup"))
                .transpose()?,
            message: match &self.message {
                Some(m) => validate::free_text("message", m, MAX_MESSAGE_CHARS)?,
                None => None,
            },
            lang: super::offers::lang_field(self.lang.as_deref(), default_lang)?,
        })
    }
}

/// A recorded seat request, as its write returns it.
struct SeatRequested {
    reservation: Reservation,
    /// The offer as the request found it.
    offer: Offer,
    emails: usize,
}

/// The reservation and its offer after a successful transition.
#[derive(Debug, Clone)]
pub struct TransitionOutcome {
    pub reservation: Reservation,
    /// The status before the change (a cancelled request held no seat; a reservation did).
    pub previous: Status,
    pub offer: Offer,
    pub emails_queued: usize,
}

fn load(tx: &rusqlite::Connection, id: i64) -> Result<(Reservation, Offer), ServiceError> {
    let r = reservations::get(tx, id)?.ok_or(ServiceError::ReservationNotFound(id))?;
    let o = offers::get(tx, r.offer_id)?.ok_or(ServiceError::OfferNotFound(r.offer_id))?;
    Ok((r, o))
}

/// SPEC's emails of each transition: (template, recipient, whether it carries the current
/// passenger list). Offer-wide cancellation has its own (see `cancel_offer`).
pub(crate) fn emails_for(action: Action) -> &'static [(&'static str, To, bool)] {
    match action {
        Action::Accept => &[
            ("confirmed_passenger", To::Passenger, true),
            ("itinerary_driver", To::Driver, true),
        ],
        Action::Refuse => &[("refused_passenger", To::Passenger, false)],
        Action::Cancel => &[
            ("cancelled_passenger", To::Passenger, false),
            ("cancelled_driver", To::Driver, true),
        ],
        Action::Remove => &[
            ("removed_passenger", To::Passenger, false),
            ("itinerary_driver", To::Driver, true),
        ],
        Action::Expire => &[
            ("expired_passenger", To::Passenger, false),
            ("expired_driver", To::Driver, false),
        ],
        Action::CancelOffer => &[],
    }
}

impl Service {
    /// A passenger asks for seats: emails 1 (driver, with accept/refuse) and 2 (passenger).
    pub fn request_seat(
        &self,
        offer_id: i64,
        input: &ReservationInput,
        now: DateTime<Utc>,
    ) -> Result<Reservation, ServiceError> {
        let write = self.seat_request(offer_id, input, now)?;
        let done = self.store.write_checks_first(write)?;
        Ok(self.seat_requested(done).0)
    }

    /// [`Service::request_seat`] for async callers (the JSON API's hot path): no thread
    /// is held while the write waits for its group commit. Also returns the offer.
    pub async fn request_seat_async(
        &self,
        offer_id: i64,
        input: &ReservationInput,
        now: DateTime<Utc>,
    ) -> Result<(Reservation, Offer), ServiceError> {
        let write = self.seat_request(offer_id, input, now)?;
        let done = self.store.write_checks_first_async(write).await?;
        Ok(self.seat_requested(done))
    }

    /// Validates the request and returns the write that checks every rule and records it.
    /// Every refusal comes before its first change: it runs without a savepoint
    /// ([`crate::store::Store::write_checks_first`]), so keep new rules above the writes.
    fn seat_request(
        &self,
        offer_id: i64,
        input: &ReservationInput,
        now: DateTime<Utc>,
    ) -> Result<
        impl FnOnce(&rusqlite::Connection) -> Result<SeatRequested, ServiceError> + Send + 'static,
        ServiceError,
    > {
        let new = input.validate(offer_id, self.settings.default_lang)?;
        let expire_after = self.settings.expire_after;
        let cap = self.settings.max_per_recipient_per_hour;
        let routing = self.settings.routing_enabled;
        Ok(move |tx: &rusqlite::Connection| {
            let offer = offers::get(tx, offer_id)?.ok_or(ServiceError::OfferNotFound(offer_id))?;
            if offer.status == OfferStatus::Cancelled {
                return Err(ServiceError::OfferCancelled { id: offer_id });
            }
            if offer.departure_at <= now {
                return Err(ServiceError::OfferDeparted { id: offer_id });
            }
            if offer
                .driver_email
                .eq_ignore_ascii_case(&new.passenger_email)
            {
                return Err(
                    FieldError::new("passenger_email", "is the driver's own address").into(),
                );
            }
            check_seats(new.seats, offer.seats_left).map_err(ServiceError::NoSeats)?;
            if reservations::has_active_request(tx, offer_id, &new.passenger_email)? {
                return Err(FieldError::new(
                    "passenger_email",
                    "already has an active request on this ride",
                )
                .into());
            }
            // Anyone may ask for a seat, so both emails count against their recipients'
            // hourly caps, checked before the first write.
            quota::check(tx, cap, &offer.driver_email, Capped::Driver, now)?;
            quota::check(tx, cap, &new.passenger_email, Capped::Passenger, now)?;
            quota::charge(tx, &offer.driver_email, now)?;
            quota::charge(tx, &new.passenger_email, now)?;
            let r = reservations::insert(tx, &new, now)?;
            let passengers = reservations::confirmed_for_offer(tx, offer_id)?;
            let extra = Extra {
                expires_at: Some(request_deadline(
                    r.created_at,
                    expire_after,
                    offer.departure_at,
                )),
                ..Extra::default()
            };
            let mut batch = EmailBatch::new(routing);
            batch.push(offer_email_with(
                "request_driver",
                &offer,
                Some(&r),
                &passengers,
                To::Driver,
                extra,
            ));
            batch.push(offer_email_with(
                "request_passenger",
                &offer,
                Some(&r),
                &[],
                To::Passenger,
                extra,
            ));
            let emails = batch.commit(tx, now)?;
            Ok(SeatRequested {
                reservation: r,
                offer,
                emails,
            })
        })
    }

    fn seat_requested(&self, done: SeatRequested) -> (Reservation, Offer) {
        tracing::info!(
            reservation = done.reservation.id,
            offer = done.offer.id,
            seats = done.reservation.seats,
            "seat requested"
        );
        self.after_commit(done.emails, false);
        (done.reservation, done.offer)
    }

    pub fn accept(&self, id: i64, now: DateTime<Utc>) -> Result<TransitionOutcome, ServiceError> {
        self.apply(id, Action::Accept, Actor::Driver, now)
    }

    pub fn refuse(&self, id: i64, now: DateTime<Utc>) -> Result<TransitionOutcome, ServiceError> {
        self.apply(id, Action::Refuse, Actor::Driver, now)
    }

    /// The passenger withdraws a pending or confirmed reservation.
    pub fn cancel(&self, id: i64, now: DateTime<Utc>) -> Result<TransitionOutcome, ServiceError> {
        self.apply(id, Action::Cancel, Actor::Passenger, now)
    }

    /// The driver removes a confirmed passenger.
    pub fn remove(&self, id: i64, now: DateTime<Utc>) -> Result<TransitionOutcome, ServiceError> {
        self.apply(id, Action::Remove, Actor::Driver, now)
    }

    fn apply(
        &self,
        id: i64,
        action: Action,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<TransitionOutcome, ServiceError> {
        let expire_after = self.settings.expire_after;
        let cap = self.settings.max_per_recipient_per_hour;
        let routing = self.settings.routing_enabled;
        let (outcome, route, expired) = self.store.write(move |tx| {
            let (r, offer) = load(tx, id)?;
            // Re-checked inside the write transaction: two accepts racing for the last seat
            // are serialized by the write lock, and the second one sees 0 left.
            let (action, actor, to) = match check_action(&r, &offer, action, now, expire_after) {
                Ok(to) => (action, actor, to),
                // Too late to answer: the request expires now, as the expiry job would have.
                Err(Refusal::DeadlinePassed) => (Action::Expire, Actor::System, Status::Expired),
                Err(Refusal::Illegal(error)) => {
                    return Err(ServiceError::Illegal {
                        error,
                        reservation: Box::new(r),
                    });
                }
                Err(Refusal::Departed) => return Err(ServiceError::OfferDeparted { id: offer.id }),
                Err(Refusal::NoSeats(e)) => return Err(ServiceError::NoSeats(e)),
            };
            // What the link's holder makes Carette send to the other party counts against
            // that party's hourly cap too: otherwise requests left pending for a day could
            // be answered in one burst (accept + remove, or cancel, hundreds at once).
            let others: Vec<&str> = emails_for(action)
                .iter()
                .filter_map(|&(_, to, _)| match (to, actor) {
                    (To::Passenger, Actor::Driver) => Some(r.passenger_email.as_str()),
                    (To::Driver, Actor::Passenger) => Some(offer.driver_email.as_str()),
                    _ => None,
                })
                .collect();
            for &address in &others {
                let who = match actor {
                    Actor::Passenger => Capped::Driver,
                    _ => Capped::LinkRecipient,
                };
                quota::check(tx, cap, address, who, now)?;
            }
            for &address in &others {
                quota::charge(tx, address, now)?;
            }
            let from = r.status;
            if !reservations::transition(tx, id, from, to, actor, now)? {
                // Cannot happen under the write lock, but never overwrite a concurrent change.
                let (current, _) = load(tx, id)?;
                return Err(ServiceError::Illegal {
                    error: crate::domain::IllegalTransition {
                        from: current.status,
                        action,
                    },
                    reservation: Box::new(current),
                });
            }
            let (r, offer) = load(tx, id)?;
            let passengers = reservations::confirmed_for_offer(tx, offer.id)?;
            let mut batch = EmailBatch::new(routing);
            let extra = Extra {
                previous_status: Some(from),
                ..Extra::default()
            };
            for &(template, to, with_list) in emails_for(action) {
                let list: &[Reservation] = if with_list { &passengers } else { &[] };
                batch.push(offer_email_with(
                    template,
                    &offer,
                    Some(&r),
                    list,
                    to,
                    extra,
                ));
            }
            // The car's passenger list changed: pickup times may move.
            let route = routing && (from == Status::Confirmed || to == Status::Confirmed);
            if route {
                itinerary::request(tx, offer.id, now)?;
            }
            let emails_queued = batch.commit(tx, now)?;
            Ok::<_, ServiceError>((
                TransitionOutcome {
                    reservation: r,
                    previous: from,
                    offer,
                    emails_queued,
                },
                route,
                action == Action::Expire,
            ))
        })?;
        self.after_commit(outcome.emails_queued, route);
        if expired {
            tracing::info!(
                reservation = id,
                "answer after the deadline: request expired"
            );
            return Err(ServiceError::RequestExpired(Box::new(outcome)));
        }
        tracing::info!(reservation = id, action = action.as_str(), status = %outcome.reservation.status, "reservation updated");
        Ok(outcome)
    }
}
