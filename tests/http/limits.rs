//! Limits over real HTTP on loopback (in-process server): who a rate limit counts
//! (`server.trusted_proxies`), the link buttons and fresh-link page under the limit, and
//! /healthz naming a worker thread that stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::SECRET;
use crate::support::http::{
    Reply, TestServer, config, limited, offer_body, reservation_body, start_with,
    start_with_heartbeats,
};
use carette::config::Config;
use carette::domain::token::{LinkAction, Subject};
use carette::heartbeat::Heartbeat;
use carette::http::HttpConfig;
use carette::mail::outgoing::Outgoing;
use carette::mail::sender::{OutboxSender, SenderOptions};
use carette::signal::Signal;

fn trusting(proxies: &[&str], per_minute: u32, burst: u32) -> HttpConfig {
    HttpConfig {
        trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
        ..limited(per_minute, burst)
    }
}

fn seat_with_xff(s: &TestServer, offer: i64, n: usize, xff: &str) -> Reply {
    s.request(
        "POST",
        &format!("/api/offers/{offer}/reservations"),
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", xff),
        ],
        &reservation_body("Marie Curie", &format!("p{n}@example.org"), 1),
    )
}

fn reservations(s: &TestServer) -> i64 {
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM carpool_reservations", [], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn rotating_forwarded_for_from_an_untrusted_peer_does_not_evade_the_limit() {
    // Default: no trusted proxy, so loopback's X-Forwarded-For is ignored too.
    let s = start_with(limited(1, 3));
    let offer = {
        // The offer itself takes one token: create it from "another client" first.
        let r = s.post_json("/api/offers", &offer_body(8));
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_i64().unwrap()
    };
    let mut statuses = Vec::new();
    for k in 0..8 {
        let r = seat_with_xff(&s, offer, k, &format!("10.123.0.{k}, 203.0.113.{k}:41234"));
        if r.status == 429 {
            assert!(r.header("retry-after").is_some());
        }
        statuses.push(r.status);
    }
    // Burst 3, one already used by the offer: 2 requests, then refused whatever the header says.
    assert_eq!(statuses[..2], [201, 201], "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(reservations(&s), 2, "refused requests wrote nothing");
}

#[test]
fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_limited() {
    let s = start_with(trusting(&["127.0.0.1"], 1, 2));
    // The offer counts against the proxy itself (no header): clients are not charged.
    let offer = s.create_offer(8);
    // The report's bypass: a client-chosen left part, the proxy-appended address (with a
    // port) on the right. The right-most entry is the client: limited after the burst.
    let mut statuses = Vec::new();
    for k in 0..5 {
        statuses
            .push(seat_with_xff(&s, offer, k, &format!("10.123.0.{k}, 203.0.113.5:41234")).status);
    }
    assert_eq!(statuses, [201, 201, 429, 429, 429]);
    // Another real client behind the same proxy has its own budget (so the header is read).
    assert_eq!(seat_with_xff(&s, offer, 10, "198.51.100.7").status, 201);
    // Garbage on the way makes the header ignored: the proxy's own budget (1 left of 2),
    // never a fresh identity per request.
    let mut statuses = Vec::new();
    for k in 0..4 {
        statuses
            .push(seat_with_xff(&s, offer, 20 + k, &format!("198.51.100.{k}, bogus-{k}")).status);
    }
    assert_eq!(statuses, [201, 429, 429, 429]);
    assert_eq!(reservations(&s), 4);
}

#[test]
fn link_buttons_and_the_fresh_link_page_are_rate_limited() {
    let s = start_with(limited(1, 2));
    // Forged or real, every button press takes a token before its body is read.
    let token = s.token(LinkAction::Accept, Subject::Reservation(999));
    let pages: Vec<(u16, bool)> = (0..4)
        .map(|_| {
            let r = s.post_form("/api/reservation/accept", &format!("token={token}"));
            (r.status, r.header("retry-after").is_some())
        })
        .collect();
    assert_eq!(
        pages[..2].iter().map(|p| p.0).collect::<Vec<_>>(),
        [400, 400]
    );
    assert!(pages[2..].iter().all(|p| *p == (429, true)), "{pages:?}");
    let r = s.post_form("/api/offer/cancel", "token=x");
    assert_eq!(r.status, 429);
    assert!(r.body.contains("Trop de demandes"), "{}", r.body);
    let r = s.post_form("/api/link/resend", &format!("token={token}"));
    assert_eq!(r.status, 429);
    assert!(r.body.contains("Trop de demandes"), "{}", r.body);
    // Showing a link's page (a GET, as email scanners do) costs nothing.
    for _ in 0..5 {
        assert_ne!(
            s.get(&format!("/api/reservation/accept?token={token}"))
                .status,
            429
        );
    }
}

/// The daemon's two workers on real threads, each with its own stop flag.
struct Workers {
    sender_stop: Arc<AtomicBool>,
    scheduler_stop: Arc<AtomicBool>,
    scheduler_wake: Arc<Signal>,
    sender: Option<std::thread::JoinHandle<()>>,
    scheduler: Option<std::thread::JoinHandle<()>>,
}

fn health(s: &TestServer) -> (u16, serde_json::Value) {
    let r = s.get("/healthz");
    (r.status, r.json())
}

fn wait_health(s: &TestServer, status: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (got, body) = health(s);
        if got == status || Instant::now() > deadline {
            assert_eq!(got, status, "{body}");
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn healthz_names_a_worker_thread_that_stopped() {
    let sender_beat = Heartbeat::new("sender", Duration::from_secs(600));
    let scheduler_beat = Heartbeat::new("scheduler", Duration::from_secs(600));
    let mut s = start_with_heartbeats(config(), vec![sender_beat.clone(), scheduler_beat.clone()]);
    // Not started yet: not healthy.
    let (status, body) = health(&s);
    assert_eq!(status, 503);
    assert_eq!(body["failed"], serde_json::json!(["sender", "scheduler"]));
    assert_eq!(body["checks"]["sender"], "not started");

    let dir = tempfile::tempdir().unwrap();
    let outgoing = Outgoing::from_config(&Config::default(), dir.path(), SECRET).unwrap();
    let mut w = Workers {
        sender_stop: Arc::new(AtomicBool::new(false)),
        scheduler_stop: Arc::new(AtomicBool::new(false)),
        scheduler_wake: Arc::new(Signal::default()),
        sender: None,
        scheduler: None,
    };
    w.sender = Some(
        OutboxSender::new(s.service.clone(), outgoing, SenderOptions::with_workers(1))
            .with_heartbeat(sender_beat)
            .spawn(w.sender_stop.clone())
            .unwrap(),
    );
    w.scheduler = Some(
        carette::scheduler::spawn(
            s.service.clone(),
            Vec::new(),
            w.scheduler_stop.clone(),
            w.scheduler_wake.clone(),
            scheduler_beat,
        )
        .unwrap(),
    );
    let body = wait_health(&s, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "failed": [],
            "checks": {"database": "ok", "sender": "ok", "scheduler": "ok"}})
    );

    // The sender stops (as after a fatal error): 503 naming it, the others still fine.
    w.sender_stop.store(true, Ordering::SeqCst);
    s.service.outbox_signal().notify();
    w.sender.take().unwrap().join().unwrap();
    let body = wait_health(&s, 503);
    assert_eq!(body["failed"], serde_json::json!(["sender"]));
    assert_eq!(body["checks"]["sender"], "stopped");
    assert_eq!(body["checks"]["scheduler"], "ok");
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains("carette_health_check{check=\"sender\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("carette_health_check{check=\"scheduler\"} 1"));
    assert!(metrics.contains("carette_health_check{check=\"database\"} 1"));

    w.scheduler_stop.store(true, Ordering::SeqCst);
    w.scheduler_wake.notify();
    w.scheduler.take().unwrap().join().unwrap();
    let (status, body) = health(&s);
    assert_eq!(status, 503);
    assert_eq!(body["failed"], serde_json::json!(["sender", "scheduler"]));
    s.request_stop();
    s.wait_stopped();
}
