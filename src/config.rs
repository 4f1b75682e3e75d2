//! Configuration: typed structs with the SPEC defaults, file lookup, the original
//! system's environment overrides, and validation with errors that name the file and key.
//!
//! Secrets (`smtp.password`, `security.secret_key`, `server.api_token`) never appear in an
//! error message nor in `Debug` output, so a config can be logged safely.

mod de;
mod error;
mod validate;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::domain::Lang;
use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::Deserialize;

pub use error::ConfigError;
pub use validate::{
    MIN_API_TOKEN_CHARS, MIN_SECRET_CHARS, MIN_SECRET_DISTINCT_CHARS, check_secret_key,
};

/// The `security.secret_key` value shipped in `config.example.toml`. It is public, so a
/// server running with it would accept forged links: it is refused at start.
pub const PLACEHOLDER_SECRET: &str = "CHANGE-ME-generate-with-carette-init";

/// Variable naming a config file, checked after `--config`.
pub const CONFIG_ENV_VAR: &str = "CARETTE_CONFIG";

/// The whole configuration. Every section and key is optional in the file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub smtp: SmtpConfig,
    pub security: SecurityConfig,
    pub jobs: JobsConfig,
    pub routing: RoutingConfig,
    pub email: EmailConfig,
    pub retention: RetentionConfig,
}

#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    #[serde(deserialize_with = "de::socket_addr")]
    pub listen: SocketAddr,
    /// Prefix of every link in emails, stored without a trailing slash.
    #[serde(deserialize_with = "de::base_url")]
    pub base_url: String,
    /// Bearer token the host website must present on the JSON API (none: API open).
    pub api_token: Option<String>,
    /// Origins allowed to call the JSON API from a browser ("*" for any).
    pub cors_origins: Vec<String>,
    /// Origins allowed to show the riders' pages in a frame (CSP frame-ancestors);
    /// empty: no site may frame them.
    pub embed_origins: Vec<String>,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed (IPs or CIDR blocks); empty:
    /// the header is ignored and every client is its TCP peer.
    #[serde(deserialize_with = "de::ip_nets")]
    pub trusted_proxies: Vec<crate::net::IpNet>,
    /// Connections one client address may hold open at once (trusted proxies excepted).
    pub max_connections_per_ip: u32,
    /// Longest a request waits for the database before it gets 503 + Retry-After.
    pub request_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            base_url: "http://localhost:8080".to_owned(),
            api_token: None,
            cors_origins: Vec::new(),
            embed_origins: Vec::new(),
            rate_limit_per_minute: 30,
            rate_limit_burst: 10,
            trusted_proxies: Vec::new(),
            max_connections_per_ip: 32,
            request_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// None: `<platform data dir>/carette.db`. Relative paths are resolved against the
    /// config file's directory.
    pub path: Option<PathBuf>,
}

#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
    pub tls: TlsMode,
    pub auth: bool,
    pub timeout_secs: u64,
    pub pool_size: u32,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: 587,
            user: None,
            password: None,
            from: None,
            tls: TlsMode::Starttls,
            auth: true,
            timeout_secs: 15,
            pool_size: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (port 587, the Gmail case).
    #[default]
    Starttls,
    /// Implicit TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a local relay.
    None,
}

/// The operator's words for it, wherever it is shown (log, TUI, `carette test-email`).
impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::Starttls => "STARTTLS",
            TlsMode::Tls => "implicit TLS",
            TlsMode::None => "no TLS (plain text)",
        })
    }
}

#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// HMAC key of the magic links; None: generated once into the data dir.
    pub secret_key: Option<String>,
    pub token_ttl_days: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            secret_key: None,
            token_ttl_days: 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    pub expire_after_hours: u32,
    #[serde(deserialize_with = "de::reminder_time")]
    pub reminder_time: NaiveTime,
    #[serde(deserialize_with = "de::timezone")]
    pub timezone: Tz,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            expire_after_hours: 24,
            reminder_time: NaiveTime::MIN + chrono::TimeDelta::hours(10),
            timezone: chrono_tz::Europe::Paris,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// OSRM server; None disables itinerary recalculation.
    pub osrm_url: Option<String>,
    pub notify_threshold_minutes: u32,
    pub timeout_secs: u64,
    /// Minutes spent at each pickup, added to the driving time of the following legs.
    pub stop_minutes: u32,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            osrm_url: None,
            notify_threshold_minutes: 5,
            timeout_secs: 5,
            stop_minutes: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Folder whose `<name>.subject|.txt|.html` files replace the built-in templates.
    pub templates_dir: Option<PathBuf>,
    /// How long the sender holds a claimed email; after a crash, emails it claimed but
    /// did not finish are sent again once this has passed.
    pub outbox_lease_secs: u64,
    /// Language of riders who did not choose one (`lang` absent from the API call).
    pub default_lang: Lang,
    /// Emails that other people's actions (seat requests, fresh-link resends, link
    /// answers) may cause to one address in any hour; beyond it they are refused (429).
    pub max_per_recipient_per_hour: u32,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            templates_dir: None,
            outbox_lease_secs: 300,
            default_lang: Lang::Fr,
            max_per_recipient_per_hour: 20,
        }
    }
}

/// How long personal data is kept (RGPD). Signed so that 0 or a negative value in the
/// file reaches validation and gets a clear message instead of a type error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Trips departed longer ago are anonymised (statuses and dates kept).
    pub trips_days: i64,
    /// Sent emails lose their rendered context (names, addresses, messages) after this.
    pub sent_emails_days: i64,
    /// `job_runs` history kept this long.
    pub job_runs_days: i64,
    /// Dev-mode .eml files kept this long.
    pub eml_days: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            trips_days: 365,
            sent_emails_days: 90,
            job_runs_days: 90,
            eml_days: 14,
        }
    }
}

/// Shown instead of a secret in `Debug` output.
fn redacted(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| "***")
}

// Hand-written Debug impls: a config is often logged whole, secrets must not be.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("base_url", &self.base_url)
            .field("api_token", &redacted(&self.api_token))
            .field("cors_origins", &self.cors_origins)
            .field("embed_origins", &self.embed_origins)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .finish()
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &redacted(&self.password))
            .field("from", &self.from)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .field("timeout_secs", &self.timeout_secs)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("secret_key", &redacted(&self.secret_key))
            .field("token_ttl_days", &self.token_ttl_days)
            .finish()
    }
}

impl Config {
    /// How emails leave, in one line: the daemon's startup log and the TUI's headline.
    pub fn email_summary(&self) -> String {
        if self.dev_mode() {
            return "DEV MODE: emails are logged and saved, not sent".to_owned();
        }
        let s = &self.smtp;
        let host = s.host.as_deref().unwrap_or("(smtp.host not set)");
        let relay = if s.auth {
            ""
        } else {
            " · unauthenticated relay"
        };
        format!("SMTP {host}:{} · {}{relay}", s.port, s.tls)
    }

    /// Dev mode as the original system: no SMTP password while authentication is on, so
    /// emails are logged and written as .eml files instead of being sent.
    pub fn dev_mode(&self) -> bool {
        self.smtp.auth && self.smtp.password.as_deref().is_none_or(str::is_empty)
    }

    /// Checks every rule a file's syntax cannot express. Errors name the key; `load` adds
    /// the file or environment variable the value came from.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self).map_err(|(key, message)| ConfigError::Invalid {
            key: key.to_owned(),
            message,
        })
    }

    /// Empty strings mean "not set", as empty environment variables did in the original
    /// system; trailing slashes are dropped so links can be joined with "/".
    fn normalize(&mut self) {
        for value in [
            &mut self.server.api_token,
            &mut self.smtp.host,
            &mut self.smtp.user,
            &mut self.smtp.password,
            &mut self.smtp.from,
            &mut self.security.secret_key,
            &mut self.routing.osrm_url,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        self.server.base_url = de::trim_trailing_slashes(&self.server.base_url);
        for origin in self
            .server
            .cors_origins
            .iter_mut()
            .chain(self.server.embed_origins.iter_mut())
        {
            *origin = de::trim_trailing_slashes(origin);
        }
        if let Some(url) = &mut self.routing.osrm_url {
            *url = de::trim_trailing_slashes(url);
        }
    }

    /// The original system sent from SMTP_USER when FROM_EMAIL was unset: keep that.
    fn default_sender(&mut self) {
        if self.smtp.from.is_none()
            && let Some(user) = &self.smtp.user
            && user.parse::<lettre::Address>().is_ok()
        {
            self.smtp.from = Some(user.clone());
        }
    }
}

/// A loaded configuration and the file it came from (None = built-in defaults).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: Option<PathBuf>,
}

/// Loads the configuration from the process environment and the platform config dir.
/// Lookup: `explicit` (--config) → `$CARETTE_CONFIG` → platform config.toml → defaults;
/// then environment overrides, then `validate()`.
pub fn load(explicit: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    let platform = crate::paths::platform_config_file();
    load_with(explicit, &process_env, platform.as_deref())
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Where the configuration file is, by the one lookup every command uses (`load` reads it,
/// `carette init` writes it): `--config`, else `$CARETTE_CONFIG`, else the platform file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigPath {
    Explicit(PathBuf),
    FromEnv(PathBuf),
    /// None when the platform has no home directory.
    Platform(Option<PathBuf>),
}

impl ConfigPath {
    /// `env` looks a variable up; `platform_config` is the platform config file.
    pub fn find(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        platform_config: Option<&Path>,
    ) -> ConfigPath {
        match (explicit, env(CONFIG_ENV_VAR)) {
            (Some(path), _) => ConfigPath::Explicit(path.to_owned()),
            (None, Some(path)) if !path.trim().is_empty() => ConfigPath::FromEnv(path.into()),
            (None, _) => ConfigPath::Platform(platform_config.map(Path::to_path_buf)),
        }
    }

    /// The lookup for this process's environment and platform.
    pub fn of_process(explicit: Option<&Path>) -> ConfigPath {
        let platform = crate::paths::platform_config_file();
        ConfigPath::find(explicit, &process_env, platform.as_deref())
    }
}

/// The testable core of [`load`]: `env` looks a variable up, `platform_config` is the
/// platform config file (used only if it exists).
pub fn load_with(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    platform_config: Option<&Path>,
) -> Result<LoadedConfig, ConfigError> {
    let source = match ConfigPath::find(explicit, env, platform_config) {
        ConfigPath::Explicit(path) => Some(require_file(&path, None)?),
        ConfigPath::FromEnv(path) => Some(require_file(&path, Some(CONFIG_ENV_VAR))?),
        ConfigPath::Platform(path) => path.filter(|path| path.try_exists().unwrap_or(true)),
    };
    let (mut config, text) = match &source {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                path: path.clone(),
                error,
            })?;
            (parse_str(&text, path)?, Some(text))
        }
        None => (Config::default(), None),
    };
    let overridden = error::apply_env(&mut config, env)?;
    config.normalize();
    config.default_sender();
    if let Err((key, message)) = validate::validate(&config) {
        return Err(error::locate_invalid(
            key,
            message,
            &overridden,
            source.as_deref().zip(text.as_deref()),
        ));
    }
    Ok(LoadedConfig { config, source })
}

/// An explicitly named file must exist: silently falling back to defaults would start a
/// server with settings the operator never wrote.
fn require_file(path: &Path, env_var: Option<&'static str>) -> Result<PathBuf, ConfigError> {
    match path.try_exists() {
        Ok(true) => Ok(path.to_path_buf()),
        Ok(false) => Err(ConfigError::NotFound {
            path: path.to_path_buf(),
            env_var,
        }),
        Err(error) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Parses a config file's text (no environment overrides, no validation). `source` names
/// the file in errors and anchors relative paths.
pub fn parse_str(text: &str, source: &Path) -> Result<Config, ConfigError> {
    let mut config = de::parse(text, source)?;
    config.normalize();
    let base = source.parent().unwrap_or(Path::new(""));
    for path in [&mut config.database.path, &mut config.email.templates_dir]
        .into_iter()
        .flatten()
    {
        *path = de::resolve_path(path, base);
    }
    Ok(config)
}
