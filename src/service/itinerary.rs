//! Applying itinerary recalculation results: pickup times, `pickup_time_passenger` the first
//! time a passenger's time is known, `route_updated_passenger` for later moves of at least
//! the threshold, and the retry state when OSRM failed.

use chrono::{DateTime, Duration, Utc};

use super::context::{EmailBatch, Extra, To, offer_email_with};
use super::{Service, ServiceError};
use crate::domain::model::{Offer, OfferStatus, Reservation};
use crate::store::{itinerary, offers, outbox, reservations};

/// A computed pickup for one confirmed reservation.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputedPickup {
    pub reservation_id: i64,
    pub pickup_at: Option<DateTime<Utc>>,
    pub order: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItineraryApplied {
    /// False when the passenger list changed meanwhile: a newer recalculation is pending.
    pub applied: bool,
    pub emails_queued: usize,
}

impl Service {
    /// Offers whose itinerary must be recomputed now, with the attempts made so far.
    pub fn itineraries_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(i64, i64)>, ServiceError> {
        Ok(self.store.read(|c| itinerary::due(c, now, limit))?)
    }

    /// The offer and its confirmed passengers, in their current pickup order.
    pub fn itinerary_inputs(
        &self,
        offer_id: i64,
    ) -> Result<(Offer, Vec<Reservation>), ServiceError> {
        self.store.read(|c| {
            let o = offers::get(c, offer_id)?.ok_or(ServiceError::OfferNotFound(offer_id))?;
            Ok((o, reservations::confirmed_for_offer(c, offer_id)?))
        })
    }

    /// Stores the new pickup times computed for the passenger list `expected`, tells each
    /// passenger whose time is known for the first time (in the confirmation if it has not
    /// left yet), and emails each one whose known time moved by at least `threshold`.
    pub fn apply_itinerary(
        &self,
        offer_id: i64,
        expected: &[i64],
        pickups: &[ComputedPickup],
        note: Option<&str>,
        threshold: Duration,
        now: DateTime<Utc>,
    ) -> Result<ItineraryApplied, ServiceError> {
        let (expected, pickups) = (expected.to_vec(), pickups.to_vec());
        let note = note.map(str::to_owned);
        let routing = self.settings.routing_enabled;
        let out = self.store.write(move |tx| {
            let offer = offers::get(tx, offer_id)?.ok_or(ServiceError::OfferNotFound(offer_id))?;
            let current = reservations::confirmed_for_offer(tx, offer_id)?;
            let mut ids: Vec<i64> = current.iter().map(|r| r.id).collect();
            let mut want = expected.to_vec();
            ids.sort_unstable();
            want.sort_unstable();
            if ids != want || offer.status == OfferStatus::Cancelled {
                // Changed while OSRM was answering; the change requested its own recalculation.
                return Ok(ItineraryApplied::default());
            }
            let mut batch = EmailBatch::new(routing);
            let mut moved = Vec::new();
            let mut known = Vec::new();
            for p in &pickups {
                let Some(before) = current.iter().find(|r| r.id == p.reservation_id) else {
                    continue;
                };
                let shift = match (before.pickup_at, p.pickup_at) {
                    (Some(a), Some(b)) => Some((b - a).abs()),
                    _ => None,
                };
                let notify = shift.is_some_and(|s| s >= threshold && s > Duration::zero());
                let first = before.pickup_at.is_none() && p.pickup_at.is_some();
                // A new time is a new version of the passenger's calendar invite.
                let bump = notify || first;
                reservations::set_pickup(tx, p.reservation_id, p.pickup_at, p.order, bump)?;
                if notify {
                    moved.push((p.reservation_id, before.pickup_at));
                } else if let (true, Some(at)) = (first, p.pickup_at) {
                    // The confirmation still waiting in the outbox can carry the time itself;
                    // once it has left, the passenger gets a short email of its own.
                    if !outbox::add_pickup_to_queued_confirmation(tx, p.reservation_id, at)? {
                        known.push(p.reservation_id);
                    }
                }
            }
            let passengers = reservations::confirmed_for_offer(tx, offer_id)?;
            let mut emails = Vec::new();
            for (id, previous) in moved {
                emails.push(("route_updated_passenger", id, previous));
            }
            for id in known {
                emails.push(("pickup_time_passenger", id, None));
            }
            for (template, id, previous) in emails {
                if let Some(r) = passengers.iter().find(|r| r.id == id) {
                    let extra = Extra {
                        previous_pickup_at: previous,
                        ..Extra::default()
                    };
                    batch.push(offer_email_with(
                        template,
                        &offer,
                        Some(r),
                        &[],
                        To::Passenger,
                        extra,
                    ));
                }
            }
            itinerary::mark_ok(tx, offer_id, now, note.as_deref())?;
            let emails_queued = batch.commit(tx, now)?;
            Ok::<_, ServiceError>(ItineraryApplied {
                applied: true,
                emails_queued,
            })
        })?;
        self.after_commit(out.emails_queued, false);
        Ok(out)
    }

    /// Records a failed recalculation: retried at `retry_at`, or given up (None).
    pub fn itinerary_failed(
        &self,
        offer_id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let error = error.to_owned();
        self.store.write(move |tx| match retry_at {
            Some(at) => itinerary::mark_retry(tx, offer_id, at, now, &error),
            None => itinerary::mark_failed(tx, offer_id, now, &error),
        })?;
        Ok(())
    }
}
