//! Turns the outbox row's context + links into what templates see.
//!
//! upon fails on a missing key even inside `{% if %}`, and `?.` only helps when the
//! parent is a map (it still fails on `reservation?.pickup` when `reservation` is
//! null). So instead of asking every template (and every operator override) to
//! guess which keys exist, this module normalizes once:
//! - optional fields are present, `null` when absent (templates test them with `if`);
//! - required fields are left alone, so a service bug that drops one is a render error,
//!   not a blank in a rider's email;
//! - wordings are derived here from the raw values, in the recipient's language, named
//!   with the language as suffix (`*_fr` or `*_en` fields).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::mail::datetime_fr;
use crate::mail::words::Words;

type Wording = fn(&Words, &DateTime<Tz>) -> String;

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
const PENDING_OPTIONAL: [&str; 3] = ["pickup", "message", "created_at"];

/// Derives wordings in one language and zone.
struct Deriver {
    words: Words,
    tz: Tz,
}

impl Deriver {
    /// `base` with the language suffix: `departure` → `departure_fr`.
    fn name(&self, base: &str) -> String {
        format!("{base}_{}", self.words.lang)
    }

    /// Adds the wordings of an RFC 3339 field. An absent field stays absent (so a template
    /// that needs it fails loudly); a null one gives null wordings.
    fn instant(
        &self,
        obj: &mut Map<String, Value>,
        field: &str,
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
        let local = instant.map(|i| datetime_fr::local(i, self.tz));
        for (base, wording) in outputs {
            let value = local.as_ref().map(|l| wording(&self.words, l));
            obj.insert(self.name(base), value.into());
        }
        Ok(instant)
    }

    fn count(
        &self,
        obj: &mut Map<String, Value>,
        field: &str,
        base: &str,
        wording: fn(&Words, u64) -> String,
    ) -> Result<(), String> {
        let value = match obj.get(field) {
            None => return Ok(()),
            Some(Value::Null) => Value::Null,
            Some(v) => match v.as_u64() {
                Some(n) => wording(&self.words, n).into(),
                None => return Err(format!("{field} must be a non-negative integer")),
            },
        };
        obj.insert(self.name(base), value);
        Ok(())
    }
}

/// Builds the template context; the error message says which field is wrong.
pub fn prepare(
    template: &str,
    context: &Value,
    links: &Value,
    tz: Tz,
    words: Words,
) -> Result<Value, String> {
    let d = Deriver { words, tz };
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
        "when_en",
    ] {
        root.entry(key).or_insert(Value::Null);
    }
    root.insert("lang".to_owned(), words.lang.as_str().into());
    // Rows queued before routing was recorded: say nothing about a time to come.
    match root.entry("routing").or_insert(Value::Bool(false)) {
        Value::Bool(_) => {}
        v @ Value::Null => *v = Value::Bool(false),
        _ => return Err("routing must be true or false".to_owned()),
    }
    let links = normalize_links(links)?;

    if let Some(Value::Object(offer)) = root.get_mut("offer") {
        derive_offer(&d, offer)?;
    }
    if let Some(Value::Object(reservation)) = root.get_mut("reservation") {
        derive_reservation(&d, reservation)?;
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
        derive_passenger(&d, p, &links).map_err(|e| format!("passengers[{i}].{e}"))?;
    }
    let count = list.len();
    root.insert("passenger_count".to_owned(), count.into());
    let pending = root
        .entry("pending")
        .or_insert_with(|| Value::Array(Vec::new()));
    if pending.is_null() {
        *pending = Value::Array(Vec::new());
    }
    let Value::Array(list) = pending else {
        return Err("pending must be a list".to_owned());
    };
    for (i, request) in list.iter_mut().enumerate() {
        let Value::Object(p) = request else {
            return Err(format!("pending[{i}] must be an object"));
        };
        derive_pending(&d, p, &links).map_err(|e| format!("pending[{i}].{e}"))?;
    }
    let count = list.len();
    root.insert("pending_count".to_owned(), count.into());
    // Lets the footer warn that links are personal only when there are some.
    let has_links = LINK_KEYS
        .iter()
        .any(|k| links.get(*k).is_some_and(Value::is_string))
        || links
            .get("remove")
            .is_some_and(|m| m.as_object().is_some_and(|m| !m.is_empty()));
    root.insert("has_links".to_owned(), has_links.into());
    d.instant(&mut root, "sent_at", &[("sent_at", sent_at_wording)])?;
    root.insert("links".to_owned(), Value::Object(links));

    check_required(template, &root)?;
    Ok(Value::Object(root))
}

fn sent_at_wording(w: &Words, dt: &DateTime<Tz>) -> String {
    let at = match w.lang {
        crate::domain::Lang::Fr => "à",
        crate::domain::Lang::En => "at",
    };
    format!("{} {at} {}", w.date_with_year(dt), w.time(dt))
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
    for key in ["accept_by", "refuse_by"] {
        match out.entry(key).or_insert_with(|| Value::Object(Map::new())) {
            v @ Value::Null => *v = Value::Object(Map::new()),
            Value::Object(_) => {}
            _ => {
                return Err(format!(
                    "links.{key} must be an object keyed by reservation id"
                ));
            }
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
fn derive_offer(d: &Deriver, offer: &mut Map<String, Value>) -> Result<(), String> {
    d.instant(
        offer,
        "departure_at",
        &[
            ("departure", Words::datetime),
            ("departure_date", Words::date),
            ("departure_time", Words::time),
        ],
    )
    .map_err(|e| format!("offer.{e}"))?;
    d.count(offer, "seats", "seats", Words::seats)
        .map_err(|e| format!("offer.{e}"))?;
    d.count(offer, "seats_left", "seats_left", Words::seats_left)
        .map_err(|e| format!("offer.{e}"))?;
    Ok(())
}

fn derive_reservation(d: &Deriver, r: &mut Map<String, Value>) -> Result<(), String> {
    let at = |e: String| format!("reservation.{e}");
    for key in RESERVATION_OPTIONAL {
        r.entry(key).or_insert(Value::Null);
    }
    let moment: &[(&str, Wording)] = &[("pickup", Words::datetime), ("pickup_time", Words::time)];
    d.instant(r, "pickup_at", moment).map_err(at)?;
    let before: &[(&str, Wording)] = &[
        ("previous_pickup", Words::datetime),
        ("previous_pickup_time", Words::time),
    ];
    d.instant(r, "previous_pickup_at", before).map_err(at)?;
    d.instant(r, "created_at", &[("created", Words::datetime)])
        .map_err(at)?;
    // The service stores the request's deadline (`domain::request_deadline`, already capped
    // at departure) as `expires_at`: the email prints exactly the rule the links enforce.
    let deadline = d
        .instant(r, "expires_at", &[("expires", Words::datetime)])
        .map_err(at)?;
    let deadline_words = deadline.map(|t| d.words.datetime(&datetime_fr::local(t, d.tz)));
    r.insert(d.name("deadline"), deadline_words.into());
    d.count(r, "seats", "seats", Words::seats).map_err(at)?;
    // upon has no `==`: one flag per status lets templates branch on it.
    let flag = |key: &str| {
        r.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let status = flag("status");
    // Whether seats were held before this change; unknown (older rows) reads as neither.
    let previous = flag("previous_status");
    for known in STATUSES {
        r.insert(format!("is_{known}"), (status == known).into());
    }
    r.insert("was_confirmed".to_owned(), (previous == "confirmed").into());
    r.insert("was_pending".to_owned(), (previous == "pending").into());
    r.entry("previous_status").or_insert(Value::Null);
    Ok(())
}

fn derive_passenger(
    d: &Deriver,
    p: &mut Map<String, Value>,
    links: &Map<String, Value>,
) -> Result<(), String> {
    for key in PASSENGER_OPTIONAL {
        p.entry(key).or_insert(Value::Null);
    }
    let moment: &[(&str, Wording)] = &[("pickup", Words::datetime), ("pickup_time", Words::time)];
    d.instant(p, "pickup_at", moment)?;
    d.count(p, "seats", "seats", Words::seats)?;
    // The mail layer keys remove links by reservation id; templates iterate
    // passengers, so each one carries its own link (null when not removable).
    let url = link_by_id(p, links, "remove")?;
    p.insert("remove_url".to_owned(), url);
    Ok(())
}

/// A pending request in the driver's reminder, with its own accept and refuse links.
fn derive_pending(
    d: &Deriver,
    p: &mut Map<String, Value>,
    links: &Map<String, Value>,
) -> Result<(), String> {
    for key in PENDING_OPTIONAL {
        p.entry(key).or_insert(Value::Null);
    }
    d.count(p, "seats", "seats", Words::seats)?;
    d.instant(p, "created_at", &[("created", Words::datetime)])?;
    let accept = link_by_id(p, links, "accept_by")?;
    let refuse = link_by_id(p, links, "refuse_by")?;
    p.insert("accept_url".to_owned(), accept);
    p.insert("refuse_url".to_owned(), refuse);
    Ok(())
}

/// `links.<map>[reservation_id]`, null when absent.
fn link_by_id(
    p: &Map<String, Value>,
    links: &Map<String, Value>,
    map: &str,
) -> Result<Value, String> {
    let id = match p.get("reservation_id") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let url = id
        .and_then(|id| links.get(map).and_then(|m| m.get(&id)).cloned())
        .unwrap_or(Value::Null);
    if !(url.is_null() || url.is_string()) {
        return Err(format!("{map} link must be a string URL"));
    }
    Ok(url)
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
    if matches!(
        template,
        "route_updated_passenger" | "pickup_time_passenger"
    ) && root
        .get("reservation")
        .and_then(|r| r.get("pickup_at"))
        .is_none_or(Value::is_null)
    {
        return Err(format!("{template} needs reservation.pickup_at"));
    }
    Ok(())
}
