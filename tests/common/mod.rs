//! Shared fixtures for integration tests: a real SQLite file in a temp dir and a Service on it.
#![allow(dead_code)]

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
    }
}

pub fn request(name: &str, email: &str, seats: i64) -> ReservationInput {
    ReservationInput {
        passenger_name: name.into(),
        passenger_email: email.into(),
        seats,
        pickup: Some(place("Place Bellecour")),
        message: Some("J'ai un petit sac".into()),
    }
}

/// Every row of every table, as text: "nothing changed" means this is equal before and after.
pub fn dump(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut s = format!("{t}:");
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    s.push_str(&format!("{v:?}|"));
                }
                Ok(s)
            })
            .unwrap();
        for row in rows {
            out.push(row.unwrap());
        }
    }
    out
}

/// (template, recipient) of every outbox row, in order.
pub fn outbox(path: &std::path::Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.prepare("SELECT template, recipient FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
