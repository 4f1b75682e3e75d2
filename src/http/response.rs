//! Building responses: JSON bodies and errors, rendered pages, and the headers every
//! response carries.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::HttpState;

pub type Resp = Response<Full<Bytes>>;

/// No script, no external resource, forms only to ourselves, never framed.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// The same policy, with the origins allowed to frame the page instead of none.
pub fn csp_framed_by(origins: &[String]) -> String {
    CSP.replace(
        "frame-ancestors 'none'",
        &format!("frame-ancestors {}", origins.join(" ")),
    )
}

pub fn with_body(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn empty(status: StatusCode) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

pub fn json(status: StatusCode, value: &impl Serialize) -> Resp {
    match serde_json::to_vec(value) {
        Ok(body) => with_body(status, "application/json", body),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize a JSON response");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
        }
    }
}

/// The API's error shape: `{"error": "...", "field": "..." | null}`.
pub fn json_error(status: StatusCode, message: &str, field: Option<&str>) -> Resp {
    let body = json!({ "error": message, "field": field });
    with_body(status, "application/json", body.to_string())
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    with_body(status, "text/plain; charset=utf-8", body)
}

/// Renders `templates/page/<page>.html`; a template failure is logged and becomes a
/// static page, never a blank or a panic.
pub fn page(state: &HttpState, status: StatusCode, page: &str, context: &Value) -> Resp {
    match crate::page::render_at(&state.renderer, page, context, state.now()) {
        Ok(html) => with_body(status, "text/html; charset=utf-8", html),
        Err(e) => {
            tracing::error!(page, error = %e, "cannot render page");
            fallback_page()
        }
    }
}

fn fallback_page() -> Resp {
    with_body(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/html; charset=utf-8",
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Erreur</title></head>\
         <body><h1>Une erreur est survenue</h1><p>Merci de réessayer dans quelques minutes.</p></body></html>",
    )
}

/// The French error page for a status (404, 405, 413, 429, 500, ...).
pub fn error_page(state: &HttpState, status: StatusCode) -> Resp {
    let code = status.as_u16();
    let context = json!({
        "status": code,
        "is_not_found": code == 404,
        "is_method": code == 405,
        "is_too_large": code == 413,
        "is_too_many": code == 429,
        "is_timeout": code == 408,
        "is_bad_request": code == 400 || code == 415,
        "is_server": code >= 500,
    });
    page(state, status, "error", &context)
}

/// Headers on every response: tokens travel in URLs, so nothing may leak them onwards
/// (Referer) or keep them (caches); pages carry no script and cannot be framed.
pub fn secure(resp: &mut Resp) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The database stayed locked past `server.request_timeout_secs`: 503 with Retry-After,
/// as JSON for the API, as the French error page for links. Nothing was written.
pub fn busy(state: &HttpState, api: bool) -> Resp {
    tracing::warn!("database busy past the request timeout; answered 503");
    let mut resp = if api {
        json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is busy; nothing was saved, retry in a few seconds",
            None,
        )
    } else {
        error_page(state, StatusCode::SERVICE_UNAVAILABLE)
    };
    let secs = state.config.request_timeout.as_secs().max(1).to_string();
    set_header(&mut resp, header::RETRY_AFTER, &secs);
    resp
}

pub fn set_header(resp: &mut Resp, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}
