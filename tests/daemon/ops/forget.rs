//! `carette forget EMAIL` through the real binary: every row naming the rider rewritten,
//! queued emails to them cancelled, and the address gone from the database file's bytes
//! and its WAL (secure_delete, WAL scrubbed) even while another connection keeps the WAL
//! alive; other riders untouched; unknown or malformed addresses change nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::support::{offer_input, request};
use carette::service::{Service, Settings};
use carette::store::Store;
use chrono::{Duration, Utc};

fn config(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\npath = \"{}\"\n[security]\nsecret_key = \"{}\"\n",
            dir.join("carette.db").display(),
            crate::support::SECRET_KEY
        ),
    )
    .unwrap();
    path
}

fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("CARETTE_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bytes_mention(path: &Path, needle: &str) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let hay = bytes.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase().into_bytes();
    hay.windows(needle.len()).any(|w| w == needle.as_slice())
}

fn wal(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", db.display()))
}

/// Marie rides in Jean's car (confirmed), asks for a seat in Paul's (pending: emails
/// queued to her), and drives her own trip with a passenger; many other riders around.
fn populate(s: &Service) {
    let now = Utc::now();
    let jean = s
        .create_offer(&offer_input(now + Duration::days(5), 4), now)
        .unwrap();
    let r = s
        .request_seat(
            jean.id,
            &request("Marie Curie", "Marie@Example.org", 1),
            now,
        )
        .unwrap();
    s.accept(r.id, now).unwrap();
    let mut paul_input = offer_input(now + Duration::days(6), 3);
    paul_input.driver_email = "paul@example.org".into();
    paul_input.driver_name = "Paul Martin".into();
    let paul = s.create_offer(&paul_input, now).unwrap();
    let mut ask = request("Marie Curie", "marie@example.org", 1);
    ask.message = Some("Je vis au 12 rue des Lilas".into());
    s.request_seat(paul.id, &ask, now).unwrap();
    let mut own = offer_input(now + Duration::days(7), 3);
    own.driver_email = "marie@example.org".into();
    own.driver_name = "Marie Curie".into();
    let own = s.create_offer(&own, now).unwrap();
    let anne = s
        .request_seat(own.id, &request("Anne Roux", "anne@example.org", 1), now)
        .unwrap();
    s.accept(anne.id, now).unwrap();
    for i in 0..50 {
        // One driver each: a driver gets at most email.max_per_recipient_per_hour requests.
        let mut input = offer_input(now + Duration::days(8), 4);
        input.driver_email = format!("driver{i}@example.org");
        let o = s.create_offer(&input, now).unwrap();
        s.request_seat(
            o.id,
            &request(&format!("Rider {i}"), &format!("rider{i}@example.org"), 1),
            now,
        )
        .unwrap();
    }
    // Some of those emails went out already (sent rows keep a rendered context). Written
    // as Carette's own writers do (secure_delete on): copies left in free space by other
    // writers are the next test's case.
    let conn = rusqlite::Connection::open(s.store().path()).unwrap();
    conn.pragma_update(None, "secure_delete", "ON").unwrap();
    conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = created_at WHERE id % 2 = 0",
        [],
    )
    .unwrap();
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn forget_erases_the_address_from_every_row_and_from_the_file_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("carette.db");
    let cfg = config(dir.path());
    {
        let s = Service::new(Arc::new(Store::open(&db).unwrap()), Settings::default());
        populate(&s);
    }
    // A dev-mode copy of an email to her, as the daemon would have written.
    let emails = dir.path().join("emails");
    std::fs::create_dir_all(&emails).unwrap();
    std::fs::write(
        emails.join("a.eml"),
        b"To: Marie Curie <marie@example.org>\r\n",
    )
    .unwrap();
    std::fs::write(emails.join("b.eml"), b"To: anne@example.org\r\n").unwrap();
    assert!(bytes_mention(&db, "marie@example.org"));
    let queued_to_her = count(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE recipient LIKE 'marie@example.org' AND status = 'queued'",
    );
    assert!(queued_to_her > 0);
    let (_, stats_before, _) = run(&cfg, &["stats", "--json"]);

    // Another process holds the database open (as the TUI would): the WAL file stays.
    let reader = rusqlite::Connection::open(&db).unwrap();
    let _: i64 = reader
        .query_row("SELECT COUNT(*) FROM carpool_offers", [], |r| r.get(0))
        .unwrap();
    let (code, out, err) = run(&cfg, &["forget", "MARIE@example.ORG"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("offers (driver)                 1"), "{out}");
    assert!(out.contains("reservations (passenger)        2"), "{out}");
    assert!(
        out.contains(&format!("queued emails cancelled    {queued_to_her:>6}")),
        "{out}"
    );
    assert!(out.contains(".eml files deleted     1"), "{out}");
    assert!(
        out.contains("no longer appears in the database file nor in its WAL"),
        "{out}"
    );
    assert!(out.contains("still active"), "{out}");
    assert!(
        wal(&db).exists(),
        "the WAL is still there (another connection is open)"
    );

    // Not in the file, not in the WAL, in any case; nor her name, message or pickup place.
    for needle in ["marie@example.org", "Marie Curie", "rue des Lilas"] {
        assert!(!bytes_mention(&db, needle), "{needle} still in carette.db");
        assert!(
            !bytes_mention(&wal(&db), needle),
            "{needle} still in carette.db-wal"
        );
    }
    assert!(!emails.join("a.eml").exists() && emails.join("b.eml").exists());
    // Everyone else is untouched.
    for needle in [
        "anne@example.org",
        "Anne Roux",
        "jean@example.org",
        "driver49@example.org",
        "rider49@example.org",
    ] {
        assert!(
            bytes_mention(&db, needle) || bytes_mention(&wal(&db), needle),
            "{needle} lost"
        );
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE recipient LIKE 'marie@example.org'"
        ),
        0
    );
    // The reservation figures are the same; only her queued emails left the queue.
    let (_, stats_after, _) = run(&cfg, &["stats", "--json"]);
    let before: serde_json::Value = serde_json::from_str(&stats_before).unwrap();
    let after: serde_json::Value = serde_json::from_str(&stats_after).unwrap();
    for key in [
        "pending",
        "confirmed",
        "refused",
        "expired",
        "cancelled",
        "removed",
        "acceptance_rate",
        "emails_sent_today",
    ] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(
        after["outbox_queued"].as_i64().unwrap(),
        before["outbox_queued"].as_i64().unwrap() - queued_to_her
    );
    // A record of the erasure, without the address.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM job_runs WHERE job = 'forget' AND summary LIKE 'erased 1 offer(s), 2 reservation(s)%'"
        ),
        1
    );
    drop(reader);

    // A second time: nothing names her any more.
    let before = data(&db);
    let (code, _, err) = run(&cfg, &["forget", "marie@example.org"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no offer or reservation names marie@example.org: nothing changed"),
        "{err}"
    );
    assert_eq!(data(&db), before);
}

#[test]
fn unknown_or_malformed_addresses_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("carette.db");
    let cfg = config(dir.path());
    {
        let s = Service::new(Arc::new(Store::open(&db).unwrap()), Settings::default());
        populate(&s);
    }
    let before = data(&db);
    let (code, out, err) = run(&cfg, &["forget", "nobody@example.org"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("no offer or reservation names nobody@example.org"),
        "{err}"
    );
    let (code, _, err) = run(&cfg, &["forget", "not an address"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("must be a valid email address"), "{err}");
    assert_eq!(data(&db), before);
}

#[test]
fn copies_left_in_free_space_by_an_older_writer_are_cleared_by_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("carette.db");
    let cfg = config(dir.path());
    {
        let s = Service::new(Arc::new(Store::open(&db).unwrap()), Settings::default());
        populate(&s);
    }
    {
        // As an older Carette or the operator's own sqlite3 would: with secure_delete
        // off, a dropped table's pages go to the freelist with their bytes intact (more
        // pages than the erasure itself rewrites, so some keep them).
        let c = rusqlite::Connection::open(&db).unwrap();
        c.pragma_update(None, "secure_delete", "OFF").unwrap();
        c.execute_batch(
            "CREATE TABLE scratch AS SELECT * FROM carpool_reservations WHERE passenger_email LIKE 'marie@%';
             INSERT INTO scratch SELECT * FROM scratch; INSERT INTO scratch SELECT * FROM scratch;
             INSERT INTO scratch SELECT * FROM scratch; INSERT INTO scratch SELECT * FROM scratch;
             INSERT INTO scratch SELECT * FROM scratch; INSERT INTO scratch SELECT * FROM scratch;
             INSERT INTO scratch SELECT * FROM scratch; INSERT INTO scratch SELECT * FROM scratch;
             DROP TABLE scratch;",
        )
        .unwrap();
    }
    assert!(bytes_mention(&db, "rue des Lilas") || bytes_mention(&wal(&db), "rue des Lilas"));
    let (code, out, err) = run(&cfg, &["forget", "marie@example.org"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rebuilt (VACUUM)"), "{out}");
    assert!(out.contains("no longer appears"), "{out}");
    for needle in ["marie@example.org", "Marie Curie", "rue des Lilas"] {
        assert!(!bytes_mention(&db, needle), "{needle} still in carette.db");
        assert!(
            !bytes_mention(&wal(&db), needle),
            "{needle} still in carette.db-wal"
        );
    }
    // The rebuild kept everyone else.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM carpool_reservations WHERE passenger_email = 'anne@example.org'"
        ),
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM carpool_reservations"), 53);
}

/// Every row of the database except the planner's statistics, which any opening
/// connection may refresh (`PRAGMA optimize`): "nothing changed" is about data.
fn data(db: &Path) -> Vec<String> {
    crate::support::dump(db)
        .into_iter()
        .filter(|row| !row.starts_with("sqlite_stat"))
        .collect()
}
