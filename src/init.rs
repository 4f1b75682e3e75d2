//! `carette init`: writes a config file from the documented example, with a fresh random
//! secret in place of the placeholder.

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::PLACEHOLDER_SECRET;
use crate::paths::{PathsError, SECRET_LEN, create_private_dir, write_new_private};

/// The shipped example: every key documented with its default.
pub const EXAMPLE_CONFIG: &str = include_str!("../config.example.toml");

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already exists; not overwriting it (move it away first to start afresh)", path.display())]
    Exists { path: PathBuf },
    #[error("{}: cannot write config file: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error(transparent)]
    Dir(PathsError),
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

/// Writes the example config with a new secret to `path`, mode 0600 (it holds the
/// secret), creating parent directories. Refuses to overwrite an existing file: its
/// secret signs links already sent.
pub fn write_initial_config(path: &Path) -> Result<(), InitError> {
    // Checked before creating directories or drawing randomness, for a clean refusal.
    if path.symlink_metadata().is_ok() {
        return Err(InitError::Exists {
            path: path.to_path_buf(),
        });
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent).map_err(InitError::Dir)?;
    }
    let content = initial_config(&generate_secret()?);
    write_new_private(path, content.as_bytes()).map_err(|error| {
        // create_new makes the check above race-free.
        if error.kind() == io::ErrorKind::AlreadyExists {
            InitError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            InitError::Io {
                path: path.to_path_buf(),
                error,
            }
        }
    })
}

/// A new link secret: 32 random bytes, base64 URL-safe without padding (43 characters,
/// safe inside a TOML string and an environment variable).
pub fn generate_secret() -> Result<String, InitError> {
    let mut bytes = [0u8; SECRET_LEN];
    getrandom::fill(&mut bytes).map_err(InitError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The example config with `secret` in place of the placeholder.
pub fn initial_config(secret: &str) -> String {
    EXAMPLE_CONFIG.replacen(PLACEHOLDER_SECRET, secret, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_holds_the_placeholder_exactly_once() {
        // More than one occurrence would leave a placeholder behind after `init`.
        assert_eq!(EXAMPLE_CONFIG.matches(PLACEHOLDER_SECRET).count(), 1);
    }

    #[test]
    fn secrets_are_43_url_safe_chars_and_differ() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn initial_config_replaces_the_placeholder() {
        let text = initial_config("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
        assert!(!text.contains(PLACEHOLDER_SECRET));
        assert!(text.contains("secret_key = \"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\""));
    }
}
