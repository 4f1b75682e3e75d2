//! The link secret, the database path and the data dir.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use carette::config::{Config, PLACEHOLDER_SECRET};
use carette::paths::{
    AppPaths, PathsError, SECRET_FILE, data_dir_for, database_path, resolve_secret,
};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn secret_is_generated_once_with_mode_0600_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = resolve_secret(&Config::default(), &data).unwrap();
    let file = data.join(SECRET_FILE);
    assert_eq!(first.as_bytes().len(), 32);
    assert_eq!(std::fs::read(&file).unwrap(), first.as_bytes());
    assert_eq!(mode(&file), 0o600);
    assert_eq!(
        mode(&data),
        0o700,
        "the data dir holds the secret: owner only"
    );
    let second = resolve_secret(&Config::default(), &data).unwrap();
    assert_eq!(first.as_bytes(), second.as_bytes());
    // Only the secret is left behind: no temporary file.
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 1);
}

#[test]
fn concurrent_first_starts_agree_on_one_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let data = data.clone();
            std::thread::spawn(move || resolve_secret(&Config::default(), &data).unwrap())
        })
        .collect();
    let keys: Vec<Vec<u8>> = threads
        .into_iter()
        .map(|t| t.join().unwrap().as_bytes().to_vec())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(std::fs::read(data.join(SECRET_FILE)).unwrap(), keys[0]);
}

#[test]
fn a_configured_key_is_used_and_no_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.security.secret_key = Some("configured-key-0123456789abcdefghijk".into());
    let secret = resolve_secret(&config, dir.path()).unwrap();
    assert_eq!(secret.as_bytes(), b"configured-key-0123456789abcdefghijk");
    assert!(!dir.path().join(SECRET_FILE).exists());
    assert_eq!(format!("{secret:?}"), "Secret(***)");
}

#[test]
fn placeholder_and_short_keys_are_refused_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    for key in [PLACEHOLDER_SECRET, "short-key-value"] {
        let mut config = Config::default();
        config.security.secret_key = Some(key.into());
        let error = resolve_secret(&config, dir.path()).unwrap_err();
        assert!(matches!(error, PathsError::SecretKey { .. }));
        let message = error.to_string();
        assert!(message.starts_with("security.secret_key "), "{message}");
        assert!(!message.contains(key), "{message}");
    }
}

#[test]
fn a_readable_by_others_or_truncated_secret_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(SECRET_FILE);
    std::fs::write(&file, [7u8; 32]).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let message = resolve_secret(&Config::default(), dir.path())
        .unwrap_err()
        .to_string();
    assert!(message.contains("chmod 600"), "{message}");

    std::fs::write(&file, [7u8; 10]).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let message = resolve_secret(&Config::default(), dir.path())
        .unwrap_err()
        .to_string();
    assert!(message.contains("holds 10 bytes"), "{message}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        [7u8; 10],
        "never overwritten"
    );
}

#[test]
fn database_path_prefers_the_config_and_creates_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database.path = Some(dir.path().join("deep/er/rides.db"));
    // No platform dirs: a host without a home still works with database.path set.
    let path = database_path(&config, None).unwrap();
    assert_eq!(path, dir.path().join("deep/er/rides.db"));
    assert!(dir.path().join("deep/er").is_dir());
    assert_eq!(data_dir_for(&path), dir.path().join("deep/er"));

    let paths = AppPaths {
        config_dir: dir.path().join("conf"),
        data_dir: dir.path().join("share"),
    };
    let path = database_path(&Config::default(), Some(&paths)).unwrap();
    assert_eq!(path, dir.path().join("share/carette.db"));
    assert!(dir.path().join("share").is_dir());
    assert_eq!(paths.config_file(), dir.path().join("conf/config.toml"));

    let error = database_path(&Config::default(), None).unwrap_err();
    assert!(matches!(error, PathsError::NoHome));
    assert!(error.to_string().contains("--config"));
}

#[test]
fn data_dir_of_a_bare_file_name_is_the_current_dir() {
    assert_eq!(data_dir_for(Path::new("carette.db")), Path::new("."));
}
