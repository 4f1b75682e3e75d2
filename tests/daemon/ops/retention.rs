//! Retention (RGPD): old trips anonymised with every status and date kept, so the figures
//! of `stats`, the TUI and /metrics (one `Service::stats`) are identical before and after;
//! old sent emails stripped, old job history and .eml files deleted; the daily job in the
//! scheduler and `jobs all`; 0 or negative retention refused at load.

use std::path::Path;
use std::sync::Arc;

use crate::support::{offer_input, request};
use carette::service::jobs::Job;
use carette::service::{Service, Settings};
use carette::store::Store;
use chrono::{DateTime, Duration, Utc};

struct World {
    dir: tempfile::TempDir,
    db: std::path::PathBuf,
    service: Service,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("carette.db");
    let mut settings = Settings::default();
    settings.retention.eml_dir = Some(dir.path().join("emails"));
    std::fs::create_dir(dir.path().join("emails")).unwrap();
    let service = Service::new(Arc::new(Store::open(&db).unwrap()), settings);
    World { dir, db, service }
}

/// Two trips around `t0` with a reservation in every final status, every email sent.
fn populate(s: &Service, t0: DateTime<Utc>) {
    let a = s
        .create_offer(&offer_input(t0 + Duration::days(2), 4), t0)
        .unwrap();
    let marie = s
        .request_seat(a.id, &request("Marie Curie", "marie@example.org", 1), t0)
        .unwrap();
    s.accept(marie.id, t0).unwrap();
    let paul = s
        .request_seat(a.id, &request("Paul Martin", "paul@example.org", 1), t0)
        .unwrap();
    s.refuse(paul.id, t0).unwrap();
    let luc = s
        .request_seat(a.id, &request("Luc Petit", "luc@example.org", 1), t0)
        .unwrap();
    s.cancel(luc.id, t0).unwrap();
    let mut b_input = offer_input(t0 + Duration::days(3), 3);
    b_input.driver_email = "sophie@example.org".into();
    b_input.driver_name = "Sophie Germain".into();
    let b = s.create_offer(&b_input, t0).unwrap();
    let anne = s
        .request_seat(b.id, &request("Anne Roux", "anne@example.org", 1), t0)
        .unwrap();
    s.accept(anne.id, t0).unwrap();
    s.remove(anne.id, t0).unwrap();
    s.request_seat(b.id, &request("Zoé Blanc", "zoe@example.org", 1), t0)
        .unwrap();
    s.expire_due(t0 + Duration::days(2)).unwrap();
    let conn = rusqlite::Connection::open(s.database_path()).unwrap();
    conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?1",
        [carette::domain::time::to_db(t0 + Duration::hours(1))],
    )
    .unwrap();
}

/// (table, status-like columns and dates): what retention must never change.
fn facts(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT id, offer_id, seats, status, created_at, updated_at, pickup_at, reminded_at FROM carpool_reservations ORDER BY id",
        "SELECT id, departure_at, seats, status, created_at, updated_at FROM carpool_offers ORDER BY id",
        "SELECT id, template, status, attempts, created_at, sent_at, reservation_id, offer_id FROM outbox ORDER BY id",
        "SELECT id, reservation_id, actor, from_status, to_status, at FROM reservation_events ORDER BY id",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            out.push(row.unwrap().join("|"));
        }
    }
    out
}

fn text_of(db: &Path, sql: &str) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    r.get::<_, rusqlite::types::Value>(i)
                        .map(|v| format!("{v:?}"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    rows.map(|r| r.unwrap().join("|"))
        .collect::<Vec<_>>()
        .join("\n")
}

const PEOPLE: [&str; 14] = [
    "marie@example.org",
    "Marie Curie",
    "paul@example.org",
    "Paul Martin",
    "luc@example.org",
    "anne@example.org",
    "Anne Roux",
    "zoe@example.org",
    "Zoé Blanc",
    "jean@example.org",
    "Jean Dupont",
    "sophie@example.org",
    "Sophie Germain",
    "Place Bellecour",
];

#[test]
fn old_trips_are_anonymised_and_every_figure_stays_the_same() {
    let w = world();
    let t0 = Utc::now() - Duration::days(400);
    populate(&w.service, t0);
    let now = Utc::now();
    let stats_before = w.service.stats(now).unwrap();
    let facts_before = facts(&w.db);
    let everything = text_of(&w.db, "SELECT * FROM carpool_reservations")
        + &text_of(&w.db, "SELECT * FROM outbox");
    assert!(everything.contains("marie@example.org") && everything.contains("petit sac"));

    let report = w.service.apply_retention(now).unwrap();
    assert_eq!((report.trips, report.reservations), (2, 5), "{report:?}");
    assert!(report.emails_anonymised > 0);

    assert_eq!(
        w.service.stats(now).unwrap(),
        stats_before,
        "stats, TUI and /metrics figures"
    );
    assert_eq!(facts(&w.db), facts_before, "statuses, seats and dates kept");
    let after = [
        text_of(&w.db, "SELECT * FROM carpool_offers"),
        text_of(&w.db, "SELECT * FROM carpool_reservations"),
        text_of(&w.db, "SELECT * FROM outbox"),
    ]
    .join("\n");
    for p in PEOPLE.iter().chain(&["petit sac"]) {
        assert!(!after.contains(p), "{p} still in the database:\n{after}");
    }
    assert!(after.contains("anonymised@invalid"));
    // Idempotent: nothing left to do the next day.
    let again = w.service.apply_retention(now + Duration::days(1)).unwrap();
    assert_eq!(
        (again.trips, again.reservations, again.emails_anonymised),
        (0, 0, 0)
    );
}

#[test]
fn recent_trips_are_kept_but_old_sent_emails_lose_their_content() {
    let w = world();
    let t0 = Utc::now() - Duration::days(100);
    populate(&w.service, t0);
    let now = Utc::now();
    let stats_before = w.service.stats(now).unwrap();
    let facts_before = facts(&w.db);
    let people_before = text_of(
        &w.db,
        "SELECT driver_name, driver_email FROM carpool_offers",
    ) + &text_of(
        &w.db,
        "SELECT passenger_name, passenger_email, pickup, message FROM carpool_reservations",
    ) + &text_of(&w.db, "SELECT recipient FROM outbox");

    let report = w.service.apply_retention(now).unwrap();
    assert_eq!(
        report.trips, 0,
        "a trip 98 days old is kept (trips_days = 365)"
    );
    let n: i64 = rusqlite::Connection::open(&w.db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        report.emails_stripped as i64, n,
        "every email was sent 100 days ago (> 90)"
    );
    assert_eq!(
        text_of(&w.db, "SELECT DISTINCT context FROM outbox"),
        "Text(\"{}\")"
    );
    // Who and what stay until the trip itself is old enough.
    let people_after = text_of(
        &w.db,
        "SELECT driver_name, driver_email FROM carpool_offers",
    ) + &text_of(
        &w.db,
        "SELECT passenger_name, passenger_email, pickup, message FROM carpool_reservations",
    ) + &text_of(&w.db, "SELECT recipient FROM outbox");
    assert_eq!(people_after, people_before);
    assert_eq!(w.service.stats(now).unwrap(), stats_before);
    assert_eq!(facts(&w.db), facts_before);
    assert_eq!(w.service.apply_retention(now).unwrap().emails_stripped, 0);
}

#[test]
fn old_job_runs_and_eml_files_are_deleted_the_latest_run_of_each_job_kept() {
    let w = world();
    let now = Utc::now();
    // Scheduler history: 120 days of hourly expiry runs, one reminder run long ago.
    for d in (0..120).rev() {
        w.service
            .run_job(Job::Expire, now - Duration::days(d))
            .unwrap();
    }
    w.service
        .run_job(Job::Reminders, now - Duration::days(200))
        .unwrap();
    let emails = w.dir.path().join("emails");
    let old = emails.join("20200101T000000.000Z-00000001.eml");
    let recent = emails.join("recent.eml");
    let other = emails.join("notes.txt");
    for p in [&old, &recent, &other] {
        std::fs::write(p, b"To: someone@example.org\r\n").unwrap();
    }
    let twenty_days = std::time::SystemTime::now() - std::time::Duration::from_secs(20 * 86400);
    for p in [&old, &other] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(twenty_days)
            .unwrap();
    }

    let report = w.service.apply_retention(now).unwrap();
    assert_eq!(report.eml_files_deleted, 1);
    assert!(
        !old.exists() && recent.exists() && other.exists(),
        "only old .eml files go"
    );
    // 120 expiry runs: those started more than 90 days ago go (30 of them, days 91..=120 ago
    // minus day 90 on the boundary), the 200-day-old reminder run stays: it is its job's latest.
    assert_eq!(report.job_runs_deleted, 29, "{report:?}");
    let left = text_of(
        &w.db,
        "SELECT job, COUNT(*) FROM job_runs GROUP BY job ORDER BY job",
    );
    assert_eq!(
        left,
        "Text(\"expire\")|Integer(91)\nText(\"reminders\")|Integer(1)"
    );
}

#[test]
fn retention_is_a_daily_job_of_the_scheduler_and_of_jobs_all() {
    let w = world();
    // Midday, not the wall clock: the daily slot starts at 04:00 in Paris, so a run at
    // 02:37 UTC covered yesterday's slot and today's was due an hour later.
    let now = Utc::now()
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    let t0 = now - Duration::days(400);
    populate(&w.service, t0);
    let ran = carette::scheduler::tick(&w.service, now);
    let retention = ran.iter().find(|(j, _)| *j == Job::Retention).unwrap();
    match &retention.1 {
        carette::scheduler::TickOutcome::Ran(r) => {
            assert_eq!(r.retention.as_ref().unwrap().trips, 2, "{r:?}");
        }
        other => panic!("retention did not run: {other:?}"),
    }
    // Covered for the day: the next tick does not run it again.
    let next = carette::scheduler::tick(&w.service, now + Duration::minutes(1));
    assert!(next.contains(&(Job::Retention, carette::scheduler::TickOutcome::NotDue)));
    assert!(
        !w.service
            .job_is_due(Job::Retention, now + Duration::hours(1))
            .unwrap()
    );
}

#[test]
fn jobs_all_through_the_binary_keeps_stats_json_identical() {
    let w = world();
    populate(&w.service, Utc::now() - Duration::days(400));
    let config = w.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = \"{}\"\n[security]\nsecret_key = \"{}\"\n",
            w.db.display(),
            crate::support::SECRET_KEY
        ),
    )
    .unwrap();
    drop(w.service);
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        common_run(&all)
    };
    let (code, before, e) = run(&["stats", "--json"]);
    assert_eq!(code, 0, "{e}");
    let (code, out, e) = run(&["jobs", "all"]);
    assert_eq!(code, 0, "{e}");
    assert!(
        out.contains("retention: anonymised 2 trip(s) with 5 reservation(s)"),
        "{out}"
    );
    let (code, after, e) = run(&["stats", "--json"]);
    assert_eq!(code, 0, "{e}");
    let before: serde_json::Value = serde_json::from_str(&before).unwrap();
    let mut after: serde_json::Value = serde_json::from_str(&after).unwrap();
    // Only the age of the oldest queued email may move with the clock; nothing is queued here.
    after["oldest_queued_age_seconds"] = before["oldest_queued_age_seconds"].clone();
    assert_eq!(after, before);
    assert!(!text_of(&w.db, "SELECT * FROM carpool_reservations").contains("marie@example.org"));
}

#[test]
fn zero_or_negative_retention_is_a_config_error_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [("trips_days", "0"), ("job_runs_days", "-30")] {
        let config = dir.path().join(format!("{key}.toml"));
        std::fs::write(
            &config,
            format!(
                "[database]\npath = \"{}\"\n[retention]\n{key} = {value}\n",
                dir.path().join("carette.db").display()
            ),
        )
        .unwrap();
        for cmd in [&["jobs", "all"][..], &["serve"], &["check"]] {
            let mut args = vec!["--config", config.to_str().unwrap()];
            args.extend_from_slice(cmd);
            let (code, out, err) = common_run(&args);
            assert_eq!(code, 2, "{cmd:?}: {out}{err}");
            let said = format!("{out}{err}");
            assert!(
                said.contains(&format!("retention.{key}: {value} is not a number of days")),
                "{said}"
            );
        }
    }
    assert!(
        !dir.path().join("carette.db").exists(),
        "nothing was created"
    );
}

fn common_run(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carette"))
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
