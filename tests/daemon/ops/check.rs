//! `carette check` through the real binary, against real servers: the in-process SMTP
//! server (which can refuse the login), a closed port, the OSRM stub, real files with
//! wrong permissions or modes. Exit 0 only when every line is ✓; nothing is ever changed.

use std::path::{Path, PathBuf};

use crate::support::dump;
use crate::support::osrm_stub::{Mode, OsrmStub};
use crate::support::{PASSWORD, SmtpServer, Stage};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, smtp_port: u16, extra: &str) -> PathBuf {
    let path = crate::support::write_config(dir, smtp_port, "");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(extra);
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

fn check(config: &Path) -> (i32, String) {
    let (code, out, err) =
        crate::support::run_carette(&["--config", config.to_str().unwrap(), "check"], &[]);
    assert!(
        !out.contains(PASSWORD) && !err.contains(PASSWORD),
        "the password leaked:\n{out}{err}"
    );
    (code, format!("{out}{err}"))
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.get(4..).is_some_and(|rest| rest.starts_with(prefix))
                || l.contains(&format!(" {prefix}"))
        })
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
}

/// A healthy setup: migrated database, SMTP login accepted, OSRM up, https base_url.
struct Setup {
    dir: tempfile::TempDir,
    smtp: SmtpServer,
    osrm: OsrmStub,
    config: PathBuf,
}

fn healthy() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let osrm = OsrmStub::start();
    let config = write_config(
        dir.path(),
        smtp.port(),
        &format!("\n[routing]\nosrm_url = \"{}\"\n", osrm.url),
    );
    let (code, _, err) =
        crate::support::run_carette(&["--config", config.to_str().unwrap(), "migrate"], &[]);
    assert_eq!(code, 0, "{err}");
    // As a deployment following the README has them (whatever this process's umask).
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::set_permissions(
        dir.path().join("carette.db"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    Setup {
        dir,
        smtp,
        osrm,
        config,
    }
}

#[test]
fn a_healthy_setup_passes_every_check_and_sends_no_email() {
    let s = healthy();
    let before = dump(&s.dir.path().join("carette.db"));
    let (code, out) = check(&s.config);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains('✗'), "{out}");
    for prefix in [
        "config:",
        "database:",
        "migrations:",
        "quick_check: ok",
        "journal mode: WAL",
        "permissions:",
        "free space:",
        "SMTP:",
        "OSRM:",
        "base_url:",
    ] {
        assert!(line(&out, prefix).starts_with('✓'), "{prefix}: {out}");
    }
    assert!(
        line(&out, "SMTP:").contains(&format!("login as {} accepted", crate::support::USER)),
        "{out}"
    );
    assert!(out.contains("all 10 checks passed"), "{out}");
    // EHLO + AUTH happened, no message.
    assert_eq!(s.smtp.logins().len(), 1);
    assert_eq!(s.smtp.count(), 0);
    assert_eq!(s.osrm.requests.lock().unwrap().len(), 1);
    assert_eq!(
        dump(&s.dir.path().join("carette.db")),
        before,
        "check changes nothing"
    );
}

#[test]
fn a_refused_login_or_a_closed_port_is_a_failed_smtp_line() {
    let s = healthy();
    s.smtp.on(
        Stage::Auth,
        535,
        "5.7.8 Username and Password not accepted",
        None,
    );
    let (code, out) = check(&s.config);
    assert_eq!(code, 1, "{out}");
    let smtp = line(&out, "SMTP:");
    assert!(
        smtp.starts_with('✗') && smtp.contains("refused the login"),
        "{out}"
    );
    assert!(
        out.contains("fix: ") && out.contains("app password"),
        "{out}"
    );
    assert_eq!(s.smtp.count(), 0);
    assert!(out.contains("1 of 10 checks failed"), "{out}");

    let closed = free_port();
    let config = write_config(s.dir.path(), closed, "");
    let (code, out) = check(&config);
    assert_eq!(code, 1, "{out}");
    let smtp = line(&out, "SMTP:");
    assert!(
        smtp.starts_with('✗') && smtp.contains(&format!("127.0.0.1:{closed}")),
        "{out}"
    );
    assert!(
        out.contains("connection refused") && out.contains("smtp.port"),
        "{out}"
    );
}

#[test]
fn osrm_down_or_unreachable_is_a_failed_line_and_absent_osrm_is_no_line() {
    let s = healthy();
    s.osrm.set(Mode::Down);
    let (code, out) = check(&s.config);
    assert_eq!(code, 1, "{out}");
    assert!(line(&out, "OSRM:").starts_with('✗'), "{out}");
    assert!(out.contains("routing.osrm_url"), "{out}");

    let gone = format!("http://127.0.0.1:{}", free_port());
    let config = write_config(
        s.dir.path(),
        s.smtp.port(),
        &format!("\n[routing]\nosrm_url = \"{gone}\"\n"),
    );
    let (code, out) = check(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        line(&out, "OSRM:").starts_with('✗') && out.contains(&gone),
        "{out}"
    );

    let config = write_config(s.dir.path(), s.smtp.port(), "");
    let (code, out) = check(&config);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("OSRM"), "{out}");
}

#[test]
fn plain_http_base_url_on_a_public_host_fails() {
    let s = healthy();
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("https://rides.example.org", "http://rides.example.org");
    std::fs::write(&s.config, text).unwrap();
    let (code, out) = check(&s.config);
    assert_eq!(code, 1, "{out}");
    let l = line(&out, "base_url:");
    assert!(l.starts_with('✗') && l.contains("plain http"), "{out}");
    assert!(out.contains("HTTPS"), "{out}");
}

#[test]
fn files_readable_by_others_fail_with_the_chmod_to_run() {
    let s = healthy();
    let db = s.dir.path().join("carette.db");
    std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (code, out) = check(&s.config);
    assert_eq!(code, 1, "{out}");
    assert!(line(&out, "permissions:").starts_with('✗'), "{out}");
    assert!(
        out.contains(&format!("chmod 600 {}", db.display())),
        "{out}"
    );
    // Unchanged: check only reports.
    assert_eq!(support_mode(&db), 0o644);
}

fn support_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn database_missing_old_schema_or_not_wal_fail_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let config = write_config(dir.path(), smtp.port(), "");
    let db = dir.path().join("carette.db");
    let (code, out) = check(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        line(&out, "database:").starts_with('✗') && out.contains("carette migrate"),
        "{out}"
    );
    assert!(!db.exists(), "check creates no database");

    // A database in rollback-journal mode at an old schema version.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
            .unwrap();
    }
    std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let (code, out) = check(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        line(&out, "migrations:").starts_with('✗') && out.contains("schema version 1"),
        "{out}"
    );
    assert!(
        line(&out, "journal mode:").starts_with('✗') && out.contains("not WAL"),
        "{out}"
    );
    assert!(line(&out, "quick_check").starts_with('✓'), "{out}");
    let v: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 1, "check never migrates");
}

#[test]
fn an_invalid_config_is_one_failed_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[smtp]\nport = \"twenty-five\"\n").unwrap();
    let (code, out) = check(&config);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("✗ config:") && out.contains("smtp.port"),
        "{out}"
    );
}
