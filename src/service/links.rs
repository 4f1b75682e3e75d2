//! A fresh magic link in place of an expired one.
//!
//! Links are signed when an email is rendered, never stored; so "send a fresh link" means
//! queuing again the email that carried it, for the reservation or offer as it is now,
//! to the same recipient. When the action is no longer possible (the request was answered,
//! the trip left) nothing is sent; callers show the same page either way, so an expired
//! link tells nothing about the reservation.

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use super::context::{Email, EmailBatch, Extra, To, offer_email, offer_email_with};
use super::quota::{self, Capped};
use super::{Service, ServiceError};
use crate::domain::model::{Offer, OfferStatus, Reservation};
use crate::domain::token::{LinkAction, Subject};
use crate::domain::{Action, Status, check_action, request_deadline};
use crate::store::outbox;
use crate::store::{offers, reservations};

/// The same email is not re-sent to the same person more often than this, however many
/// times the button is pressed (from however many addresses).
pub const RESEND_COOLDOWN: Duration = Duration::minutes(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendOutcome {
    /// This email template was queued again.
    Queued(&'static str),
    /// The action is no longer possible; nothing was sent.
    NothingToSend,
    /// The same email went out less than `RESEND_COOLDOWN` ago; nothing was sent.
    TooSoon,
    /// The recipient reached `email.max_per_recipient_per_hour`; nothing was sent. Decided
    /// from the recipient alone, before looking at the reservation's state, so it tells
    /// nothing about whether the action is still possible.
    RecipientCapped { retry_after_secs: i64 },
}

impl Service {
    /// Queues again the email that carried a link for `action` on `subject` (from a
    /// genuine, expired token), so its recipient gets fresh links.
    pub fn resend_link(
        &self,
        action: LinkAction,
        subject: &Subject,
        now: DateTime<Utc>,
    ) -> Result<ResendOutcome, ServiceError> {
        let expire_after = self.settings.expire_after;
        let cap = self.settings.max_per_recipient_per_hour;
        let routing = self.settings.routing_enabled;
        let subject = subject.clone();
        let (outcome, queued) = self.store.write(move |tx| {
            if let Some(to) = recipient(tx, action, &subject)? {
                match quota::check(tx, cap, &to, Capped::LinkRecipient, now) {
                    Ok(()) => {}
                    Err(ServiceError::RecipientCapped {
                        retry_after_secs, ..
                    }) => {
                        return Ok((ResendOutcome::RecipientCapped { retry_after_secs }, 0));
                    }
                    Err(e) => return Err(e),
                }
            }
            let Some(email) = fresh_email(tx, action, &subject, now, expire_after)? else {
                return Ok::<_, ServiceError>((ResendOutcome::NothingToSend, 0));
            };
            if sent_recently(tx, &email, now)? {
                return Ok((ResendOutcome::TooSoon, 0));
            }
            quota::charge(tx, &email.recipient, now)?;
            let template = email.template;
            let mut batch = EmailBatch::new(routing);
            batch.push(email);
            let n = batch.commit(tx, now)?;
            Ok((ResendOutcome::Queued(template), n))
        })?;
        if let ResendOutcome::Queued(template) = outcome {
            tracing::info!(
                action = action.as_str(),
                template,
                "fresh link queued for an expired one"
            );
        }
        self.after_commit(queued, false);
        Ok(outcome)
    }
}

fn upcoming(o: &Offer, now: DateTime<Utc>) -> bool {
    o.status == OfferStatus::Active && o.departure_at > now
}

fn load(tx: &Connection, id: i64) -> Result<Option<(Reservation, Offer)>, ServiceError> {
    let Some(r) = reservations::get(tx, id)? else {
        return Ok(None);
    };
    Ok(offers::get(tx, r.offer_id)?.map(|o| (r, o)))
}

/// The driver's current passenger list, with the offer-wide links.
fn itinerary(tx: &Connection, o: &Offer) -> Result<Email, ServiceError> {
    let passengers = reservations::confirmed_for_offer(tx, o.id)?;
    Ok(offer_email(
        "itinerary_driver",
        o,
        None,
        &passengers,
        To::Driver,
    ))
}

/// Who a fresh link for `action` on `subject` would go to, whatever the state: the
/// passenger for a cancel link, the driver for every other one.
fn recipient(
    tx: &Connection,
    action: LinkAction,
    subject: &Subject,
) -> Result<Option<String>, ServiceError> {
    Ok(match (action, subject) {
        (_, Subject::Driver(email)) => Some(email.clone()),
        (LinkAction::Cancel, Subject::Reservation(id)) => {
            reservations::get(tx, *id)?.map(|r| r.passenger_email)
        }
        (_, Subject::Reservation(id)) => load(tx, *id)?.map(|(_, o)| o.driver_email),
        (_, Subject::Offer(id)) => offers::get(tx, *id)?.map(|o| o.driver_email),
    })
}

fn fresh_email(
    tx: &Connection,
    action: LinkAction,
    subject: &Subject,
    now: DateTime<Utc>,
    expire_after: Duration,
) -> Result<Option<Email>, ServiceError> {
    match (action, subject) {
        (LinkAction::Accept | LinkAction::Refuse, Subject::Reservation(id)) => {
            let Some((r, o)) = load(tx, *id)? else {
                return Ok(None);
            };
            // The email carries both buttons; refusing is possible whenever answering is.
            if check_action(&r, &o, Action::Refuse, now, expire_after).is_err() {
                return Ok(None);
            }
            let deadline = request_deadline(r.created_at, expire_after, o.departure_at);
            let passengers = reservations::confirmed_for_offer(tx, o.id)?;
            let extra = Extra {
                expires_at: Some(deadline),
                ..Extra::default()
            };
            Ok(Some(offer_email_with(
                "request_driver",
                &o,
                Some(&r),
                &passengers,
                To::Driver,
                extra,
            )))
        }
        (LinkAction::Cancel, Subject::Reservation(id)) => {
            let Some((r, o)) = load(tx, *id)? else {
                return Ok(None);
            };
            if !upcoming(&o, now) {
                return Ok(None);
            }
            match r.status {
                Status::Pending => {
                    let extra = Extra {
                        expires_at: Some(request_deadline(
                            r.created_at,
                            expire_after,
                            o.departure_at,
                        )),
                        ..Extra::default()
                    };
                    Ok(Some(offer_email_with(
                        "request_passenger",
                        &o,
                        Some(&r),
                        &[],
                        To::Passenger,
                        extra,
                    )))
                }
                Status::Confirmed => {
                    let passengers = reservations::confirmed_for_offer(tx, o.id)?;
                    Ok(Some(offer_email(
                        "confirmed_passenger",
                        &o,
                        Some(&r),
                        &passengers,
                        To::Passenger,
                    )))
                }
                _ => Ok(None),
            }
        }
        (LinkAction::Remove, Subject::Reservation(id)) => match load(tx, *id)? {
            Some((r, o)) if check_action(&r, &o, Action::Remove, now, expire_after).is_ok() => {
                Ok(Some(itinerary(tx, &o)?))
            }
            _ => Ok(None),
        },
        (LinkAction::OfferCancel | LinkAction::OfferView, Subject::Offer(id)) => {
            match offers::get(tx, *id)? {
                Some(o) if upcoming(&o, now) => Ok(Some(itinerary(tx, &o)?)),
                _ => Ok(None),
            }
        }
        (LinkAction::Dashboard, Subject::Driver(email)) => {
            let next = offers::upcoming_for_driver(tx, email, now)?
                .into_iter()
                .find(|o| upcoming(o, now));
            match next {
                Some(o) => Ok(Some(itinerary(tx, &o)?)),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn sent_recently(tx: &Connection, e: &Email, now: DateTime<Utc>) -> Result<bool, ServiceError> {
    let same = outbox::SameEmail {
        template: e.template,
        recipient: &e.recipient,
        reservation_id: e.reservation_id,
        offer_id: e.offer_id,
    };
    Ok(outbox::queued_since(tx, &same, now - RESEND_COOLDOWN)?)
}
