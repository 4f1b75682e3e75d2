//! The use cases behind the riders' pages: the public listing, and offering a trip with
//! the driver's confirmation email (seat requests reuse `request_seat`).

use chrono::{DateTime, NaiveDate, Utc};

use super::context::{EmailBatch, To, offer_email};
use super::offers::OfferInput;
use super::quota::{self, Capped};
use super::{Service, ServiceError};
use crate::domain::model::Offer;
use crate::domain::time::{local_date, local_day_bounds};
use crate::store::offers::{self, PublicQuery};

/// At most this many offers on one listing page: enough for a small association, and a
/// bounded page for everyone else (the filters narrow it).
pub const MAX_LISTED: i64 = 100;

/// The listing's filters, as a rider typed them (already trimmed; `None` = any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TripFilter {
    pub origin: Option<String>,
    pub destination: Option<String>,
    /// A local calendar day in `jobs.timezone`.
    pub date: Option<NaiveDate>,
}

impl Service {
    /// Upcoming active offers with at least one seat left, soonest first.
    pub fn public_offers(
        &self,
        filter: &TripFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<Offer>, ServiceError> {
        let tz = self.settings.tz;
        let (after, before) = match filter.date {
            Some(day) if day < local_date(tz, now) => return Ok(Vec::new()),
            Some(day) => {
                let (start, end) = local_day_bounds(tz, day);
                (start.max(now), Some(end))
            }
            None => (now, None),
        };
        let query = PublicQuery {
            after,
            before,
            origin: filter.origin.clone(),
            destination: filter.destination.clone(),
            limit: MAX_LISTED,
        };
        Ok(self
            .store
            .read(|c| offers::upcoming_with_seats(c, &query))?)
    }

    /// Creates the offer like `create_offer`, and in the same transaction queues
    /// `offer_created_driver` (dashboard and cancel links): someone who typed another
    /// person's address can be undone by that person in one click. Anyone may fill the
    /// form, so that email counts against the address's hourly cap like a seat request's.
    pub fn publish_offer(
        &self,
        input: &OfferInput,
        now: DateTime<Utc>,
    ) -> Result<Offer, ServiceError> {
        let new = input.validate(now, self.settings.default_lang)?;
        let cap = self.settings.max_per_recipient_per_hour;
        let routing = self.settings.routing_enabled;
        let (offer, emails) = self.store.write(move |tx| {
            quota::check(tx, cap, &new.driver_email, Capped::LinkRecipient, now)?;
            quota::charge(tx, &new.driver_email, now)?;
            let id = offers::insert(tx, &new, now)?;
            let offer = offers::get(tx, id)?.ok_or(ServiceError::OfferNotFound(id))?;
            let mut batch = EmailBatch::new(routing);
            batch.push(offer_email(
                "offer_created_driver",
                &offer,
                None,
                &[],
                To::Driver,
            ));
            let n = batch.commit(tx, now)?;
            Ok::<_, ServiceError>((offer, n))
        })?;
        tracing::info!(
            offer = offer.id,
            seats = offer.seats,
            "offer published from the riders' pages"
        );
        self.after_commit(emails, false);
        Ok(offer)
    }
}
