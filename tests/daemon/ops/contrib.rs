//! contrib/: the hardened systemd unit and the Litestream config agree with each other and
//! with Carette's defaults (paths, listen address family, stop timeout), the unit passes
//! `systemd-analyze verify` where it exists, and the README points to both files.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../../../contrib/carette.service");
const LITESTREAM_YML: &str = include_str!("../../../contrib/litestream.yml");
const README: &str = include_str!("../../../README.md");

/// key → values of the [Service] (and other) sections; commented lines kept apart.
fn parse(unit: &str) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut commented = Vec::new();
    for line in unit.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix('#') {
            commented.push(c.to_owned());
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            keys.entry(k.to_owned()).or_default().push(v.to_owned());
        }
    }
    (keys, commented)
}

fn one<'a>(keys: &'a BTreeMap<String, Vec<String>>, k: &str) -> &'a str {
    let v = keys
        .get(k)
        .unwrap_or_else(|| panic!("{k}= missing from contrib/carette.service"));
    assert_eq!(v.len(), 1, "{k}= set more than once");
    &v[0]
}

#[test]
fn the_unit_is_hardened_and_its_paths_match_carettes_defaults() {
    let (keys, commented) = parse(UNIT);
    for (k, v) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("User", "carette"),
        ("Group", "carette"),
        ("StateDirectory", "carette"),
        ("ConfigurationDirectory", "carette"),
        ("StateDirectoryMode", "0700"),
        ("UMask", "0077"),
    ] {
        assert_eq!(one(&keys, k), v, "{k}");
    }
    assert!(one(&keys, "MemoryMax").ends_with('M'));
    // The default listen address is IPv4 loopback; "[::]:8080" needs IPv6.
    let families = one(&keys, "RestrictAddressFamilies");
    let default_listen = carette::config::Config::default().server.listen;
    assert!(
        default_listen.is_ipv4() && families.contains("AF_INET") && families.contains("AF_INET6")
    );
    // The stop timeout leaves room for the HTTP drain and the sender's last message.
    let stop: u64 = one(&keys, "TimeoutStopSec").parse().unwrap();
    assert!(stop > carette::http::HttpConfig::default().drain_timeout.as_secs() + 5);

    // --config is in the ConfigurationDirectory; the data dir is the StateDirectory.
    let exec = one(&keys, "ExecStart");
    let config = format!("/etc/{}/config.toml", one(&keys, "ConfigurationDirectory"));
    assert_eq!(
        exec,
        format!("/usr/local/bin/carette --config {config} serve")
    );
    let state = format!("/var/lib/{}", one(&keys, "StateDirectory"));
    let env: Vec<&str> = keys["Environment"]
        .iter()
        .flat_map(|e| e.split_whitespace())
        .collect();
    assert!(
        env.contains(&"XDG_DATA_HOME=/var/lib") && env.contains(&"XDG_CONFIG_HOME=/etc"),
        "{env:?}"
    );

    // The Litestream variant watches the same database with the shipped config.
    let ls = commented
        .iter()
        .find(|c| c.starts_with("ExecStart=") && c.contains("litestream replicate"))
        .expect("the Litestream ExecStart variant");
    assert!(
        ls.contains(&format!(
            "-config /etc/{}/litestream.yml",
            one(&keys, "ConfigurationDirectory")
        )),
        "{ls}"
    );
    assert!(
        ls.contains(&format!(
            "-exec \"/usr/local/bin/carette --config {config} serve\""
        )),
        "{ls}"
    );
    let db_line = LITESTREAM_YML
        .lines()
        .find(|l| l.trim_start().starts_with("- path:"))
        .unwrap();
    assert_eq!(db_line.trim(), format!("- path: {state}/carette.db"));
    assert!(
        !LITESTREAM_YML.contains("secret-access-key: ")
            || LITESTREAM_YML.contains("${LITESTREAM_SECRET_ACCESS_KEY}")
    );
}

#[test]
fn with_the_units_environment_the_defaults_land_in_state_and_configuration_directories() {
    // The unit's XDG variables, rooted in a temp dir: config found without --config,
    // database created in <XDG_DATA_HOME>/carette, i.e. the StateDirectory.
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc");
    let lib = root.path().join("var/lib");
    std::fs::create_dir_all(etc.join("carette")).unwrap();
    std::fs::write(
        etc.join("carette/config.toml"),
        format!(
            "[security]\nsecret_key = \"{}\"\n",
            crate::support::SECRET_KEY
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("migrate")
        .env_remove("CARETTE_CONFIG")
        .env("HOME", root.path().join("home"))
        .env("XDG_DATA_HOME", &lib)
        .env("XDG_CONFIG_HOME", &etc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lib.join("carette/carette.db").is_file());
    assert!(
        !root.path().join("home").exists(),
        "nothing under HOME (ProtectHome=yes)"
    );
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze not found: verify skipped (the option checks above still ran)");
        return;
    };
    assert!(probe.status.success());
    // verify wants ExecStart's binary to exist: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("carette.service");
    std::fs::write(
        &unit,
        UNIT.replace(
            "ExecStart=/usr/local/bin/carette",
            &format!("ExecStart={}", env!("CARGO_BIN_EXE_carette")),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 even when it ignores an option it cannot parse: any remark fails.
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn litestream_reads_the_shipped_config_when_available() {
    let bin = std::env::var_os("LITESTREAM").filter(|p| Path::new(p).is_file());
    let Some(bin) = bin else {
        eprintln!(
            "LITESTREAM not set: contrib/litestream.yml not read by litestream (see tests/daemon/ops/litestream.rs)"
        );
        return;
    };
    let out = Command::new(bin)
        .args([
            "databases",
            "-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/litestream.yml"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("/var/lib/carette/carette.db") && stdout.contains("s3"),
        "{stdout}"
    );
}

#[test]
fn the_readme_points_to_the_shipped_files() {
    for needle in [
        "contrib/carette.service",
        "contrib/litestream.yml",
        "litestream replicate",
        "litestream restore",
        "carette backup",
        "carette forget",
        "carette check",
        "[retention]",
    ] {
        assert!(README.contains(needle), "README lacks {needle}");
    }
}
