//! The JSON API the host website calls: create offers, read them, request seats.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::request::{self, BodyError};
use super::response::{self, Resp};
use super::server::blocking;
use super::{HttpState, rate_limit, shape};
use crate::domain::model::{Offer, Place, Reservation};
use crate::service::{OfferInput, ReservationInput, ServiceError};

pub async fn create_offer(
    state: &Arc<HttpState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Resp {
    let (parts, body) = req.into_parts();
    if let Err(resp) = guard_post(state, peer, &parts.headers) {
        return resp;
    }
    let input: OfferInput = match read_json(state, &parts.headers, body, shape::OFFER).await {
        Ok(input) => input,
        Err(resp) => return resp,
    };
    let now = state.now();
    let service = state.service.clone();
    match blocking(move || service.create_offer(&input, now)).await {
        Ok(Ok(offer)) => {
            let mut resp = response::json(StatusCode::CREATED, &offer_json(&offer, true));
            response::set_header(
                &mut resp,
                header::LOCATION,
                &format!("/api/offers/{}", offer.id),
            );
            resp
        }
        Ok(Err(e)) => service_error(state, &e),
        Err(status) => internal(status),
    }
}

pub async fn get_offer(state: &Arc<HttpState>, req: &Request<Incoming>, id: i64) -> Resp {
    if let Err(resp) = authorize(state, req.headers()) {
        return resp;
    }
    let service = state.service.clone();
    match blocking(move || service.get_offer(id)).await {
        Ok(Ok(offer)) => response::json(StatusCode::OK, &offer_json(&offer, false)),
        Ok(Err(e)) => service_error(state, &e),
        Err(status) => internal(status),
    }
}

pub async fn request_seat(
    state: &Arc<HttpState>,
    peer: SocketAddr,
    req: Request<Incoming>,
    offer_id: i64,
) -> Resp {
    let (parts, body) = req.into_parts();
    if let Err(resp) = guard_post(state, peer, &parts.headers) {
        return resp;
    }
    let input: ReservationInput =
        match read_json(state, &parts.headers, body, shape::RESERVATION).await {
            Ok(input) => input,
            Err(resp) => return resp,
        };
    let now = state.now();
    // No blocking thread: the write goes to the store's writer thread and this task
    // waits for its group commit.
    match state
        .service
        .request_seat_async(offer_id, &input, now)
        .await
    {
        Ok((r, offer)) => {
            let expires_at = state.service.request_deadline(&r, &offer);
            response::json(StatusCode::CREATED, &reservation_json(&r, expires_at))
        }
        Err(e) => service_error(state, &e),
    }
}

/// Rate limit, then bearer token, then content type: all before any byte of the body.
// The error is the finished response, built at most once per request: boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn guard_post(state: &HttpState, peer: SocketAddr, headers: &HeaderMap) -> Result<(), Resp> {
    let ip = request::client_ip(peer, headers, &state.config.trusted_proxies);
    if let Err(wait) = state.limiter.check(ip, Instant::now()) {
        let mut resp = response::json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests; retry later",
            None,
        );
        let secs = rate_limit::retry_after_secs(wait).to_string();
        response::set_header(&mut resp, header::RETRY_AFTER, &secs);
        return Err(resp);
    }
    authorize(state, headers)?;
    if request::media_type(headers).as_deref() != Some("application/json") {
        return Err(response::json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with Content-Type: application/json",
            None,
        ));
    }
    Ok(())
}

#[allow(clippy::result_large_err)]
fn authorize(state: &HttpState, headers: &HeaderMap) -> Result<(), Resp> {
    let Some(expected) = &state.config.api_token else {
        return Ok(());
    };
    if request::bearer_matches(headers, expected) {
        return Ok(());
    }
    let mut resp = response::json_error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong API token (Authorization: Bearer <server.api_token>)",
        None,
    );
    response::set_header(&mut resp, header::WWW_AUTHENTICATE, "Bearer");
    Err(resp)
}

#[allow(clippy::result_large_err)]
async fn read_json<T: serde::de::DeserializeOwned>(
    state: &HttpState,
    headers: &HeaderMap,
    body: Incoming,
    fields: &[shape::Field],
) -> Result<T, Resp> {
    let limit = state.config.max_body_bytes;
    let bytes = request::read_body(headers, body, limit, state.config.body_read_timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => response::json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is larger than {} KiB", limit / 1024),
                None,
            ),
            BodyError::Timeout => response::json_error(
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long to arrive",
                None,
            ),
            BodyError::Broken => {
                response::json_error(StatusCode::BAD_REQUEST, "the body could not be read", None)
            }
        })?;
    let value: Value = shape::parse_json(&bytes).map_err(|e| match e {
        shape::JsonError::Malformed(e) => response::json_error(
            StatusCode::BAD_REQUEST,
            &format!("malformed JSON: {e}"),
            None,
        ),
        shape::JsonError::Duplicate(path) => response::json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{path} appears more than once; send each field once"),
            Some(&path),
        ),
    })?;
    shape::parse(value, fields).map_err(|e| {
        let status = if e.field.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        response::json_error(status, &e.message, e.field.as_deref())
    })
}

fn service_error(state: &HttpState, e: &ServiceError) -> Resp {
    let (status, message) = match e {
        ServiceError::Store(err) if err.is_busy() => return response::busy(state, true),
        ServiceError::Invalid(f) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{} {}", f.field, f.message),
        ),
        ServiceError::OfferNotFound(_) => (StatusCode::NOT_FOUND, "offer not found".to_owned()),
        ServiceError::ReservationNotFound(_) => {
            (StatusCode::NOT_FOUND, "reservation not found".to_owned())
        }
        ServiceError::OfferCancelled { .. } => (
            StatusCode::CONFLICT,
            "this offer was cancelled by its driver and takes no new request".to_owned(),
        ),
        ServiceError::OfferDeparted { .. } => (
            StatusCode::CONFLICT,
            "this ride has already departed".to_owned(),
        ),
        ServiceError::NoSeats(s) => (StatusCode::CONFLICT, s.to_string()),
        ServiceError::Illegal { error, .. } => (StatusCode::CONFLICT, error.to_string()),
        ServiceError::RecipientCapped {
            who,
            retry_after_secs,
        } => {
            let mut resp =
                response::json_error(StatusCode::TOO_MANY_REQUESTS, who.describe(), e.field());
            response::set_header(
                &mut resp,
                header::RETRY_AFTER,
                &retry_after_secs.to_string(),
            );
            return resp;
        }
        ServiceError::RequestExpired(_) => (StatusCode::CONFLICT, e.to_string()),
        ServiceError::Store(err) => {
            tracing::error!(error = %err, "database error");
            return internal(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    response::json_error(status, &message, e.field())
}

fn internal(status: StatusCode) -> Resp {
    response::json_error(status, "internal error; please retry later", None)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn place_json(p: &Place) -> Value {
    json!({ "label": p.label, "lat": p.lat, "lon": p.lon })
}

/// The public view of an offer; the driver's address only goes back to its creator.
fn offer_json(o: &Offer, with_contact: bool) -> Value {
    let mut v = json!({
        "id": o.id,
        "driver_name": o.driver_name,
        "origin": place_json(&o.origin),
        "destination": place_json(&o.destination),
        "departure_at": rfc3339(o.departure_at),
        "seats": o.seats,
        "seats_left": o.seats_left,
        "status": o.status.as_str(),
        "created_at": rfc3339(o.created_at),
        "lang": o.lang.as_str(),
    });
    if with_contact {
        v["driver_email"] = json!(o.driver_email);
    }
    v
}

fn reservation_json(r: &Reservation, expires_at: DateTime<Utc>) -> Value {
    json!({
        "id": r.id,
        "offer_id": r.offer_id,
        "status": r.status.as_str(),
        "passenger_name": r.passenger_name,
        "passenger_email": r.passenger_email,
        "seats": r.seats,
        "pickup": r.pickup.as_ref().map(place_json),
        "message": r.message,
        "created_at": rfc3339(r.created_at),
        "expires_at": rfc3339(expires_at),
        "lang": r.lang.as_str(),
    })
}
