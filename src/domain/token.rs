//! Magic-link tokens: HMAC-SHA256 over (action, subject, expiry), URL-safe.
//!
//! Format: `base64url(payload) "." base64url(mac)` where payload is
//! `v2|<action>|<kind>|<base64url(subject value)>|<expiry unix secs>`. Every field is
//! either from a fixed alphabet or base64url, so none can contain the `|` separator:
//! the payload splits one way only, whatever the subject (a driver's address may hold
//! `|`, `:`, `.` or any Unicode). The MAC is checked (in constant time) before anything
//! in the payload is trusted, so an expired token is only reported as expired when it
//! was genuinely ours; anything else is simply "invalid".
//!
//! Tokens of the former `v1` format (subject written raw) are no longer accepted: they
//! show "Lien invalide". They lived at most `security.token_ttl_days`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The one thing a token allows. A token for one action never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkAction {
    Accept,
    Refuse,
    Cancel,
    Remove,
    OfferCancel,
    OfferView,
    Dashboard,
}

impl LinkAction {
    pub const ALL: [LinkAction; 7] = [
        LinkAction::Accept,
        LinkAction::Refuse,
        LinkAction::Cancel,
        LinkAction::Remove,
        LinkAction::OfferCancel,
        LinkAction::OfferView,
        LinkAction::Dashboard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkAction::Accept => "accept",
            LinkAction::Refuse => "refuse",
            LinkAction::Cancel => "cancel",
            LinkAction::Remove => "remove",
            LinkAction::OfferCancel => "offer_cancel",
            LinkAction::OfferView => "offer_view",
            LinkAction::Dashboard => "dashboard",
        }
    }

    /// The page this link opens (SPEC's HTTP table), without the token query. The offer
    /// page names its offer in the path; every other subject travels in the token only.
    pub fn path(self, subject: &Subject) -> String {
        match self {
            LinkAction::Accept | LinkAction::Refuse | LinkAction::Cancel | LinkAction::Remove => {
                format!("/api/reservation/{}", self.as_str())
            }
            LinkAction::OfferCancel => "/api/offer/cancel".to_owned(),
            LinkAction::OfferView => {
                let id = match subject {
                    Subject::Offer(id) | Subject::Reservation(id) => *id,
                    Subject::Driver(_) => 0,
                };
                format!("/api/offer/{id}/reservations")
            }
            LinkAction::Dashboard => "/dashboard".to_owned(),
        }
    }

    fn parse(s: &str) -> Option<LinkAction> {
        LinkAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What the token is about: a reservation, an offer, or a driver (by email, for the dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Reservation(i64),
    Offer(i64),
    Driver(String),
}

impl Subject {
    /// (kind, value) as two payload fields; the value is base64url so it never holds `|`.
    fn encode(&self) -> (&'static str, String) {
        let (kind, value) = match self {
            Subject::Reservation(id) => ("r", id.to_string()),
            Subject::Offer(id) => ("o", id.to_string()),
            Subject::Driver(email) => ("d", email.clone()),
        };
        (kind, URL_SAFE_NO_PAD.encode(value.as_bytes()))
    }

    fn decode(kind: &str, value: &str) -> Option<Subject> {
        let value = String::from_utf8(URL_SAFE_NO_PAD.decode(value).ok()?).ok()?;
        match kind {
            "r" => value.parse().ok().map(Subject::Reservation),
            "o" => value.parse().ok().map(Subject::Offer),
            "d" if !value.is_empty() => Some(Subject::Driver(value)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub action: LinkAction,
    pub subject: Subject,
    pub expires_at: DateTime<Utc>,
}

/// Deliberately tells nothing about the content of a bad token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Genuine but past its expiry; the claims let the page offer a fresh link to the same recipient.
    #[error("the link has expired")]
    Expired(Claims),
    /// Tampered, truncated, signed with another key, or for another action/subject.
    #[error("the link is invalid")]
    Invalid,
}

/// Why a form token was refused; the form is shown again either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormTokenError {
    /// Ours, but older than its lifetime (the rider took long to fill the form).
    Expired,
    /// Missing, tampered, for another form or another client.
    Invalid,
}

/// Any decoding failure of a form token is just "invalid".
fn invalid<E>(_: E) -> FormTokenError {
    FormTokenError::Invalid
}

#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(***)")
    }
}

impl TokenSigner {
    pub fn new(key: &[u8]) -> TokenSigner {
        TokenSigner { key: key.to_vec() }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any size"),
        }
    }

    pub fn sign(&self, action: LinkAction, subject: &Subject, expires_at: DateTime<Utc>) -> String {
        let (kind, value) = subject.encode();
        let payload = format!(
            "v2|{}|{kind}|{value}|{}",
            action.as_str(),
            expires_at.timestamp()
        );
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Verifies the signature first, then the expiry.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let (p64, t64) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(p64)
            .map_err(|_| TokenError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(t64)
            .map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| TokenError::Invalid)?;
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Invalid)?;
        // Exactly five fields, none of which can contain '|'.
        let fields: Vec<&str> = payload.split('|').collect();
        let ["v2", action, kind, value, exp] = fields[..] else {
            return Err(TokenError::Invalid);
        };
        let action = LinkAction::parse(action).ok_or(TokenError::Invalid)?;
        let subject = Subject::decode(kind, value).ok_or(TokenError::Invalid)?;
        let exp: i64 = exp.parse().map_err(|_| TokenError::Invalid)?;
        let expires_at = DateTime::from_timestamp(exp, 0).ok_or(TokenError::Invalid)?;
        let claims = Claims {
            action,
            subject,
            expires_at,
        };
        if now >= expires_at {
            return Err(TokenError::Expired(claims));
        }
        Ok(claims)
    }

    /// A form token: proves the form was served by us, for this `purpose` (which form,
    /// and the client it was served to), recently. Its payload starts with "f1", never
    /// "v1", so no form token can ever pass for a magic link, nor the reverse.
    pub fn sign_form(&self, purpose: &str, expires_at: DateTime<Utc>) -> String {
        let payload = format!("f1|{}", expires_at.timestamp());
        let tag = self.form_tag(&payload, purpose);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks a form token for `purpose`: MAC first (constant time), then the expiry.
    pub fn verify_form(
        &self,
        token: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<(), FormTokenError> {
        let (p64, t64) = token.split_once('.').ok_or(FormTokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(p64).map_err(invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(t64).map_err(invalid)?;
        let payload = String::from_utf8(payload).map_err(invalid)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.update(b"|");
        mac.update(purpose.as_bytes());
        mac.verify_slice(&tag).map_err(invalid)?;
        let exp = payload.strip_prefix("f1|").ok_or(FormTokenError::Invalid)?;
        let exp: i64 = exp.parse().map_err(invalid)?;
        let expires_at = DateTime::from_timestamp(exp, 0).ok_or(FormTokenError::Invalid)?;
        if now >= expires_at {
            return Err(FormTokenError::Expired);
        }
        Ok(())
    }

    fn form_tag(&self, payload: &str, purpose: &str) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.update(b"|");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Verifies and requires the given action; a token for another action is just invalid.
    pub fn verify_for(
        &self,
        token: &str,
        action: LinkAction,
        now: DateTime<Utc>,
    ) -> Result<Subject, TokenError> {
        match self.verify(token, now) {
            Ok(c) if c.action == action => Ok(c.subject),
            Err(TokenError::Expired(c)) if c.action == action => Err(TokenError::Expired(c)),
            _ => Err(TokenError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_and_is_url_safe() {
        let s = TokenSigner::new(b"0123456789abcdef0123456789abcdef");
        for subject in [
            Subject::Reservation(42),
            Subject::Offer(7),
            Subject::Driver("jean@example.org".into()),
        ] {
            let tok = s.sign(LinkAction::Accept, &subject, t(12));
            assert!(
                tok.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{tok}"
            );
            let c = s.verify(&tok, t(11)).unwrap();
            assert_eq!(
                (c.action, c.subject, c.expires_at),
                (LinkAction::Accept, subject, t(12))
            );
        }
    }

    #[test]
    fn expired_is_distinct_from_invalid() {
        let s = TokenSigner::new(b"k1k1k1k1k1k1k1k1");
        let tok = s.sign(LinkAction::Cancel, &Subject::Reservation(1), t(12));
        assert!(matches!(s.verify(&tok, t(12)), Err(TokenError::Expired(_))));
        assert!(
            matches!(s.verify(&tok, t(13)), Err(TokenError::Expired(c)) if c.subject == Subject::Reservation(1))
        );
    }

    #[test]
    fn every_tampered_byte_is_invalid() {
        let s = TokenSigner::new(b"k1k1k1k1k1k1k1k1");
        let tok = s.sign(LinkAction::Accept, &Subject::Reservation(5), t(12));
        let bytes = tok.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let Ok(tampered) = String::from_utf8(b) else {
                continue;
            };
            if tampered == tok {
                continue;
            }
            // Even past expiry, a tampered token must never be reported as "expired".
            assert_eq!(
                s.verify(&tampered, t(1)),
                Err(TokenError::Invalid),
                "byte {i}"
            );
            assert_eq!(
                s.verify(&tampered, t(20)),
                Err(TokenError::Invalid),
                "byte {i}"
            );
        }
        for junk in ["", ".", "abc", "abc.def", "...."] {
            assert_eq!(s.verify(junk, t(1)), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn wrong_key_action_or_subject_is_invalid() {
        let s = TokenSigner::new(b"k1k1k1k1k1k1k1k1");
        let other = TokenSigner::new(b"k2k2k2k2k2k2k2k2");
        let tok = s.sign(LinkAction::Accept, &Subject::Reservation(5), t(12));
        assert_eq!(other.verify(&tok, t(1)), Err(TokenError::Invalid));
        assert_eq!(other.verify(&tok, t(20)), Err(TokenError::Invalid));
        assert_eq!(
            s.verify_for(&tok, LinkAction::Refuse, t(1)),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            s.verify_for(&tok, LinkAction::Refuse, t(20)),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            s.verify_for(&tok, LinkAction::Accept, t(1)),
            Ok(Subject::Reservation(5))
        );
        // A payload re-pointed at another reservation with the old MAC fails.
        let (_, mac) = tok.split_once('.').unwrap();
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(format!("v2|accept|r|Ng|{}", t(12).timestamp())),
            mac
        );
        assert_eq!(s.verify(&forged, t(1)), Err(TokenError::Invalid));
    }

    #[test]
    fn form_tokens_are_bound_to_their_purpose_and_lifetime() {
        let s = TokenSigner::new(b"0123456789abcdef0123456789abcdef");
        let tok = s.sign_form("seat:7|127.0.0.1", t(12));
        assert_eq!(s.verify_form(&tok, "seat:7|127.0.0.1", t(11)), Ok(()));
        assert!(matches!(
            s.verify_form(&tok, "seat:7|127.0.0.1", t(12)),
            Err(FormTokenError::Expired)
        ));
        for other in ["seat:8|127.0.0.1", "seat:7|10.0.0.1", "offer|127.0.0.1"] {
            assert_eq!(
                s.verify_form(&tok, other, t(11)),
                Err(FormTokenError::Invalid)
            );
        }
        let other_key = TokenSigner::new(b"another key, another server......");
        assert_eq!(
            other_key.verify_form(&tok, "seat:7|127.0.0.1", t(11)),
            Err(FormTokenError::Invalid)
        );
        // Neither kind of token passes for the other.
        let link = s.sign(LinkAction::Accept, &Subject::Reservation(7), t(12));
        assert_eq!(
            s.verify_form(&link, "", t(11)),
            Err(FormTokenError::Invalid)
        );
        assert_eq!(s.verify(&tok, t(11)), Err(TokenError::Invalid));
    }

    /// Valid addresses may hold the old separator, colons, dots or any Unicode: each
    /// round-trips exactly, and two subjects never share a token.
    #[test]
    fn any_driver_address_round_trips() {
        let s = TokenSigner::new(b"0123456789abcdef0123456789abcdef");
        let subjects = [
            "a|b@example.org",
            "x|1700000000@example.org",
            "\"a:b\"@example.org",
            "first.last@sub.example.org",
            "zoë.müller@exämple.org",
            "司机@例子.中国",
            "d|r1@x.org",
        ];
        let mut seen = std::collections::HashSet::new();
        for email in subjects {
            let subject = Subject::Driver(email.to_owned());
            let tok = s.sign(LinkAction::Dashboard, &subject, t(12));
            assert!(seen.insert(tok.clone()));
            assert_eq!(
                s.verify_for(&tok, LinkAction::Dashboard, t(11)),
                Ok(subject.clone()),
                "{email}"
            );
            assert!(
                matches!(s.verify(&tok, t(13)), Err(TokenError::Expired(c)) if c.subject == subject),
                "{email}"
            );
        }
    }

    /// A token signed in the former v1 format, even with the right key, is just invalid.
    #[test]
    fn old_format_tokens_are_invalid() {
        let key = b"0123456789abcdef0123456789abcdef";
        let payload = format!("v1|accept|r5|{}", t(12).timestamp());
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        mac.update(payload.as_bytes());
        let old = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        let s = TokenSigner::new(key);
        assert_eq!(s.verify(&old, t(1)), Err(TokenError::Invalid));
        assert_eq!(s.verify(&old, t(20)), Err(TokenError::Invalid));
    }
}
