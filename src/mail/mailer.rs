//! The transport: ONE pooled lettre SMTP transport for the whole process (connections are
//! reused across messages and threads), or dev mode, which sends nothing and keeps .eml
//! files. Errors are triaged once here so the outbox and `test-email` agree on what a
//! failure means; no error or log line ever contains the SMTP password.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::Message;
use lettre::Transport as _;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::{Error as SmtpError, PoolConfig, SmtpTransport};

use crate::config::{Config, SmtpConfig, TlsMode};
use crate::service::outbox::Channel;

/// What to check after the server refused the login, in the original system's words.
pub const AUTH_ADVICE: &str = "Check that smtp.user (SMTP_USER) is the full email address \
and smtp.password (SMTP_PASSWORD) is right; with Gmail, turn on 2-step verification and use \
an app password (https://myaccount.google.com/apppasswords), not the account password";

/// As in Postfix, a failure belongs either to one message (the first two) or to the
/// connection (the last two); only the second kind may hold the other emails back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// This message, for now (4xx on MAIL/RCPT/DATA): try it again later.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// This message, for good (5xx on MAIL/RCPT/DATA, too big, an envelope the server
    /// cannot take such as a non-ASCII address without SMTPUTF8): retrying will not help.
    #[error("rejected: {0}")]
    Permanent(String),
    /// The connection: the login was refused; nothing can be sent until the configuration
    /// is fixed.
    #[error("SMTP login refused: {0}")]
    Auth(String),
    /// The connection: no usable SMTP conversation (DNS, refused, timeout, TLS, dropped,
    /// 421 "closing"): the server, not the message.
    #[error("SMTP server unreachable: {0}")]
    Unreachable(String),
}

impl SendError {
    /// A failure of the connection (the server or the configuration), not of one message.
    pub fn is_connection(&self) -> bool {
        matches!(self, SendError::Auth(_) | SendError::Unreachable(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("smtp.host is not set: it is required to send email")]
    NoHost,
    #[error("smtp.user is not set: it is required when smtp.auth = true")]
    NoUser,
    #[error("cannot set up TLS for {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("cannot create the dev-mode email folder {}: {source}", path.display())]
    DevDir {
        path: PathBuf,
        source: crate::paths::PathsError,
    },
}

/// The server's answer to an accepted message (dev mode: where the file went).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub reply: String,
    pub channel: Channel,
}

pub enum Mailer {
    Smtp {
        transport: SmtpTransport,
        /// Only used to scrub error texts, in case a server echoes it back.
        password: Option<String>,
    },
    Dev {
        dir: PathBuf,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { .. } => f.write_str("Mailer::Smtp"),
            Mailer::Dev { dir } => f.debug_struct("Mailer::Dev").field("dir", dir).finish(),
        }
    }
}

impl Mailer {
    /// Dev mode (`config.dev_mode()`) writes to `<data_dir>/emails/`; otherwise SMTP.
    pub fn from_config(config: &Config, data_dir: &Path) -> Result<Mailer, MailerError> {
        if config.dev_mode() {
            let dir = crate::paths::emails_dir(data_dir);
            crate::paths::create_private_dir(&dir).map_err(|source| MailerError::DevDir {
                path: dir.clone(),
                source,
            })?;
            crate::paths::secure_dir(&dir, crate::paths::DirOwner::Carette);
            return Ok(Mailer::Dev { dir });
        }
        Ok(Mailer::Smtp {
            transport: smtp_transport(&config.smtp, config.smtp.pool_size)?,
            password: config.smtp.password.clone().filter(|p| !p.is_empty()),
        })
    }

    pub fn is_dev(&self) -> bool {
        matches!(self, Mailer::Dev { .. })
    }

    /// Sends one message (blocking). Safe to call from several threads at once: each
    /// takes its own pooled connection.
    pub fn send(&self, message: &Message) -> Result<Delivered, SendError> {
        match self {
            Mailer::Smtp {
                transport,
                password,
            } => match transport.send(message) {
                Ok(response) => Ok(Delivered {
                    reply: scrub(&reply_text(&response), password.as_deref()),
                    channel: Channel::Smtp,
                }),
                Err(e) => Err(blame(transport, &e, password.as_deref())),
            },
            Mailer::Dev { dir } => write_dev_copy(dir, message),
        }
    }
}

/// Builds the transport of `smtp` with at most `pool_size` idle connections kept.
pub fn smtp_transport(smtp: &SmtpConfig, pool_size: u32) -> Result<SmtpTransport, MailerError> {
    let host = smtp.host.as_deref().ok_or(MailerError::NoHost)?;
    let tls_error = |e: SmtpError| MailerError::Tls {
        host: host.to_owned(),
        reason: e.to_string(),
    };
    let builder = match smtp.tls {
        TlsMode::Starttls => SmtpTransport::starttls_relay(host).map_err(tls_error)?,
        TlsMode::Tls => SmtpTransport::relay(host).map_err(tls_error)?,
        TlsMode::None => SmtpTransport::builder_dangerous(host),
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs)))
        .pool_config(PoolConfig::new().max_size(pool_size.max(1)));
    if smtp.auth {
        let user = smtp.user.clone().ok_or(MailerError::NoUser)?;
        let password = smtp.password.clone().unwrap_or_default();
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.build())
}

/// Whom a failure belongs to. lettre answers the greeting, EHLO and AUTH and the message's
/// MAIL/RCPT/DATA through the same call, so an SMTP reply code alone cannot tell "this
/// recipient is refused" from "this server refuses us": when the reply is not clearly
/// about the connection, ask the server (NOOP on a pooled or new connection). If it
/// answers, the failure was the message's; if not, the connection's.
fn blame(transport: &SmtpTransport, e: &SmtpError, password: Option<&str>) -> SendError {
    let first = classify(e, password);
    let about_reply = e.is_permanent() || e.is_transient() || e.is_response();
    if first.is_connection() || !about_reply {
        return first;
    }
    match transport.test_connection() {
        Ok(true) => first,
        Ok(false) => SendError::Unreachable(format!(
            "{first}; then the server did not answer NOOP on a connection"
        )),
        Err(probe) => match classify(&probe, password) {
            auth @ SendError::Auth(_) => auth,
            other => SendError::Unreachable(format!(
                "{first}; then a connection check failed too: {other}"
            )),
        },
    }
}

/// "250 2.0.0 OK queued" from lettre's response.
fn reply_text(response: &lettre::transport::smtp::response::Response) -> String {
    let lines: Vec<&str> = response.message().collect();
    format!("{} {}", response.code(), lines.join(" "))
        .trim()
        .to_owned()
}

/// The triage every caller relies on; `password` is scrubbed from the text.
pub fn classify(e: &SmtpError, password: Option<&str>) -> SendError {
    let text = scrub(&error_text(e), password);
    let code = e.status().map(|c| c.to_string());
    // 535: credentials refused; 534: Gmail's "log in via your web browser";
    // 530: the server wants authentication we did not do.
    if let Some("535" | "534" | "530") = code.as_deref() {
        return SendError::Auth(format!("{text}. {AUTH_ADVICE}"));
    }
    let lower = text.to_ascii_lowercase();
    if code.as_deref() == Some("421") {
        // "Service not available, closing transmission channel": the server, at any stage.
        SendError::Unreachable(text)
    } else if e.is_permanent() {
        SendError::Permanent(text)
    } else if e.is_transient() {
        SendError::Transient(text)
    } else if e.is_client() && lower.contains("non-ascii") {
        // lettre's own envelope check (no SMTPUTF8 / 8BITMIME offered): this message only.
        SendError::Permanent(format!(
            "{text} (the address cannot be sent through this server)"
        ))
    } else if e.is_client() && lower.contains("authentication") {
        // e.g. no AUTH mechanism offered: a configuration problem, like a refused login.
        SendError::Auth(format!(
            "{text} (the server offers no login method usable here: is smtp.tls right?). {AUTH_ADVICE}"
        ))
    } else if e.is_response() || e.is_transport_shutdown() {
        SendError::Transient(text)
    } else {
        // Connection, network, TLS or timeout: no SMTP answer about this message.
        SendError::Unreachable(text)
    }
}

/// lettre's Display plus its source chain, which holds the useful part (the io error).
pub(crate) fn error_text(e: &SmtpError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Removes the password (and its base64 forms, as in AUTH PLAIN/LOGIN) from `text`.
pub fn scrub(text: &str, password: Option<&str>) -> String {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return text.to_owned();
    };
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(password);
    text.replace(password, "***").replace(&encoded, "***")
}

fn write_dev_copy(dir: &Path, message: &Message) -> Result<Delivered, SendError> {
    let to: Vec<String> = message
        .envelope()
        .to()
        .iter()
        .map(ToString::to_string)
        .collect();
    let to = to.join(", ");
    let subject = message.headers().get_raw("Subject").unwrap_or_default();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let nonce = getrandom::u32().unwrap_or_default();
    let path = dir.join(format!("{stamp}-{nonce:08x}.eml"));
    crate::paths::write_new_private(&path, &message.formatted())
        .map_err(|e| SendError::Transient(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!("[DEV MODE] Email à {to}: {subject}");
    Ok(Delivered {
        reply: format!("dev mode: written to {}", path.display()),
        channel: Channel::File,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_the_password_and_its_base64() {
        let s = scrub("bad c2VjcmV0LXB3 secret-pw", Some("secret-pw"));
        assert!(!s.contains("secret-pw"), "{s}");
        assert_eq!(scrub("x", None), "x");
    }

    #[test]
    fn dev_mode_needs_no_smtp_settings() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::from_config(&Config::default(), dir.path()).unwrap();
        assert!(mailer.is_dev());
        assert!(dir.path().join("emails").is_dir());
    }
}
