//! Use cases. Each one that changes state is ONE write transaction holding the state change,
//! its audit row and the outbox rows of the emails it triggers, so a crash can never leave
//! a change without its emails, or emails without their change.

pub mod browse;
pub mod context;
pub mod forget;
pub mod itinerary;
pub mod jobs;
pub mod links;
pub mod offers;
pub mod outbox;
pub mod quota;
pub mod reservations;
pub mod retention;
pub mod riders;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::domain::model::{Offer, Reservation};
use crate::domain::seats::SeatError;
use crate::domain::validate::FieldError;
use crate::domain::{IllegalTransition, Lang};
use crate::store::{Store, StoreError};
use crate::wakeup::Wakeup;

pub use crate::store::QueryInterrupt;
pub use crate::store::inspect::{InspectError, Inspection};
pub use offers::{OfferInput, PlaceInput};
pub use reservations::{ReservationInput, TransitionOutcome};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("offer {0} not found")]
    OfferNotFound(i64),
    #[error("reservation {0} not found")]
    ReservationNotFound(i64),
    #[error("offer {id} is cancelled and takes no new request")]
    OfferCancelled { id: i64 },
    #[error("offer {id} has already departed")]
    OfferDeparted { id: i64 },
    #[error("{0}")]
    NoSeats(SeatError),
    /// The reservation is not in a state that allows the action (a replayed link, a race):
    /// carries the current reservation so pages can show what it is now.
    #[error("{error}")]
    Illegal {
        error: IllegalTransition,
        reservation: Box<Reservation>,
    },
    /// `email.max_per_recipient_per_hour` reached for one recipient of the action's
    /// emails; nothing was written.
    #[error("{}", who.describe())]
    RecipientCapped {
        who: quota::Capped,
        retry_after_secs: i64,
    },
    /// An answer came after the request's deadline: the request expired instead (that
    /// change is committed, with its emails); carries the reservation as it is now.
    #[error("the request's deadline has passed: it expired instead")]
    RequestExpired(Box<TransitionOutcome>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// The query was cut short through [`Service::interrupt_handle`].
    pub fn is_interrupted(&self) -> bool {
        matches!(self, ServiceError::Store(e) if e.is_interrupted())
    }

    /// The JSON API's `field` for this error, when one field is to blame.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::Invalid(e) => Some(&e.field),
            ServiceError::NoSeats(_) => Some("seats"),
            ServiceError::RecipientCapped {
                who: quota::Capped::Passenger,
                ..
            } => Some("passenger_email"),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for ServiceError {
    fn from(e: rusqlite::Error) -> Self {
        ServiceError::Store(StoreError::Sql(e))
    }
}

/// The knobs of the use cases, taken from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub expire_after: Duration,
    pub tz: Tz,
    pub reminder_time: NaiveTime,
    /// Itinerary recalculation is requested after changes only when an OSRM server is configured.
    pub routing_enabled: bool,
    /// The language of riders who did not choose one.
    pub default_lang: Lang,
    /// `email.max_per_recipient_per_hour`: emails other people's actions may cause to
    /// one address in any hour.
    pub max_per_recipient_per_hour: u32,
    pub retention: retention::RetentionSettings,
}

impl Settings {
    pub fn from_config(c: &crate::config::Config) -> Settings {
        Settings {
            expire_after: Duration::hours(i64::from(c.jobs.expire_after_hours)),
            tz: c.jobs.timezone,
            reminder_time: c.jobs.reminder_time,
            routing_enabled: c.routing.osrm_url.is_some(),
            default_lang: c.email.default_lang,
            max_per_recipient_per_hour: c.email.max_per_recipient_per_hour,
            retention: retention::RetentionSettings::from_config(&c.retention),
        }
    }
}

impl Default for Settings {
    /// The documented configuration defaults, from their one source.
    fn default() -> Self {
        Settings::from_config(&crate::config::Config::default())
    }
}

#[derive(Clone)]
pub struct Service {
    store: Arc<Store>,
    settings: Settings,
    /// Woken after a commit that queued emails, so the sender does not wait for its next poll.
    outbox_wakeup: Arc<Wakeup>,
    /// Woken after a commit that asked for an itinerary recalculation.
    itinerary_wakeup: Arc<Wakeup>,
}

impl Service {
    pub fn new(store: Arc<Store>, settings: Settings) -> Service {
        Service {
            store,
            settings,
            outbox_wakeup: Arc::new(Wakeup::default()),
            itinerary_wakeup: Arc::new(Wakeup::default()),
        }
    }

    /// Opens an existing database only to read it (the TUI), with a page cache of
    /// `cache_kib` KiB on its connection.
    pub fn open_read_only(
        path: &Path,
        settings: Settings,
        cache_kib: i64,
    ) -> Result<Service, ServiceError> {
        let store = Store::open_read_only(path)?;
        store.set_cache_kib(cache_kib)?;
        Ok(Service::new(Arc::new(store), settings))
    }

    /// A read-only look at a database file (schema version, integrity, journal mode) that
    /// neither migrates nor writes it: `carette check`, next to a running daemon.
    pub fn inspect_database(path: &Path) -> Result<Inspection, InspectError> {
        crate::store::inspect::inspect(path)
    }

    /// The database file this service works on.
    pub fn database_path(&self) -> &Path {
        self.store.path()
    }

    /// Moves whenever another connection commits (`PRAGMA data_version`).
    pub fn data_version(&self) -> Result<i64, ServiceError> {
        Ok(self.store.data_version()?)
    }

    /// Whether the database answers a query (the health check).
    pub fn ping(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping()?)
    }

    /// The database writer's commits, writes and busy time, for /metrics.
    pub fn db_writer_stats(&self) -> &crate::store::WriterStats {
        self.store.writer_stats()
    }

    /// Whether the database takes a write (rolled back: nothing changes), for /healthz.
    pub fn probe_write(&self) -> Result<(), ServiceError> {
        Ok(self.store.probe_write()?)
    }

    /// Stops the query in flight on a read-only service's connection, from another thread.
    pub fn interrupt_handle(&self) -> Result<QueryInterrupt, ServiceError> {
        Ok(self.store.interrupt_handle()?)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn outbox_wakeup(&self) -> &Arc<Wakeup> {
        &self.outbox_wakeup
    }

    pub fn itinerary_wakeup(&self) -> &Arc<Wakeup> {
        &self.itinerary_wakeup
    }

    pub fn get_offer(&self, id: i64) -> Result<Offer, ServiceError> {
        self.store
            .read(|c| crate::store::offers::get(c, id))?
            .ok_or(ServiceError::OfferNotFound(id))
    }

    pub fn get_reservation(&self, id: i64) -> Result<Reservation, ServiceError> {
        self.store
            .read(|c| crate::store::reservations::get(c, id))?
            .ok_or(ServiceError::ReservationNotFound(id))
    }

    /// The request's deadline as the driver's email prints it (domain rule, configured delay).
    pub fn request_deadline(&self, r: &Reservation, o: &Offer) -> DateTime<Utc> {
        crate::domain::request_deadline(r.created_at, self.settings.expire_after, o.departure_at)
    }

    /// Whether `action` can happen to `r` at `now` (the domain rule with the configured delay):
    /// the confirmation pages ask this, the use cases enforce it.
    pub fn check_action(
        &self,
        r: &Reservation,
        o: &Offer,
        action: crate::domain::Action,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::Status, crate::domain::Refusal> {
        crate::domain::check_action(r, o, action, now, self.settings.expire_after)
    }

    /// SQLite's periodic `PRAGMA optimize` (the daemon runs it hourly; the store also runs
    /// it when opened and when closed).
    pub fn optimize_database(&self) -> Result<(), ServiceError> {
        Ok(self.store.optimize()?)
    }

    pub fn stats(&self, now: DateTime<Utc>) -> Result<crate::store::stats::Stats, ServiceError> {
        let midnight = crate::domain::time::start_of_local_day(self.settings.tz, now);
        let hours = u32::try_from(self.settings.expire_after.num_hours()).unwrap_or(24);
        Ok(self
            .store
            .read(|c| crate::store::stats::compute(c, now, midnight, hours))?)
    }

    fn after_commit(&self, emails: usize, itinerary: bool) {
        if emails > 0 {
            self.outbox_wakeup.notify();
        }
        if itinerary {
            self.itinerary_wakeup.notify();
        }
    }
}
