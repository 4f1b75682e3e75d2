//! The real daemon for the operations tests (backup, Litestream): a dev-mode config in a
//! temp dir, `carette serve` as a child process (or under another command such as
//! `litestream replicate -exec`), seat requests over HTTP from several threads.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A dev-mode config (no SMTP: emails become .eml files) with the database in `dir`.
pub fn write_config(dir: &Path, http_port: u16, extra: &str) -> PathBuf {
    let text = format!(
        r#"[server]
listen = "127.0.0.1:{http_port}"
base_url = "https://rides.example.org"
rate_limit_per_minute = 100000
rate_limit_burst = 100000

[database]
path = "{db}"

[security]
secret_key = "{secret}"

[email]
# Load tests send hundreds of requests to a few drivers.
max_per_recipient_per_hour = 100000

{extra}
"#,
        db = dir.join("carette.db").display(),
        secret = super::SECRET_KEY,
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn carette() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carette"));
    cmd.env_remove("CARETTE_CONFIG").env("NO_COLOR", "1");
    for var in [
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "FROM_EMAIL",
        "SECRET_KEY",
        "BASE_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `carette --config CONFIG ARGS...`; (exit code, stdout, stderr).
pub fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = carette()
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

pub struct Daemon {
    pub child: Child,
    pub base: String,
}

impl Daemon {
    /// `carette serve` with `config`, listening on `port`.
    pub fn start(config: &Path, port: u16) -> Daemon {
        let mut cmd = carette();
        cmd.arg("--config").arg(config).arg("serve");
        Daemon::start_command(cmd, port)
    }

    /// Any command that ends up serving on `port` (e.g. litestream -exec "carette serve").
    pub fn start_command(mut cmd: Command, port: u16) -> Daemon {
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = agent().get(&format!("{base}/healthz")).call()
                && r.status() == 200
            {
                return Daemon { child, base };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the daemon exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("daemon did not come up");
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        post(&self.base, path, body)
    }

    pub fn create_offer(&self, driver_email: &str, seats: i64) -> i64 {
        let departure = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
        let (status, v) = self.post(
            "/api/offers",
            &serde_json::json!({
                "driver_name": "Jean Dupont", "driver_email": driver_email,
                "origin": {"label": "Lyon"}, "destination": {"label": "Grenoble"},
                "departure_at": departure, "seats": seats
            }),
        );
        assert_eq!(status, 201, "{v}");
        v["id"].as_i64().unwrap()
    }

    /// kill -9: no shutdown, no final checkpoint.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn post(base: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    match agent()
        .post(&format!("{base}{path}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
    {
        Ok(r) => {
            let status = r.status().as_u16();
            (
                status,
                r.into_body().read_json().unwrap_or(serde_json::Value::Null),
            )
        }
        Err(_) => (0, serde_json::Value::Null),
    }
}

/// Seat requests sent one after another on `threads` threads until stopped; the ids
/// acknowledged (201) are collected.
pub struct Load {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<Vec<i64>>>,
}

impl Load {
    pub fn start(base: &str, offers: &[i64], threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..threads)
            .map(|t| {
                let stop = stop.clone();
                let base = base.to_owned();
                let offers = offers.to_vec();
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    let mut i = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        let offer = offers[(t + i) % offers.len()];
                        let (status, v) = post(
                            &base,
                            &format!("/api/offers/{offer}/reservations"),
                            &serde_json::json!({
                                "passenger_name": format!("P {t}-{i}"),
                                "passenger_email": format!("p{t}-{i}@example.org"),
                                "seats": 1
                            }),
                        );
                        if status == 201 {
                            acked.push(v["id"].as_i64().unwrap());
                        } else if status == 0 {
                            // The daemon is gone (killed): stop here.
                            break;
                        }
                        i += 1;
                    }
                    acked
                })
            })
            .collect();
        Load { stop, handles }
    }

    pub fn finish(self) -> Vec<i64> {
        self.stop.store(true, Ordering::SeqCst);
        let mut ids: Vec<i64> = self
            .handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Ids of every reservation in the file, and for each the number of its outbox rows.
pub fn reservations_and_emails(db: &Path) -> Vec<(i64, i64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.prepare(
        "SELECT r.id, (SELECT COUNT(*) FROM outbox o WHERE o.reservation_id = r.id)
         FROM carpool_reservations r ORDER BY r.id",
    )
    .unwrap()
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

pub fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
