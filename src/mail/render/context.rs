//! Turns the outbox row's context + links into what templates see.
//!
//! upon fails on a missing key even inside `{% if %}`, and `?.` only helps when the
//! parent is a map (it still fails on `reservation?.pickup` when `reservation` is
//! null). So instead of asking every template (and every operator override) to
//! guess which keys exist, this module normalizes once:
//! - optional fields are present, `null` when absent (templates test them with `if`);
//! - required fields are left alone, so a service bug that drops one is a render error,
//!   not a blank in a rider's email;
//! - French wordings are derived here from the raw values (`*_fr` fields).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::mail::datetime_fr::{self, Wording, date_fr, date_with_year_fr, datetime_fr, time_fr};

/// Link keys a template may test; always present in `links`, `null` when the
/// action is not possible for this recipient.
pub const LINK_KEYS: [&str; 6] = [
    "accept",
    "refuse",
    "cancel",
    "offer_cancel",
    "offer_page",
    "dashboard",
];

/// Nullable fields of `reservation` and of each `passengers[i]`.
const RESERVATION_OPTIONAL: [&str; 5] = [
    "pickup",
    "message",
    "pickup_at",
    "previous_pickup_at",
    "expires_at",
];
/// Reservation statuses (SPEC.md); each gives a `reservation.is_<status>` flag.
const STATUSES: [&str; 6] = [
    "pending",
    "confirmed",
    "refused",
    "expired",
    "cancelled",
    "removed",
];
const PASSENGER_OPTIONAL: [&str; 2] = ["pickup", "pickup_at"];

/// Builds the template context; the error message says which field is wrong.
pub fn prepare(template: &str, context: &Value, links: &Value, tz: Tz) -> Result<Value, String> {
    let Value::Object(source) = context else {
        return Err("the context must be a JSON object".to_owned());
    };
    let mut root = source.clone();
    for key in [
        "recipient_name",
        "offer",
        "reservation",
        "sent_at",
        "when_fr",
    ] {
        root.entry(key).or_insert(Value::Null);
    }
    let links = normalize_links(links)?;

    if let Some(Value::Object(offer)) = root.get_mut("offer") {
        derive_offer(offer, tz)?;
    }
    if let Some(Value::Object(reservation)) = root.get_mut("reservation") {
        derive_reservation(reservation, tz)?;
    }
    let passengers = root
        .entry("passengers")
        .or_insert_with(|| Value::Array(Vec::new()));
    if passengers.is_null() {
        *passengers = Value::Array(Vec::new());
    }
    let Value::Array(list) = passengers else {
        return Err("passengers must be a list".to_owned());
    };
    for (i, passenger) in list.iter_mut().enumerate() {
        let Value::Object(p) = passenger else {
            return Err(format!("passengers[{i}] must be an object"));
        };
        derive_passenger(p, &links, tz).map_err(|e| format!("passengers[{i}].{e}"))?;
    }
    let count = list.len();
    root.insert("passenger_count".to_owned(), count.into());
    // Lets the footer warn that links are personal only when there are some.
    let has_links = LINK_KEYS
        .iter()
        .any(|k| links.get(*k).is_some_and(Value::is_string))
        || links
            .get("remove")
            .is_some_and(|m| m.as_object().is_some_and(|m| !m.is_empty()));
    root.insert("has_links".to_owned(), has_links.into());
    derive_instant(&mut root, "sent_at", tz, &[("sent_at_fr", sent_at_wording)])?;
    root.insert("links".to_owned(), Value::Object(links));

    check_required(template, &root)?;
    Ok(Value::Object(root))
}

fn sent_at_wording(dt: &DateTime<Tz>) -> String {
    format!("{} à {}", date_with_year_fr(dt), time_fr(dt))
}

fn normalize_links(links: &Value) -> Result<Map<String, Value>, String> {
    let mut out = match links {
        Value::Null => Map::new(),
        Value::Object(map) => map.clone(),
        _ => return Err("links must be a JSON object".to_owned()),
    };
    for key in LINK_KEYS {
        match out.entry(key).or_insert(Value::Null) {
            Value::Null | Value::String(_) => {}
            _ => return Err(format!("links.{key} must be a string URL")),
        }
    }
    match out
        .entry("remove")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        v @ Value::Null => *v = Value::Object(Map::new()),
        Value::Object(_) => {}
        _ => return Err("links.remove must be an object keyed by reservation id".to_owned()),
    }
    Ok(out)
}

/// Derives the offer's wordings.
fn derive_offer(offer: &mut Map<String, Value>, tz: Tz) -> Result<(), String> {
    derive_instant(
        offer,
        "departure_at",
        tz,
        &[
            ("departure_fr", datetime_fr),
            ("departure_date_fr", date_fr),
            ("departure_time_fr", time_fr),
        ],
    )
    .map_err(|e| format!("offer.{e}"))?;
    derive_count(offer, "seats", "seats_fr", seats_wording).map_err(|e| format!("offer.{e}"))?;
    derive_count(offer, "seats_left", "seats_left_fr", seats_left_wording)
        .map_err(|e| format!("offer.{e}"))?;
    Ok(())
}

fn derive_reservation(r: &mut Map<String, Value>, tz: Tz) -> Result<(), String> {
    let at = |e: String| format!("reservation.{e}");
    for key in RESERVATION_OPTIONAL {
        r.entry(key).or_insert(Value::Null);
    }
    let moment: &[(&str, Wording)] = &[("pickup_fr", datetime_fr), ("pickup_time_fr", time_fr)];
    derive_instant(r, "pickup_at", tz, moment).map_err(at)?;
    let before: &[(&str, Wording)] = &[
        ("previous_pickup_fr", datetime_fr),
        ("previous_pickup_time_fr", time_fr),
    ];
    derive_instant(r, "previous_pickup_at", tz, before).map_err(at)?;
    derive_instant(r, "created_at", tz, &[("created_fr", datetime_fr)]).map_err(at)?;
    // The service stores the request's deadline (`domain::request_deadline`, already capped
    // at departure) as `expires_at`: the email prints exactly the rule the links enforce.
    let deadline =
        derive_instant(r, "expires_at", tz, &[("expires_fr", datetime_fr)]).map_err(at)?;
    let deadline_fr = deadline.map(|d| datetime_fr(&datetime_fr::local(d, tz)));
    r.insert("deadline_fr".to_owned(), deadline_fr.into());
    derive_count(r, "seats", "seats_fr", seats_wording).map_err(at)?;
    // upon has no `==`: one flag per status lets templates branch on it.
    let status = r
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    for known in STATUSES {
        r.insert(format!("is_{known}"), (status == known).into());
    }
    Ok(())
}

fn derive_passenger(
    p: &mut Map<String, Value>,
    links: &Map<String, Value>,
    tz: Tz,
) -> Result<(), String> {
    for key in PASSENGER_OPTIONAL {
        p.entry(key).or_insert(Value::Null);
    }
    let moment: &[(&str, Wording)] = &[("pickup_fr", datetime_fr), ("pickup_time_fr", time_fr)];
    derive_instant(p, "pickup_at", tz, moment)?;
    derive_count(p, "seats", "seats_fr", seats_wording)?;
    // The mail layer keys remove links by reservation id; templates iterate
    // passengers, so each one carries its own link (null when not removable).
    let id = match p.get("reservation_id") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let url = id
        .and_then(|id| links.get("remove").and_then(|m| m.get(&id)).cloned())
        .unwrap_or(Value::Null);
    if !(url.is_null() || url.is_string()) {
        return Err("remove link must be a string URL".to_owned());
    }
    p.insert("remove_url".to_owned(), url);
    Ok(())
}

/// Adds the wordings of an RFC 3339 field. An absent field stays absent (so a template
/// that needs it fails loudly); a null one gives null wordings.
fn derive_instant(
    obj: &mut Map<String, Value>,
    field: &str,
    tz: Tz,
    outputs: &[(&str, Wording)],
) -> Result<Option<DateTime<Utc>>, String> {
    let instant = match obj.get(field) {
        None => return Ok(None),
        Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(datetime_fr::parse_instant(s).map_err(|e| format!("{field}: {e}"))?)
        }
        Some(_) => return Err(format!("{field} must be an RFC 3339 string")),
    };
    let local = instant.map(|i| datetime_fr::local(i, tz));
    for (name, wording) in outputs {
        let value = local.as_ref().map(wording);
        obj.insert((*name).to_owned(), value.into());
    }
    Ok(instant)
}

fn derive_count(
    obj: &mut Map<String, Value>,
    field: &str,
    output: &str,
    wording: fn(u64) -> String,
) -> Result<(), String> {
    let value = match obj.get(field) {
        None => return Ok(()),
        Some(Value::Null) => Value::Null,
        Some(v) => match v.as_u64() {
            Some(n) => wording(n).into(),
            None => return Err(format!("{field} must be a non-negative integer")),
        },
    };
    obj.insert(output.to_owned(), value);
    Ok(())
}

/// "1 place", "3 places" (French plural starts at 2).
pub fn seats_wording(n: u64) -> String {
    if n <= 1 {
        format!("{n} place")
    } else {
        format!("{n} places")
    }
}

/// "aucune place libre", "1 place libre", "2 places libres".
pub fn seats_left_wording(n: u64) -> String {
    match n {
        0 => "aucune place libre".to_owned(),
        1 => "1 place libre".to_owned(),
        n => format!("{n} places libres"),
    }
}

/// Which top-level objects each email cannot do without. Checked before rendering
/// so the error names the missing piece instead of a template line.
fn check_required(template: &str, root: &Map<String, Value>) -> Result<(), String> {
    let is_object = |key: &str| root.get(key).is_some_and(Value::is_object);
    if template == "test" {
        return Ok(());
    }
    if !is_object("offer") {
        return Err(format!("{template} needs an offer"));
    }
    let needs_reservation = !matches!(
        template,
        "itinerary_driver" | "reminder_driver" | "offer_cancelled_driver" | "offer_created_driver"
    );
    if needs_reservation && !is_object("reservation") {
        return Err(format!("{template} needs a reservation"));
    }
    if template == "route_updated_passenger"
        && root
            .get("reservation")
            .and_then(|r| r.get("pickup_at"))
            .is_none_or(Value::is_null)
    {
        return Err("route_updated_passenger needs reservation.pickup_at".to_owned());
    }
    Ok(())
}
