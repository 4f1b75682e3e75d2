//! The TUI's read model: what each view shows, loaded through a read-only Service on the
//! TUI's own connection. A load is one `Request` in, one `Loaded` out, so the event loop,
//! the tests and the benchmark all run the same code.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::service::browse::{DayActivity, ReservationDetail};
use crate::service::jobs::Job;
use crate::service::{Service, ServiceError, Settings};
use crate::store::browse::{Anchor, Query, Row};
use crate::store::jobs::JobRun;
use crate::store::outbox::{EmailStatus, OutboxEmail};
use crate::store::stats::Stats;
use crate::store::{Store, StoreError};

/// Rows read per page of a table. Larger than any screen so a page scrolls locally.
pub const PAGE_SIZE: usize = 100;
/// Days in the overview's activity chart.
pub const CHART_DAYS: u32 = 30;
/// Page cache of the TUI's connection: repeated page reads stay in memory instead of
/// going back to the OS for every scattered row (measured 2-3× faster on 1 M rows).
const CACHE_KIB: i64 = 16 * 1024;

/// The chart and the jobs panel of the overview (the figures come with `Request::Stats`).
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub days: Vec<DayActivity>,
    pub jobs: Vec<(Job, Option<JobRun>)>,
}

/// One page of a table.
#[derive(Debug, Clone)]
pub struct Page<R> {
    pub rows: Vec<R>,
    /// More rows exist beyond this page in the direction it was read.
    pub more: bool,
}

pub type ReservationsPage = Page<Row>;
pub type OutboxPage = Page<OutboxEmail>;

/// What the screen needs (re)loaded. Each kind is independent, so a slow one (a filtered
/// search) never holds up another (the figures).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Stats,
    Activity,
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

/// Requests of the same kind supersede each other: only the newest one's answer is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Stats,
    Activity,
    Reservations,
    Detail,
    Outbox,
}

impl Request {
    pub fn kind(&self) -> Kind {
        match self {
            Request::Stats => Kind::Stats,
            Request::Activity => Kind::Activity,
            Request::Reservations { .. } => Kind::Reservations,
            Request::Detail(_) => Kind::Detail,
            Request::Outbox { .. } => Kind::Outbox,
        }
    }
}

/// A request and its sequence number, so an answer can be matched to the newest question.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub seq: u64,
    pub request: Request,
}

#[derive(Debug, Clone)]
pub enum Loaded {
    Stats(Box<Stats>),
    Activity(Activity),
    Reservations(ReservationsPage),
    Detail(Box<ReservationDetail>),
    Outbox(OutboxPage),
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
        store.read(|c| {
            c.pragma_update(None, "cache_size", -CACHE_KIB)
                .map_err(StoreError::from)
        })?;
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

    /// Stops whatever query runs on this reader's connection (from another thread).
    pub fn interrupt_handle(&self) -> Result<rusqlite::InterruptHandle, StoreError> {
        self.service
            .store()
            .read(|c| Ok::<_, StoreError>(c.get_interrupt_handle()))
    }

    pub fn load(&self, request: &Request, now: DateTime<Utc>) -> Result<Loaded, ServiceError> {
        Ok(match request {
            Request::Stats => Loaded::Stats(Box::new(self.stats(now)?)),
            Request::Activity => Loaded::Activity(self.activity(now)?),
            Request::Reservations { query, anchor } => {
                Loaded::Reservations(self.reservations(query, anchor, PAGE_SIZE)?)
            }
            Request::Detail(id) => Loaded::Detail(Box::new(self.detail(*id)?)),
            Request::Outbox { status, offset } => {
                Loaded::Outbox(self.outbox(*status, *offset, PAGE_SIZE)?)
            }
        })
    }

    /// The same `Service::stats` call as `carette stats`, so the figures are identical.
    pub fn stats(&self, now: DateTime<Utc>) -> Result<Stats, ServiceError> {
        self.service.stats(now)
    }

    pub fn activity(&self, now: DateTime<Utc>) -> Result<Activity, ServiceError> {
        let days = self.service.daily_activity(now, CHART_DAYS)?;
        // The panel has room for the jobs riders feel (and the email line); retention's
        // runs show in /metrics (carette_job_*) and the logs.
        let jobs = Job::ALL
            .into_iter()
            .filter(|j| *j != Job::Retention)
            .map(|j| Ok((j, self.service.last_job_run(j)?)))
            .collect::<Result<_, ServiceError>>()?;
        Ok(Activity { days, jobs })
    }

    pub fn reservations(
        &self,
        query: &Query,
        anchor: &Anchor,
        limit: usize,
    ) -> Result<ReservationsPage, ServiceError> {
        // One extra row tells whether the walk can go on, without a second query.
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
        Ok(ReservationsPage { rows, more })
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
        Ok(OutboxPage { rows, more })
    }
}
