//! The TUI's read model: what each view shows, loaded through a read-only Service on the
//! TUI's own connection. A load is one `Request` in, one `Loaded` out, so the event loop,
//! the tests and the benchmark all exercise the same code.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::service::browse::{DayActivity, ReservationDetail};
use crate::service::jobs::Job;
use crate::service::{Service, ServiceError, Settings};
use crate::store::browse::{Anchor, Count, Query, Row};
use crate::store::jobs::JobRun;
use crate::store::outbox::{EmailStatus, OutboxEmail};
use crate::store::stats::Stats;
use crate::store::{Store, StoreError};

/// Rows read per page of a table. Larger than any screen so a page scrolls locally.
pub const PAGE_SIZE: usize = 100;
/// Days in the overview's activity chart.
pub const CHART_DAYS: u32 = 30;
/// A filtered count stops here: it may have to scan, and "10000+" says enough.
pub const COUNT_CAP: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct Overview {
    pub stats: Stats,
    pub days: Vec<DayActivity>,
    pub jobs: Vec<(Job, Option<JobRun>)>,
}

#[derive(Debug, Clone)]
pub struct ReservationsPage {
    pub rows: Vec<Row>,
    /// Rows matching the query (all pages).
    pub total: Count,
    /// More rows exist beyond this page in the direction it was read.
    pub more: bool,
}

#[derive(Debug, Clone)]
pub struct OutboxPage {
    pub rows: Vec<OutboxEmail>,
    pub offset: usize,
    pub more: bool,
}

/// What a view needs (re)loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Overview,
    Reservations {
        query: Query,
        anchor: Anchor,
    },
    Detail(i64),
    Outbox {
        status: Option<EmailStatus>,
        offset: usize,
    },
}

#[derive(Debug, Clone)]
pub enum Loaded {
    Overview(Overview),
    /// The figures come along so the status tabs show current counts.
    Reservations {
        stats: Stats,
        anchor: Anchor,
        page: ReservationsPage,
    },
    Detail(Box<ReservationDetail>),
    Outbox {
        stats: Stats,
        page: OutboxPage,
    },
}

/// Reads only: the TUI never writes through this connection, so `PRAGMA data_version`
/// on it moves exactly when another connection (the daemon, a retry) commits.
#[derive(Clone)]
pub struct Reader {
    service: Service,
}

impl Reader {
    pub fn open(path: &Path, settings: Settings) -> Result<Reader, StoreError> {
        let store = Store::open_read_only(path)?;
        Ok(Reader::from_service(Service::new(
            Arc::new(store),
            settings,
        )))
    }

    pub fn from_service(service: Service) -> Reader {
        Reader { service }
    }

    pub fn path(&self) -> &Path {
        self.service.store().path()
    }

    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.service.store().data_version()
    }

    pub fn load(&self, request: &Request, now: DateTime<Utc>) -> Result<Loaded, ServiceError> {
        Ok(match request {
            Request::Overview => Loaded::Overview(self.overview(now)?),
            Request::Reservations { query, anchor } => Loaded::Reservations {
                stats: self.service.stats(now)?,
                anchor: anchor.clone(),
                page: self.reservations(query, anchor, PAGE_SIZE)?,
            },
            Request::Detail(id) => Loaded::Detail(Box::new(self.detail(*id)?)),
            Request::Outbox { status, offset } => Loaded::Outbox {
                stats: self.service.stats(now)?,
                page: self.outbox(*status, *offset, PAGE_SIZE)?,
            },
        })
    }

    /// The same `Service::stats` call as `carette stats`, so the figures are identical.
    pub fn overview(&self, now: DateTime<Utc>) -> Result<Overview, ServiceError> {
        let stats = self.service.stats(now)?;
        let days = self.service.daily_activity(now, CHART_DAYS)?;
        let jobs = Job::ALL
            .into_iter()
            .map(|j| Ok((j, self.service.last_job_run(j)?)))
            .collect::<Result<_, ServiceError>>()?;
        Ok(Overview { stats, days, jobs })
    }

    pub fn reservations(
        &self,
        query: &Query,
        anchor: &Anchor,
        limit: usize,
    ) -> Result<ReservationsPage, ServiceError> {
        // One extra row tells whether the walk can go on without a second query.
        let mut rows = self
            .service
            .browse_reservations(query, anchor, limit.saturating_add(1))?;
        let more = rows.len() > limit;
        if more {
            if matches!(anchor, Anchor::Last | Anchor::Before(_)) {
                rows.remove(0);
            } else {
                rows.truncate(limit);
            }
        }
        let total = self.service.count_reservations(query, COUNT_CAP)?;
        Ok(ReservationsPage { rows, total, more })
    }

    pub fn detail(&self, id: i64) -> Result<ReservationDetail, ServiceError> {
        self.service.reservation_detail(id)
    }

    pub fn outbox(
        &self,
        status: Option<EmailStatus>,
        offset: usize,
        limit: usize,
    ) -> Result<OutboxPage, ServiceError> {
        let mut rows = self
            .service
            .outbox_list(status, limit.saturating_add(1), offset)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok(OutboxPage { rows, offset, more })
    }
}
