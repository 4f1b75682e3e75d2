//! Template contexts of the rider pages. The wording lives in `templates/page/`; here are
//! only the facts, with one `is_<x>` flag per case since upon has no `==`.

use chrono::{DateTime, Utc};
use hyper::StatusCode;
use serde_json::{Value, json};

use super::HttpState;
use super::response::{self, Resp};
use crate::domain::model::{Offer, OfferStatus, Reservation};
use crate::domain::token::{LinkAction, Subject};
use crate::domain::{Action, Lang, Status};
use crate::mail::words::Words;
use crate::service::context::rfc3339;

/// The wordings of a count in every language: `<base>_fr`, `<base>_en`.
fn counts(m: &mut serde_json::Map<String, Value>, base: &str, n: i64, left: bool) {
    let n = u64::try_from(n).unwrap_or(0);
    for lang in Lang::ALL {
        let words = Words { lang, this_year: 0 };
        let text = if left {
            words.seats_left(n)
        } else {
            words.seats(n)
        };
        m.insert(format!("{base}_{lang}"), json!(text));
    }
}

/// The language of whoever holds a link for `a`: the passenger for a cancel link,
/// the driver for every other.
pub fn reader_lang(a: LinkAction, o: &Offer, r: Option<&Reservation>) -> Lang {
    match (a, r) {
        (LinkAction::Cancel, Some(r)) => r.lang,
        _ => o.lang,
    }
}

pub fn offer(o: &Offer, now: DateTime<Utc>) -> Value {
    let mut v = crate::service::context::offer_json(o);
    if let Some(m) = v.as_object_mut() {
        counts(m, "seats", o.seats, false);
        counts(m, "seats_left", o.seats_left, true);
        m.insert(
            "is_cancelled".into(),
            json!(o.status == OfferStatus::Cancelled),
        );
        m.insert("is_departed".into(), json!(o.departure_at <= now));
    }
    v
}

/// The passenger's address only once the driver said yes (SPEC: contact details are
/// exchanged on confirmation), so no page can show a pending requester's address.
pub fn reservation(r: &Reservation) -> Value {
    let email = crate::service::context::contacts_shared(r).then(|| r.passenger_email.clone());
    let mut v = json!({
        "id": r.id,
        "passenger_name": r.passenger_name,
        "passenger_email": email,
        "seats": r.seats,
        "pickup": r.pickup.as_ref().map(|p| p.label.clone()),
        "message": r.message,
        "pickup_at": r.pickup_at.map(rfc3339),
        "created_at": rfc3339(r.created_at),
        "status": r.status.as_str(),
    });
    for s in Status::ALL {
        v[format!("is_{}", s.as_str())] = json!(r.status == s);
    }
    if let Some(m) = v.as_object_mut() {
        counts(m, "seats", r.seats, false);
    }
    v
}

pub fn action(a: LinkAction) -> Value {
    json!({
        "is_accept": a == LinkAction::Accept,
        "is_refuse": a == LinkAction::Refuse,
        "is_cancel": a == LinkAction::Cancel,
        "is_remove": a == LinkAction::Remove,
        "is_offer_cancel": a == LinkAction::OfferCancel,
    })
}

/// A form that posts `token` to the action's endpoint.
pub fn form(a: LinkAction, subject: &Subject, token: String) -> Value {
    json!({ "url": a.path(subject), "token": token })
}

/// Signs a fresh token for one button of a page the rider already holds a token for.
pub fn sign(state: &HttpState, a: LinkAction, subject: &Subject, now: DateTime<Utc>) -> String {
    state.signer.sign(a, subject, now + state.config.token_ttl)
}

fn ttl_days(state: &HttpState) -> i64 {
    state.config.token_ttl.num_days()
}

/// "Lien invalide": the same page whatever was wrong, so it teaches nothing.
pub fn invalid(state: &HttpState) -> Resp {
    response::page(state, StatusCode::BAD_REQUEST, "invalid", &json!({}))
}

/// "Lien expiré", with a button that emails a fresh link to whoever got this one.
pub fn expired(state: &HttpState, token: &str) -> Resp {
    let context = json!({
        "form": { "url": "/api/link/resend", "token": token },
        "ttl_days": ttl_days(state),
    });
    response::page(state, StatusCode::GONE, "expired", &context)
}

pub fn resent(state: &HttpState) -> Resp {
    let context = json!({ "ttl_days": ttl_days(state) });
    response::page(state, StatusCode::OK, "resent", &context)
}

/// "Trop de demandes": this address got too many emails from Carette in the last hour.
pub fn too_many_emails(state: &HttpState, retry_after_secs: i64) -> Resp {
    let minutes = ((retry_after_secs + 59) / 60).max(1);
    let wait_fr = if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    };
    let wait_en = if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    };
    let context = json!({ "wait_fr": wait_fr, "wait_en": wait_en });
    let mut resp = response::page(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_emails",
        &context,
    );
    response::set_header(
        &mut resp,
        hyper::header::RETRY_AFTER,
        &retry_after_secs.to_string(),
    );
    resp
}

pub fn still_valid(state: &HttpState, url: String) -> Resp {
    response::page(state, StatusCode::OK, "still_valid", &json!({ "url": url }))
}

/// GETs only show; a POST that found nothing to do answers 409.
pub fn status_for(submit: bool) -> StatusCode {
    if submit {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    }
}

pub fn departed(
    state: &HttpState,
    lang: Lang,
    o: &Offer,
    now: DateTime<Utc>,
    submit: bool,
) -> Resp {
    let context = json!({ "lang": lang.as_str(), "offer": offer(o, now) });
    response::page(state, status_for(submit), "departed", &context)
}

/// "Demande expirée": the driver answered after the deadline the email printed. A GET only
/// says so; the POST has just expired the request (and queued emails 8 and 9).
pub fn request_expired(
    state: &HttpState,
    o: &Offer,
    r: &Reservation,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
    submit: bool,
) -> Resp {
    // Only the driver answers a request: the page is in the driver's language.
    let context = json!({
        "lang": o.lang.as_str(),
        "offer": offer(o, now),
        "reservation": reservation(r),
        "deadline": rfc3339(deadline),
        "submit": submit,
    });
    response::page(state, status_for(submit), "request_expired", &context)
}

/// The current state instead of a second change (a replayed or raced link).
pub fn already(
    state: &HttpState,
    a: LinkAction,
    o: &Offer,
    r: Option<&Reservation>,
    now: DateTime<Utc>,
    submit: bool,
) -> Resp {
    let context = json!({
        "lang": reader_lang(a, o, r).as_str(),
        "action": action(a),
        "offer": offer(o, now),
        "reservation": r.map(reservation),
    });
    response::page(state, status_for(submit), "already", &context)
}

/// What it takes to sign per-passenger buttons of an offer card.
pub struct CardTokens<'a> {
    pub state: &'a HttpState,
    pub now: DateTime<Utc>,
}

/// One offer with its reservations grouped, and a signed token per possible action.
pub fn offer_card(
    t: &CardTokens<'_>,
    o: &Offer,
    rs: &[Reservation],
    with_view_link: bool,
) -> Value {
    let live = o.status == OfferStatus::Active && o.departure_at > t.now;
    let (mut pending, mut confirmed, mut others) = (Vec::new(), Vec::new(), Vec::new());
    for r in rs {
        let mut v = reservation(r);
        let subject = Subject::Reservation(r.id);
        // The same rule as the links themselves: no button that would not act.
        let can = |action| live && t.state.service.check_action(r, o, action, t.now).is_ok();
        match r.status {
            Status::Pending if can(Action::Refuse) => {
                v["accept_token"] = json!(sign(t.state, LinkAction::Accept, &subject, t.now));
                v["refuse_token"] = json!(sign(t.state, LinkAction::Refuse, &subject, t.now));
                pending.push(v);
            }
            Status::Confirmed if can(Action::Remove) => {
                v["remove_token"] = json!(sign(t.state, LinkAction::Remove, &subject, t.now));
                confirmed.push(v);
            }
            Status::Pending => pending.push(v),
            Status::Confirmed => confirmed.push(v),
            _ => others.push(v),
        }
    }
    let subject = Subject::Offer(o.id);
    let cancel_token = live.then(|| sign(t.state, LinkAction::OfferCancel, &subject, t.now));
    let view_url = with_view_link.then(|| {
        let token = sign(t.state, LinkAction::OfferView, &subject, t.now);
        format!("{}?token={token}", LinkAction::OfferView.path(&subject))
    });
    json!({
        "offer": offer(o, t.now),
        "live": live,
        "pending": pending,
        "confirmed": confirmed,
        "others": others,
        "cancel_token": cancel_token,
        "view_url": view_url,
    })
}
