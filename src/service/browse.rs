//! Read-only queries behind the operator TUI: paged reservation listings, one reservation
//! with everything about it, and the daily activity series.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::Connection;

use super::{Service, ServiceError};
use crate::domain::model::{AuditEntry, Offer, Reservation};
use crate::domain::time::{from_db, local_date, local_instant};
use crate::store::browse::{self, Anchor, Query, Row};
use crate::store::outbox::{self, OutboxEmail};
use crate::store::{StoreError, offers, reservations, stats};

/// A reservation with its offer, audit trail and every email queued for it.
#[derive(Debug, Clone)]
pub struct ReservationDetail {
    pub reservation: Reservation,
    pub offer: Offer,
    pub history: Vec<AuditEntry>,
    pub emails: Vec<OutboxEmail>,
}

/// One local day (`jobs.timezone`) of requests: how many were made, and how those were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayActivity {
    pub date: NaiveDate,
    pub requests: u64,
    pub confirmed: u64,
    pub refused: u64,
}

impl DayActivity {
    /// The acceptance rate of that day's requests (SPEC's formula), None when none was decided.
    pub fn acceptance_rate(&self) -> Option<f64> {
        stats::acceptance_rate(
            i64::try_from(self.confirmed).unwrap_or(i64::MAX),
            i64::try_from(self.refused).unwrap_or(i64::MAX),
        )
    }
}

impl Service {
    /// One page of reservations, in the query's order (see `store::browse`).
    pub fn browse_reservations(
        &self,
        query: &Query,
        anchor: &Anchor,
        limit: usize,
    ) -> Result<Vec<Row>, ServiceError> {
        Ok(self.store.read(|c| browse::page(c, query, anchor, limit))?)
    }

    /// Everything about one reservation, read in one transaction so the parts agree.
    pub fn reservation_detail(&self, id: i64) -> Result<ReservationDetail, ServiceError> {
        self.store.read(|c: &Connection| {
            let tx = c.unchecked_transaction().map_err(StoreError::from)?;
            let reservation =
                reservations::get(&tx, id)?.ok_or(ServiceError::ReservationNotFound(id))?;
            let offer = offers::get(&tx, reservation.offer_id)?
                .ok_or(ServiceError::OfferNotFound(reservation.offer_id))?;
            let history = reservations::history(&tx, id)?;
            let emails = outbox::for_reservation(&tx, id)?;
            Ok(ReservationDetail {
                reservation,
                offer,
                history,
                emails,
            })
        })
    }

    /// The last `days` local days (`jobs.timezone`) up to `now`'s, oldest first, with the
    /// days without any request present as zeros so a chart's x axis is regular.
    pub fn daily_activity(
        &self,
        now: DateTime<Utc>,
        days: u32,
    ) -> Result<Vec<DayActivity>, ServiceError> {
        let tz = self.settings.tz;
        let today = local_date(tz, now);
        let first = today - Duration::days(i64::from(days.saturating_sub(1)));
        let since = local_instant(tz, first, chrono::NaiveTime::MIN);
        let rows = self.store.read(|c| stats::hourly_decisions(c, since))?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut by_day: Vec<DayActivity> = first
            .iter_days()
            .take_while(|d| *d <= today)
            .map(|date| DayActivity {
                date,
                requests: 0,
                confirmed: 0,
                refused: 0,
            })
            .collect();
        for (hour, created, confirmed, refused) in rows {
            let Some(start) = from_db(&format!("{hour}:00:00")) else {
                continue;
            };
            let date = local_date(tz, start);
            if let Some(day) = by_day.iter_mut().find(|d| d.date == date) {
                day.requests += count(created);
                day.confirmed += count(confirmed);
                day.refused += count(refused);
            }
        }
        Ok(by_day)
    }
}
