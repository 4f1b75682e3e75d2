//! The daemon's HTTP side: the JSON API for the host website, the magic-link pages riders
//! open from their emails, the driver dashboard, and /healthz + /metrics for operators.
//!
//! Handlers are thin (parse → service → respond). No SQLite call runs on the async
//! workers: the seat request (the hot path) awaits the store's writer thread, the others
//! run on `spawn_blocking`. Tokens never reach a log line: requests
//! are logged by route name, never by raw URI.
//!
//! Status codes:
//! - JSON API: 201 created; 400 malformed JSON or a body that is not a JSON object;
//!   401 missing/wrong bearer token; 404 unknown offer; 409 no seats left, offer
//!   cancelled or departed; 413 body over 64 KiB; 415 not `application/json`; 422 a field
//!   is missing, of the wrong type, unknown, repeated, or invalid (a departure in the past
//!   included); 429 rate limited, or a recipient's hourly email cap reached (with
//!   Retry-After).
//! - Magic links: GET 200 shows what will happen (or the current state); POST 200 did it;
//!   POST 409 did nothing because the state had already changed (replay, race, departed
//!   trip, no seat left); 410 "Lien expiré" (genuine but past its lifetime, with a button to
//!   get a fresh one); 400 "Lien invalide" (missing, tampered or for something else);
//!   429 "Trop de demandes" (the other party's hourly email cap; nothing done).

mod api;
mod connection_cap;
mod dashboard;
mod links;
pub mod metrics;
mod ops;
mod pages;
pub mod rate_limit;
mod request;
mod response;
mod rider_form;
mod rider_pages;
pub mod routes;
mod server;
mod shape;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::token::TokenSigner;
use crate::mail::render::Renderer;
use crate::service::Service;

pub use server::serve;

/// Where handlers take "now" from, so tests can move time (expired links, departed trips).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

impl<F> Clock for F
where
    F: Fn() -> DateTime<Utc> + Send + Sync + 'static,
{
    fn now(&self) -> DateTime<Utc> {
        self()
    }
}

/// The HTTP knobs, from `[server]` and `[security]`, plus limits tests may tighten.
#[derive(Clone)]
pub struct HttpConfig {
    /// Bearer token required on the JSON API when set.
    pub api_token: Option<String>,
    /// Origins allowed to call the JSON API from a browser ("*" for any).
    pub cors_origins: Vec<String>,
    /// Origins allowed to frame the riders' pages (`server.embed_origins`).
    pub embed_origins: Vec<String>,
    /// The public origin (scheme://host[:port] of `server.base_url`): a form POST whose
    /// Origin header names another site is refused.
    pub public_origin: Option<String>,
    /// Sustained rate of the JSON API's POSTs and of link re-sends, per client; 0 disables.
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    /// Lifetime of the per-button tokens signed for the dashboard and offer pages.
    pub token_ttl: chrono::Duration,
    /// A client must send its request headers within this (slowloris): a total deadline
    /// from the first byte awaited, so also the keep-alive idle limit.
    pub header_read_timeout: Duration,
    /// A client must send its whole body within this (a total deadline, not per chunk).
    pub body_read_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
    pub trusted_proxies: Vec<crate::net::IpNet>,
    /// Connections one peer address may hold (`server.max_connections_per_ip`); trusted
    /// proxies are exempt, the global cap still applies to them.
    pub max_connections_per_ip: usize,
    /// Open connections served at once, all clients together.
    pub max_connections: usize,
    /// Longest wait for the database (`server.request_timeout_secs`), echoed in Retry-After.
    pub request_timeout: Duration,
    /// On shutdown, in-flight requests get this long to finish.
    pub drain_timeout: Duration,
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("api_token", &self.api_token.as_ref().map(|_| "***"))
            .field("cors_origins", &self.cors_origins)
            .field("embed_origins", &self.embed_origins)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl HttpConfig {
    pub fn from_config(c: &Config) -> HttpConfig {
        HttpConfig {
            api_token: c.server.api_token.clone().filter(|t| !t.is_empty()),
            cors_origins: c.server.cors_origins.clone(),
            embed_origins: c.server.embed_origins.clone(),
            public_origin: origin_of(&c.server.base_url),
            rate_limit_per_minute: c.server.rate_limit_per_minute,
            rate_limit_burst: c.server.rate_limit_burst,
            token_ttl: chrono::Duration::days(i64::from(c.security.token_ttl_days.max(1))),
            trusted_proxies: c.server.trusted_proxies.clone(),
            max_connections_per_ip: usize::try_from(c.server.max_connections_per_ip)
                .unwrap_or(usize::MAX)
                .max(1),
            request_timeout: Duration::from_secs(c.server.request_timeout_secs.max(1)),
            ..HttpConfig::default()
        }
    }
}

/// "https://rides.example.org/carette" → "https://rides.example.org".
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    })
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            api_token: None,
            cors_origins: Vec::new(),
            embed_origins: Vec::new(),
            public_origin: None,
            rate_limit_per_minute: 30,
            rate_limit_burst: 10,
            token_ttl: chrono::Duration::days(7),
            // Browsers send the whole head in one packet: seconds are plenty, and an idle
            // or trickling connection is gone long before it could pile up.
            header_read_timeout: Duration::from_secs(5),
            // 64 KiB in 10 s is 6.4 KB/s: any real client, not a byte-a-second trickle.
            body_read_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            max_connections_per_ip: 32,
            max_connections: 1024,
            request_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

/// Everything a request handler needs; shared by all connections.
pub struct HttpState {
    pub(crate) service: Service,
    pub(crate) signer: TokenSigner,
    pub(crate) renderer: Arc<Renderer>,
    pub(crate) config: HttpConfig,
    pub(crate) metrics: metrics::HttpMetrics,
    pub(crate) limiter: rate_limit::RateLimiter,
    /// The worker threads /healthz vouches for (the daemon's sender and scheduler).
    pub(crate) heartbeats: Vec<Arc<crate::heartbeat::Heartbeat>>,
    /// The last database probe, shared by concurrent health checks (at most one a second).
    pub(crate) db_check: tokio::sync::Mutex<Option<(std::time::Instant, ops::DbCheck)>>,
    clock: Arc<dyn Clock>,
}

impl HttpState {
    pub fn new(
        service: Service,
        signer: TokenSigner,
        renderer: Arc<Renderer>,
        config: HttpConfig,
    ) -> HttpState {
        let limiter =
            rate_limit::RateLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst);
        HttpState {
            service,
            signer,
            renderer,
            config,
            metrics: metrics::HttpMetrics::default(),
            limiter,
            heartbeats: Vec::new(),
            db_check: tokio::sync::Mutex::new(None),
            clock: Arc::new(SystemClock),
        }
    }

    /// The worker threads whose heartbeat /healthz and /metrics report.
    pub fn with_heartbeats(
        mut self,
        heartbeats: Vec<Arc<crate::heartbeat::Heartbeat>>,
    ) -> HttpState {
        self.heartbeats = heartbeats;
        self
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> HttpState {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }
}
