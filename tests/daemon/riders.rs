//! The original system's "test flux complet" on `carette serve` alone, in dev mode (no
//! SMTP: emails land as .eml files): offer a trip from the page, request a seat from the
//! page, accept from the driver's email, and the passenger's "Réservation confirmée".
//! Then the same seat request in a real headless browser (Debian's chromium, driven over
//! the DevTools protocol), with screenshots at 360 px and 1280 px under
//! target/screenshots/.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Daemon {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `carette serve` with a config that only says where to listen and keep its files:
/// no SMTP at all, so dev mode, as a newcomer's first run.
fn start_daemon() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nbase_url = \"{base}\"\n\n\
             [database]\npath = \"{}\"\n",
            dir.path().join("carette.db").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env_remove("CARETTE_CONFIG")
        .env_remove("SMTP_PASSWORD")
        .env_remove("SMTP_HOST")
        .env_remove("SECRET_KEY")
        .env_remove("BASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, base, dir };
    wait_until(
        Duration::from_secs(30),
        "the daemon to answer /healthz",
        || get(&daemon.url("/healthz")).0 == 200,
    );
    daemon
}

impl Daemon {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("carette.db")
    }

    /// Every dev-mode email so far: (to, subject, plain text).
    fn emails(&self) -> Vec<(String, String, String)> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("emails")) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .filter_map(|p| {
                let raw = std::fs::read(p).ok()?;
                let msg = MessageParser::default().parse(&raw)?;
                let to = msg.to()?.first()?.address()?.to_owned();
                let subject = msg.subject()?.to_owned();
                let text = msg.body_text(0)?.into_owned();
                Some((to, subject, text))
            })
            .collect()
    }

    /// Waits for the email to `to` whose subject contains `subject`; returns its text.
    fn email(&self, to: &str, subject: &str) -> String {
        let mut found = None;
        wait_until(
            Duration::from_secs(30),
            &format!("an email \"{subject}\" to {to}"),
            || {
                found = self
                    .emails()
                    .into_iter()
                    .find(|(t, s, _)| t == to && s.contains(subject))
                    .map(|(_, _, text)| text);
                found.is_some()
            },
        );
        found.unwrap()
    }
}

fn wait_until(timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent()
}

fn read(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String, String) {
    match resp {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = r.body_mut().read_to_string().unwrap_or_default();
            (status, body, location)
        }
        Err(_) => (0, String::new(), String::new()),
    }
}

fn get(url: &str) -> (u16, String, String) {
    read(agent().get(url).call())
}

fn post_form(url: &str, body: &str) -> (u16, String, String) {
    read(
        agent()
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Origin", "null")
            .header("Sec-Fetch-Site", "same-origin")
            .send(body),
    )
}

fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

fn link(text: &str, path: &str) -> String {
    let at = text
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let start = text[..at].rfind("http").unwrap();
    let end = text[at..]
        .find(|c: char| c.is_whitespace())
        .map_or(text.len(), |e| at + e);
    text[start..end].to_owned()
}

/// A departure three days ahead, as the form takes it (local date and time).
fn in_three_days() -> String {
    (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Offers a trip through /trajets/nouveau; returns its id.
fn offer_trip(d: &Daemon) -> i64 {
    let (status, page, _) = get(&d.url("/trajets/nouveau"));
    assert_eq!(status, 200);
    let date = in_three_days();
    let body = form(&[
        ("form_token", &hidden(&page, "form_token")),
        ("name", "Jean Dupont"),
        ("email", "jean@example.org"),
        ("origin", "Lyon Part-Dieu"),
        ("destination", "Grenoble Gare"),
        ("date", &date),
        ("time", "08:30"),
        ("seats", "3"),
        ("lang", "fr"),
        ("website", ""),
    ]);
    let (status, body, location) = post_form(&d.url("/trajets/nouveau"), &body);
    assert_eq!(status, 303, "{body}");
    let (status, page, _) = get(&d.url(&location));
    assert_eq!(status, 200);
    assert!(page.contains("Trajet publié"));
    location
        .trim_start_matches("/trajets/")
        .trim_end_matches("/publie")
        .parse()
        .unwrap()
}

#[test]
fn the_whole_flow_from_the_pages_and_the_dev_mode_emails() {
    let d = start_daemon();
    let (status, list, _) = get(&d.url("/trajets"));
    assert_eq!(status, 200);
    assert!(list.contains("Aucun trajet"));

    // 1. The driver offers a trip and gets its management links by email.
    let offer = offer_trip(&d);
    let created = d.email("jean@example.org", "Trajet publié");
    assert!(created.contains("/dashboard?token="), "{created}");
    assert!(created.contains("/api/offer/cancel?token="), "{created}");

    // 2. A passenger finds it on the listing and asks for a seat.
    let (_, list, _) = get(&d.url("/trajets"));
    assert!(list.contains(&format!("href=\"/trajets/{offer}\"")));
    let (status, page, _) = get(&d.url(&format!("/trajets/{offer}")));
    assert_eq!(status, 200);
    let body = form(&[
        ("form_token", &hidden(&page, "form_token")),
        ("name", "Marie Curie"),
        ("email", "marie@example.org"),
        ("seats", "2"),
        ("pickup", "Place Bellecour"),
        ("message", "Merci !"),
        ("lang", "fr"),
        ("website", ""),
    ]);
    let (status, _, location) = post_form(&d.url(&format!("/trajets/{offer}")), &body);
    assert_eq!(status, 303);
    let (_, sent, _) = get(&d.url(&location));
    assert!(sent.contains("Demande envoyée"));
    d.email("marie@example.org", "Demande");

    // 3. The driver accepts from the email: GET shows, POST does.
    let request = d.email("jean@example.org", "Nouvelle demande");
    let accept = link(&request, "/api/reservation/accept?token=");
    let (status, confirm, _) = get(&accept);
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains("Accepter cette demande"));
    let token = hidden(&confirm, "token");
    let (status, done, _) = read(
        agent()
            .post(d.url("/api/reservation/accept"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("token={token}")),
    );
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("Demande acceptée"));

    // 4. "Réservation confirmée" reaches the passenger; the database agrees.
    let confirmed = d.email("marie@example.org", "Réservation confirmée");
    assert!(confirmed.contains("Lyon Part-Dieu"));
    let conn = rusqlite::Connection::open(d.db()).unwrap();
    let (status, seats): (String, i64) = conn
        .query_row(
            "SELECT status, seats FROM carpool_reservations WHERE offer_id = ?1",
            [offer],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), seats), ("confirmed", 2));
    // One seat left: still listed, with its count.
    let (_, list, _) = get(&d.url("/trajets"));
    assert!(list.contains("1 place libre"));
}

// ------------------------------------------------------------ the headless browser

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A minimal Chrome DevTools Protocol client: one websocket to the browser, one page
/// attached in flattened mode, commands answered by id, events kept for waiting.
struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start chromium");
        // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium did not print its DevTools address");
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("websocket handshake");
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        };
        let target = b.send(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = b.send(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_owned();
        b.call("Page.enable", json!({}));
        b
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .unwrap();
        loop {
            let m = self.ws.read().expect("DevTools connection lost");
            let Ok(text) = m.to_text() else { continue };
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if v["id"].as_u64() == Some(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            if v.get("method").is_some() {
                self.events.push(v);
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }

    fn viewport(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 }),
        );
    }

    fn wait_loaded(&mut self, path_suffix: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let state = self.eval("location.pathname + ' ' + document.readyState");
            let s = state.as_str().unwrap_or("");
            if s.ends_with(" complete") && s.trim_end_matches(" complete").ends_with(path_suffix) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("page {path_suffix} did not load");
    }

    fn wait_for(&mut self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.eval(&format!(
                "document.readyState === 'complete' && ({condition})"
            )) == json!(true)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {condition}");
    }

    fn open(&mut self, url: &str, path_suffix: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_loaded(path_suffix);
    }

    /// The whole page (not only the viewport) as a PNG.
    fn screenshot(&mut self, file: &Path) {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let shot = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 },
            }),
        );
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(file, png).unwrap();
    }

    /// Focuses a field the way a person does with the keyboard, then types into it.
    fn type_into(&mut self, id: &str, text: &str) {
        let focused = self.eval(&format!(
            "(() => {{ const e = document.getElementById('{id}'); e.focus(); return document.activeElement === e; }})()"
        ));
        assert_eq!(focused, json!(true), "#{id} takes the focus");
        self.call("Input.insertText", json!({ "text": text }));
    }

    fn press_enter(&mut self) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": "Enter", "code": "Enter",
                        "windowsVirtualKeyCode": 13, "text": "\r" }),
            );
        }
    }
}

fn screenshots_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp: keep the artifacts beside it.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_passenger_requests_a_seat_in_a_real_browser() {
    let Some(binary) = chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium is not installed: .ci/run installs it with apt-get");
        }
        eprintln!(
            "\n*** SKIPPED a_passenger_requests_a_seat_in_a_real_browser: no chromium on PATH \
             (apt-get install -y chromium). This test DID NOT RUN. ***\n"
        );
        return;
    };
    let d = start_daemon();
    let offer = offer_trip(&d);
    let mut b = Browser::launch(&binary);
    let shots = screenshots_dir();

    // The listing and the offer page, on a phone and on a desktop.
    for width in [360, 1280] {
        b.viewport(width, 800);
        b.open(&d.url("/trajets"), "/trajets");
        // Readable at this width: nothing wider than the screen.
        let overflow = b.eval("document.documentElement.scrollWidth > window.innerWidth");
        assert_eq!(overflow, json!(false), "/trajets overflows at {width} px");
        b.screenshot(&shots.join(format!("trajets-{width}.png")));
        b.open(
            &d.url(&format!("/trajets/{offer}")),
            &format!("/trajets/{offer}"),
        );
        let overflow = b.eval("document.documentElement.scrollWidth > window.innerWidth");
        assert_eq!(overflow, json!(false), "offer page overflows at {width} px");
        b.screenshot(&shots.join(format!("trajet-{width}.png")));
        b.open(&d.url("/trajets/nouveau"), "/trajets/nouveau");
        let overflow = b.eval("document.documentElement.scrollWidth > window.innerWidth");
        assert_eq!(overflow, json!(false), "offer form overflows at {width} px");
        b.screenshot(&shots.join(format!("nouveau-{width}.png")));
    }

    // Fill and send the seat request as a person would, on the phone.
    b.viewport(360, 800);
    b.open(
        &d.url(&format!("/trajets/{offer}")),
        &format!("/trajets/{offer}"),
    );
    // Every field has a label tied to it.
    let unlabeled = b.eval(
        "Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))\
         .filter(e => !e.labels || e.labels.length === 0).map(e => e.id)",
    );
    assert_eq!(unlabeled, json!([]), "fields without a label");
    b.type_into("name", "Marie Curie");
    b.type_into("pickup", "Place Bellecour");
    b.type_into("message", "J'ai un petit sac.");
    // A mistyped address, past the browser's own check: the server shows the form again,
    // filled in, with the message next to the field.
    b.eval("document.querySelector('form[method=post]').noValidate = true");
    b.type_into("email", "marie.example.org");
    b.press_enter();
    b.wait_for("document.getElementById('email-error') !== null");
    let kept =
        b.eval("[document.getElementById('name').value, document.getElementById('email').value]");
    assert_eq!(kept, json!(["Marie Curie", "marie.example.org"]));
    b.screenshot(&shots.join("trajet-erreur-360.png"));
    b.eval("document.getElementById('email').value = ''");
    b.type_into("email", "marie@example.org");
    b.press_enter();
    b.wait_loaded("/demande-envoyee");
    let title = b.eval("document.querySelector('h1').textContent");
    assert_eq!(title, json!("Demande envoyée"));
    b.screenshot(&shots.join("demande-envoyee-360.png"));

    let conn = rusqlite::Connection::open(d.db()).unwrap();
    let row: (String, String, i64, String, Option<String>) = conn
        .query_row(
            "SELECT passenger_name, passenger_email, seats, status, pickup
             FROM carpool_reservations WHERE offer_id = ?1",
            [offer],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "Marie Curie".to_owned(),
            "marie@example.org".to_owned(),
            1,
            "pending".to_owned(),
            Some("Place Bellecour".to_owned())
        )
    );
    d.email("jean@example.org", "Nouvelle demande");
    eprintln!("screenshots in {}", shots.display());
}
