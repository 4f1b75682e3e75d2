//! Builds the MIME message of one email: multipart/alternative text + HTML, plus the
//! calendar invite (inline `text/calendar; method=…` part and an `invite.ics` attachment,
//! the shape calendar clients recognise).
//!
//! Every header value comes either from configuration validated at start or through
//! lettre's typed headers (`Mailbox` parses addresses and encodes names and subjects), so a
//! rider's input can never add a header line.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use super::ics::Invite;
use super::render::RenderedEmail;

/// Used as From when dev mode has no `smtp.from`: nothing leaves the machine anyway.
pub const DEV_SENDER: &str = "Carette <carette@localhost>";

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "smtp.from is not set: it is required to send email, e.g. \"Carette <rides@example.org>\""
    )]
    NoSender,
    #[error("invalid sender smtp.from {0:?}: expected \"Name <address@example.org>\"")]
    BadSender(String),
    #[error("invalid recipient address {address:?}: {reason}")]
    BadRecipient { address: String, reason: String },
    #[error("invalid Reply-To address {address:?}: {reason}")]
    BadReplyTo { address: String, reason: String },
    #[error("cannot build the message: {0}")]
    Build(String),
}

/// Sender identity shared by every message.
#[derive(Debug, Clone)]
pub struct Composer {
    from: Mailbox,
}

/// What one message is made of.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub to: &'a str,
    pub to_name: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    /// Local part of the Message-ID (the outbox row's), so retries keep the same id.
    pub message_id: &'a str,
    pub rendered: &'a RenderedEmail,
    pub invite: Option<&'a Invite>,
}

impl Composer {
    pub fn new(from: Mailbox) -> Composer {
        Composer { from }
    }

    /// `smtp.from`; in dev mode a local placeholder when unset.
    pub fn from_config(smtp_from: Option<&str>, dev_mode: bool) -> Result<Composer, ComposeError> {
        let from = match (smtp_from, dev_mode) {
            (Some(from), _) => from,
            (None, true) => DEV_SENDER,
            (None, false) => return Err(ComposeError::NoSender),
        };
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| ComposeError::BadSender(from.to_owned()))?;
        Ok(Composer { from })
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// The right-hand side of Message-IDs: the sender's domain.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
    }

    pub fn compose(&self, parts: Parts<'_>) -> Result<Message, ComposeError> {
        let to_address =
            parts
                .to
                .parse::<lettre::Address>()
                .map_err(|e| ComposeError::BadRecipient {
                    address: parts.to.to_owned(),
                    reason: e.to_string(),
                })?;
        let to = Mailbox::new(parts.to_name.map(display_name), to_address);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(parts.rendered.subject.clone())
            .message_id(Some(format!("<{}@{}>", parts.message_id, self.domain())))
            .user_agent(concat!("Carette/", env!("CARGO_PKG_VERSION")).to_owned());
        if let Some(reply_to) = parts.reply_to {
            let mailbox = reply_to
                .parse::<Mailbox>()
                .map_err(|e| ComposeError::BadReplyTo {
                    address: reply_to.to_owned(),
                    reason: e.to_string(),
                })?;
            builder = builder.reply_to(mailbox);
        }
        let alternative = MultiPart::alternative()
            .singlepart(SinglePart::plain(parts.rendered.text.clone()))
            .singlepart(SinglePart::html(parts.rendered.html.clone()));
        let message = match parts.invite {
            None => builder.multipart(alternative),
            Some(invite) => {
                let calendar = calendar_type(invite, true)?;
                let alternative = alternative.singlepart(
                    SinglePart::builder()
                        .content_type(calendar)
                        .body(invite.text.clone()),
                );
                let attachment = Attachment::new("invite.ics".to_owned())
                    .body(invite.text.clone(), calendar_type(invite, false)?);
                builder.multipart(
                    MultiPart::mixed()
                        .multipart(alternative)
                        .singlepart(attachment),
                )
            }
        };
        message.map_err(|e| ComposeError::Build(e.to_string()))
    }
}

/// A display name on one line: lettre encodes it, but a control character has no place
/// in a header even encoded.
fn display_name(name: &str) -> String {
    let flat: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    flat.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn calendar_type(invite: &Invite, inline: bool) -> Result<ContentType, ComposeError> {
    let value = if inline {
        format!(
            "text/calendar; charset=utf-8; method={}",
            invite.method.as_str()
        )
    } else {
        format!(
            "application/ics; name=\"invite.ics\"; method={}",
            invite.method.as_str()
        )
    };
    ContentType::parse(&value).map_err(|e| ComposeError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> RenderedEmail {
        RenderedEmail {
            subject: "Réservation confirmée".into(),
            text: "Bonjour\n".into(),
            html: "<p>Bonjour</p>\n".into(),
        }
    }

    fn parts<'a>(r: &'a RenderedEmail, to: &'a str, reply_to: Option<&'a str>) -> Parts<'a> {
        Parts {
            to,
            to_name: Some("Marie\r\nBcc: evil@example.org"),
            reply_to,
            message_id: "carette.abc",
            rendered: r,
            invite: None,
        }
    }

    #[test]
    fn headers_are_typed_and_the_message_id_uses_the_sender_domain() {
        let c = Composer::from_config(Some("Carette <rides@example.org>"), false).unwrap();
        let r = rendered();
        let m = c
            .compose(parts(&r, "marie@example.org", Some("jean@example.org")))
            .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <carette.abc@example.org>"),
            "{raw}"
        );
        assert!(raw.contains("Reply-To: jean@example.org"), "{raw}");
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
    }

    #[test]
    fn bad_addresses_are_errors_not_headers() {
        let c = Composer::from_config(None, true).unwrap();
        assert_eq!(c.domain(), "localhost");
        let r = rendered();
        let bad = c.compose(parts(&r, "x@y.org\r\nBcc: z@w.org", None));
        assert!(matches!(bad, Err(ComposeError::BadRecipient { .. })));
        let bad = c.compose(parts(&r, "marie@example.org", Some("not an address")));
        assert!(matches!(bad, Err(ComposeError::BadReplyTo { .. })));
        assert!(matches!(
            Composer::from_config(None, false),
            Err(ComposeError::NoSender)
        ));
    }
}
