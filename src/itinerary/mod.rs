//! Itinerary recalculation worker: after a passenger is confirmed, cancelled or removed, the
//! service marks the offer's itinerary as pending; this worker asks OSRM for the new route,
//! stores each pickup time and lets the service email the passengers whose time moved.
//! OSRM being down never blocks a reservation: the recalculation is retried with backoff.

pub mod osrm;

use std::thread::JoinHandle;

use chrono::{DateTime, Duration, Utc};

pub use osrm::{Coord, ItineraryError, OsrmClient, Plan};

use crate::config::RoutingConfig;
use crate::service::itinerary::ComputedPickup;
use crate::service::{Service, ServiceError};
use crate::wakeup::Shutdown;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItineraryReport {
    pub recalculated: usize,
    pub retried: usize,
    pub failed: usize,
    pub emails_queued: usize,
}

pub struct ItineraryWorker {
    service: Service,
    client: OsrmClient,
    threshold: Duration,
    stop: Duration,
}

/// Retry delay after `attempts` failures: 1 min doubling up to 1 h.
pub fn retry_delay(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 6)).unwrap_or(6);
    Duration::minutes((1i64 << exp).min(60))
}

impl ItineraryWorker {
    /// None when no OSRM server is configured (there is no default: the public demo
    /// server forbids production use).
    pub fn from_config(service: Service, c: &RoutingConfig) -> Option<ItineraryWorker> {
        let url = c.osrm_url.as_deref()?;
        Some(ItineraryWorker {
            service,
            client: OsrmClient::new(url, std::time::Duration::from_secs(c.timeout_secs)),
            threshold: Duration::minutes(i64::from(c.notify_threshold_minutes)),
            stop: Duration::minutes(i64::from(c.stop_minutes)),
        })
    }

    /// Recomputes every offer whose recalculation is due.
    pub fn recalculate_due(&self, now: DateTime<Utc>) -> Result<ItineraryReport, ServiceError> {
        let mut report = ItineraryReport::default();
        for (offer_id, attempts) in self.service.itineraries_due(now, 50)? {
            match self.recalculate(offer_id, now) {
                Ok(emails) => {
                    report.recalculated += 1;
                    report.emails_queued += emails;
                }
                Err(e) => {
                    let (offer, _) = self.service.itinerary_inputs(offer_id)?;
                    let retry_at = now + retry_delay(attempts);
                    if e.is_transient() && retry_at < offer.departure_at {
                        tracing::warn!(offer = offer_id, error = %e, attempts = attempts + 1, "itinerary recalculation failed; will retry");
                        self.service.itinerary_failed(
                            offer_id,
                            &e.to_string(),
                            Some(retry_at),
                            now,
                        )?;
                        report.retried += 1;
                    } else {
                        tracing::error!(offer = offer_id, error = %e, "itinerary recalculation gave up; pickup times unchanged");
                        self.service
                            .itinerary_failed(offer_id, &e.to_string(), None, now)?;
                        report.failed += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    fn recalculate(&self, offer_id: i64, now: DateTime<Utc>) -> Result<usize, ItineraryError> {
        let svc_err = |e: ServiceError| ItineraryError::Unavailable(format!("database: {e}"));
        let (offer, passengers) = self.service.itinerary_inputs(offer_id).map_err(svc_err)?;
        let expected: Vec<i64> = passengers.iter().map(|p| p.id).collect();
        let (Some(origin), Some(destination)) =
            (offer.origin.coordinates(), offer.destination.coordinates())
        else {
            let note = "skipped: the offer's origin or destination has no coordinates";
            let applied = self.service.apply_itinerary(
                offer_id,
                &expected,
                &[],
                Some(note),
                self.threshold,
                now,
            );
            return applied.map(|a| a.emails_queued).map_err(svc_err);
        };
        let mut skipped = Vec::new();
        let mut routed: Vec<(i64, Coord)> = Vec::new();
        let mut at_origin = Vec::new();
        for p in &passengers {
            match &p.pickup {
                None => at_origin.push(p.id),
                Some(place) => match place.coordinates() {
                    Some(c) => routed.push((p.id, c)),
                    None => skipped.push(format!(
                        "reservation {} (\"{}\") has no coordinates",
                        p.id, place.label
                    )),
                },
            }
        }
        let coords: Vec<Coord> = routed.iter().map(|(_, c)| *c).collect();
        let plan = self.client.plan(origin, &coords, destination)?;
        let times = plan.pickup_times(offer.departure_at, self.stop);
        let mut pickups: Vec<ComputedPickup> = at_origin
            .iter()
            .map(|id| ComputedPickup {
                reservation_id: *id,
                pickup_at: Some(offer.departure_at),
                order: Some(0),
            })
            .collect();
        for (k, &i) in plan.order.iter().enumerate() {
            pickups.push(ComputedPickup {
                reservation_id: routed[i].0,
                pickup_at: Some(times[i]),
                order: Some(i64::try_from(k + 1).unwrap_or(i64::MAX)),
            });
        }
        let note = (!skipped.is_empty()).then(|| format!("skipped: {}", skipped.join("; ")));
        let applied = self
            .service
            .apply_itinerary(
                offer_id,
                &expected,
                &pickups,
                note.as_deref(),
                self.threshold,
                now,
            )
            .map_err(svc_err)?;
        tracing::info!(
            offer = offer_id,
            passengers = pickups.len(),
            emails = applied.emails_queued,
            "pickup times recalculated"
        );
        Ok(applied.emails_queued)
    }

    /// Runs until `shutdown`: woken by the service after each change, and every 30 s for retries.
    pub fn spawn(self, shutdown: Shutdown) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("itinerary".into())
            .spawn(move || {
                let wakeup = self.service.itinerary_wakeup().clone();
                while !shutdown.is_set() {
                    if let Err(e) = self.recalculate_due(Utc::now()) {
                        tracing::error!(error = %e, "itinerary recalculation pass failed");
                    }
                    wakeup.wait(std::time::Duration::from_secs(30));
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backs_off_to_an_hour() {
        assert_eq!(retry_delay(0), Duration::minutes(1));
        assert_eq!(retry_delay(3), Duration::minutes(8));
        assert_eq!(retry_delay(40), Duration::minutes(60));
    }
}
