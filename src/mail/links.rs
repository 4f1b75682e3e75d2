//! Magic links, signed at SEND time: no token is ever stored in the database, and a retry
//! days later still carries a link valid for the full `security.token_ttl_days`.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::domain::token::{LinkAction, Subject, TokenSigner};

#[derive(Debug, Clone)]
pub struct LinkBuilder {
    base_url: String,
    signer: TokenSigner,
    ttl: Duration,
}

impl LinkBuilder {
    /// `base_url` is `server.base_url` (a trailing slash is tolerated).
    pub fn new(base_url: &str, secret: &[u8], ttl_days: u32) -> LinkBuilder {
        LinkBuilder {
            base_url: base_url.trim_end_matches('/').to_owned(),
            signer: TokenSigner::new(secret),
            ttl: Duration::days(i64::from(ttl_days)),
        }
    }

    /// The absolute URL of one action. `OfferView` and `OfferCancel` expect an offer
    /// subject, `Dashboard` a driver, the others a reservation.
    pub fn url(&self, action: LinkAction, subject: &Subject, now: DateTime<Utc>) -> String {
        let token = self.signer.sign(action, subject, now + self.ttl);
        // Tokens are URL-safe base64 and '.', so they need no percent-encoding.
        format!("{}{}?token={token}", self.base_url, action.path(subject))
    }

    /// The `links` object of one outbox row (see `mail::render`): drivers get their
    /// dashboard, the offer page and, while the trip is ahead and not cancelled, the
    /// offer-cancel link and one remove link per confirmed passenger; `request_driver`
    /// adds accept/refuse while the request is pending. Passengers get a cancel link while
    /// their reservation is pending or confirmed. Absent key = action not offered.
    pub fn links_for(&self, template: &str, context: &Value, now: DateTime<Utc>) -> Value {
        let mut links = Map::new();
        let offer = context.get("offer").filter(|o| o.is_object());
        let Some(offer) = offer else {
            return Value::Object(links);
        };
        let offer_id = offer.get("id").and_then(Value::as_i64);
        let reservation = context.get("reservation").filter(|r| r.is_object());
        let reservation_id = reservation
            .and_then(|r| r.get("id"))
            .and_then(Value::as_i64);
        let reservation_status = reservation
            .and_then(|r| r.get("status"))
            .and_then(Value::as_str);
        // Actions on a departed or cancelled trip would only be refused: not offered.
        let departed = offer
            .get("departure_at")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .is_some_and(|d| d.with_timezone(&Utc) <= now);
        let cancelled = offer.get("status").and_then(Value::as_str) == Some("cancelled");
        let actionable = !departed && !cancelled;
        let mut put = |key: &str, action: LinkAction, subject: Subject| {
            links.insert(key.to_owned(), self.url(action, &subject, now).into());
        };

        if template.ends_with("_driver") {
            if let Some(email) = offer.get("driver_email").and_then(Value::as_str) {
                put(
                    "dashboard",
                    LinkAction::Dashboard,
                    Subject::Driver(email.to_owned()),
                );
            }
            let Some(offer_id) = offer_id else {
                return Value::Object(links);
            };
            put(
                "offer_page",
                LinkAction::OfferView,
                Subject::Offer(offer_id),
            );
            if !actionable {
                return Value::Object(links);
            }
            put(
                "offer_cancel",
                LinkAction::OfferCancel,
                Subject::Offer(offer_id),
            );
            if template == "request_driver"
                && reservation_status == Some("pending")
                && let Some(id) = reservation_id
            {
                put("accept", LinkAction::Accept, Subject::Reservation(id));
                put("refuse", LinkAction::Refuse, Subject::Reservation(id));
            }
            let remove: Map<String, Value> = context
                .get("passengers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("reservation_id").and_then(Value::as_i64))
                .map(|id| {
                    let url = self.url(LinkAction::Remove, &Subject::Reservation(id), now);
                    (id.to_string(), Value::String(url))
                })
                .collect();
            links.insert("remove".to_owned(), Value::Object(remove));
            // The driver's reminder lists requests still waiting for an answer.
            let pending_ids: Vec<i64> = context
                .get("pending")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("reservation_id").and_then(Value::as_i64))
                .collect();
            for (key, action) in [
                ("accept_by", LinkAction::Accept),
                ("refuse_by", LinkAction::Refuse),
            ] {
                let by_id: Map<String, Value> = pending_ids
                    .iter()
                    .map(|id| {
                        let url = self.url(action, &Subject::Reservation(*id), now);
                        (id.to_string(), Value::String(url))
                    })
                    .collect();
                links.insert(key.to_owned(), Value::Object(by_id));
            }
        } else if actionable
            && matches!(reservation_status, Some("pending" | "confirmed"))
            && let Some(id) = reservation_id
        {
            put("cancel", LinkAction::Cancel, Subject::Reservation(id));
        }
        Value::Object(links)
    }

    /// For tests and the HTTP layer's own checks: the signer behind the links.
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
    }

    fn builder() -> LinkBuilder {
        LinkBuilder::new("https://rides.example.org/", b"0123456789abcdef0123", 7)
    }

    fn context(status: &str, offer_status: &str) -> Value {
        json!({
            "offer": {"id": 12, "driver_email": "jean@example.org", "status": offer_status,
                      "departure_at": "2026-12-03T07:00:00Z"},
            "reservation": {"id": 5, "status": status},
            "passengers": [{"reservation_id": 5}, {"reservation_id": 7}],
        })
    }

    fn token(url: &str) -> &str {
        url.split_once("?token=").unwrap().1
    }

    #[test]
    fn paths_follow_the_spec_and_tokens_verify_for_their_action_only() {
        let b = builder();
        let cases = [
            (
                LinkAction::Accept,
                Subject::Reservation(5),
                "/api/reservation/accept",
            ),
            (
                LinkAction::Refuse,
                Subject::Reservation(5),
                "/api/reservation/refuse",
            ),
            (
                LinkAction::Cancel,
                Subject::Reservation(5),
                "/api/reservation/cancel",
            ),
            (
                LinkAction::Remove,
                Subject::Reservation(5),
                "/api/reservation/remove",
            ),
            (
                LinkAction::OfferCancel,
                Subject::Offer(12),
                "/api/offer/cancel",
            ),
            (
                LinkAction::OfferView,
                Subject::Offer(12),
                "/api/offer/12/reservations",
            ),
            (
                LinkAction::Dashboard,
                Subject::Driver("jean@example.org".into()),
                "/dashboard",
            ),
        ];
        for (action, subject, path) in cases {
            let url = b.url(action, &subject, now());
            let prefix = format!("https://rides.example.org{path}?token=");
            assert!(url.starts_with(&prefix), "{url}");
            let claims = b.signer().verify(token(&url), now()).unwrap();
            assert_eq!((claims.action, claims.subject), (action, subject));
            assert_eq!(claims.expires_at, now() + Duration::days(7));
        }
    }

    #[test]
    fn request_driver_gets_every_driver_link_and_accept_refuse() {
        let links = builder().links_for("request_driver", &context("pending", "active"), now());
        for key in [
            "dashboard",
            "offer_page",
            "offer_cancel",
            "accept",
            "refuse",
        ] {
            assert!(links[key].is_string(), "{key}: {links}");
        }
        let remove = links["remove"].as_object().unwrap();
        assert_eq!(remove.keys().collect::<Vec<_>>(), ["5", "7"]);
        assert!(links.get("cancel").is_none());
    }

    #[test]
    fn accept_refuse_only_while_pending_and_only_in_request_driver() {
        let b = builder();
        let answered = b.links_for("request_driver", &context("confirmed", "active"), now());
        assert!(answered.get("accept").is_none());
        let other = b.links_for("itinerary_driver", &context("pending", "active"), now());
        assert!(other.get("accept").is_none() && other["offer_cancel"].is_string());
    }

    #[test]
    fn passengers_get_cancel_while_pending_or_confirmed() {
        let b = builder();
        for (status, expected) in [
            ("pending", true),
            ("confirmed", true),
            ("refused", false),
            ("cancelled", false),
            ("removed", false),
            ("expired", false),
        ] {
            let links = b.links_for("confirmed_passenger", &context(status, "active"), now());
            assert_eq!(links.get("cancel").is_some(), expected, "{status}");
            assert!(links.get("dashboard").is_none());
        }
    }

    #[test]
    fn a_cancelled_or_departed_offer_offers_no_action() {
        let b = builder();
        let links = b.links_for(
            "offer_cancelled_driver",
            &context("cancelled", "cancelled"),
            now(),
        );
        assert!(links["dashboard"].is_string());
        assert!(links.get("offer_cancel").is_none() && links.get("remove").is_none());
        let late = now() + Duration::days(3);
        let links = b.links_for("reminder_passenger", &context("confirmed", "active"), late);
        assert!(links.get("cancel").is_none());
    }

    #[test]
    fn the_test_email_has_no_links() {
        let links = builder().links_for("test", &json!({"offer": null}), now());
        assert_eq!(links, json!({}));
    }
}
