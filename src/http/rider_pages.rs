//! The riders' own pages: find a trip (`/trajets`), offer one (`/trajets/nouveau`), ask
//! for a seat (`/trajets/{id}`), and the same under `/embed` without the outer chrome for
//! an `<iframe>` on the host website. Server-rendered, no script.
//!
//! Forms are safe without cookies: every POST passes the per-client rate limit, a
//! Sec-Fetch-Site/Origin check (a browser never lets another site fake those), then a
//! short-lived form token signed with the server secret and bound to the form and the
//! client address. A filled honeypot field gets the success answer and nothing written.
//! A form that fails any field check is shown again with what the rider typed and a
//! French message next to each field; nothing is written.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::request::{self, BodyError};
use super::response::{self, Resp};
use super::rider_form::{self, Fields, FormErrors, HONEYPOT, OFFER_FIELDS, SEAT_FIELDS, TOKEN};
use super::routes::RiderPage;
use super::server::blocking;
use super::{HttpState, pages, rate_limit};
use crate::domain::model::{Offer, OfferStatus};
use crate::domain::time::local_date;
use crate::domain::token::FormTokenError;
use crate::service::ServiceError;
use crate::service::offers::MAX_OFFER_SEATS;
use crate::service::riders::MAX_LISTED;

/// How long a served form may be sent back. Long enough to fill it calmly; an older one
/// is shown again, filled in, with a fresh token.
const FORM_TTL: Duration = Duration::hours(2);

const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";

/// The /embed prefix or nothing, and the page's language: every link of a page keeps the
/// rider where they are and in the language they read.
#[derive(Debug, Clone, Copy)]
struct Chrome {
    embed: bool,
    /// English when the rider asked for it (`?lang=en`, or the form's `lang` on a POST);
    /// French otherwise.
    en: bool,
    /// Whether the query named the language; if not, a POST follows the form's `lang`.
    lang_in_query: bool,
    /// The page shown, for the "Français / English" switch.
    here: RiderPage,
}

impl Chrome {
    fn base(self) -> &'static str {
        if self.embed { "/embed" } else { "" }
    }

    fn url(self, page: RiderPage) -> String {
        let query = if self.en { "?lang=en" } else { "" };
        format!("{}{}{query}", self.base(), page.path())
    }

    /// The same page in the other language (a GET: a form is shown blank again).
    fn switch_url(self) -> String {
        let page = match self.here {
            RiderPage::NewOffer { .. } => RiderPage::NewOffer { submit: false },
            RiderPage::Offer { id, .. } => RiderPage::Offer { id, submit: false },
            other => other,
        };
        let other = if self.en { "fr" } else { "en" };
        format!("{}{}?lang={other}", self.base(), page.path())
    }

    /// A POST whose address names no language answers in the one chosen in the form.
    fn with_form(self, fields: &Fields) -> Chrome {
        if self.lang_in_query {
            return self;
        }
        Chrome {
            en: fields.get("lang") == "en",
            ..self
        }
    }

    fn context(self, mut v: Value) -> Value {
        if let Some(m) = v.as_object_mut() {
            m.insert("embed".into(), json!(self.embed));
            m.insert("base".into(), json!(self.base()));
            m.insert("lang".into(), json!(if self.en { "en" } else { "fr" }));
            m.insert("switch_url".into(), json!(self.switch_url()));
        }
        v
    }
}

/// `lang=en` in a query string or form body.
fn asks_english(text: &str) -> Option<bool> {
    let fields = Fields::parse(text);
    match fields.get("lang") {
        "en" => Some(true),
        "fr" => Some(false),
        _ => None,
    }
}

pub async fn handle(
    state: &Arc<HttpState>,
    page: RiderPage,
    embed: bool,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Resp {
    let asked = asks_english(req.uri().query().unwrap_or(""));
    let chrome = Chrome {
        embed,
        en: asked == Some(true),
        lang_in_query: asked.is_some(),
        here: page,
    };
    match page {
        RiderPage::List => list(state, chrome, req.uri().query().unwrap_or("")).await,
        RiderPage::NewOffer { submit: false } => {
            let ip = request::client_ip(peer, req.headers(), &state.config.trusted_proxies);
            let form = OfferForm::blank(state, chrome, ip);
            offer_form_page(state, chrome, StatusCode::OK, &form)
        }
        RiderPage::NewOffer { submit: true } => publish(state, chrome, peer, req).await,
        RiderPage::Offer { id, submit: false } => {
            let ip = request::client_ip(peer, req.headers(), &state.config.trusted_proxies);
            show_offer(state, chrome, id, ip).await
        }
        RiderPage::Offer { id, submit: true } => request_seat(state, chrome, id, peer, req).await,
        RiderPage::Sent(id) => after(state, chrome, id, "trajets_sent").await,
        RiderPage::Published(id) => after(state, chrome, id, "trajets_published").await,
    }
}

// ---------------------------------------------------------------- listing

async fn list(state: &Arc<HttpState>, chrome: Chrome, query: &str) -> Resp {
    let (filter, values, bad_date) = rider_form::trip_filter(query);
    let has_filter = filter != Default::default() || bad_date;
    let now = state.now();
    let service = state.service.clone();
    let offers = match blocking(move || service.public_offers(&filter, now)).await {
        Ok(Ok(offers)) => offers,
        Ok(Err(e)) => return failure(state, chrome, &e),
        Err(status) => return error_page(state, chrome, status),
    };
    let truncated = i64::try_from(offers.len()).is_ok_and(|n| n >= MAX_LISTED);
    let cards: Vec<Value> = offers
        .iter()
        .map(|o| public_offer(o, now, chrome))
        .collect();
    let context = json!({
        "offers": cards,
        "count": offers.len(),
        "truncated": truncated,
        "filter": values,
        "has_filter": has_filter,
        "bad_date": bad_date,
        "today": local_date(state.service.settings().tz, now).to_string(),
    });
    render(state, chrome, StatusCode::OK, "trajets_list", context)
}

/// The offer as anyone may see it: never the driver's address.
fn public_offer(o: &Offer, now: DateTime<Utc>, chrome: Chrome) -> Value {
    let mut v = pages::offer(o, now);
    if let Some(m) = v.as_object_mut() {
        m.remove("driver_email");
        m.insert(
            "url".into(),
            json!(chrome.url(RiderPage::Offer {
                id: o.id,
                submit: false
            })),
        );
        m.insert("is_full".into(), json!(o.seats_left <= 0));
    }
    v
}

/// Why an offer takes no request now, or `None` when it does.
fn closed(o: &Offer, now: DateTime<Utc>) -> Option<Value> {
    let cancelled = o.status == OfferStatus::Cancelled;
    let departed = o.departure_at <= now;
    let full = o.seats_left <= 0;
    (cancelled || departed || full).then(|| {
        json!({ "is_cancelled": cancelled, "is_departed": departed && !cancelled, "is_full": full && !cancelled && !departed })
    })
}

// ---------------------------------------------------------------- offer a trip

struct OfferForm {
    fields: Fields,
    errors: FormErrors,
    token: String,
    notice: Option<&'static str>,
}

impl OfferForm {
    fn blank(state: &HttpState, chrome: Chrome, ip: IpAddr) -> OfferForm {
        OfferForm {
            fields: Fields::parse(if chrome.en {
                "seats=3&lang=en"
            } else {
                "seats=3&lang=fr"
            }),
            errors: FormErrors::default(),
            token: form_token(state, "offer", ip),
            notice: None,
        }
    }
}

fn offer_form_page(state: &HttpState, chrome: Chrome, status: StatusCode, f: &OfferForm) -> Resp {
    let now = state.now();
    let tz = state.service.settings().tz;
    let chosen = f.fields.get("seats").parse::<i64>().unwrap_or(0);
    let context = json!({
        "form": {
            "action": chrome.url(RiderPage::NewOffer { submit: true }),
            "token": f.token,
            "values": f.fields.values(&OFFER_FIELDS),
            "errors": f.errors.to_json_in(&OFFER_FIELDS, chrome.en),
            "has_errors": !f.errors.is_empty(),
            "notice": f.notice.map(|n| if chrome.en { rider_form::english(n) } else { n.to_owned() }),
            "seat_choices": choices(MAX_OFFER_SEATS, chosen),
            "lang_en": f.fields.get("lang") == "en",
        },
        "today": local_date(tz, now).to_string(),
        "timezone": tz.name(),
    });
    render(state, chrome, status, "trajets_new", context)
}

async fn publish(
    state: &Arc<HttpState>,
    chrome: Chrome,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Resp {
    let (ip, fields) = match read_form(state, chrome, peer, req).await {
        Ok(read) => read,
        Err(resp) => return resp,
    };
    let chrome = chrome.with_form(&fields);
    if !fields.get(HONEYPOT).is_empty() {
        tracing::info!(
            "riders' offer form: honeypot filled; answered as a success, nothing written"
        );
        let context = json!({ "offer": null });
        return render(state, chrome, StatusCode::OK, "trajets_published", context);
    }
    let now = state.now();
    let mut form = OfferForm {
        token: form_token(state, "offer", ip),
        fields,
        errors: FormErrors::default(),
        notice: None,
    };
    if let Err(e) = check_token(state, &form.fields, "offer", ip, now) {
        let (status, notice) = token_refusal(e);
        form.notice = Some(notice);
        return offer_form_page(state, chrome, status, &form);
    }
    let input = match rider_form::offer_input(&form.fields, state.service.settings().tz, now) {
        Ok(input) => input,
        Err(errors) => {
            form.errors = errors;
            return offer_form_page(state, chrome, StatusCode::UNPROCESSABLE_ENTITY, &form);
        }
    };
    let service = state.service.clone();
    match blocking(move || service.publish_offer(&input, now)).await {
        Ok(Ok(offer)) => see_other(&chrome.url(RiderPage::Published(offer.id))),
        Ok(Err(e)) => match rider_form::service_field_error(&e) {
            Some((field, message)) => {
                form.errors.add(field, message);
                let status = error_status(&e);
                with_retry_after(&e, offer_form_page(state, chrome, status, &form))
            }
            None => failure(state, chrome, &e),
        },
        Err(status) => error_page(state, chrome, status),
    }
}

// ---------------------------------------------------------------- request a seat

struct SeatForm {
    fields: Fields,
    errors: FormErrors,
    token: String,
    notice: Option<&'static str>,
}

fn seat_purpose(offer_id: i64) -> String {
    format!("seat:{offer_id}")
}

async fn show_offer(state: &Arc<HttpState>, chrome: Chrome, id: i64, ip: IpAddr) -> Resp {
    let offer = match load_offer(state, chrome, id).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let form = SeatForm {
        fields: Fields::parse(if chrome.en {
            "seats=1&lang=en"
        } else {
            "seats=1&lang=fr"
        }),
        errors: FormErrors::default(),
        token: form_token(state, &seat_purpose(id), ip),
        notice: None,
    };
    offer_page(state, chrome, StatusCode::OK, &offer, &form)
}

fn offer_page(
    state: &HttpState,
    chrome: Chrome,
    status: StatusCode,
    o: &Offer,
    f: &SeatForm,
) -> Resp {
    let now = state.now();
    let chosen = f.fields.get("seats").parse::<i64>().unwrap_or(0);
    let context = json!({
        "offer": public_offer(o, now, chrome),
        "closed": closed(o, now),
        "expire_hours": state.service.settings().expire_after.num_hours(),
        "form": {
            "action": chrome.url(RiderPage::Offer { id: o.id, submit: true }),
            "token": f.token,
            "values": f.fields.values(&SEAT_FIELDS),
            "errors": f.errors.to_json_in(&SEAT_FIELDS, chrome.en),
            "has_errors": !f.errors.is_empty(),
            "notice": f.notice.map(|n| if chrome.en { rider_form::english(n) } else { n.to_owned() }),
            "seat_choices": choices(o.seats_left.max(1), chosen),
            "lang_en": f.fields.get("lang") == "en",
        },
    });
    render(state, chrome, status, "trajets_offer", context)
}

async fn request_seat(
    state: &Arc<HttpState>,
    chrome: Chrome,
    id: i64,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Resp {
    let (ip, fields) = match read_form(state, chrome, peer, req).await {
        Ok(read) => read,
        Err(resp) => return resp,
    };
    let chrome = chrome.with_form(&fields);
    if !fields.get(HONEYPOT).is_empty() {
        tracing::info!(
            "riders' seat form: honeypot filled; answered as a success, nothing written"
        );
        return see_other(&chrome.url(RiderPage::Sent(id)));
    }
    let offer = match load_offer(state, chrome, id).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let now = state.now();
    let mut form = SeatForm {
        token: form_token(state, &seat_purpose(id), ip),
        fields,
        errors: FormErrors::default(),
        notice: None,
    };
    if let Err(e) = check_token(state, &form.fields, &seat_purpose(id), ip, now) {
        let (status, notice) = token_refusal(e);
        form.notice = Some(notice);
        return offer_page(state, chrome, status, &offer, &form);
    }
    if closed(&offer, now).is_some() {
        return offer_page(state, chrome, StatusCode::CONFLICT, &offer, &form);
    }
    let input = match rider_form::seat_input(&form.fields, offer.seats_left) {
        Ok(input) => input,
        Err(errors) => {
            form.errors = errors;
            return offer_page(
                state,
                chrome,
                StatusCode::UNPROCESSABLE_ENTITY,
                &offer,
                &form,
            );
        }
    };
    let service = state.service.clone();
    match blocking(move || service.request_seat(id, &input, now)).await {
        Ok(Ok(_)) => see_other(&chrome.url(RiderPage::Sent(id))),
        Ok(Err(e)) => {
            // The offer may have changed meanwhile (last seat taken, cancelled): show it as it is now.
            let current = match load_offer(state, chrome, id).await {
                Ok(o) => o,
                Err(resp) => return resp,
            };
            match rider_form::service_field_error(&e) {
                Some((field, message)) => {
                    form.errors.add(field, message);
                    let status = error_status(&e);
                    with_retry_after(&e, offer_page(state, chrome, status, &current, &form))
                }
                // Whose inbox is full is not the asker's business: only "later".
                None if matches!(e, ServiceError::RecipientCapped { .. }) => {
                    form.notice = Some(
                        "Ce conducteur a reçu beaucoup de demandes dans la dernière heure\u{a0}: rien n'a été envoyé, réessayez un peu plus tard.",
                    );
                    let page = offer_page(
                        state,
                        chrome,
                        StatusCode::TOO_MANY_REQUESTS,
                        &current,
                        &form,
                    );
                    with_retry_after(&e, page)
                }
                None if matches!(
                    e,
                    ServiceError::OfferCancelled { .. } | ServiceError::OfferDeparted { .. }
                ) =>
                {
                    offer_page(state, chrome, StatusCode::CONFLICT, &current, &form)
                }
                None => failure(state, chrome, &e),
            }
        }
        Err(status) => error_page(state, chrome, status),
    }
}

/// "Demande envoyée" and "Trajet publié": where the POSTs redirect to. They show only
/// what the listing shows, so anyone may open them.
async fn after(state: &Arc<HttpState>, chrome: Chrome, id: i64, page: &str) -> Resp {
    let offer = match load_offer(state, chrome, id).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let context = json!({
        "offer": public_offer(&offer, state.now(), chrome),
        "expire_hours": state.service.settings().expire_after.num_hours(),
    });
    render(state, chrome, StatusCode::OK, page, context)
}

// ---------------------------------------------------------------- shared

/// 1..=max, with the rider's choice selected.
fn choices(max: i64, chosen: i64) -> Value {
    Value::Array(
        (1..=max)
            .map(|n| json!({ "n": n, "selected": n == chosen }))
            .collect(),
    )
}

fn form_token(state: &HttpState, form: &str, ip: IpAddr) -> String {
    state
        .signer
        .sign_form(&format!("{form}|{ip}"), state.now() + FORM_TTL)
}

fn check_token(
    state: &HttpState,
    fields: &Fields,
    form: &str,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<(), FormTokenError> {
    state
        .signer
        .verify_form(fields.get(TOKEN), &format!("{form}|{ip}"), now)
}

/// The status of a refusal shown next to a field.
fn error_status(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::NoSeats(_) => StatusCode::CONFLICT,
        ServiceError::RecipientCapped { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn with_retry_after(e: &ServiceError, mut resp: Resp) -> Resp {
    if let ServiceError::RecipientCapped {
        retry_after_secs, ..
    } = e
    {
        response::set_header(
            &mut resp,
            header::RETRY_AFTER,
            &retry_after_secs.to_string(),
        );
    }
    resp
}

fn token_refusal(e: FormTokenError) -> (StatusCode, &'static str) {
    match e {
        FormTokenError::Expired => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Ce formulaire était ouvert depuis longtemps\u{a0}: vérifiez vos informations, puis envoyez-le de nouveau.",
        ),
        FormTokenError::Invalid => (
            StatusCode::FORBIDDEN,
            "Pour votre sécurité, ce formulaire doit être envoyé depuis cette page\u{a0}: vérifiez vos informations, puis envoyez-le de nouveau.",
        ),
    }
}

/// Everything before the fields are looked at: rate limit, where the POST comes from,
/// the media type, then the body under the size limit.
async fn read_form(
    state: &Arc<HttpState>,
    chrome: Chrome,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<(IpAddr, Fields), Resp> {
    let (parts, body) = req.into_parts();
    let ip = request::client_ip(peer, &parts.headers, &state.config.trusted_proxies);
    if let Err(wait) = state.limiter.check(ip, Instant::now()) {
        let mut resp = error_page(state, chrome, StatusCode::TOO_MANY_REQUESTS);
        let secs = rate_limit::retry_after_secs(wait).to_string();
        response::set_header(&mut resp, header::RETRY_AFTER, &secs);
        return Err(resp);
    }
    if !same_origin(state, &parts.headers) {
        tracing::info!("riders' form posted from another site; refused");
        return Err(error_page(state, chrome, StatusCode::FORBIDDEN));
    }
    if request::media_type(&parts.headers).as_deref() != Some(FORM_MEDIA_TYPE) {
        return Err(error_page(
            state,
            chrome,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ));
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
            error_page(state, chrome, status)
        })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| error_page(state, chrome, StatusCode::BAD_REQUEST))?;
    Ok((ip, Fields::parse(text)))
}

/// Browsers tell where a POST comes from and pages cannot lie about it: Sec-Fetch-Site
/// (all current browsers) and Origin. Both are absent from non-browser clients, which
/// the form token and the rate limit still hold back. `Origin: null` is what a
/// browser sends under our `Referrer-Policy: no-referrer`.
fn same_origin(state: &HttpState, headers: &HeaderMap) -> bool {
    let value = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("?").to_ascii_lowercase())
    };
    if let Some(site) = value("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    let Some(origin) = value(header::ORIGIN.as_str()) else {
        return true;
    };
    if origin == "null" {
        return true;
    }
    if state.config.public_origin.as_deref() == Some(origin.as_str()) {
        return true;
    }
    // Direct access (no reverse proxy, or base_url not set yet): the Host the browser used.
    let host = value(header::HOST.as_str()).unwrap_or_default();
    !host.is_empty() && (origin == format!("http://{host}") || origin == format!("https://{host}"))
}

async fn load_offer(state: &Arc<HttpState>, chrome: Chrome, id: i64) -> Result<Offer, Resp> {
    let service = state.service.clone();
    match blocking(move || service.get_offer(id)).await {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(e)) => Err(failure(state, chrome, &e)),
        Err(status) => Err(error_page(state, chrome, status)),
    }
}

fn failure(state: &HttpState, chrome: Chrome, e: &ServiceError) -> Resp {
    let status = match e {
        ServiceError::OfferNotFound(_) | ServiceError::ReservationNotFound(_) => {
            StatusCode::NOT_FOUND
        }
        ServiceError::Store(err) if err.is_busy() => {
            tracing::warn!("database busy past the request timeout; riders' page answered 503");
            let mut resp = error_page(state, chrome, StatusCode::SERVICE_UNAVAILABLE);
            let secs = state.config.request_timeout.as_secs().max(1).to_string();
            response::set_header(&mut resp, header::RETRY_AFTER, &secs);
            return resp;
        }
        ServiceError::Store(err) => {
            tracing::error!(error = %err, "database error on a riders' page");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        other => {
            tracing::warn!(error = %other, "riders' page refused");
            StatusCode::CONFLICT
        }
    };
    error_page(state, chrome, status)
}

fn error_page(state: &HttpState, chrome: Chrome, status: StatusCode) -> Resp {
    let code = status.as_u16();
    let context = json!({
        "status": code,
        "is_not_found": code == 404,
        "is_forbidden": code == 403,
        "is_too_large": code == 413,
        "is_too_many": code == 429,
        "is_timeout": code == 408,
        "is_bad_request": code == 400 || code == 415,
        "is_conflict": code == 409,
        "is_busy": code == 503,
    });
    render(state, chrome, status, "trajets_error", context)
}

fn render(
    state: &HttpState,
    chrome: Chrome,
    status: StatusCode,
    page: &str,
    context: Value,
) -> Resp {
    response::page(state, status, page, &chrome.context(context))
}

/// POST/redirect/GET: reloading the result page never sends the form twice.
fn see_other(location: &str) -> Resp {
    let mut resp = response::empty(StatusCode::SEE_OTHER);
    response::set_header(&mut resp, header::LOCATION, location);
    resp
}

/// `frame-ancestors` of the riders' pages: the configured origins, or none.
pub fn frame_policy(state: &HttpState, resp: &mut Resp) {
    if state.config.embed_origins.is_empty() {
        return;
    }
    let csp = response::csp_framed_by(&state.config.embed_origins);
    response::set_header(resp, header::CONTENT_SECURITY_POLICY, &csp);
    // X-Frame-Options cannot name an origin; CSP frame-ancestors supersedes it.
    resp.headers_mut().remove(header::X_FRAME_OPTIONS);
}
