//! What one durable seat request writes: WAL frames (pages) per request, committed one by
//! one and in groups of 16 (as group commit does under load), with the full schema and with
//! the TUI's search indexes' triggers dropped, so their share is measured in the same run.
//! Pages written is what the disk and fsync pay for, whatever the machine's noise.
//!
//! Then what the one writer thread spends per request with 32 writers at once (as
//! `vs_ceiling.sh`'s 32 connections): its busy time per request and the writes sharing
//! each commit. The writer thread is the daemon's bottleneck under that load.
//!
//! `cargo bench --bench write_cost`
#![allow(clippy::unwrap_used)] // a bench that cannot set up should panic

use std::path::Path;
use std::sync::{Arc, Barrier};

use carette::service::{OfferInput, PlaceInput, ReservationInput, Service, Settings};
use carette::store::Store;
use chrono::{Duration, Utc};

const REQUESTS: usize = 4_000;
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
    let (frames, page, _) = run_with(dir, name, threads, drop_search, true);
    (frames, page)
}

/// The writer thread's cost: `(busy µs per request, CPU µs per request, writes per commit)`.
/// Busy time is wall time, so it also counts the moments the thread waited for a core
/// (32 writers on 2 cores) or for fsync; CPU time is what the thread itself burnt.
type WriterCost = (f64, f64, f64);

/// CPU time (user + system) of this process's threads named `name`, in µs (Linux).
fn thread_cpu_us(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let tick_us = 1e6 / 100.0; // USER_HZ is 100 on Linux
    let mut total = 0.0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised command: state is the 3rd field, utime the 14th.
        let after = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        total += (ticks(11) + ticks(12)) * tick_us;
    }
    total
}

fn run_with(
    dir: &Path,
    name: &str,
    threads: usize,
    drop_search: bool,
    count_frames: bool,
) -> (f64, u64, WriterCost) {
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
    if count_frames {
        side.execute_batch("BEGIN; SELECT COUNT(*) FROM job_runs;")
            .unwrap();
    }
    let stats = svc.db_writer_stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let cpu0 = thread_cpu_us("sqlite-writer");
    let (commits0, writes0, busy0) = (
        load(&stats.commits),
        load(&stats.writes),
        load(&stats.busy_nanos),
    );
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
    let frames = wal_frames(&path, page_size).saturating_sub(before);
    if count_frames {
        side.execute_batch("COMMIT").unwrap();
    }
    let commits = (load(&stats.commits) - commits0) as f64;
    let writes = (load(&stats.writes) - writes0) as f64;
    let busy_us = (load(&stats.busy_nanos) - busy0) as f64 / 1e3;
    let cpu_us = thread_cpu_us("sqlite-writer") - cpu0;
    (
        frames as f64 / REQUESTS as f64,
        page_size,
        (
            busy_us / REQUESTS as f64,
            cpu_us / REQUESTS as f64,
            writes / commits.max(1.0),
        ),
    )
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
    println!();
    for round in 1..=3 {
        let (_, _, (busy, cpu, per_commit)) =
            run_with(dir.path(), &format!("cpu{round}"), 32, false, false);
        println!(
            "32 writers, round {round}: writer thread busy {busy:6.1} µs/request, CPU {cpu:6.1} µs/request, {per_commit:5.1} writes/commit"
        );
    }
}
