//! Offers, reservations and places as the rest of the program sees them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lang::Lang;
use super::status::Status;

/// A named place, optionally with coordinates (needed only for route recalculation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub label: String,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
}

impl Place {
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        self.lat.zip(self.lon)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OfferStatus {
    Active,
    Cancelled,
}

impl OfferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Active => "active",
            OfferStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<OfferStatus> {
        match s {
            "active" => Some(OfferStatus::Active),
            "cancelled" => Some(OfferStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Offer {
    pub id: i64,
    pub driver_name: String,
    pub driver_email: String,
    pub origin: Place,
    pub destination: Place,
    pub departure_at: DateTime<Utc>,
    pub seats: i64,
    pub seats_left: i64,
    pub status: OfferStatus,
    pub created_at: DateTime<Utc>,
    /// The driver's language: emails and pages for the driver use it.
    pub lang: Lang,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reservation {
    pub id: i64,
    pub offer_id: i64,
    pub passenger_name: String,
    pub passenger_email: String,
    pub seats: i64,
    pub status: Status,
    pub pickup: Option<Place>,
    pub message: Option<String>,
    /// Computed by route recalculation; None until known.
    pub pickup_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// iCalendar SEQUENCE of this reservation's invite; bumped on every change the rider sees.
    pub calendar_sequence: i64,
    /// The passenger's language: emails and pages for the passenger use it.
    pub lang: Lang,
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One audit record: who moved a reservation from which status to which, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub reservation_id: i64,
    pub actor: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub at: DateTime<Utc>,
}
