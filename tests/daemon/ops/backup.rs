//! `carette backup PATH` through the real binary, while the real daemon takes seat
//! requests: a consistent, private, checked copy; refused destinations change nothing;
//! and the documented restore (stop, copy, start) gives back every reservation the copy holds.

use std::time::Duration;

use crate::support::daemon::{
    Daemon, Load, free_port, integrity, mode, reservations_and_emails, run, write_config,
};

fn backed_up_count(stdout: &str, what: &str) -> i64 {
    // "... : 123 reservation(s), 246 email(s) in the outbox; ..."
    let before = stdout.split(what).next().unwrap();
    before
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn backup_while_the_daemon_writes_then_restore_by_stop_copy_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let db = dir.path().join("carette.db");
    let mut daemon = Daemon::start(&config, port);
    let offers: Vec<i64> = (0..20)
        .map(|i| daemon.create_offer(&format!("d{i}@example.org"), 8))
        .collect();
    let load = Load::start(&daemon.base, &offers, 4);
    std::thread::sleep(Duration::from_millis(1500));

    let copy = dir.path().join("backups").join("carette-copy.db");
    std::fs::create_dir(copy.parent().unwrap()).unwrap();
    let (code, stdout, stderr) = run(&config, &["backup", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // One file: no WAL left next to the copy.
    assert!(!dir.path().join("backups/carette-copy.db-wal").exists());
    std::thread::sleep(Duration::from_millis(500));
    let acked = load.finish();
    assert!(!acked.is_empty());

    // Private, checked, and it says what it holds.
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(integrity(&copy), "ok");
    assert!(stdout.contains("integrity_check ok"), "{stdout}");
    let in_copy = reservations_and_emails(&copy);
    assert_eq!(
        backed_up_count(&stdout, " reservation(s)"),
        in_copy.len() as i64
    );
    let emails: i64 = in_copy.iter().map(|r| r.1).sum();
    assert_eq!(backed_up_count(&stdout, " email(s)"), emails);
    let size = std::fs::metadata(&copy).unwrap().len();
    assert!(
        stdout.contains(&format!("{size} bytes")) || stdout.contains(&format!("({size} B")),
        "{stdout}"
    );
    // Taken while the daemon wrote: a consistent snapshot, a strict prefix of what was acknowledged.
    assert!(
        !in_copy.is_empty() && in_copy.len() < acked.len(),
        "{} vs {}",
        in_copy.len(),
        acked.len()
    );
    for (id, n) in &in_copy {
        assert!(
            acked.binary_search(id).is_ok(),
            "reservation {id} in the copy was acknowledged"
        );
        assert_eq!(*n, 2, "reservation {id} has both of its emails in the copy");
    }

    // Restore as the README says: stop, copy over, drop the old WAL, start.
    daemon.stop();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::copy(&copy, &db).unwrap();
    let daemon = Daemon::start(&config, port);
    let restored = reservations_and_emails(&db);
    assert_eq!(
        restored.iter().map(|r| r.0).collect::<Vec<_>>(),
        in_copy.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    // And it serves again: a new request lands after the restored ones.
    let (status, v) = daemon.post(
        &format!("/api/offers/{}/reservations", offers[0]),
        &serde_json::json!({"passenger_name": "Après", "passenger_email": "apres@example.org", "seats": 1}),
    );
    assert_eq!(status, 201, "{v}");
}

#[test]
fn an_existing_or_unwritable_destination_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), free_port(), "");
    let (code, _, stderr) = run(&config, &["migrate"]);
    assert_eq!(code, 0, "{stderr}");

    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, b"precious").unwrap();
    let (code, stdout, stderr) = run(&config, &["backup", existing.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("already exists") && stderr.contains("never overwrites"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"precious");

    let missing_dir = dir.path().join("no-such-dir").join("copy.db");
    let (code, _, stderr) = run(&config, &["backup", missing_dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot create") && stderr.contains("no-such-dir"),
        "{stderr}"
    );
    assert!(!missing_dir.exists());

    // A directory the operator cannot write into (root bypasses permissions: skip then).
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
    if std::fs::write(locked.join("probe"), b"").is_err() {
        let (code, _, stderr) = run(&config, &["backup", locked.join("c.db").to_str().unwrap()]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains("Permission denied") || stderr.contains("permission denied"),
            "{stderr}"
        );
    }
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let _ = std::fs::remove_file(locked.join("probe"));
    assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 0);

    // No database yet: nothing to copy, and none created.
    let other = tempfile::tempdir().unwrap();
    let config = write_config(other.path(), free_port(), "");
    let (code, _, stderr) = run(
        &config,
        &["backup", other.path().join("c.db").to_str().unwrap()],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!other.path().join("c.db").exists() && !other.path().join("carette.db").exists());
}
