//! The daemon's HTTP server started in-process on 127.0.0.1:0 over a real SQLite file,
//! with an injectable clock, and small clients (ureq, raw TCP) to talk to it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carette::domain::token::{LinkAction, Subject, TokenSigner};
use carette::http::{HttpConfig, HttpState};
use carette::mail::render::Renderer;
use carette::service::{Service, Settings};
use carette::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use tokio::sync::watch;

pub use super::SECRET;

/// "Now" in every test unless moved: trips depart days later.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 8, 0, 0).unwrap()
}

pub fn departure() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 10, 7, 30, 0).unwrap()
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub path: PathBuf,
    pub service: Service,
    pub state: Arc<HttpState>,
    pub clock: Arc<Mutex<DateTime<Utc>>>,
    pub signer: TokenSigner,
    shutdown: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

pub fn config() -> HttpConfig {
    HttpConfig {
        rate_limit_per_minute: 6000,
        rate_limit_burst: 1000,
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(3),
        ..HttpConfig::default()
    }
}

pub fn limited(per_minute: u32, burst: u32) -> HttpConfig {
    HttpConfig {
        rate_limit_per_minute: per_minute,
        rate_limit_burst: burst,
        ..config()
    }
}

pub fn start() -> TestServer {
    start_with(config())
}

pub fn start_with(config: HttpConfig) -> TestServer {
    start_with_heartbeats(config, Vec::new())
}

/// A server whose /healthz also watches these worker threads.
pub fn start_with_heartbeats(
    config: HttpConfig,
    heartbeats: Vec<Arc<carette::heartbeat::Heartbeat>>,
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carette.db");
    let store = Store::open(&path).unwrap();
    let service = Service::new(Arc::new(store), Settings::default());
    let renderer = Arc::new(Renderer::new(chrono_tz::Europe::Paris, None).unwrap());
    let signer = TokenSigner::new(SECRET);
    let clock = Arc::new(Mutex::new(t0()));
    let c = clock.clone();
    let state = Arc::new(
        HttpState::new(service.clone(), signer.clone(), renderer, config)
            .with_clock(Arc::new(move || *c.lock().unwrap()))
            .with_heartbeats(heartbeats),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = watch::channel(false);
    let server = runtime.spawn(carette::http::serve(listener, state.clone(), rx));
    TestServer {
        addr,
        base: format!("http://{addr}"),
        path,
        service,
        state,
        clock,
        signer,
        shutdown: tx,
        runtime: Some(runtime),
        server: Some(server),
        _dir: dir,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `name` hidden field of the first form that has it.
    pub fn form_token(&self) -> String {
        hidden_token(&self.body).unwrap_or_else(|| panic!("no token field in {}", self.body))
    }
}

pub fn hidden_token(html: &str) -> Option<String> {
    let at = html.find("name=\"token\" value=\"")? + "name=\"token\" value=\"".len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_owned())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent()
}

fn reply(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut resp = resp.unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(10 << 20)
        .read_to_string()
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

impl TestServer {
    pub fn set_now(&self, t: DateTime<Utc>) {
        *self.clock.lock().unwrap() = t;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Reply {
        reply(agent().get(self.url(path)).call())
    }

    pub fn post_json(&self, path: &str, body: &str) -> Reply {
        reply(
            agent()
                .post(self.url(path))
                .header("Content-Type", "application/json")
                .send(body),
        )
    }

    pub fn post_form(&self, path: &str, form: &str) -> Reply {
        reply(
            agent()
                .post(self.url(path))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(form),
        )
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder.body(body.to_owned()).unwrap();
        reply(agent().run(req))
    }

    /// Sends raw bytes and reads until the server closes (or `timeout`).
    pub fn raw(&self, bytes: &[u8], timeout: Duration) -> String {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(timeout)).unwrap();
        let _ = s.write_all(bytes);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends `head`, then streams `body_len` bytes of body from another thread (as
    /// chunks when `chunked`) while reading the answer: a server that answers early and
    /// closes must still be heard.
    pub fn raw_stream(&self, head: &str, body_len: usize, chunked: bool) -> String {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < body_len {
                let n = chunk.len().min(body_len - sent);
                let ok = if chunked {
                    w.write_all(format!("{n:x}\r\n").as_bytes())
                        .and_then(|_| w.write_all(&chunk[..n]))
                        .and_then(|_| w.write_all(b"\r\n"))
                } else {
                    w.write_all(&chunk[..n])
                };
                if ok.is_err() {
                    return sent;
                }
                sent += n;
            }
            if chunked {
                let _ = w.write_all(b"0\r\n\r\n");
            }
            sent
        });
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.shutdown(std::net::Shutdown::Both);
        let _ = writer.join();
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn sign(&self, action: LinkAction, subject: Subject, expires: DateTime<Utc>) -> String {
        self.signer.sign(action, &subject, expires)
    }

    /// A token as an email would carry it: valid 7 days from the test's "now".
    pub fn token(&self, action: LinkAction, subject: Subject) -> String {
        self.sign(
            action,
            subject,
            *self.clock.lock().unwrap() + chrono::Duration::days(7),
        )
    }

    /// POST /api/offers with the usual body; returns the offer id.
    pub fn create_offer(&self, seats: i64) -> i64 {
        let r = self.post_json("/api/offers", &offer_body(seats));
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_i64().unwrap()
    }

    /// POST a seat request; returns the reservation id.
    pub fn request_seat(&self, offer: i64, email: &str, seats: i64) -> i64 {
        let r = self.post_json(
            &format!("/api/offers/{offer}/reservations"),
            &reservation_body("Marie Curie", email, seats),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_i64().unwrap()
    }

    pub fn status_of(&self, reservation: i64) -> String {
        self.service
            .get_reservation(reservation)
            .unwrap()
            .status
            .as_str()
            .to_owned()
    }

    pub fn dump(&self) -> Vec<String> {
        dump(&self.path)
    }

    pub fn outbox(&self) -> Vec<(String, String)> {
        outbox(&self.path)
    }

    /// Flips the shutdown watch, as the daemon does on SIGTERM.
    pub fn request_stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits for `serve` to return; how long that took.
    pub fn wait_stopped(&mut self) -> Duration {
        let started = std::time::Instant::now();
        if let (Some(rt), Some(server)) = (self.runtime.as_ref(), self.server.take()) {
            rt.block_on(server).unwrap();
        }
        started.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

pub fn offer_body(seats: i64) -> String {
    serde_json::json!({
        "driver_name": "Jean Dupont",
        "driver_email": "jean@example.org",
        "origin": {"label": "Lyon Part-Dieu", "lat": 45.76, "lon": 4.86},
        "destination": {"label": "Grenoble Gare"},
        "departure_at": "2030-06-10T09:30:00+02:00",
        "seats": seats,
    })
    .to_string()
}

pub fn reservation_body(name: &str, email: &str, seats: i64) -> String {
    serde_json::json!({
        "passenger_name": name,
        "passenger_email": email,
        "seats": seats,
        "pickup": {"label": "Place Bellecour"},
        "message": "J'ai un petit sac <b>rouge</b>",
    })
    .to_string()
}

pub use super::db::{dump, outbox};
