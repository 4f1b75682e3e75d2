//! request_seat + accept through the service on a real file, against a raw SQLite baseline
//! writing the same rows in the same number of transactions, at the same durability
//! (WAL + synchronous=FULL), in the same run. Prints both rates and the ratio.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

use std::sync::Arc;
use std::time::Instant;

use carette::service::{OfferInput, PlaceInput, ReservationInput, Service, Settings};
use carette::store::Store;
use chrono::{Duration, Utc};

const N: usize = 1500;

fn place(label: &str) -> PlaceInput {
    PlaceInput {
        label: label.into(),
        lat: None,
        lon: None,
    }
}

fn service_run(dir: &std::path::Path) -> f64 {
    let store = Store::open(&dir.join("svc.db")).expect("open");
    let svc = Service::new(Arc::new(store), Settings::default());
    let now = Utc::now();
    let offer = svc
        .create_offer(
            &OfferInput {
                driver_name: "Jean".into(),
                driver_email: "jean@example.org".into(),
                origin: place("Lyon"),
                destination: place("Grenoble"),
                departure_at: (now + Duration::days(3)).to_rfc3339(),
                seats: 8,
                lang: None,
            },
            now,
        )
        .expect("offer");
    let start = Instant::now();
    for i in 0..N {
        // A fresh offer every 8 accepted seats keeps seats available.
        let offer_id = if i % 8 == 0 && i > 0 {
            svc.create_offer(
                &OfferInput {
                    driver_name: "Jean".into(),
                    driver_email: "jean@example.org".into(),
                    origin: place("Lyon"),
                    destination: place("Grenoble"),
                    departure_at: (now + Duration::days(3)).to_rfc3339(),
                    seats: 8,
                    lang: None,
                },
                now,
            )
            .expect("offer")
            .id
        } else {
            offer.id.max(i64::try_from(i / 8 + 1).unwrap_or(1))
        };
        let r = svc
            .request_seat(
                offer_id,
                &ReservationInput {
                    passenger_name: format!("P{i}"),
                    passenger_email: format!("p{i}@example.org"),
                    seats: 1,
                    pickup: None,
                    message: None,
                    lang: None,
                },
                now,
            )
            .expect("request");
        svc.accept(r.id, now).expect("accept");
    }
    N as f64 / start.elapsed().as_secs_f64()
}

fn raw_run(dir: &std::path::Path) -> f64 {
    let path = dir.join("raw.db");
    drop(Store::open(&path).expect("schema"));
    let mut conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute(
        "INSERT INTO carpool_offers (driver_name, driver_email, origin, destination, departure_at, seats, status, created_at, updated_at)
         VALUES ('Jean', 'jean@example.org', 'Lyon', 'Grenoble', '2030-01-01 08:00:00', 8, 'active', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        [],
    )
    .expect("offer");
    let ctx = "{\"offer\":{},\"reservation\":{},\"passengers\":[]}";
    let start = Instant::now();
    for i in 0..N {
        let tx = conn.transaction().expect("tx");
        tx.execute(
            "INSERT INTO carpool_reservations (offer_id, passenger_name, passenger_email, seats, status, created_at, updated_at)
             VALUES (1, ?1, ?2, 1, 'pending', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            rusqlite::params![format!("P{i}"), format!("p{i}@example.org")],
        )
        .expect("res");
        let id = tx.last_insert_rowid();
        tx.execute("INSERT INTO reservation_events (reservation_id, actor, to_status, at) VALUES (?1, 'passenger', 'pending', '2026-01-01 00:00:00')", [id]).expect("ev");
        for k in 0..2 {
            tx.execute(
                "INSERT INTO outbox (template, recipient, context, reservation_id, offer_id, next_attempt_at, message_id, created_at)
                 VALUES ('request_driver', 'jean@example.org', ?1, ?2, 1, '2026-01-01 00:00:00', ?3, '2026-01-01 00:00:00')",
                rusqlite::params![ctx, id, format!("raw.{i}.{k}")],
            )
            .expect("outbox");
            tx.execute(
                "INSERT INTO outbox_status_counts (status, n) VALUES ('queued', 1)
                 ON CONFLICT (status) DO UPDATE SET n = n + 1",
                [],
            )
            .expect("outbox count");
        }
        tx.commit().expect("commit");
        let tx = conn.transaction().expect("tx");
        tx.execute("UPDATE carpool_reservations SET status = 'confirmed' WHERE id = ?1 AND status = 'pending'", [id]).expect("upd");
        tx.execute("INSERT INTO reservation_events (reservation_id, actor, from_status, to_status, at) VALUES (?1, 'driver', 'pending', 'confirmed', '2026-01-01 00:00:00')", [id]).expect("ev");
        for k in 2..4 {
            tx.execute(
                "INSERT INTO outbox (template, recipient, context, reservation_id, offer_id, next_attempt_at, message_id, created_at)
                 VALUES ('confirmed_passenger', 'p@example.org', ?1, ?2, 1, '2026-01-01 00:00:00', ?3, '2026-01-01 00:00:00')",
                rusqlite::params![ctx, id, format!("raw.{i}.{k}")],
            )
            .expect("outbox");
            tx.execute(
                "INSERT INTO outbox_status_counts (status, n) VALUES ('queued', 1)
                 ON CONFLICT (status) DO UPDATE SET n = n + 1",
                [],
            )
            .expect("outbox count");
        }
        tx.commit().expect("commit");
    }
    N as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Interleave and keep the best of three to dampen noise on a shared machine.
    let mut svc: f64 = 0.0;
    let mut raw: f64 = 0.0;
    for round in 0..3 {
        let d = dir.path().join(format!("r{round}"));
        std::fs::create_dir_all(&d).expect("dir");
        raw = raw.max(raw_run(&d));
        svc = svc.max(service_run(&d));
    }
    println!("request_seat+accept pairs/s, WAL + synchronous=FULL, {N} pairs, best of 3");
    println!("  raw SQLite baseline : {raw:>8.0} pairs/s");
    println!("  carette service     : {svc:>8.0} pairs/s");
    println!("  ratio service/raw   : {:>8.2}x (goal >= 0.5x)", svc / raw);
}
