//! ConfigError, and the environment overrides (kept here because their errors must say
//! which variable a bad value came from).

use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::{Config, de};

/// Every message names where the bad value came from (file and key, or environment
/// variable) and never quotes a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist{}", path.display(), env_suffix(*env_var))]
    NotFound {
        path: PathBuf,
        /// The variable that named the file, when it was not `--config`.
        env_var: Option<&'static str>,
    },
    #[error("{}: cannot read config file: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: line {line}, column {column}: invalid TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {key}: {message}{}", path.display(), line_suffix(*line))]
    Key {
        path: PathBuf,
        /// Dotted key, e.g. `jobs.timezone`.
        key: String,
        message: String,
        line: Option<usize>,
    },
    #[error("environment variable {var} ({key}): {message}")]
    Env {
        var: &'static str,
        key: &'static str,
        message: String,
    },
    /// A rule broken by a value that came from no file (defaults, or `validate()` called
    /// on a config built in code).
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn env_suffix(var: Option<&'static str>) -> String {
    var.map(|v| format!(" (named by ${v})")).unwrap_or_default()
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

/// The original system's variables and the keys they override.
pub(super) const ENV_OVERRIDES: [(&str, &str); 7] = [
    ("SMTP_HOST", "smtp.host"),
    ("SMTP_PORT", "smtp.port"),
    ("SMTP_USER", "smtp.user"),
    ("SMTP_PASSWORD", "smtp.password"),
    ("FROM_EMAIL", "smtp.from"),
    ("SECRET_KEY", "security.secret_key"),
    ("BASE_URL", "server.base_url"),
];

/// Applies the environment overrides; returns (key, variable) for each one applied, so
/// a later validation error can blame the variable instead of the file. Empty variables
/// count as unset, as in the original system.
pub(super) fn apply_env(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(&'static str, &'static str)>, ConfigError> {
    let mut applied = Vec::new();
    for (var, key) in ENV_OVERRIDES {
        let Some(value) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let smtp = &mut config.smtp;
        match var {
            "SMTP_HOST" => smtp.host = Some(value.trim().to_owned()),
            "SMTP_PORT" => {
                smtp.port = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|port| *port != 0)
                    .ok_or_else(|| ConfigError::Env {
                        var,
                        key,
                        message: format!(
                            "invalid port \"{value}\": expected a number from 1 to 65535"
                        ),
                    })?;
            }
            "SMTP_USER" => smtp.user = Some(value.trim().to_owned()),
            // Secrets are taken verbatim: spaces may be part of them (Gmail app passwords).
            "SMTP_PASSWORD" => smtp.password = Some(value),
            "FROM_EMAIL" => smtp.from = Some(value.trim().to_owned()),
            "SECRET_KEY" => config.security.secret_key = Some(value),
            _ => config.server.base_url = value.trim().to_owned(),
        }
        applied.push((key, var));
    }
    Ok(applied)
}

/// Attaches a validation error to where its value came from: the environment variable
/// that overrode it, else the file (with the line when the key is written there).
pub(super) fn locate_invalid(
    key: &'static str,
    message: String,
    overridden: &[(&'static str, &'static str)],
    file: Option<(&Path, &str)>,
) -> ConfigError {
    if let Some((_, var)) = overridden.iter().find(|(k, _)| *k == key) {
        return ConfigError::Env { var, key, message };
    }
    match file {
        Some((path, text)) => {
            let line = DeTable::parse(text)
                .ok()
                .and_then(|root| de::key_span(root.get_ref(), key))
                .map(|span| de::position(text, span.start).0);
            ConfigError::Key {
                path: path.to_path_buf(),
                key: key.to_owned(),
                message,
                line,
            }
        }
        None => ConfigError::Invalid {
            key: key.to_owned(),
            message,
        },
    }
}
