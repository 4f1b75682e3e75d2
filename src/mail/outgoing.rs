//! Everything needed to turn an outbox row into a sent email: links (signed now), the
//! rendered templates, the calendar invite, the MIME message and the transport.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lettre::Message;
use serde_json::Value;

use super::ics::{self, Parties};
use super::links::LinkBuilder;
use super::mailer::{Mailer, MailerError};
use super::message::{ComposeError, Composer, Parts};
use super::render::{RenderError, Renderer};
use crate::config::Config;
use crate::service::outbox::OutboxEmail;

#[derive(Debug, thiserror::Error)]
pub enum OutgoingError {
    #[error("email templates: {0}")]
    Render(#[from] RenderError),
    #[error(transparent)]
    Mailer(#[from] MailerError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
}

/// Why one row cannot become a message: permanent for that row (retrying the same
/// context gives the same result), so the row is marked failed with this reason.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot render the email: {0}")]
    Render(#[from] RenderError),
    #[error("cannot build the email: {0}")]
    Compose(#[from] ComposeError),
}

#[derive(Debug)]
pub struct Outgoing {
    pub mailer: Mailer,
    /// Shared with the HTTP pages: templates are loaded (and overrides checked) once.
    pub renderer: Arc<Renderer>,
    pub links: LinkBuilder,
    pub composer: Composer,
    /// The host of `server.base_url`, the domain of calendar UIDs.
    pub uid_host: String,
}

impl Outgoing {
    /// The production wiring: templates (with `email.templates_dir` overrides), links
    /// under `server.base_url`, sender `smtp.from`, SMTP or dev mode.
    pub fn from_config(
        config: &Config,
        data_dir: &Path,
        secret: &[u8],
    ) -> Result<Outgoing, OutgoingError> {
        Ok(Outgoing {
            mailer: Mailer::from_config(config, data_dir)?,
            renderer: Arc::new(Renderer::with_default_lang(
                config.jobs.timezone,
                config.email.templates_dir.as_deref(),
                config.email.default_lang,
            )?),
            links: LinkBuilder::new(
                &config.server.base_url,
                secret,
                config.security.token_ttl_days,
            ),
            composer: Composer::from_config(config.smtp.from.as_deref(), config.dev_mode())?,
            uid_host: ics::uid_host(&config.server.base_url),
        })
    }

    /// Builds the message of `row`; links are signed at `now`, so they are valid for the
    /// full TTL from the moment the email leaves, whatever the retries before.
    pub fn prepare(&self, row: &OutboxEmail, now: DateTime<Utc>) -> Result<Message, PrepareError> {
        let links = self.links.links_for(&row.template, &row.context, now);
        let rendered = self
            .renderer
            .render_at(&row.template, &row.context, &links, now)?;
        let to_name = row
            .context
            .get("recipient_name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty());
        let organizer = self.composer.from().email.to_string();
        let parties = Parties {
            host: &self.uid_host,
            organizer: &organizer,
            attendee: &row.recipient,
            attendee_name: to_name,
        };
        let invite = ics::invite_for(&row.template, &row.context, parties, row.created_at);
        Ok(self.composer.compose(Parts {
            to: &row.recipient,
            to_name,
            reply_to: row.reply_to.as_deref(),
            message_id: &row.message_id,
            rendered: &rendered,
            invite: invite.as_ref(),
        })?)
    }
}
