//! The server itself: health, metrics equal to `carette stats`, security headers,
//! slow clients, graceful shutdown.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::http::{config, start, start_with, t0};
use carette::service::jobs::Job;
use chrono::Duration as Days;

#[test]
fn healthz_answers_when_the_database_does() {
    let s = start();
    let r = s.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "ok", "failed": [], "checks": {"database": "ok"}})
    );
    let r = s.request("HEAD", "/healthz", &[], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
    // The database file disappears from under the daemon (a wiped disk, say): readers
    // open lazily, so a fresh connection fails and the check says so.
    let s = start();
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", s.path.display()));
    }
    let r = s.get("/healthz");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["failed"], serde_json::json!(["database"]));
    assert_eq!(r.json()["checks"]["database"], "cannot read the database");
}

fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn metrics_equal_the_stats_figures() {
    let s = start();
    let offer = s.create_offer(4);
    let a = s.request_seat(offer, "a@example.org", 1);
    let b = s.request_seat(offer, "b@example.org", 1);
    let c = s.request_seat(offer, "c@example.org", 1);
    let _d = s.request_seat(offer, "d@example.org", 1);
    s.service.accept(a, t0()).unwrap();
    s.service.accept(b, t0()).unwrap();
    s.service.refuse(c, t0()).unwrap();
    // Two emails went out this morning, one failed for good, one was only written as a
    // dev-mode .eml file (counted apart).
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    conn.execute_batch(
        "UPDATE outbox SET status = 'sent', sent_at = '2030-06-01 07:59:00', channel = 'smtp' WHERE id IN (1, 2);
         UPDATE outbox SET status = 'sent', sent_at = '2030-06-01 07:58:00', channel = 'file' WHERE id = 4;
         UPDATE outbox SET status = 'failed' WHERE id = 3;",
    )
    .unwrap();
    s.service.run_job(Job::Expire, t0()).unwrap();
    s.set_now(t0() + Days::minutes(30));

    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let m = parse_metrics(&r.body);
    let stats = s.service.stats(t0() + Days::minutes(30)).unwrap();
    let get = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("{k} missing in\n{}", r.body))
    };
    for (status, n) in [
        ("pending", stats.pending),
        ("confirmed", stats.confirmed),
        ("refused", stats.refused),
        ("expired", stats.expired),
        ("cancelled", stats.cancelled),
        ("removed", stats.removed),
    ] {
        assert_eq!(
            get(&format!("carette_reservations{{status=\"{status}\"}}")),
            n as f64
        );
    }
    assert_eq!((stats.pending, stats.confirmed, stats.refused), (1, 2, 1));
    assert_eq!(
        get("carette_acceptance_rate_percent"),
        stats.acceptance_rate.unwrap()
    );
    assert_eq!(get("carette_acceptance_rate_percent"), 66.7);
    assert_eq!(
        get("carette_emails_sent_today"),
        stats.emails_sent_today as f64
    );
    assert_eq!(stats.emails_sent_today, 2);
    assert_eq!(
        get("carette_emails_logged_today"),
        stats.emails_logged_today as f64
    );
    assert_eq!(stats.emails_logged_today, 1);
    for (status, n) in [
        ("queued", stats.outbox_queued),
        ("sending", stats.outbox_sending),
        ("failed", stats.outbox_failed),
        ("sent", stats.outbox_sent),
    ] {
        assert_eq!(
            get(&format!("carette_outbox_emails{{status=\"{status}\"}}")),
            n as f64
        );
    }
    assert_eq!(
        get("carette_outbox_oldest_queued_age_seconds"),
        stats.oldest_queued_age_seconds.unwrap() as f64
    );
    assert_eq!(get("carette_outbox_oldest_queued_age_seconds"), 1800.0);
    assert_eq!(
        get("carette_reservations_pending_overdue"),
        stats.pending_overdue as f64
    );
    let last = s.service.last_job_run(Job::Expire).unwrap().unwrap();
    let at = last.finished_at.unwrap_or(last.started_at).timestamp() as f64;
    assert_eq!(
        get("carette_job_last_success_timestamp_seconds{job=\"expire\"}"),
        at
    );
    assert!(!m.contains_key("carette_job_last_success_timestamp_seconds{job=\"reminders\"}"));
    // In-process HTTP figures: the requests made above, by route and status.
    assert_eq!(
        get("carette_http_requests_total{route=\"create_offer\",status=\"201\"}"),
        1.0
    );
    assert_eq!(
        get("carette_http_requests_total{route=\"request_seat\",status=\"201\"}"),
        4.0
    );
    assert_eq!(
        get("carette_http_request_duration_seconds_count{route=\"request_seat\"}"),
        4.0
    );
    assert_eq!(
        get("carette_http_request_duration_seconds_bucket{route=\"request_seat\",le=\"+Inf\"}"),
        4.0
    );
    // The database writer: every write above went through it (an offer, four requests,
    // the answers, the job run...), in at most as many commits as writes.
    let (commits, writes) = (
        get("carette_db_commits_total"),
        get("carette_db_writes_total"),
    );
    assert!(writes >= 5.0, "{writes}");
    assert!(
        commits >= 1.0 && commits <= writes,
        "{commits} commits, {writes} writes"
    );
    assert!(get("carette_db_writer_busy_seconds_total") > 0.0);
}

#[test]
fn every_response_carries_the_security_headers() {
    let s = start();
    let offer = s.create_offer(2);
    let replies = [
        s.get(&format!("/api/offers/{offer}")),
        s.get("/api/reservation/accept?token=nope"),
        s.get("/nowhere"),
        s.get("/metrics"),
        s.post_json("/api/offers", "{"),
    ];
    for r in replies {
        assert_eq!(
            r.header("content-security-policy"),
            Some(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
            )
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // Pages load nothing from elsewhere and run no script.
    let page = s.get("/api/reservation/accept?token=nope");
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    for needle in ["<script", "http://", "https://", "src="] {
        assert!(!page.body.contains(needle), "{needle}");
    }
}

/// What a slow client saw: how long until the server closed, whether every part could be
/// written before that, whether the server closed the connection (rather than the client's
/// 10 s read timeout ending the wait), and what it said.
struct Slow {
    took: Duration,
    sent_all: bool,
    closed: bool,
    said: String,
}

/// Opens a connection and writes `parts` with `gap` between them, then reads until the
/// server closes it.
fn slow_client(s: &crate::support::http::TestServer, parts: &[&[u8]], gap: Duration) -> Slow {
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut sent_all = true;
    for p in parts {
        if c.write_all(p).is_err() {
            sent_all = false;
            break;
        }
        std::thread::sleep(gap);
    }
    let mut out = Vec::new();
    let closed = c.read_to_end(&mut out).is_ok();
    Slow {
        took: started.elapsed(),
        sent_all,
        closed,
        said: String::from_utf8_lossy(&out).into_owned(),
    }
}

#[test]
fn slow_header_clients_are_disconnected() {
    let s = start();
    // Half a request line, then nothing: closed by the server, not before the 1 s timeout.
    let c = slow_client(
        &s,
        &[b"GET /healthz HTTP/1.1\r\nHost: x\r\n"],
        Duration::ZERO,
    );
    assert!(c.closed, "the server kept the connection open");
    assert!(c.took >= Duration::from_millis(900), "{:?}", c.took);
    assert!(!c.said.contains("200 OK"), "{}", c.said);
    // Dripping one header byte at a time (6 s in all) does not extend the deadline: the
    // server hangs up before the drip ends.
    let drip: Vec<&[u8]> = b"GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        .chunks(1)
        .collect();
    let c = slow_client(&s, &drip, Duration::from_millis(100));
    assert!(!c.sent_all, "the whole drip was accepted");
    assert!(!c.said.contains("200 OK"), "{}", c.said);
    // An idle keep-alive connection is closed after the same delay.
    let c = slow_client(
        &s,
        &[b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"],
        Duration::ZERO,
    );
    assert!(c.said.starts_with("HTTP/1.1 200"), "{}", c.said);
    assert!(c.closed, "the idle keep-alive connection stayed open");
}

/// Sends a request head with `Expect: 100-continue` and waits for the interim answer hyper
/// gives once the handler starts reading the body: from then on the request is in flight.
fn in_flight_post(s: &crate::support::http::TestServer, length: usize) -> TcpStream {
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "POST /api/offers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
    );
    c.write_all(head.as_bytes()).unwrap();
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = vec![0u8; interim.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(got, interim, "{}", String::from_utf8_lossy(&got));
    c
}

/// Waits until the server refuses new connections (it dropped its listener).
fn wait_not_accepting(s: &crate::support::http::TestServer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(s.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn shutdown_finishes_in_flight_requests_then_stops() {
    let mut s = start();
    // An idle keep-alive connection.
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A request in flight: its body is still to come.
    let body = crate::support::http::offer_body(2);
    let mut busy = in_flight_post(&s, body.len());

    s.request_stop();
    wait_not_accepting(&s);
    // The idle connection is closed at once.
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
    // The busy one completes, then closes.
    busy.write_all(body.as_bytes()).unwrap();
    let mut out = Vec::new();
    busy.read_to_end(&mut out)
        .expect("the server closed the connection");
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    s.wait_stopped();
    assert_eq!(s.service.get_offer(1).unwrap().seats, 2);
}

#[test]
fn the_drain_deadline_ends_stuck_requests() {
    let mut c = config();
    c.body_read_timeout = Duration::from_secs(60);
    c.drain_timeout = Duration::from_millis(800);
    let mut s = start_with(c);
    let mut stuck = in_flight_post(&s, 100);
    stuck.write_all(b"{").unwrap();
    s.request_stop();
    let took = s.wait_stopped();
    assert!(took >= Duration::from_millis(700), "{took:?}");
    // Far below the 60 s body timeout: only the drain deadline can have ended it.
    assert!(took < Duration::from_secs(30), "{took:?}");
    // Closed by the server (end of stream or reset), not left for the client to time out.
    let mut rest = Vec::new();
    if let Err(e) = stuck.read_to_end(&mut rest) {
        assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the stuck connection stayed open: {e}"
        );
    }
    assert!(
        s.dump()
            .iter()
            .all(|row| !row.starts_with("carpool_offers:"))
    );
}

/// Asks for `path` on an open connection and reads only the status line: the connection
/// stays open (keep-alive) and keeps its slot.
fn status_on(mut c: TcpStream, path: &str) -> (TcpStream, String) {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A refused connection may already be closed: its 503 is still there to read.
    let _ = write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match c.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    (c, String::from_utf8_lossy(&head).trim().to_owned())
}

/// Opens `n` connections back to back (as a load generator does), then asks on each.
fn statuses_of(
    s: &crate::support::http::TestServer,
    n: usize,
    path: &str,
) -> Vec<(TcpStream, String)> {
    let opened: Vec<_> = (0..n)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    opened.into_iter().map(|c| status_on(c, path)).collect()
}

#[test]
fn the_per_address_cap_refuses_the_extra_connection_but_not_one_that_replaces_a_closed_one() {
    let s = start_with(carette::http::HttpConfig {
        max_connections_per_ip: 4,
        ..config()
    });
    let offer = s.create_offer(2);
    let path = format!("/api/offers/{offer}");
    // The cap holds: four open connections, the fifth waits for a slot a moment (none
    // frees), then is turned away with a 503.
    let held = statuses_of(&s, 4, &path);
    for (_, status) in &held {
        assert_eq!(status, "HTTP/1.1 200 OK");
    }
    let (_, fifth) = status_on(TcpStream::connect(s.addr).unwrap(), &path);
    assert_eq!(fifth, "HTTP/1.1 503 Service Unavailable");
    drop(held);

    // wrk's address probe, a browser's reconnect: a connection closed just before the
    // full set is opened. Its slot must not cost a new connection its place (before the
    // fix, about one connection in five was refused here).
    let mut refused = 0;
    for _ in 0..100 {
        // Each round starts once the server saw the previous connections close.
        let deadline = Instant::now() + Duration::from_secs(5);
        while parse_metrics(&s.get("/metrics").body).get("carette_http_connections_open")
            != Some(&1.0)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(TcpStream::connect(s.addr).unwrap());
        let round = statuses_of(&s, 4, &path);
        refused += round
            .iter()
            .filter(|(_, status)| status != "HTTP/1.1 200 OK")
            .count();
    }
    assert_eq!(
        refused, 0,
        "connections refused although the client held at most 4"
    );
}
