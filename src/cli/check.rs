//! `carette check`: the doctor an operator runs after editing the config. Each line is ✓
//! or ✗ with what to fix; exit 0 only when every line is ✓. It changes nothing: the
//! database is opened read-only and never migrated, SMTP gets a login and no email.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::app::Env;
use crate::config::Config;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub ok: bool,
    pub what: String,
    /// For a ✗: what to do about it.
    pub fix: Option<String>,
}

impl Line {
    fn pass(what: impl Into<String>) -> Line {
        Line {
            ok: true,
            what: what.into(),
            fix: None,
        }
    }

    fn fail(what: impl Into<String>, fix: impl Into<String>) -> Line {
        Line {
            ok: false,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", if self.ok { "✓" } else { "✗" }, self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    fix: {fix}")?;
        }
        Ok(())
    }
}

/// Free space below this is a ✗ whatever the database size.
const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

pub fn check(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let env = match Env::load(config) {
        Ok(env) => env,
        Err(e) => {
            println!(
                "{}",
                Line::fail(
                    format!("config: {e}"),
                    "edit the file (config.example.toml documents every key), then run `carette check` again",
                )
            );
            return Ok(ExitCode::from(2));
        }
    };
    let lines = run_checks(&env);
    for line in &lines {
        println!("{line}");
    }
    let failed = lines.iter().filter(|l| !l.ok).count();
    if failed == 0 {
        println!("all {} checks passed", lines.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} of {} checks failed", lines.len());
        Ok(ExitCode::from(1))
    }
}

pub fn run_checks(env: &Env) -> Vec<Line> {
    let mut lines = vec![Line::pass(match &env.config_source {
        Some(p) => format!("config: {} is valid", p.display()),
        None => "config: no file found, the built-in defaults are valid".to_owned(),
    })];
    lines.extend(database(&env.db_path));
    lines.push(permissions(env));
    lines.push(free_space(&env.db_path));
    lines.push(smtp(&env.config, &env.data_dir));
    if let Some(line) = osrm(&env.config) {
        lines.push(line);
    }
    lines.push(base_url(&env.config.server.base_url));
    lines
}

/// Opens, migration level, quick_check, WAL: four lines, or one when it cannot open.
fn database(path: &Path) -> Vec<Line> {
    let shown = path.display();
    if !path.is_file() {
        return vec![Line::fail(
            format!("database: {shown} does not exist"),
            "run `carette migrate` (or start the daemon) to create it, or fix database.path",
        )];
    }
    let conn = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.busy_timeout(Duration::from_secs(5)).map(|()| c))
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Line::fail(
                format!("database: cannot open {shown}: {e}"),
                "check the file's owner and permissions (the daemon's user must read and write it and its directory)",
            )];
        }
    };
    let mut lines = Vec::new();
    match conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => lines.push(Line::pass(format!("database: {shown} opens"))),
        Err(e) => {
            return vec![Line::fail(
                format!("database: {shown} cannot be read: {e}"),
                "is it an SQLite database? Restore it from a backup (README: Backups)",
            )];
        }
    }
    let known = crate::store::latest_version() as i64;
    lines.push(
        match conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)) {
            Ok(v) if v == known => Line::pass(format!("migrations: schema version {v} is current")),
            Ok(v) if v < known => Line::fail(
                format!("migrations: schema version {v}, this binary expects {known}"),
                "run `carette migrate` (the daemon also migrates at start)",
            ),
            Ok(v) => Line::fail(
                format!("migrations: schema version {v} is newer than this binary's {known}"),
                "upgrade Carette: never run an older binary on a newer database",
            ),
            Err(e) => Line::fail(format!("migrations: {e}"), "restore from a backup"),
        },
    );
    let quick: Result<Vec<String>, _> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    lines.push(match quick {
        Ok(r) if r == ["ok"] => Line::pass("quick_check: ok"),
        Ok(r) => Line::fail(
            format!("quick_check: {}", r.join("; ")),
            "the file is damaged: stop the daemon and restore the latest backup or Litestream replica (README)",
        ),
        Err(e) => Line::fail(format!("quick_check: {e}"), "restore from a backup"),
    });
    lines.push(
        match conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)) {
            Ok(m) if m.eq_ignore_ascii_case("wal") => Line::pass("journal mode: WAL"),
            Ok(m) => Line::fail(
                format!("journal mode: {m}, not WAL"),
                "start the daemon once (it sets WAL); never switch it off: readers and Litestream need it",
            ),
            Err(e) => Line::fail(format!("journal mode: {e}"), "restore from a backup"),
        },
    );
    lines
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Files that hold riders' data or secrets must be private to their owner.
fn permissions(env: &Env) -> Line {
    // (path, forbidden mode bits): the config may be group-readable (root:carette 0640,
    // as the systemd unit's README steps leave it), nothing else may.
    let mut files: Vec<(PathBuf, u32)> = ["", "-wal", "-shm"]
        .iter()
        .map(|s| (sibling(&env.db_path, s), 0o077))
        .collect();
    files.push((env.data_dir.join(crate::paths::SECRET_FILE), 0o077));
    files.push((env.data_dir.clone(), 0o077));
    files.extend(env.config_source.clone().map(|p| (p, 0o027)));
    let mut open = Vec::new();
    for (path, forbidden) in &files {
        if let Some(mode) = mode_of(path)
            && mode & forbidden != 0
        {
            open.push((path.clone(), mode));
        }
    }
    if open.is_empty() {
        Line::pass(
            "permissions: database and secret private to their owner, config not readable by others",
        )
    } else {
        let list: Vec<String> = open
            .iter()
            .map(|(p, m)| format!("{} ({:o})", p.display(), m & 0o777))
            .collect();
        let cmds: Vec<String> = open
            .iter()
            .map(|(p, _)| {
                let m = if p.is_dir() { 700 } else { 600 };
                format!("chmod {m} {}", p.display())
            })
            .collect();
        Line::fail(
            format!("permissions: others can read {}", list.join(", ")),
            cmds.join("; "),
        )
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

fn free_space(db: &Path) -> Line {
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let db_size = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    let free = match rustix::fs::statvfs(dir) {
        Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
        Err(e) => {
            return Line::fail(
                format!("free space: cannot read it for {}: {e}", dir.display()),
                "check that the database directory exists",
            );
        }
    };
    let needed = MIN_FREE_BYTES.max(db_size);
    let shown = super::backup::human_size(free);
    if free >= needed {
        Line::pass(format!("free space: {shown} free in {}", dir.display()))
    } else {
        Line::fail(
            format!(
                "free space: only {shown} free in {} (database: {})",
                dir.display(),
                super::backup::human_size(db_size)
            ),
            format!(
                "free at least {}: a full disk stops every write, and a backup needs about the database's size",
                super::backup::human_size(needed)
            ),
        )
    }
}

fn smtp(config: &Config, data_dir: &Path) -> Line {
    if config.dev_mode() {
        // Valid for a trial, but then no rider ever gets an email: say it plainly.
        return Line::pass(format!(
            "SMTP: dev mode (no smtp.password): emails are written as .eml files in {}, not sent",
            crate::paths::emails_dir(data_dir).display()
        ));
    }
    match crate::mail::test_send::check_login(config) {
        Ok(a) => {
            let login = match &a.user {
                Some(u) => format!("login as {u} accepted"),
                None => "no login (smtp.auth = false)".to_owned(),
            };
            let tls = match a.tls {
                crate::config::TlsMode::Starttls => "STARTTLS",
                crate::config::TlsMode::Tls => "TLS",
                crate::config::TlsMode::None => "plain text",
            };
            Line::pass(format!(
                "SMTP: {}:{} reachable ({tls}), {login}; no email sent",
                a.host, a.port
            ))
        }
        Err(e) => {
            let text = e.to_string();
            let (what, fix) = text.split_once('\n').unwrap_or((&text, ""));
            let fix = if fix.is_empty() {
                "check smtp.host, smtp.port, smtp.tls, smtp.user and smtp.password, then `carette test-email --to you@example.org`"
            } else {
                fix
            };
            Line::fail(format!("SMTP: {what}"), fix.replace('\n', " "))
        }
    }
}

/// Two points in central Paris: any OSRM extract answers for them, or says it has no route.
const PROBE: [crate::routing::osrm::Coord; 2] = [(48.8566, 2.3522), (48.8606, 2.3376)];

fn osrm(config: &Config) -> Option<Line> {
    let url = config.routing.osrm_url.as_deref()?;
    let client = crate::routing::osrm::OsrmClient::new(
        url,
        Duration::from_secs(config.routing.timeout_secs),
    );
    use crate::routing::osrm::RouteError;
    Some(match client.leg_durations(&PROBE) {
        Ok(_) => Line::pass(format!("OSRM: {url} answers a route")),
        Err(RouteError::NoRoute(m)) => Line::pass(format!(
            "OSRM: {url} answers (no route between the test points in Paris: {m}; fine for an extract of another region)"
        )),
        Err(e) => Line::fail(
            format!("OSRM: {url}: {e}"),
            "check routing.osrm_url (scheme, host, port) and that the server runs; or remove it to turn route recalculation off",
        ),
    })
}

fn base_url(url: &str) -> Line {
    let rest = url
        .strip_prefix("https://")
        .map(|r| (true, r))
        .or_else(|| url.strip_prefix("http://").map(|r| (false, r)));
    let Some((https, rest)) = rest else {
        return Line::fail(
            format!("base_url: {url} is not an absolute http(s) URL"),
            "set server.base_url to the public address, e.g. \"https://rides.example.org\"",
        );
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if authority.ends_with(']') {
        authority
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    if https || local {
        Line::pass(format!("base_url: {url}"))
    } else {
        Line::fail(
            format!("base_url: {url} is plain http on a public host"),
            "links in emails carry the reservation's tokens: serve HTTPS (a reverse proxy) and set server.base_url = \"https://...\"",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_needs_https_except_on_this_host() {
        assert!(base_url("https://rides.example.org").ok);
        assert!(base_url("http://localhost:8080").ok);
        assert!(base_url("http://127.0.0.1").ok);
        assert!(base_url("http://[::1]:8080/x").ok);
        assert!(!base_url("http://rides.example.org").ok);
        assert!(!base_url("http://localhost.example.org").ok);
        assert!(!base_url("rides.example.org").ok);
    }
}
