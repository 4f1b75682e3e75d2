//! The SMTP test (`carette test-email`, and the TUI's test send): connect and log in
//! (`test_connection`), then send email 12 directly, not through the outbox, and report
//! exactly what was tried and what the server said. Every failure carries a one- or
//! two-line explanation of what to check; the password never appears anywhere.

use std::fmt;

use chrono::Utc;
use lettre::Transport as _;
use lettre::transport::smtp::Error as SmtpError;
use serde_json::json;

use super::mailer::{self, AUTH_ADVICE, SendError};
use super::message::{Composer, Parts};
use super::render::Renderer;
use crate::config::{Config, TlsMode};

/// What is about to be tried, printable before the attempt (no password in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestAttempt {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// None when `smtp.auth = false`.
    pub user: Option<String>,
    pub from: String,
    pub to: String,
}

impl fmt::Display for TestAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = match self.tls {
            TlsMode::Starttls => "STARTTLS (required)",
            TlsMode::Tls => "implicit TLS",
            TlsMode::None => "none (plain text)",
        };
        let user = self
            .user
            .as_deref()
            .unwrap_or("(no login: smtp.auth = false)");
        write!(
            f,
            "SMTP server: {}:{}\nTLS:         {tls}\nLogin:       {user}\nFrom:        {}\nTo:          {}",
            self.host, self.port, self.from, self.to
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    pub attempt: TestAttempt,
    /// The server's answer to the message, e.g. "250 2.0.0 OK".
    pub reply: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestSendError {
    #[error(
        "dev mode: no SMTP password is configured, so nothing can be tested without SMTP settings.\n\
         Set smtp.host, smtp.user, smtp.password and smtp.from (or SMTP_HOST, SMTP_USER, SMTP_PASSWORD, FROM_EMAIL), or smtp.auth = false for a local relay."
    )]
    DevMode,
    #[error("invalid --to address {0:?}: expected an address such as you@example.org")]
    BadRecipient(String),
    #[error("configuration: {0}")]
    Setup(String),
    #[error("cannot reach {host}:{port}: {reason}")]
    Connect {
        host: String,
        port: u16,
        reason: String,
    },
    #[error(
        "TLS with {host}:{port} failed: {reason}\nCheck smtp.tls: \"starttls\" is for port 587, \"tls\" for port 465."
    )]
    Tls {
        host: String,
        port: u16,
        reason: String,
    },
    #[error("the server refused the login: {reply}\n{AUTH_ADVICE}.")]
    Auth { reply: String },
    #[error("the server refused the message: {reply}\n{hint}")]
    Refused { reply: String, hint: &'static str },
    #[error(
        "the server answered with a temporary error: {reply}\nTry again in a few minutes (greylisting, rate limit or server busy)."
    )]
    Temporary { reply: String },
}

impl TestSendError {
    /// 2 for what the configuration or the command line must fix, 1 for a failed attempt.
    pub fn exit_code(&self) -> u8 {
        match self {
            TestSendError::DevMode | TestSendError::BadRecipient(_) | TestSendError::Setup(_) => 2,
            _ => 1,
        }
    }
}

/// What `send_test` will try; fails in dev mode or when the settings are incomplete.
pub fn attempt(config: &Config, to: &str) -> Result<TestAttempt, TestSendError> {
    let attempt = server(config)?;
    if to.parse::<lettre::Address>().is_err() {
        return Err(TestSendError::BadRecipient(to.to_owned()));
    }
    Ok(TestAttempt {
        to: to.to_owned(),
        ..attempt
    })
}

/// The server side of an attempt (`to` left empty).
fn server(config: &Config) -> Result<TestAttempt, TestSendError> {
    if config.dev_mode() {
        return Err(TestSendError::DevMode);
    }
    let smtp = &config.smtp;
    let host = smtp
        .host
        .clone()
        .ok_or_else(|| TestSendError::Setup("smtp.host (SMTP_HOST) is not set".to_owned()))?;
    let from = smtp
        .from
        .clone()
        .ok_or_else(|| TestSendError::Setup("smtp.from (FROM_EMAIL) is not set".to_owned()))?;
    Ok(TestAttempt {
        host,
        port: smtp.port,
        tls: smtp.tls,
        user: if smtp.auth { smtp.user.clone() } else { None },
        from,
        to: String::new(),
    })
}

/// `carette check`: connects, says EHLO, sets up TLS as configured and logs in, then
/// quits; no email is sent. Ok carries what was checked, for the report line.
pub fn check_login(config: &Config) -> Result<TestAttempt, TestSendError> {
    let attempt = server(config)?;
    let password = config.smtp.password.as_deref();
    let transport = mailer::smtp_transport(&config.smtp, 1)
        .map_err(|e| TestSendError::Setup(mailer::scrub(&e.to_string(), password)))?;
    match transport.test_connection() {
        Ok(true) => Ok(attempt),
        Ok(false) => Err(TestSendError::Temporary {
            reply: "connected, but the server did not answer NOOP".to_owned(),
        }),
        Err(e) => Err(explain(&e, &attempt, password)),
    }
}

/// Connects, logs in, and sends the `test` email to `to`, synchronously.
pub fn send_test(config: &Config, to: &str) -> Result<TestReport, TestSendError> {
    let attempt = attempt(config, to)?;
    let password = config.smtp.password.as_deref();
    let scrub = |s: String| mailer::scrub(&s, password);
    let transport = mailer::smtp_transport(&config.smtp, 1)
        .map_err(|e| TestSendError::Setup(scrub(e.to_string())))?;
    let fail = |e: SmtpError| explain(&e, &attempt, password);
    match transport.test_connection() {
        Ok(true) => {}
        Ok(false) => {
            return Err(TestSendError::Temporary {
                reply: "connected, but the server did not answer NOOP".to_owned(),
            });
        }
        Err(e) => return Err(fail(e)),
    }
    let renderer = Renderer::with_default_lang(
        config.jobs.timezone,
        config.email.templates_dir.as_deref(),
        config.email.default_lang,
    )
    .map_err(|e| TestSendError::Setup(format!("email templates: {e}")))?;
    let now = Utc::now();
    let context = json!({
        "recipient_name": null, "offer": null, "reservation": null, "passengers": [],
        "sent_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    let rendered = renderer
        .render("test", &context, &json!({}))
        .map_err(|e| TestSendError::Setup(format!("email templates: {e}")))?;
    let composer = Composer::from_config(Some(&attempt.from), false)
        .map_err(|e| TestSendError::Setup(e.to_string()))?;
    let message_id = format!("carette.test.{:016x}", getrandom::u64().unwrap_or_default());
    let message = composer
        .compose(Parts {
            to,
            to_name: None,
            reply_to: None,
            message_id: &message_id,
            rendered: &rendered,
            invite: None,
        })
        .map_err(|e| TestSendError::Setup(e.to_string()))?;
    let response = transport.send(&message).map_err(fail)?;
    let lines: Vec<&str> = response.message().collect();
    let reply = scrub(format!("{} {}", response.code(), lines.join(" ")));
    Ok(TestReport {
        attempt,
        reply: reply.trim().to_owned(),
    })
}

fn explain(e: &SmtpError, attempt: &TestAttempt, password: Option<&str>) -> TestSendError {
    let (host, port) = (attempt.host.clone(), attempt.port);
    let text = mailer::scrub(&mailer::error_text(e), password);
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    match mailer::classify(e, password) {
        SendError::Auth(_) => TestSendError::Auth { reply: text },
        SendError::Permanent(_) => TestSendError::Refused {
            hint: match code.as_str() {
                "550" | "553" | "554" | "555" => {
                    "Usually the sender: smtp.from must be an address this account may send as \
                     (Gmail: the account itself or a verified alias); or the recipient does not exist."
                }
                _ => "Check smtp.from and the recipient address.",
            },
            reply: text,
        },
        SendError::Transient(_) => TestSendError::Temporary { reply: text },
        SendError::Unreachable(_) if e.is_tls() || text.contains("STARTTLS") => {
            TestSendError::Tls {
                host,
                port,
                reason: text,
            }
        }
        SendError::Unreachable(_) => TestSendError::Connect {
            reason: connect_reason(e, &text, port),
            host,
            port,
        },
    }
}

/// Names the usual culprits of a failed connection.
fn connect_reason(e: &SmtpError, text: &str, port: u16) -> String {
    let io_kind = io_error_kind(e);
    let lower = text.to_ascii_lowercase();
    // A socket read timeout surfaces as WouldBlock on Unix, TimedOut elsewhere.
    let timed_out = matches!(
        io_kind,
        Some(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
    );
    if e.is_timeout() || timed_out {
        format!(
            "timed out ({text})\nA firewall may block outgoing port {port}, smtp.host may be wrong, or smtp.tls does not match the port (465 expects \"tls\", 587 \"starttls\")."
        )
    } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
        format!(
            "connection refused ({text})\nNothing listens there: check smtp.port (587 for STARTTLS, 465 for TLS)."
        )
    } else if lower.contains("lookup")
        || lower.contains("name or service")
        || lower.contains("resolve")
    {
        format!("host name not found ({text})\nCheck smtp.host (e.g. smtp.gmail.com) and the DNS.")
    } else {
        format!("{text}\nCheck smtp.host, smtp.port and smtp.tls.")
    }
}

fn io_error_kind(e: &SmtpError) -> Option<std::io::ErrorKind> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}
