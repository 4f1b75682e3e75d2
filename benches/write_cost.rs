//! What one durable seat request writes: WAL frames (pages) per request, committed one by
//! one and in groups of 16 (as group commit does under load), with the full schema and with
//! the TUI's search indexes' triggers dropped, so their share is measured in the same run.
//! Pages written is what the disk and fsync pay for, whatever the machine's noise.
//!
//! `cargo bench --bench write_cost`
#![allow(clippy::unwrap_used)] // a bench that cannot set up should panic

use std::path::Path;
use std::sync::{Arc, Barrier};

use carette::service::{OfferInput, PlaceInput, ReservationInput, Service, Settings};
use carette::store::Store;
use chrono::{Duration, Utc};

const REQUESTS: usize = 2_000;
const GROUP: usize = 16;

fn place(label: &str) -> PlaceInput {
    PlaceInput {
        label: label.into(),
        lat: None,
        lon: None,
    }
}

fn wal_frames(db: &Path, page_size: u64) -> u64 {
    let wal = db.with_extension("db-wal");
    let len = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    len.saturating_sub(32) / (page_size + 24)
}

/// Runs `REQUESTS` seat requests on a fresh database, `threads` at a time (1: every request
/// its own commit; more: the store's group commit shares commits); returns frames/request.
fn run(dir: &Path, name: &str, threads: usize, drop_search: bool) -> (f64, u64) {
    let path = dir.join(format!("{name}.db"));
    // The per-recipient cap is a guard, not a cost to measure here (drivers get many emails).
    let settings = Settings {
        max_per_recipient_per_hour: u32::MAX,
        ..Settings::default()
    };
    let svc = Service::new(Arc::new(Store::open(&path).unwrap()), settings);
    let now = Utc::now();
    let offers: Vec<i64> = (0..REQUESTS / 4 + 1)
        .map(|i| {
            svc.create_offer(
                &OfferInput {
                    driver_name: format!("Driver {i}"),
                    driver_email: format!("driver{}@example.org", i % 50),
                    origin: place("Lyon Part-Dieu"),
                    destination: place("Grenoble Gare"),
                    departure_at: (now + Duration::days(3)).to_rfc3339(),
                    seats: 8,
                    lang: None,
                },
                now,
            )
            .unwrap()
            .id
        })
        .collect();
    let side = rusqlite::Connection::open(&path).unwrap();
    let page_size: i64 = side
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let page_size = u64::try_from(page_size).unwrap();
    if drop_search {
        side.execute_batch(
            "DROP TRIGGER reservation_search_insert; DROP TRIGGER reservation_search_update;",
        )
        .unwrap();
    }
    side.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    // An open read transaction keeps the WAL from being reset by the writer's automatic
    // checkpoints, so its length counts every frame written from here on.
    side.execute_batch("BEGIN; SELECT COUNT(*) FROM job_runs;")
        .unwrap();
    let before = wal_frames(&path, page_size);
    let barrier = Arc::new(Barrier::new(threads));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (svc, offers, barrier) = (svc.clone(), &offers, barrier.clone());
            s.spawn(move || {
                barrier.wait();
                for i in (t..REQUESTS).step_by(threads) {
                    let input = ReservationInput {
                        passenger_name: format!("Passenger {i}"),
                        passenger_email: format!("p{i}@example.org"),
                        seats: 1,
                        pickup: Some(place("Place Bellecour")),
                        message: Some("J'ai un petit sac".into()),
                        lang: None,
                    };
                    svc.request_seat(offers[i / 4], &input, now).unwrap();
                }
            });
        }
    });
    let frames = wal_frames(&path, page_size) - before;
    side.execute_batch("COMMIT").unwrap();
    (frames as f64 / REQUESTS as f64, page_size)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("{REQUESTS} durable seat requests (1 reservation + 2 outbox rows each)\n");
    for (label, threads) in [("one commit each", 1), ("group commit, 16 writers", GROUP)] {
        let (full, page) = run(dir.path(), &format!("full{threads}"), threads, false);
        let (bare, _) = run(dir.path(), &format!("bare{threads}"), threads, true);
        println!(
            "{label:<26} WAL frames/request: {full:6.2} (without the search index: {bare:6.2}; its share {:4.2}); page {page} B",
            full - bare
        );
    }
}
