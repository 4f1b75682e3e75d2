//! Magic-link pages. A GET only shows what would happen (email scanners fetch every
//! link); the POST of its button does it, once. A replay shows the current state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::pages;
use super::request::{self, BodyError};
use super::response::{self, Resp};
use super::server::blocking;
use super::{HttpState, rate_limit};
use crate::domain::model::{Offer, OfferStatus, Reservation};
use crate::domain::token::{Claims, LinkAction, Subject, TokenError};
use crate::domain::{Action, Refusal, Status};
use crate::service::links::ResendOutcome;
use crate::service::{Service, ServiceError, TransitionOutcome};

pub async fn link(
    state: &Arc<HttpState>,
    action: LinkAction,
    submit: bool,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Resp {
    // A button press writes and sends emails: limited per client like the API's POSTs,
    // before a byte of the body is read. Showing the page (GET) is not.
    if submit && let Some(resp) = rate_limited(state, peer, &req) {
        return resp;
    }
    let token = match token_of(state, req, submit).await {
        Ok(Some(t)) => t,
        Ok(None) => return pages::invalid(state),
        Err(resp) => return resp,
    };
    let now = state.now();
    let subject = match state.signer.verify_for(&token, action, now) {
        Ok(s) => s,
        Err(TokenError::Expired(_)) => return pages::expired(state, &token),
        Err(TokenError::Invalid) => return pages::invalid(state),
    };
    match (action, subject) {
        (LinkAction::OfferCancel, Subject::Offer(id)) => {
            offer_cancel(state, id, token, now, submit).await
        }
        (_, Subject::Reservation(id)) => match domain_action(action) {
            Some(a) => reservation_link(state, action, a, id, token, now, submit).await,
            None => pages::invalid(state),
        },
        _ => pages::invalid(state),
    }
}

fn domain_action(a: LinkAction) -> Option<Action> {
    match a {
        LinkAction::Accept => Some(Action::Accept),
        LinkAction::Refuse => Some(Action::Refuse),
        LinkAction::Cancel => Some(Action::Cancel),
        LinkAction::Remove => Some(Action::Remove),
        _ => None,
    }
}

/// The token from the query string, or (POST) from the form body.
async fn token_of(
    state: &HttpState,
    req: Request<Incoming>,
    read_form: bool,
) -> Result<Option<String>, Resp> {
    let (parts, body) = req.into_parts();
    if let Some(t) = parts
        .uri
        .query()
        .and_then(|q| request::form_value(q, "token"))
    {
        return Ok(Some(t));
    }
    if !read_form {
        return Ok(None);
    }
    let limit = state.config.max_body_bytes;
    let bytes = request::read_body(&parts.headers, body, limit, state.config.body_read_timeout)
        .await
        .map_err(|e| {
            let status = match e {
                BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
                BodyError::Broken => StatusCode::BAD_REQUEST,
            };
            response::error_page(state, status)
        })?;
    Ok(std::str::from_utf8(&bytes)
        .ok()
        .and_then(|form| request::form_value(form, "token")))
}

enum Loaded<T> {
    Ok(T),
    /// Unknown id behind a genuine token: the row is gone (a restored backup).
    Gone,
    Failed(Resp),
}

fn loaded<T>(state: &HttpState, r: Result<Result<T, ServiceError>, StatusCode>) -> Loaded<T> {
    match r {
        Ok(Ok(v)) => Loaded::Ok(v),
        Ok(Err(ServiceError::ReservationNotFound(_) | ServiceError::OfferNotFound(_))) => {
            Loaded::Gone
        }
        Ok(Err(ServiceError::Store(e))) if e.is_busy() => {
            Loaded::Failed(response::busy(state, false))
        }
        // The other party's hourly email cap: nothing done, say when to retry.
        Ok(Err(ServiceError::RecipientCapped {
            retry_after_secs, ..
        })) => Loaded::Failed(pages::too_many_emails(state, retry_after_secs)),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "magic link: cannot load");
            Loaded::Failed(response::error_page(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
            ))
        }
        Err(status) => Loaded::Failed(response::error_page(state, status)),
    }
}

fn load_pair(service: &Service, id: i64) -> Result<(Reservation, Offer), ServiceError> {
    let r = service.get_reservation(id)?;
    let o = service.get_offer(r.offer_id)?;
    Ok((r, o))
}

async fn reservation_link(
    state: &Arc<HttpState>,
    link: LinkAction,
    action: Action,
    id: i64,
    token: String,
    now: DateTime<Utc>,
    submit: bool,
) -> Resp {
    if submit {
        return reservation_submit(state, link, id, now).await;
    }
    let service = state.service.clone();
    let (r, o) = match loaded(state, blocking(move || load_pair(&service, id)).await) {
        Loaded::Ok(pair) => pair,
        Loaded::Gone => return pages::invalid(state),
        Loaded::Failed(resp) => return resp,
    };
    match state.service.check_action(&r, &o, action, now) {
        Ok(_) => {}
        Err(Refusal::Illegal(_)) => return pages::already(state, link, &o, Some(&r), now, false),
        Err(Refusal::DeadlinePassed) => {
            let deadline = state.service.request_deadline(&r, &o);
            return pages::request_expired(state, &o, &r, deadline, now, false);
        }
        Err(Refusal::Departed) => {
            let lang = pages::reader_lang(link, &o, Some(&r));
            return pages::departed(state, lang, &o, now, false);
        }
        Err(Refusal::NoSeats(_)) => return no_seats(state, &o, &r, now, false),
    }
    let context = json!({
        "lang": pages::reader_lang(link, &o, Some(&r)).as_str(),
        "action": pages::action(link),
        "form": pages::form(link, &Subject::Reservation(r.id), token),
        "offer": pages::offer(&o, now),
        "reservation": pages::reservation(&r),
        "affected": Value::Null,
    });
    response::page(state, StatusCode::OK, "confirm", &context)
}

enum Submitted {
    Done(TransitionOutcome),
    /// Answered after the deadline: the request expired instead, with its deadline.
    Expired(Box<TransitionOutcome>, DateTime<Utc>),
    /// The service refused (replay, race, departed, no seat): the state as it is now.
    Refused(ServiceError, Result<(Reservation, Offer), ServiceError>),
    Failed(ServiceError),
}

async fn reservation_submit(
    state: &Arc<HttpState>,
    link: LinkAction,
    id: i64,
    now: DateTime<Utc>,
) -> Resp {
    let service = state.service.clone();
    let submitted = blocking(move || {
        let result = match link {
            LinkAction::Accept => service.accept(id, now),
            LinkAction::Refuse => service.refuse(id, now),
            LinkAction::Cancel => service.cancel(id, now),
            _ => service.remove(id, now),
        };
        match result {
            Ok(outcome) => Submitted::Done(outcome),
            Err(ServiceError::RequestExpired(outcome)) => {
                let deadline = service.request_deadline(&outcome.reservation, &outcome.offer);
                Submitted::Expired(outcome, deadline)
            }
            Err(
                e @ (ServiceError::Illegal { .. }
                | ServiceError::OfferDeparted { .. }
                | ServiceError::NoSeats(_)),
            ) => Submitted::Refused(e, load_pair(&service, id)),
            Err(e) => Submitted::Failed(e),
        }
    })
    .await;
    match submitted {
        Ok(Submitted::Done(outcome)) => {
            let mut reservation = pages::reservation(&outcome.reservation);
            // "Demande" or "réservation": whether seats were held before this change.
            reservation["was_pending"] = json!(outcome.previous == Status::Pending);
            let lang = pages::reader_lang(link, &outcome.offer, Some(&outcome.reservation));
            let context = json!({
                "lang": lang.as_str(),
                "action": pages::action(link),
                "offer": pages::offer(&outcome.offer, now),
                "reservation": reservation,
                "affected": Value::Null,
            });
            response::page(state, StatusCode::OK, "done", &context)
        }
        Ok(Submitted::Expired(outcome, deadline)) => pages::request_expired(
            state,
            &outcome.offer,
            &outcome.reservation,
            deadline,
            now,
            true,
        ),
        Ok(Submitted::Refused(e, current)) => {
            let (r, o) = match loaded(state, Ok(current)) {
                Loaded::Ok(pair) => pair,
                Loaded::Gone => return pages::invalid(state),
                Loaded::Failed(resp) => return resp,
            };
            match e {
                ServiceError::OfferDeparted { .. } => {
                    let lang = pages::reader_lang(link, &o, Some(&r));
                    pages::departed(state, lang, &o, now, true)
                }
                ServiceError::NoSeats(_) => no_seats(state, &o, &r, now, true),
                _ => pages::already(state, link, &o, Some(&r), now, true),
            }
        }
        Ok(Submitted::Failed(e)) => match loaded::<()>(state, Ok(Err(e))) {
            Loaded::Gone => pages::invalid(state),
            Loaded::Failed(resp) => resp,
            Loaded::Ok(()) => response::error_page(state, StatusCode::INTERNAL_SERVER_ERROR),
        },
        Err(status) => response::error_page(state, status),
    }
}

/// Accepting would overbook: say so, and offer to refuse instead.
fn no_seats(
    state: &HttpState,
    o: &Offer,
    r: &Reservation,
    now: DateTime<Utc>,
    submit: bool,
) -> Resp {
    let refuse = pages::sign(state, LinkAction::Refuse, &Subject::Reservation(r.id), now);
    let context = json!({
        "lang": o.lang.as_str(),
        "offer": pages::offer(o, now),
        "reservation": pages::reservation(r),
        "refuse_form": pages::form(LinkAction::Refuse, &Subject::Reservation(r.id), refuse),
    });
    response::page(state, pages::status_for(submit), "no_seats", &context)
}

async fn offer_cancel(
    state: &Arc<HttpState>,
    id: i64,
    token: String,
    now: DateTime<Utc>,
    submit: bool,
) -> Resp {
    let service = state.service.clone();
    let loaded_offer = blocking(move || service.offer_with_reservations(id)).await;
    let (o, rs) = match loaded(state, loaded_offer) {
        Loaded::Ok(v) => v,
        Loaded::Gone => return pages::invalid(state),
        Loaded::Failed(resp) => return resp,
    };
    let action = LinkAction::OfferCancel;
    if o.status == OfferStatus::Cancelled {
        return pages::already(state, action, &o, None, now, submit);
    }
    // A departure time never changes, so checking it before the write is race-free.
    if o.departure_at <= now {
        return pages::departed(state, o.lang, &o, now, submit);
    }
    if !submit {
        let affected = rs.iter().filter(|r| !r.status.is_final()).count();
        let context = json!({
            "lang": o.lang.as_str(),
            "action": pages::action(action),
            "form": pages::form(action, &Subject::Offer(o.id), token),
            "offer": pages::offer(&o, now),
            "reservation": Value::Null,
            "affected": affected_json(affected),
        });
        return response::page(state, StatusCode::OK, "confirm", &context);
    }
    let service = state.service.clone();
    let outcome = match loaded(state, blocking(move || service.cancel_offer(id, now)).await) {
        Loaded::Ok(outcome) => outcome,
        Loaded::Gone => return pages::invalid(state),
        Loaded::Failed(resp) => return resp,
    };
    if !outcome.changed {
        return pages::already(state, action, &outcome.offer, None, now, true);
    }
    let context = json!({
        "lang": outcome.offer.lang.as_str(),
        "action": pages::action(action),
        "offer": pages::offer(&outcome.offer, now),
        "reservation": Value::Null,
        "affected": affected_json(outcome.reservations_cancelled),
    });
    response::page(state, StatusCode::OK, "done", &context)
}

/// null when nobody is affected, so templates can test it.
fn affected_json(n: usize) -> Value {
    if n == 0 {
        return Value::Null;
    }
    let (fr, en) = if n == 1 {
        ("1 réservation".to_owned(), "1 booking".to_owned())
    } else {
        (format!("{n} réservations"), format!("{n} bookings"))
    };
    json!({ "count": n, "fr": fr, "en": en })
}

/// POST /api/link/resend: the "Lien expiré" page's button.
pub async fn resend(state: &Arc<HttpState>, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    if let Some(resp) = rate_limited(state, peer, &req) {
        return resp;
    }
    let token = match token_of(state, req, true).await {
        Ok(Some(t)) => t,
        Ok(None) => return pages::invalid(state),
        Err(resp) => return resp,
    };
    let now = state.now();
    let claims = match state.signer.verify(&token, now) {
        Ok(claims) => return pages::still_valid(state, url_of(&claims, &token)),
        Err(TokenError::Expired(claims)) => claims,
        Err(TokenError::Invalid) => return pages::invalid(state),
    };
    let service = state.service.clone();
    let sent = blocking(move || service.resend_link(claims.action, &claims.subject, now)).await;
    match sent {
        // Decided from the recipient alone, before the state is looked at.
        Ok(Ok(ResendOutcome::RecipientCapped { retry_after_secs })) => {
            pages::too_many_emails(state, retry_after_secs)
        }
        // Whatever happened, the same page: it must not tell whether the action is still possible.
        Ok(Ok(_)) => pages::resent(state),
        Ok(Err(ServiceError::Store(e))) if e.is_busy() => response::busy(state, false),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot queue a fresh link");
            response::error_page(state, StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(status) => response::error_page(state, status),
    }
}

/// The French "Trop de demandes" page with Retry-After, when this client is over its rate.
fn rate_limited(state: &HttpState, peer: SocketAddr, req: &Request<Incoming>) -> Option<Resp> {
    let ip = request::client_ip(peer, req.headers(), &state.config.trusted_proxies);
    let wait = state.limiter.check(ip, Instant::now()).err()?;
    let mut resp = response::error_page(state, StatusCode::TOO_MANY_REQUESTS);
    let secs = rate_limit::retry_after_secs(wait).to_string();
    response::set_header(&mut resp, header::RETRY_AFTER, &secs);
    Some(resp)
}

/// Where a still-valid token leads.
fn url_of(claims: &Claims, token: &str) -> String {
    format!("{}?token={token}", claims.action.path(&claims.subject))
}
