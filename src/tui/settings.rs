//! What the screen needs from the configuration, fixed for the session.

use std::path::Path;

use chrono_tz::Tz;

use crate::config::{Config, TlsMode};

/// How emails leave, in an operator's words (overview and SMTP test view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSummary {
    pub dev_mode: bool,
    pub headline: String,
    pub details: Vec<String>,
}

impl MailSummary {
    pub fn from_config(c: &Config, data_dir: &Path) -> MailSummary {
        let s = &c.smtp;
        let from = s.from.as_deref().unwrap_or("(smtp.from not set)");
        if c.dev_mode() {
            return MailSummary {
                dev_mode: true,
                headline: "DEV MODE: emails are logged and saved, not sent".into(),
                details: vec![
                    "No SMTP password is configured (smtp.password / SMTP_PASSWORD).".into(),
                    format!(
                        "Emails are written as .eml files under {}",
                        data_dir.join("emails").display()
                    ),
                    format!("From: {from}"),
                ],
            };
        }
        let tls = match s.tls {
            TlsMode::Starttls => "STARTTLS",
            TlsMode::Tls => "implicit TLS",
            TlsMode::None => "no TLS",
        };
        let host = s.host.as_deref().unwrap_or("(smtp.host not set)");
        let login = if s.auth {
            format!(
                "login as {}",
                s.user.as_deref().unwrap_or("(smtp.user not set)")
            )
        } else {
            "unauthenticated relay".into()
        };
        MailSummary {
            dev_mode: false,
            headline: format!("SMTP {host}:{} · {tls}", s.port),
            details: vec![
                format!("Authentication: {login}"),
                format!("From: {from}"),
                format!(
                    "Timeout {} s, {} pooled connection(s)",
                    s.timeout_secs, s.pool_size
                ),
            ],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub tz: Tz,
    pub expire_after_hours: u32,
    /// False under NO_COLOR: only bold/reverse, never a colour.
    pub color: bool,
    pub db_path: String,
    pub mail: MailSummary,
}
