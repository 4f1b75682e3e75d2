//! The real binary exposed to hostile or broken surroundings: 1,000 trickling connections
//! from one address, a database another connection keeps locked, a read-only database.
//!
//! No timing is asserted (shared, noisy machine): requests must be *answered* within a
//! generous functional deadline, and the measured latencies are printed for the record
//! (`cargo test --test daemon_hardening -- --nocapture`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::db;

const SECRET: &str = "Kp3-vXq9-Lm2z-Rt7w-Yb4n-Hs8c-Fd6g-Jq1e";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config with no SMTP password: dev mode, emails are written as files.
fn write_config(dir: &Path, port: u16, extra_server: &str) -> PathBuf {
    let text = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
base_url = "http://127.0.0.1:{port}"
rate_limit_per_minute = 100000
rate_limit_burst = 100000
{extra_server}

[database]
path = "{db}"

[security]
secret_key = "{SECRET}"
"#,
        db = dir.join("carette.db").display(),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn call(req: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Reply, ureq::Error> {
    let mut r = req?;
    Ok(Reply {
        status: r.status().as_u16(),
        retry_after: r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    })
}

struct Daemon {
    child: Child,
    base: String,
    db: PathBuf,
}

impl Daemon {
    /// Starts `carette serve` and waits until /healthz answers (any status).
    fn start(dir: &Path, config: &Path, port: u16, cmd: impl FnOnce(&mut Command)) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_carette"));
        command
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env_remove("CARETTE_CONFIG")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd(&mut command);
        let child = command.spawn().unwrap();
        let d = Daemon {
            child,
            base: format!("http://127.0.0.1:{port}"),
            db: dir.join("carette.db"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if d.try_get("/healthz", Duration::from_secs(5)).is_ok() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("daemon did not come up");
    }

    fn try_get(&self, path: &str, timeout: Duration) -> Result<Reply, ureq::Error> {
        call(agent(timeout).get(&format!("{}{path}", self.base)).call())
    }

    fn get(&self, path: &str) -> Reply {
        self.try_get(path, Duration::from_secs(30)).unwrap()
    }

    fn try_post(&self, path: &str, body: &Value, timeout: Duration) -> Result<Reply, ureq::Error> {
        call(
            agent(timeout)
                .post(&format!("{}{path}", self.base))
                .header("Content-Type", "application/json")
                .send(body.to_string()),
        )
    }

    fn post(&self, path: &str, body: &Value) -> Reply {
        self.try_post(path, body, Duration::from_secs(30)).unwrap()
    }

    fn create_offer(&self) -> i64 {
        let departure = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
        let r = self.post(
            "/api/offers",
            &json!({
                "driver_name": "Jean Dupont",
                "driver_email": "jean@example.org",
                "origin": {"label": "Lyon"},
                "destination": {"label": "Grenoble"},
                "departure_at": departure,
                "seats": 8,
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_i64().unwrap()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn seat(n: usize) -> Value {
    json!({
        "passenger_name": "Marie Curie",
        "passenger_email": format!("p{n}@example.org"),
        "seats": 1,
    })
}

/// (RSS in KiB, open file descriptors) of a process, from /proc.
fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    (rss, fds)
}

/// The soft limit on open files of this process (the attacker's sockets live here).
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[derive(Default)]
struct AttackStats {
    connects: AtomicUsize,
    connect_errors: AtomicUsize,
}

/// One attacker socket: connects from 127.0.0.2, sends a request head (or a POST head
/// announcing a body) and then trickles one byte every half second; when the daemon
/// closes it, reconnects a second later.
async fn trickle(
    target: SocketAddr,
    slow_body: bool,
    stop: Arc<AtomicBool>,
    stats: Arc<AttackStats>,
) {
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0);
    while !stop.load(Ordering::Relaxed) {
        let socket = tokio::net::TcpSocket::new_v4().and_then(|s| {
            s.bind(from)?;
            Ok(s)
        });
        let connected = match socket {
            Ok(s) => s.connect(target).await,
            Err(e) => Err(e),
        };
        match connected {
            Ok(stream) => {
                stats.connects.fetch_add(1, Ordering::Relaxed);
                let head: &[u8] = if slow_body {
                    b"POST /api/reservation/accept HTTP/1.1\r\nHost: x\r\n\
                      Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\ntoken="
                } else {
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
                };
                let mut ok = send(&stream, head).await;
                while ok && !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    ok = send(&stream, b"a").await;
                }
            }
            Err(_) => {
                stats.connect_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Writes everything (false once the daemon closed the connection).
async fn send(stream: &tokio::net::TcpStream, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        if stream.writable().await.is_err() {
            return false;
        }
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
}

#[test]
fn one_address_trickling_1000_connections_cannot_starve_another() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let d = Daemon::start(dir.path(), &config, port, |_| {});
    let offer = d.create_offer();
    let (rss_before, fds_before) = rss_and_fds(d.pid());

    // Leave room for this process's own files; 1,000 when the limit allows (it does here).
    let attackers = 1000.min(open_files_limit().saturating_sub(200));
    println!("attack: {attackers} trickling connections from 127.0.0.2");
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(AttackStats::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for i in 0..attackers {
        runtime.spawn(trickle(target, i % 2 == 1, stop.clone(), stats.clone()));
    }
    // Every attacker socket has connected at least once: the attack is in full swing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.connects.load(Ordering::Relaxed) < attackers && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        stats.connects.load(Ordering::Relaxed) >= attackers,
        "the attack never got going"
    );

    // The normal client, from 127.0.0.1, each request on a fresh connection. Answered
    // within 3 s (far above the 200 ms goal, far below the 15-25 s starvation seen before).
    let answer_within = Duration::from_secs(3);
    let mut health_ms = Vec::new();
    let mut seat_ms = Vec::new();
    let (mut max_rss, mut max_fds) = (0, 0);
    for n in 0..30 {
        let started = Instant::now();
        let r = d
            .try_get("/healthz", answer_within)
            .unwrap_or_else(|e| panic!("/healthz not answered within 3 s during the attack: {e}"));
        health_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.status, 200, "{}", r.body);
        if n % 5 == 0 {
            let started = Instant::now();
            let r = d
                .try_post(
                    &format!("/api/offers/{offer}/reservations"),
                    &seat(n),
                    answer_within,
                )
                .unwrap_or_else(|e| panic!("seat request not answered within 3 s: {e}"));
            seat_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let (rss, fds) = rss_and_fds(d.pid());
        max_rss = max_rss.max(rss);
        max_fds = max_fds.max(fds);
        std::thread::sleep(Duration::from_millis(100));
    }
    // The attacker never holds more than its share of connections.
    let metrics = d.get("/metrics").body;
    let open = metric(&metrics, "carette_http_connections_open");
    let refused = metric(
        &metrics,
        "carette_http_connections_refused_total{reason=\"per_ip\"}",
    );
    stop.store(true, Ordering::Relaxed);
    runtime.shutdown_timeout(Duration::from_secs(5));

    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "normal client during the attack: /healthz p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms ({} requests); \
         seat request p50 {:.1} ms, max {:.1} ms ({} requests)",
        pct(&mut health_ms, 0.5),
        pct(&mut health_ms, 0.9),
        pct(&mut health_ms, 1.0),
        health_ms.len(),
        pct(&mut seat_ms, 0.5),
        pct(&mut seat_ms, 1.0),
        seat_ms.len(),
    );
    println!(
        "daemon: RSS {rss_before} KiB / {fds_before} fds before, at most {max_rss} KiB / {max_fds} fds during; \
         {open} connections open, {refused} refused (per IP); attacker connects {} (errors {})",
        stats.connects.load(Ordering::Relaxed),
        stats.connect_errors.load(Ordering::Relaxed),
    );
    assert!(refused > 0.0, "the per-IP cap never refused anything");
    // 32 for the attacker, plus this /metrics request and a straggler or two.
    assert!(open <= 32.0 + 4.0, "{open} connections open");
    assert!(
        max_fds < fds_before + 32 + 40,
        "the daemon held {max_fds} fds"
    );
}

/// Holds the database's write lock from another connection, as a backup tool or a
/// second process would.
fn lock_exclusively(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    conn
}

#[test]
fn a_locked_database_gets_503_with_retry_after_and_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "request_timeout_secs = 1");
    let d = Daemon::start(dir.path(), &config, port, |_| {});
    let offer = d.create_offer();
    let pending = d.post(&format!("/api/offers/{offer}/reservations"), &seat(0));
    assert_eq!(pending.status, 201, "{}", pending.body);
    let pending = pending.json()["id"].as_i64().unwrap();
    let accept = carette::domain::token::TokenSigner::new(SECRET.as_bytes()).sign(
        carette::domain::token::LinkAction::Accept,
        &carette::domain::token::Subject::Reservation(pending),
        chrono::Utc::now() + chrono::Duration::days(1),
    );
    // The business rows (the sender may meanwhile mark its emails as sent).
    let rows = |db: &Path| -> Vec<String> {
        let mut rows: Vec<String> = db::dump(db)
            .into_iter()
            .filter(|r| {
                !r.starts_with("outbox:")
                    && !r.starts_with("outbox_status_counts:")
                    && !r.starts_with("job_runs:")
            })
            .collect();
        rows.extend(
            db::outbox(db)
                .into_iter()
                .map(|(t, to)| format!("{t} {to}")),
        );
        rows
    };
    let before = rows(&d.db);

    let lock = lock_exclusively(&d.db);
    // The lock outlives the request timeout: the request gives up, it does not hang.
    let started = Instant::now();
    let r = d.post(&format!("/api/offers/{offer}/reservations"), &seat(1));
    println!(
        "seat request under a held lock answered in {:?}",
        started.elapsed()
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    assert_eq!(
        r.json()["error"],
        "the database is busy; nothing was saved, retry in a few seconds"
    );
    // The driver's button: the French page, same status, nothing done.
    let r = call(
        agent(Duration::from_secs(30))
            .post(&format!("{}/api/reservation/accept", d.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("token={accept}")),
    )
    .unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    assert!(r.body.contains("rien n'a été modifié"), "{}", r.body);
    // Health says so too, naming the database.
    let h = d.get("/healthz");
    assert_eq!(h.status, 503, "{}", h.body);
    assert_eq!(h.json()["failed"], json!(["database"]));
    // Reads still work meanwhile (WAL).
    assert_eq!(d.get(&format!("/api/offers/{offer}")).status, 200);
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    assert_eq!(rows(&d.db), before, "nothing was half-written");

    // Once the lock is gone, the same request goes through, and only it: the refused
    // ones did not complete late behind the 503.
    let r = d.post(&format!("/api/offers/{offer}/reservations"), &seat(1));
    assert_eq!(r.status, 201, "{}", r.body);
    let after = rows(&d.db);
    // One reservation, its event, its two emails; the first request still pending.
    // (The hourly per-recipient email counters move too; a slot boundary may add a row.)
    let counted = |rows: &[String]| {
        rows.iter()
            .filter(|r| !r.starts_with("recipient_email_counts:"))
            .count()
    };
    assert_eq!(counted(&after), counted(&before) + 4, "{after:#?}");
    let reservations: Vec<&String> = after
        .iter()
        .filter(|r| r.starts_with("carpool_reservations:"))
        .collect();
    assert_eq!(reservations.len(), 2, "{reservations:#?}");
    assert!(reservations.iter().all(|r| r.contains("Text(\"pending\")")));
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.get("/healthz").status != 200 {
        assert!(Instant::now() < deadline, "health never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const NOBODY: u32 = 65534;

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[test]
fn a_read_only_database_makes_healthz_503_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let out = Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .env_remove("CARETTE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = dir.path().join("carette.db");
    // Root writes through any permission bits: then the daemon runs as nobody, in a
    // directory it owns (SQLite creates its -shm there) over a file it may only read.
    let as_root = running_as_root();
    if as_root {
        std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    } else {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let before = db::dump(&db);
    let d = Daemon::start(dir.path(), &config, port, |c| {
        if as_root {
            c.uid(NOBODY).gid(NOBODY);
        }
    });
    // The worker threads may not have run yet when the port first answers: wait for them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let h = loop {
        let h = d.get("/healthz");
        let checks = &h.json()["checks"];
        if checks["sender"] != "not started" && checks["scheduler"] != "not started"
            || Instant::now() > deadline
        {
            break h;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(h.status, 503, "{}", h.body);
    let body = h.json();
    assert_eq!(body["failed"], json!(["database"]), "{body}");
    assert_eq!(
        body["checks"]["database"],
        "database does not accept writes (read-only?)"
    );
    assert_eq!(body["checks"]["sender"], "ok");
    assert_eq!(body["checks"]["scheduler"], "ok");
    let metrics = d.get("/metrics").body;
    assert!(
        metrics.contains("carette_health_check{check=\"database\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("carette_health_check{check=\"sender\"} 1"));
    // Writes are refused, and nothing changed.
    let departure = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let r = d.post(
        "/api/offers",
        &json!({"driver_name": "Jean", "driver_email": "jean@example.org",
                "origin": {"label": "A"}, "destination": {"label": "B"},
                "departure_at": departure, "seats": 2}),
    );
    assert!(r.status >= 500, "{} {}", r.status, r.body);
    drop(d);
    assert_eq!(db::dump(&db), before);
}
