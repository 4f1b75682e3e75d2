//! Load benchmark: starts `carette serve` (release binary) on a temp database and drives
//! concurrent POST reservation requests over keep-alive HTTP, next to a raw SQLite baseline
//! writing the same rows per transaction at the same durability (WAL + synchronous=FULL),
//! in the same run. Prints req/s, p50/p99 latency, the ratio, and the daemon's RSS.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const PER_CLIENT: usize = 100;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn start(dir: &Path, port: u16) -> Child {
    let cfg = dir.join("bench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nrate_limit_per_minute = 1000000\nrate_limit_burst = 1000000\nmax_connections_per_ip = 1000\n[database]\npath = \"{}\"\n[security]\nsecret_key = \"bench-secret-0123456789abcdef\"\n",
            dir.join("daemon.db").display()
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn carette");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if agent()
            .get(&format!("http://127.0.0.1:{port}/healthz"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("daemon did not start");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn daemon_run(dir: &Path) -> (f64, Duration, Duration, u64, u64) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut child = start(dir, port);
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_kib(child.id(), "VmRSS:");
    let base = format!("http://127.0.0.1:{port}");
    let departure = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let offer = agent()
        .post(&format!("{base}/api/offers"))
        .header("Content-Type", "application/json")
        .send(
            serde_json::json!({"driver_name": "Jean", "driver_email": "jean@example.org",
                "origin": {"label": "Lyon"}, "destination": {"label": "Grenoble"},
                "departure_at": departure, "seats": 8})
            .to_string(),
        )
        .expect("offer")
        .into_body()
        .read_json::<serde_json::Value>()
        .expect("offer json")["id"]
        .as_i64()
        .expect("offer id");
    let base = Arc::new(base);
    let start = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let base = base.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let mut lat = Vec::with_capacity(PER_CLIENT);
                for i in 0..PER_CLIENT {
                    let body = serde_json::json!({"passenger_name": "P", "passenger_email": format!("c{c}.{i}@example.org"), "seats": 1}).to_string();
                    let t = Instant::now();
                    let r = agent
                        .post(&format!("{base}/api/offers/{offer}/reservations"))
                        .header("Content-Type", "application/json")
                        .send(body)
                        .expect("request");
                    assert_eq!(r.status(), 201);
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect();
    let elapsed = start.elapsed();
    let peak = rss_kib(child.id(), "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    lat.sort();
    (
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        idle,
        peak,
    )
}

fn raw_run(dir: &Path) -> f64 {
    let path = dir.join("raw.db");
    drop(carette::store::Store::open(&path).expect("schema"));
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
    let n = CLIENTS * PER_CLIENT;
    let start = Instant::now();
    for i in 0..n {
        let tx = conn.transaction().expect("tx");
        tx.execute(
            "INSERT INTO carpool_reservations (offer_id, passenger_name, passenger_email, seats, status, created_at, updated_at)
             VALUES (1, 'P', ?1, 1, 'pending', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            [format!("p{i}@example.org")],
        )
        .expect("res");
        let id = tx.last_insert_rowid();
        tx.execute("INSERT INTO reservation_events (reservation_id, actor, to_status, at) VALUES (?1, 'passenger', 'pending', '2026-01-01 00:00:00')", [id]).expect("ev");
        for k in 0..2 {
            tx.execute(
                "INSERT INTO outbox (template, recipient, context, reservation_id, offer_id, next_attempt_at, message_id, created_at)
                 VALUES ('request_driver', 'jean@example.org', '{}', ?1, 1, '2026-01-01 00:00:00', ?2, '2026-01-01 00:00:00')",
                rusqlite::params![id, format!("raw.{i}.{k}")],
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
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = raw_run(dir.path());
    let (rps, p50, p99, idle, peak) = daemon_run(dir.path());
    println!(
        "POST /api/offers/{{id}}/reservations, {CLIENTS} concurrent keep-alive clients x {PER_CLIENT}, WAL + synchronous=FULL"
    );
    println!("  raw SQLite baseline (same rows per tx) : {raw:>8.0} tx/s");
    println!(
        "  carette serve                          : {rps:>8.0} req/s   p50 {p50:.2?}   p99 {p99:.2?}"
    );
    println!(
        "  ratio daemon/raw                       : {:>8.2}x (goal >= 0.5x)",
        rps / raw
    );
    println!(
        "  daemon RSS idle {:.1} MiB, peak under load {:.1} MiB",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}
