//! Creating and cancelling offers.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::context::{EmailBatch, Extra, To, offer_email, offer_email_with};
use super::quota::{self, Capped};
use super::{Service, ServiceError};
use crate::domain::model::{Offer, OfferStatus, Place};
use crate::domain::validate::{self, FieldError, MAX_LABEL_CHARS, MAX_NAME_CHARS};
use crate::domain::{Action, Actor, Lang, next_status};
use crate::store::{itinerary, offers, reservations};

/// A place as the API receives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceInput {
    pub label: String,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
}

impl PlaceInput {
    pub(crate) fn validate(&self, field: &str) -> Result<Place, FieldError> {
        let label = validate::single_line(&format!("{field}.label"), &self.label, MAX_LABEL_CHARS)?;
        let coords = validate::coordinate(field, self.lat, self.lon)?;
        Ok(Place {
            label,
            lat: coords.map(|c| c.0),
            lon: coords.map(|c| c.1),
        })
    }
}

/// POST /api/offers body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferInput {
    pub driver_name: String,
    pub driver_email: String,
    pub origin: PlaceInput,
    pub destination: PlaceInput,
    /// RFC 3339, with an offset (e.g. "2026-12-03T08:00:00+01:00").
    pub departure_at: String,
    pub seats: i64,
    /// "fr" or "en"; absent: `email.default_lang`.
    #[serde(default)]
    pub lang: Option<String>,
}

pub const MAX_OFFER_SEATS: i64 = 8;

/// The `lang` of an API body: absent means the configured default.
pub(crate) fn lang_field(value: Option<&str>, default: Lang) -> Result<Lang, FieldError> {
    match value {
        None => Ok(default),
        Some(code) => {
            Lang::parse(code).ok_or_else(|| FieldError::new("lang", "must be \"fr\" or \"en\""))
        }
    }
}
/// SPEC: departures at most 365 days ahead (a year-9999 date made invalid calendar files).
pub const MAX_DEPARTURE_AHEAD: chrono::Duration = chrono::Duration::days(365);

impl OfferInput {
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        default_lang: Lang,
    ) -> Result<offers::NewOffer, FieldError> {
        let departure_at = DateTime::parse_from_rfc3339(self.departure_at.trim())
            .map_err(|_| {
                FieldError::new(
                    "departure_at",
                    "must be an RFC 3339 date-time with offset, e.g. 2026-12-03T08:00:00+01:00",
                )
            })?
            .with_timezone(&Utc);
        if departure_at <= now {
            return Err(FieldError::new("departure_at", "must be in the future"));
        }
        if departure_at > now + MAX_DEPARTURE_AHEAD {
            return Err(FieldError::new(
                "departure_at",
                "must be at most 365 days ahead",
            ));
        }
        Ok(offers::NewOffer {
            driver_name: validate::single_line("driver_name", &self.driver_name, MAX_NAME_CHARS)?,
            driver_email: validate::email("driver_email", &self.driver_email)?,
            origin: self.origin.validate("origin")?,
            destination: self.destination.validate("destination")?,
            departure_at,
            seats: validate::seats("seats", self.seats, MAX_OFFER_SEATS)?,
            lang: lang_field(self.lang.as_deref(), default_lang)?,
        })
    }
}

/// What cancelling an offer did.
#[derive(Debug, Clone)]
pub struct OfferCancelOutcome {
    pub offer: Offer,
    /// False when the offer was already cancelled (a replayed link): nothing happened.
    pub changed: bool,
    pub reservations_cancelled: usize,
}

impl Service {
    pub fn create_offer(
        &self,
        input: &OfferInput,
        now: DateTime<Utc>,
    ) -> Result<Offer, ServiceError> {
        let new = input.validate(now, self.settings.default_lang)?;
        let offer = self.store.write(move |tx| {
            let id = offers::insert(tx, &new, now)?;
            offers::get(tx, id)?.ok_or(ServiceError::OfferNotFound(id))
        })?;
        tracing::info!(offer = offer.id, seats = offer.seats, "offer created");
        Ok(offer)
    }

    /// The driver cancels the whole offer: every pending and confirmed reservation becomes
    /// cancelled, each passenger is told, the driver gets a confirmation.
    pub fn cancel_offer(
        &self,
        offer_id: i64,
        now: DateTime<Utc>,
    ) -> Result<OfferCancelOutcome, ServiceError> {
        let cap = self.settings.max_per_recipient_per_hour;
        let routing = self.settings.routing_enabled;
        let (outcome, emails) = self.store.write(move |tx| {
            let offer = offers::get(tx, offer_id)?.ok_or(ServiceError::OfferNotFound(offer_id))?;
            if offer.status == OfferStatus::Cancelled {
                return Ok((
                    OfferCancelOutcome {
                        offer,
                        changed: false,
                        reservations_cancelled: 0,
                    },
                    0,
                ));
            }
            let mut batch = EmailBatch::new(routing);
            let mut cancelled = Vec::new();
            let affected: Vec<_> = reservations::for_offer(tx, offer_id)?
                .into_iter()
                .filter_map(|r| {
                    next_status(r.status, Action::CancelOffer)
                        .ok()
                        .map(|to| (r, to))
                })
                .collect();
            // Each passenger's email counts against their hourly cap, checked before any
            // write: an offer cancelled in a burst must not flood anyone either.
            for (r, _) in &affected {
                quota::check(tx, cap, &r.passenger_email, Capped::LinkRecipient, now)?;
            }
            for (r, to) in affected {
                quota::charge(tx, &r.passenger_email, now)?;
                reservations::transition(tx, r.id, r.status, to, Actor::Driver, now)?;
                cancelled.push((r.id, r.status));
            }
            offers::set_status(tx, offer_id, OfferStatus::Cancelled, now)?;
            let offer = offers::get(tx, offer_id)?.ok_or(ServiceError::OfferNotFound(offer_id))?;
            for &(id, before) in &cancelled {
                if let Some(r) = reservations::get(tx, id)? {
                    // A pending request held no seat: its email must not say it did.
                    let extra = Extra {
                        previous_status: Some(before),
                        ..Extra::default()
                    };
                    batch.push(offer_email_with(
                        "offer_cancelled_passenger",
                        &offer,
                        Some(&r),
                        &[],
                        To::Passenger,
                        extra,
                    ));
                }
            }
            batch.push(offer_email(
                "offer_cancelled_driver",
                &offer,
                None,
                &[],
                To::Driver,
            ));
            itinerary::mark_ok(tx, offer_id, now, Some("offer cancelled"))?;
            let n = batch.commit(tx, now)?;
            Ok::<_, ServiceError>((
                OfferCancelOutcome {
                    offer,
                    changed: true,
                    reservations_cancelled: cancelled.len(),
                },
                n,
            ))
        })?;
        if outcome.changed {
            tracing::info!(
                offer = offer_id,
                cancelled = outcome.reservations_cancelled,
                "offer cancelled"
            );
        }
        self.after_commit(emails, false);
        Ok(outcome)
    }

    /// Offers of a driver that have not departed yet, with their reservations (the dashboard).
    pub fn driver_dashboard(
        &self,
        driver_email: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Offer, Vec<crate::domain::model::Reservation>)>, ServiceError> {
        self.store.read(|c| {
            let mut out = Vec::new();
            for o in offers::upcoming_for_driver(c, driver_email, now)? {
                let rs = reservations::for_offer(c, o.id)?;
                out.push((o, rs));
            }
            Ok::<_, ServiceError>(out)
        })
    }

    pub fn offer_with_reservations(
        &self,
        offer_id: i64,
    ) -> Result<(Offer, Vec<crate::domain::model::Reservation>), ServiceError> {
        self.store.read(|c| {
            let o = offers::get(c, offer_id)?.ok_or(ServiceError::OfferNotFound(offer_id))?;
            let rs = reservations::for_offer(c, offer_id)?;
            Ok((o, rs))
        })
    }
}
