//! Outbox throughput vs a plain lettre send loop, same SMTP sink, same run.
//!
//! `cargo bench --bench outbox_throughput` (env: BENCH_MESSAGES, BENCH_WORKERS).
//! The plain loop sends one pre-built message from WORKERS threads through one pooled
//! transport: the transport's ceiling. The outbox run claims, signs links, renders,
//! builds (with calendar invite where due), sends and records each row, from the same
//! number of workers. Goal: outbox ≥ 0.5 × plain and ≥ 200 msg/s on 2 cores.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

#[allow(dead_code)] // the bench uses only part of the test server
#[path = "../tests/support/smtp_server.rs"]
mod smtp_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration as StdDuration, Instant};

use carette::config::{Config, TlsMode};
use carette::mail::mailer::smtp_transport;
use carette::mail::outgoing::Outgoing;
use carette::mail::sender::{OutboxSender, SenderOptions};
use carette::service::{OfferInput, PlaceInput, ReservationInput, Service, Settings};
use carette::store::Store;
use carette::store::outbox::{self, NewEmail};
use chrono::{Duration, Utc};
use lettre::Transport as _;
use smtp_server::SmtpServer;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(port: u16, workers: usize) -> Config {
    let mut c = Config::default();
    c.smtp.host = Some("127.0.0.1".into());
    c.smtp.port = port;
    c.smtp.tls = TlsMode::None;
    c.smtp.user = Some("rides@example.org".into());
    c.smtp.password = Some("bench-password".into());
    c.smtp.from = Some("Carette <rides@example.org>".into());
    c.smtp.pool_size = u32::try_from(workers).unwrap();
    c
}

fn place(label: &str) -> PlaceInput {
    PlaceInput {
        label: label.into(),
        lat: None,
        lon: None,
    }
}

fn main() {
    let messages = env_usize("BENCH_MESSAGES", 2000);
    let workers = env_usize("BENCH_WORKERS", 16);
    let server = SmtpServer::start();
    let config = config(server.port(), workers);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("carette.db")).unwrap());
    // The bench keeps the store it made: queuing raw rows is no use case of the service.
    let service = Service::new(store.clone(), Settings::default());

    // Realistic rows: the contexts of a real request and acceptance, repeated.
    let now = Utc::now();
    let offer = service
        .create_offer(
            &OfferInput {
                driver_name: "Jean Dupont".into(),
                driver_email: "jean@example.org".into(),
                origin: place("Lyon Part-Dieu"),
                destination: place("Grenoble Gare"),
                departure_at: (now + Duration::days(2)).to_rfc3339(),
                seats: 3,
                lang: None,
            },
            now,
        )
        .unwrap();
    let r = service
        .request_seat(
            offer.id,
            &ReservationInput {
                passenger_name: "Marie Curie".into(),
                passenger_email: "marie@example.org".into(),
                seats: 1,
                pickup: Some(place("Place Bellecour")),
                message: Some("J'ai un petit sac.".into()),
                lang: None,
            },
            now,
        )
        .unwrap();
    service.accept(r.id, now).unwrap();
    let samples = service.outbox_list(None, 10, 0).unwrap();
    store
        .write(|tx| {
            tx.execute("DELETE FROM outbox", [])?;
            Ok::<_, carette::store::StoreError>(())
        })
        .unwrap();

    let outgoing = Outgoing::from_config(&config, dir.path(), b"bench-secret-0123456789").unwrap();
    let message = outgoing.prepare(&samples[0], now).unwrap();

    // 1. Plain lettre: the same transport setup, `workers` threads, one message.
    let transport = smtp_transport(&config.smtp, config.smtp.pool_size).unwrap();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < messages {
                    transport.send(&message).unwrap();
                }
            });
        }
    });
    let plain = started.elapsed();
    assert!(server.wait_for(messages, StdDuration::from_secs(10)));

    // 2. The outbox: enqueue, then deliver until everything is sent.
    let queued = samples.clone();
    store
        .write(move |tx| {
            let samples = queued;
            for i in 0..messages {
                let sample = &samples[i % samples.len()];
                let e = NewEmail {
                    template: template_name(&sample.template),
                    // One rider per email: the sender keeps each address's emails in
                    // order (one at a time), so a burst to two addresses would measure
                    // two connections, not the pool.
                    recipient: format!("rider{i}@example.org"),
                    reply_to: sample.reply_to.clone(),
                    context: sample.context.to_string(),
                    reservation_id: sample.reservation_id,
                    offer_id: sample.offer_id,
                };
                outbox::enqueue(tx, &e, now)?;
            }
            Ok::<_, carette::store::StoreError>(())
        })
        .unwrap();
    let sender = OutboxSender::new(
        service.clone(),
        outgoing,
        SenderOptions::with_workers(workers),
    );
    let started = Instant::now();
    let mut sent = 0;
    while sent < messages {
        let report = sender.deliver_due(Utc::now()).unwrap();
        assert_eq!(report.failed + report.retried, 0, "{report:?}");
        sent += report.sent;
        if report.claimed == 0 {
            break;
        }
    }
    let boxed = started.elapsed();
    assert_eq!(sent, messages);
    assert!(server.wait_for(2 * messages, StdDuration::from_secs(10)));

    let rate = |d: StdDuration| messages as f64 / d.as_secs_f64();
    let (plain_rate, outbox_rate) = (rate(plain), rate(boxed));
    println!("messages: {messages}, workers (= pooled connections): {workers}");
    println!(
        "plain lettre loop: {:>8.1} msg/s ({:.2} s)",
        plain_rate,
        plain.as_secs_f64()
    );
    println!(
        "outbox sender:     {:>8.1} msg/s ({:.2} s)",
        outbox_rate,
        boxed.as_secs_f64()
    );
    println!("ratio outbox/plain: {:.2}", outbox_rate / plain_rate);
}

/// NewEmail wants a `&'static str` template: map the sampled names back to literals.
fn template_name(name: &str) -> &'static str {
    carette::mail::render::Renderer::template_names()
        .iter()
        .copied()
        .find(|t| *t == name)
        .unwrap()
}
