//! Applying itinerary recalculation results: pickup times, `route_updated_passenger` emails
//! for moves of at least the threshold, and the retry state when OSRM failed.

use chrono::{DateTime, Duration, Utc};

use super::context::{EmailBatch, Extra, To, offer_email_with};
use super::{Service, ServiceError};
use crate::domain::model::{Offer, OfferStatus, Reservation};
use crate::store::{itinerary, offers, reservations};

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

    /// Stores the new pickup times computed for the passenger list `expected` and emails each
    /// passenger whose (already known) pickup time moved by at least `threshold`.
    pub fn apply_itinerary(
        &self,
        offer_id: i64,
        expected: &[i64],
        pickups: &[ComputedPickup],
        note: Option<&str>,
        threshold: Duration,
        now: DateTime<Utc>,
    ) -> Result<ItineraryApplied, ServiceError> {
        let out = self.store.write(|tx| {
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
            let mut batch = EmailBatch::default();
            let mut moved = Vec::new();
            for p in pickups {
                let Some(before) = current.iter().find(|r| r.id == p.reservation_id) else {
                    continue;
                };
                let shift = match (before.pickup_at, p.pickup_at) {
                    (Some(a), Some(b)) => Some((b - a).abs()),
                    _ => None,
                };
                let notify = shift.is_some_and(|s| s >= threshold && s > Duration::zero());
                reservations::set_pickup(tx, p.reservation_id, p.pickup_at, p.order, notify)?;
                if notify {
                    moved.push((p.reservation_id, before.pickup_at));
                }
            }
            let passengers = reservations::confirmed_for_offer(tx, offer_id)?;
            for (id, previous) in moved {
                if let Some(r) = passengers.iter().find(|r| r.id == id) {
                    let extra = Extra {
                        previous_pickup_at: previous,
                        ..Extra::default()
                    };
                    batch.push(offer_email_with(
                        "route_updated_passenger",
                        &offer,
                        Some(r),
                        &passengers,
                        To::Passenger,
                        extra,
                    ));
                }
            }
            itinerary::mark_ok(tx, offer_id, now, note)?;
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
        self.store.write(|tx| match retry_at {
            Some(at) => itinerary::mark_retry(tx, offer_id, at, now, error),
            None => itinerary::mark_failed(tx, offer_id, now, error),
        })?;
        Ok(())
    }
}
