//! The driver's pages: one offer's reservations, and the dashboard of all upcoming offers.
//! Their buttons post to the magic-link endpoints with a token signed for each button.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::HttpState;
use super::pages::{self, CardTokens};
use super::request;
use super::response::{self, Resp};
use super::server::blocking;
use crate::domain::token::{LinkAction, Subject, TokenError};
use crate::service::ServiceError;

fn query_token(req: &Request<Incoming>) -> Option<String> {
    req.uri()
        .query()
        .and_then(|q| request::form_value(q, "token"))
}

/// GET /api/offer/{id}/reservations?token=: the token must be this offer's.
pub async fn offer_page(state: &Arc<HttpState>, req: &Request<Incoming>, id: i64) -> Resp {
    let Some(token) = query_token(req) else {
        return pages::invalid(state);
    };
    let now = state.now();
    match state.signer.verify_for(&token, LinkAction::OfferView, now) {
        Ok(Subject::Offer(token_offer)) if token_offer == id => {}
        Ok(_) | Err(TokenError::Invalid) => return pages::invalid(state),
        Err(TokenError::Expired(claims)) => {
            return if claims.subject == Subject::Offer(id) {
                pages::expired(state, &token)
            } else {
                pages::invalid(state)
            };
        }
    }
    let service = state.service.clone();
    match blocking(move || service.offer_with_reservations(id)).await {
        Ok(Ok((offer, reservations))) => {
            let tokens = CardTokens { state, now };
            let context = json!({
                "lang": offer.lang.as_str(),
                "card": pages::offer_card(&tokens, &offer, &reservations, false),
            });
            response::page(state, StatusCode::OK, "offer", &context)
        }
        Ok(Err(ServiceError::OfferNotFound(_))) => pages::invalid(state),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "offer page: cannot load");
            response::error_page(state, StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(status) => response::error_page(state, status),
    }
}

/// GET /dashboard?token=: every upcoming offer of the driver the token names.
pub async fn dashboard(state: &Arc<HttpState>, req: &Request<Incoming>) -> Resp {
    let Some(token) = query_token(req) else {
        return pages::invalid(state);
    };
    let now = state.now();
    let email = match state.signer.verify_for(&token, LinkAction::Dashboard, now) {
        Ok(Subject::Driver(email)) => email,
        Ok(_) | Err(TokenError::Invalid) => return pages::invalid(state),
        Err(TokenError::Expired(_)) => return pages::expired(state, &token),
    };
    let service = state.service.clone();
    let lookup = email.clone();
    match blocking(move || service.driver_dashboard(&lookup, now)).await {
        Ok(Ok(offers)) => {
            let tokens = CardTokens { state, now };
            let driver_name = offers.first().map(|(o, _)| o.driver_name.clone());
            // The driver's language as given with the latest offer; none yet: the default.
            let lang = offers
                .iter()
                .max_by_key(|(o, _)| o.created_at)
                .map(|(o, _)| o.lang.as_str());
            let cards: Vec<_> = offers
                .iter()
                .map(|(o, rs)| pages::offer_card(&tokens, o, rs, true))
                .collect();
            let context = json!({
                "lang": lang,
                "driver_name": driver_name,
                "driver_email": email,
                "cards": cards,
            });
            response::page(state, StatusCode::OK, "dashboard", &context)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "dashboard: cannot load");
            response::error_page(state, StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(status) => response::error_page(state, status),
    }
}
