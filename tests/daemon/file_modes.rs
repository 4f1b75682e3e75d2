//! Riders' data is private on the host: through the real binary, started with umask 022
//! in a data directory that already exists as 0755, every file Carette creates (the
//! database and its -wal/-shm, the generated secret, dev-mode .eml files) is 0600 and
//! every directory it creates is 0700.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every entry under `dir`, recursively, with its mode.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, bool, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let is_dir = path.is_dir();
        out.push((path.clone(), is_dir, mode(&path)));
        if is_dir {
            walk(&path, out);
        }
    }
}

/// `carette` with umask 022, as a typical login shell or systemd unit would have it.
fn carette_umask_022(args: &[&str], stderr: Stdio) -> Child {
    Command::new("/bin/sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_carette"))
        .args(args)
        .env_remove("CARETTE_CONFIG")
        .env_remove("SMTP_PASSWORD")
        .env_remove("SECRET_KEY")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

fn post(base: &str, path: &str, body: serde_json::Value) -> u16 {
    agent()
        .post(&format!("{base}{path}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_file_is_0600_and_every_new_dir_0700_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();
    // The operator's directory, already there and open (0755).
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let config = root.path().join("carette.toml");
    // No secret (one is generated) and no SMTP password (dev mode: .eml files).
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[database]\npath = \"{}\"\n",
            data.join("carette.db").display()
        ),
    )
    .unwrap();
    let log = root.path().join("stderr.log");
    let mut child = carette_umask_022(
        &["--config", config.to_str().unwrap(), "serve"],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_until("the daemon", || {
        agent()
            .get(&format!("{base}/healthz"))
            .call()
            .is_ok_and(|r| r.status() == 200)
    });
    let offer = serde_json::json!({
        "driver_name": "Jean", "driver_email": "jean@example.org",
        "origin": {"label": "Lyon"}, "destination": {"label": "Grenoble"},
        "departure_at": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
        "seats": 3,
    });
    assert_eq!(post(&base, "/api/offers", offer), 201);
    let request = serde_json::json!({
        "passenger_name": "Marie", "passenger_email": "marie@example.org", "seats": 1,
    });
    assert_eq!(post(&base, "/api/offers/1/reservations", request), 201);
    let emails = data.join("emails");
    wait_until("two .eml files", || {
        std::fs::read_dir(&emails).is_ok_and(|d| d.count() >= 2)
    });

    // Checked while the daemon runs: SQLite's -wal and -shm exist only then.
    let mut entries = Vec::new();
    walk(&data, &mut entries);
    let names: Vec<String> = entries
        .iter()
        .map(|(p, _, _)| p.strip_prefix(&data).unwrap().display().to_string())
        .collect();
    for expected in [
        "carette.db",
        "carette.db-wal",
        "carette.db-shm",
        "secret.key",
        "emails",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing in {names:?}"
        );
    }
    assert!(
        names.iter().filter(|n| n.ends_with(".eml")).count() >= 2,
        "{names:?}"
    );
    for (path, is_dir, m) in &entries {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*m, want, "{} is {m:o}", path.display());
    }
    // The operator's own directory is left as it is, with a warning.
    assert_eq!(mode(&data), 0o755);
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_until("the daemon to stop", || child.try_wait().unwrap().is_some());
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("lets other local users list its files") && stderr.contains("755"),
        "{stderr}"
    );
}

/// A database and WAL left 0644 by an older version are tightened at start, and a
/// missing parent directory is created 0700 (umask 022 notwithstanding).
#[test]
fn loose_files_of_an_older_version_are_tightened_and_new_dirs_are_0700() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("deep").join("data");
    let config = root.path().join("carette.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = \"{}\"\n",
            data.join("carette.db").display()
        ),
    )
    .unwrap();
    let status = carette_umask_022(
        &["--config", config.to_str().unwrap(), "migrate"],
        Stdio::null(),
    )
    .wait()
    .unwrap();
    assert!(status.success());
    assert_eq!(mode(&root.path().join("deep")), 0o700);
    assert_eq!(mode(&data), 0o700);
    let db = data.join("carette.db");
    assert_eq!(mode(&db), 0o600);

    // As an older Carette (or a careless copy) would have left them.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let wal = data.join("carette.db-wal");
    std::fs::write(&wal, b"").unwrap();
    std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = root.path().join("stderr.log");
    let status = carette_umask_022(
        &["--config", config.to_str().unwrap(), "migrate"],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    )
    .wait()
    .unwrap();
    assert!(status.success());
    assert_eq!(mode(&db), 0o600);
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("permissions are now 600"), "{stderr}");
}
