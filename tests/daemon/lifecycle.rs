//! The real binary under `carette serve`: graceful shutdown on SIGTERM, and kill -9 under
//! concurrent load: after a restart every acknowledged reservation is there and every one
//! of its emails reaches the SMTP server (duplicates only for emails caught mid-send, and
//! then with the same Message-ID so receivers can de-duplicate).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::SmtpServer;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, smtp_port: u16, http_port: u16) -> PathBuf {
    write_config_with(
        dir,
        smtp_port,
        http_port,
        // Short, for a quick recovery after kill -9; still at least twice smtp.timeout_secs.
        "[email]\noutbox_lease_secs = 5\n",
    )
}

fn write_config_with(dir: &Path, smtp_port: u16, http_port: u16, extra: &str) -> PathBuf {
    let text = format!(
        r#"[server]
listen = "127.0.0.1:{http_port}"
base_url = "https://rides.example.org"
rate_limit_per_minute = 100000
rate_limit_burst = 100000

[database]
path = "{db}"

[security]
secret_key = "test-secret-0123456789abcdefghijklmnop"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
user = "{user}"
password = "{password}"
from = "{from}"
timeout_secs = 2
pool_size = 4

{extra}"#,
        db = dir.join("carette.db").display(),
        user = crate::support::USER,
        password = crate::support::PASSWORD,
        from = crate::support::FROM,
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Daemon {
    child: Child,
    base: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

impl Daemon {
    fn start(config: &Path, port: u16) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_carette"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env_remove("CARETTE_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = agent().get(&format!("{base}/healthz")).call()
                && r.status() == 200
            {
                return Daemon { child, base };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("daemon did not come up");
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        post(&self.base, path, body)
    }
}

fn post(base: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    {
        let r = agent()
            .post(&format!("{base}{path}"))
            .header("Content-Type", "application/json")
            .send(body.to_string());
        match r {
            Ok(r) => {
                let status = r.status().as_u16();
                let v = r.into_body().read_json().unwrap_or(serde_json::Value::Null);
                (status, v)
            }
            Err(_) => (0, serde_json::Value::Null),
        }
    }
}

fn create_offers(d: &Daemon, n: usize) -> Vec<i64> {
    let departure = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    (0..n)
        .map(|i| {
            let (status, v) = d.post(
                "/api/offers",
                &serde_json::json!({
                    "driver_name": format!("Driver {i}"), "driver_email": format!("d{i}@example.org"),
                    "origin": {"label": "Lyon"}, "destination": {"label": "Grenoble"},
                    "departure_at": departure, "seats": 8
                }),
            );
            assert_eq!(status, 201, "{v}");
            v["id"].as_i64().unwrap()
        })
        .collect()
}

fn outbox_rows(db: &Path) -> Vec<(i64, String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.prepare("SELECT id, status, message_id FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn message_id(raw: &str) -> Option<String> {
    raw.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .map(|l| {
            l[11..]
                .trim()
                .trim_matches(|c| c == '<' || c == '>')
                .to_owned()
        })
}

#[test]
fn sigterm_shuts_down_gracefully_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let port = free_port();
    let cfg = write_config(dir.path(), smtp.port(), port);
    let mut d = Daemon::start(&cfg, port);
    let offers = create_offers(&d, 1);
    let (status, _) = d.post(
        &format!("/api/offers/{}/reservations", offers[0]),
        &serde_json::json!({"passenger_name": "Marie", "passenger_email": "marie@example.org", "seats": 1}),
    );
    assert_eq!(status, 201);
    assert!(
        smtp.wait_for(2, Duration::from_secs(10)),
        "both request emails delivered"
    );
    let pid = d.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(Instant::now() < deadline, "daemon did not stop within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    // The database is closed cleanly: WAL checkpointed and readable.
    let rows = outbox_rows(&dir.path().join("carette.db"));
    assert_eq!(rows.iter().filter(|r| r.1 == "sent").count(), 2);
}

#[test]
fn kill_9_under_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("carette.db");
    let smtp = SmtpServer::start();
    let port = free_port();
    let cfg = write_config(dir.path(), smtp.port(), port);
    let mut d = Daemon::start(&cfg, port);
    let offers = Arc::new(create_offers(&d, 40));
    let base = d.base.clone();

    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let (acked, stop, offers, base) = (acked.clone(), stop.clone(), offers.clone(), base.clone());
            std::thread::spawn(move || {
                for i in 0..(offers.len() * 8 / 6) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let offer = offers[(c * 1000 + i) % offers.len()];
                    let (status, v) = post(
                        &base,
                        &format!("/api/offers/{offer}/reservations"),
                        &serde_json::json!({"passenger_name": "P", "passenger_email": format!("c{c}.{i}@example.org"), "seats": 1}),
                    );
                    if status == 201 {
                        acked.lock().unwrap().push(v["id"].as_i64().unwrap());
                    }
                }
            })
        })
        .collect();
    // Let the load run, then kill the daemon without warning.
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40, "load ran: {} acknowledged", acked.len());
    let in_flight = outbox_rows(&db).iter().filter(|r| r.1 == "sending").count();

    // Restart: everything acknowledged is there, and all its emails go out.
    let mut d = Daemon::start(&cfg, port);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = outbox_rows(&db);
        if rows.iter().all(|r| r.1 == "sent") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "outbox not drained: {:?}",
            rows.iter().filter(|r| r.1 != "sent").count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    for id in &acked {
        let (status, emails): (String, i64) = conn
            .query_row(
                "SELECT status, (SELECT COUNT(*) FROM outbox o WHERE o.reservation_id = r.id AND o.status = 'sent')
                 FROM carpool_reservations r WHERE r.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or_else(|e| panic!("acknowledged reservation {id} lost: {e}"));
        assert_eq!(
            (status.as_str(), emails),
            ("pending", 2),
            "reservation {id}"
        );
    }
    let rows = outbox_rows(&db);
    let mut received: HashMap<String, usize> = HashMap::new();
    for m in smtp.received() {
        let id = message_id(&m.text()).expect("every email has a Message-ID");
        *received.entry(id).or_default() += 1;
    }
    for (id, _, mid) in &rows {
        assert!(
            received.keys().any(|k| k.starts_with(mid.as_str())),
            "email {id} ({mid}) never reached the SMTP server"
        );
    }
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    eprintln!(
        "kill -9: {} reservations acknowledged, {} emails, {in_flight} mid-send at the crash, {duplicates} duplicate(s) after restart",
        acked.len(),
        rows.len()
    );
    assert!(
        duplicates <= in_flight,
        "{duplicates} duplicate(s) but only {in_flight} email(s) were mid-send at the crash"
    );
    assert_eq!(
        received.len(),
        rows.len(),
        "no email the outbox does not know"
    );
    d.child.kill().unwrap();
    d.child.wait().unwrap();
}

#[test]
fn kill_9_mid_send_then_restart_resends_in_flight_emails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("carette.db");
    let smtp = SmtpServer::start();
    // A slow server, so the crash finds emails in flight.
    smtp.set_data_delay(Duration::from_millis(700));
    let port = free_port();
    // The default 5-minute lease: a restart must not wait for it.
    let cfg = write_config_with(dir.path(), smtp.port(), port, "");
    assert!(!std::fs::read_to_string(&cfg).unwrap().contains("lease"));
    let mut d = Daemon::start(&cfg, port);
    let offers = create_offers(&d, 1);
    for i in 0..10 {
        let (status, v) = d.post(
            &format!("/api/offers/{}/reservations", offers[0]),
            &serde_json::json!({"passenger_name": "P", "passenger_email": format!("p{i}@example.org"), "seats": 1}),
        );
        assert_eq!(status, 201, "{v}");
    }
    // Wait until the sender holds emails, and at least one reached the server.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sending = outbox_rows(&db).iter().filter(|r| r.1 == "sending").count();
        if sending >= 4 && smtp.count() >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the sender never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let in_flight: Vec<String> = outbox_rows(&db)
        .into_iter()
        .filter(|r| r.1 == "sending")
        .map(|r| r.2)
        .collect();
    assert!(!in_flight.is_empty());
    smtp.set_data_delay(Duration::ZERO);
    let before = smtp.count();

    let restarted = Instant::now();
    let mut d = Daemon::start(&cfg, port);
    let up = restarted.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    let resent_at = loop {
        let received: Vec<String> = smtp.received()[before..]
            .iter()
            .filter_map(|m| message_id(&m.text()))
            .collect();
        if in_flight
            .iter()
            .all(|mid| received.iter().any(|r| r.starts_with(mid.as_str())))
        {
            break restarted.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "in-flight emails not re-sent: {} of {}",
            received.len(),
            in_flight.len()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!(
        "kill -9 mid-send: {} email(s) in flight; restart: healthy after {up:?}, last in-flight email re-sent {resent_at:?} after the restart (lease 300 s)",
        in_flight.len()
    );
    // Far below the 5-minute lease: the dead sender's claims were taken back at start.
    assert!(
        resent_at < Duration::from_secs(60),
        "re-sent after {resent_at:?}: the restart waited for the lease"
    );
    // Everything ends up sent; the dead sender is forgotten, the live one registered.
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox_rows(&db).iter().any(|r| r.1 != "sent") {
        assert!(Instant::now() < deadline, "outbox not drained");
        std::thread::sleep(Duration::from_millis(50));
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let senders: Vec<i64> = conn
        .prepare("SELECT pid FROM outbox_senders")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(senders, [i64::from(d.child.id())]);
    d.child.kill().unwrap();
    d.child.wait().unwrap();
}

#[test]
fn a_poisoned_email_holds_back_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("carette.db");
    // A server that does not offer SMTPUTF8, as in the field report.
    let smtp = SmtpServer::start();
    smtp.advertise_smtputf8(false);
    let port = free_port();
    let cfg = write_config_with(dir.path(), smtp.port(), port, "");
    let mut d = Daemon::start(&cfg, port);
    let offers = create_offers(&d, 1);
    let (status, _) = d.post(
        &format!("/api/offers/{}/reservations", offers[0]),
        &serde_json::json!({"passenger_name": "P", "passenger_email": "first@example.org", "seats": 1}),
    );
    assert_eq!(status, 201);
    assert!(smtp.wait_for(2, Duration::from_secs(30)));
    // Two emails an older version queued for non-ASCII addresses: the oldest in line.
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (i, to) in ["jösé@example.org", "poison@exämple.org"]
        .into_iter()
        .enumerate()
    {
        conn.execute(
            "INSERT INTO outbox (template, recipient, reply_to, context, reservation_id, offer_id,
                 status, attempts, next_attempt_at, message_id, created_at)
             SELECT template, ?1, reply_to, context, reservation_id, offer_id, 'queued', 0,
                 datetime('now', '-1 minute'), ?2, datetime('now', '-1 minute')
             FROM outbox WHERE template = 'request_passenger' LIMIT 1",
            rusqlite::params![to, format!("carette.poison{i}")],
        )
        .unwrap();
        // Counted as `outbox::enqueue` counts (migrations/12).
        conn.execute(
            "UPDATE outbox_status_counts SET n = n + 1 WHERE status = 'queued'",
            [],
        )
        .unwrap();
    }
    // Then 14 riders ask for a seat: 28 emails queued behind the poisoned ones.
    let started = Instant::now();
    for i in 0..14 {
        let (status, v) = d.post(
            &format!("/api/offers/{}/reservations", offers[0]),
            &serde_json::json!({"passenger_name": "P", "passenger_email": format!("p{i}@example.org"), "seats": 1}),
        );
        assert_eq!(status, 201, "{v}");
    }
    assert!(
        smtp.wait_for(30, Duration::from_secs(120)),
        "only {} of 30 delivered",
        smtp.count()
    );
    let delivered = started.elapsed();
    eprintln!(
        "poisoned outbox: 28 emails queued behind 2 non-ASCII addresses all delivered {delivered:?} after the first request"
    );
    // The poisoned rows failed alone; nothing was retried, held back or paused.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows: Vec<(String, String, Option<String>)> = loop {
        let rows: Vec<(String, String, Option<String>)> = conn
            .prepare("SELECT recipient, status, last_error FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        if rows.iter().all(|r| r.1 == "sent" || r.1 == "failed") {
            break rows;
        }
        assert!(Instant::now() < deadline, "outbox not settled: {rows:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    for (to, status, error) in &rows {
        if to.is_ascii() {
            assert_eq!((status.as_str(), error), ("sent", &None), "{to}");
        } else {
            assert_eq!(status, "failed", "{to}");
            let error = error.as_deref().unwrap_or_default();
            assert!(error.contains("SMTPUTF8"), "{error}");
        }
    }
    d.child.kill().unwrap();
    d.child.wait().unwrap();
}
