//! A loopback stub speaking OSRM's documented JSON (`code`, `routes[0].legs[i].duration`,
//! `waypoints`, `durations`), the only fake in the suite: no OSRM server can run here.
//! Travel time between two points is (|Δlat| + |Δlon|) hours, so tests can reason exactly.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    /// Connections are accepted and dropped without an answer.
    Down,
    /// OSRM answers 400 {"code":"NoRoute"}.
    NoRoute,
    /// An "Ok" answer whose every duration is this JSON literal (e.g. "-60", "1e999").
    Durations(&'static str),
}

pub struct OsrmStub {
    pub url: String,
    mode: Arc<Mutex<Mode>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl OsrmStub {
    pub fn start() -> OsrmStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Up));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (m, r) = (mode.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (m, r) = (m.clone(), r.clone());
                std::thread::spawn(move || handle(stream, &m, &r));
            }
        });
        OsrmStub {
            url,
            mode,
            requests,
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn parse_coords(path: &str) -> Vec<(f64, f64)> {
    let coords = path
        .rsplit('/')
        .next()
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("");
    coords
        .split(';')
        .filter_map(|c| {
            let (lon, lat) = c.split_once(',')?;
            Some((lat.parse().ok()?, lon.parse().ok()?))
        })
        .collect()
}

fn secs(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).abs() + (a.1 - b.1).abs()) * 3600.0
}

fn handle(stream: TcpStream, mode: &Mutex<Mode>, requests: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    requests.lock().unwrap().push(path.clone());
    let mode = *mode.lock().unwrap();
    let (status, body) = match mode {
        Mode::Down => return, // dropped: the client sees a closed connection
        Mode::NoRoute => (
            "400 Bad Request",
            r#"{"code":"NoRoute","message":"Impossible route between points"}"#.to_owned(),
        ),
        Mode::Up | Mode::Durations(_) => {
            let fixed = match mode {
                Mode::Durations(literal) => Some(literal),
                _ => None,
            };
            let secs = |a, b| fixed.map_or_else(|| secs(a, b).to_string(), str::to_owned);
            let pts = parse_coords(&path);
            let waypoints: Vec<String> = pts
                .iter()
                .map(|(lat, lon)| format!(r#"{{"name":"","location":[{lon},{lat}]}}"#))
                .collect();
            if path.starts_with("/table/") {
                let rows: Vec<String> = pts
                    .iter()
                    .map(|a| {
                        format!(
                            "[{}]",
                            pts.iter()
                                .map(|b| secs(*a, *b))
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    })
                    .collect();
                (
                    "200 OK",
                    format!(
                        r#"{{"code":"Ok","durations":[{}],"sources":[{w}],"destinations":[{w}]}}"#,
                        rows.join(","),
                        w = waypoints.join(",")
                    ),
                )
            } else {
                let legs: Vec<String> = pts
                    .windows(2)
                    .map(|w| {
                        format!(
                            r#"{{"duration":{},"distance":0,"steps":[],"summary":""}}"#,
                            secs(w[0], w[1])
                        )
                    })
                    .collect();
                let total: f64 = pts.windows(2).map(|w| self::secs(w[0], w[1])).sum();
                (
                    "200 OK",
                    format!(
                        r#"{{"code":"Ok","routes":[{{"duration":{total},"distance":0,"legs":[{}]}}],"waypoints":[{}]}}"#,
                        legs.join(","),
                        waypoints.join(",")
                    ),
                )
            }
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
