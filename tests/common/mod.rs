//! Shared fixtures for integration tests: a real SQLite file in a temp dir and a Service on it.
#![allow(dead_code)]

pub mod db;
pub mod osrm_stub;

use std::path::PathBuf;
use std::sync::Arc;

use carette::service::{OfferInput, PlaceInput, ReservationInput, Service, Settings};
use carette::store::Store;
use chrono::{DateTime, TimeZone, Utc};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub service: Service,
}

pub fn fixture() -> Fixture {
    fixture_with(Settings::default())
}

pub fn fixture_with(settings: Settings) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carette.db");
    let store = Store::open(&path).unwrap();
    let service = Service::new(Arc::new(store), settings);
    Fixture { dir, path, service }
}

pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

pub fn place(label: &str) -> PlaceInput {
    PlaceInput {
        label: label.into(),
        lat: None,
        lon: None,
    }
}

pub fn offer_input(departure: DateTime<Utc>, seats: i64) -> OfferInput {
    OfferInput {
        driver_name: "Jean Dupont".into(),
        driver_email: "jean@example.org".into(),
        origin: place("Lyon Part-Dieu"),
        destination: place("Grenoble Gare"),
        departure_at: departure.to_rfc3339(),
        seats,
        lang: None,
    }
}

pub fn request(name: &str, email: &str, seats: i64) -> ReservationInput {
    ReservationInput {
        passenger_name: name.into(),
        passenger_email: email.into(),
        seats,
        pickup: Some(place("Place Bellecour")),
        message: Some("J'ai un petit sac".into()),
        lang: None,
    }
}

#[allow(unused_imports)]
pub use db::{dump, outbox};
