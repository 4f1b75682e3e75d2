//! `carette init`.

use std::os::unix::fs::PermissionsExt;

use carette::config::{Config, PLACEHOLDER_SECRET, load_with, parse_str};
use carette::init::{InitError, write_initial_config};
use carette::paths::resolve_secret;

#[test]
fn init_writes_a_private_valid_config_with_a_random_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etc/carette/config.toml");
    write_initial_config(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // It loads as is (validation included): the placeholder is gone.
    let loaded = load_with(Some(&path), &|_| None, None).unwrap();
    let mut config = loaded.config;
    let secret = config.security.secret_key.clone().unwrap();
    assert_ne!(secret, PLACEHOLDER_SECRET);
    assert_eq!(secret.len(), 43);
    assert!(resolve_secret(&config, dir.path()).is_ok());
    config.security.secret_key = None;
    assert_eq!(config, Config::default(), "everything else is the defaults");
}

#[test]
fn two_inits_draw_different_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = |name: &str| {
        let path = dir.path().join(name);
        write_initial_config(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        parse_str(&text, &path)
            .unwrap()
            .security
            .secret_key
            .unwrap()
    };
    assert_ne!(secret("a.toml"), secret("b.toml"));
}

#[test]
fn init_refuses_to_overwrite_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "# mine\n").unwrap();
    let error = write_initial_config(&path).unwrap_err();
    assert!(matches!(error, InitError::Exists { .. }));
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
}
