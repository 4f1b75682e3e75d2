//! Checks the shape of a JSON body (required fields, types, unknown keys) before serde
//! sees it, so an error can name the field: serde_json's own type errors only give a
//! line and column. A test below keeps these tables in step with the service's structs.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Num,
    Place,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

const PLACE: &[Field] = &[
    req("label", Kind::Str),
    opt("lat", Kind::Num),
    opt("lon", Kind::Num),
];

/// `OfferInput`.
pub const OFFER: &[Field] = &[
    req("driver_name", Kind::Str),
    req("driver_email", Kind::Str),
    req("origin", Kind::Place),
    req("destination", Kind::Place),
    req("departure_at", Kind::Str),
    req("seats", Kind::Int),
    opt("lang", Kind::Str),
];

/// `ReservationInput`.
pub const RESERVATION: &[Field] = &[
    req("passenger_name", Kind::Str),
    req("passenger_email", Kind::Str),
    req("seats", Kind::Int),
    opt("pickup", Kind::Place),
    opt("message", Kind::Str),
    opt("lang", Kind::Str),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// None when the body as a whole is wrong (not an object).
    pub field: Option<String>,
    pub message: String,
}

impl ShapeError {
    fn at(field: String, message: &str) -> ShapeError {
        ShapeError {
            message: format!("{field} {message}"),
            field: Some(field),
        }
    }
}

/// Checks `value` against `fields`, then deserializes it.
pub fn parse<T: DeserializeOwned>(value: Value, fields: &[Field]) -> Result<T, ShapeError> {
    let Value::Object(map) = &value else {
        return Err(ShapeError {
            field: None,
            message: "the body must be a JSON object".to_owned(),
        });
    };
    check_object(map, fields, "")?;
    // The check above mirrors the struct, so this only fails if they drift apart.
    serde_json::from_value(value).map_err(|e| ShapeError {
        field: None,
        message: format!("invalid body: {e}"),
    })
}

fn check_object(
    map: &Map<String, Value>,
    fields: &[Field],
    prefix: &str,
) -> Result<(), ShapeError> {
    for f in fields {
        let path = format!("{prefix}{}", f.name);
        match map.get(f.name) {
            None | Some(Value::Null) if f.required => {
                return Err(ShapeError::at(path, "is required"));
            }
            None | Some(Value::Null) => {}
            Some(v) => check_kind(v, f.kind, &path)?,
        }
    }
    if let Some(unknown) = map.keys().find(|k| !fields.iter().any(|f| f.name == *k)) {
        let expected: Vec<&str> = fields.iter().map(|f| f.name).collect();
        return Err(ShapeError::at(
            format!("{prefix}{unknown}"),
            &format!("is not a known field (expected: {})", expected.join(", ")),
        ));
    }
    Ok(())
}

fn check_kind(v: &Value, kind: Kind, path: &str) -> Result<(), ShapeError> {
    let ok = match kind {
        Kind::Str => v.is_string(),
        Kind::Int => v.as_i64().is_some(),
        Kind::Num => v.is_number(),
        Kind::Place => {
            return match v {
                Value::Object(m) => check_object(m, PLACE, &format!("{path}.")),
                _ => Err(ShapeError::at(
                    path.to_owned(),
                    "must be an object such as {\"label\": \"Lyon Part-Dieu\"}",
                )),
            };
        }
    };
    if ok {
        return Ok(());
    }
    let what = match kind {
        Kind::Str => "must be a string",
        Kind::Int => "must be a whole number",
        _ => "must be a number",
    };
    Err(ShapeError::at(path.to_owned(), what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{OfferInput, ReservationInput};
    use serde_json::json;

    fn offer() -> Value {
        json!({
            "driver_name": "Jean", "driver_email": "jean@example.org",
            "origin": {"label": "Lyon", "lat": 45.7, "lon": 4.8},
            "destination": {"label": "Grenoble"},
            "departure_at": "2030-01-01T08:00:00+01:00", "seats": 3, "lang": "en"
        })
    }

    fn reservation() -> Value {
        json!({
            "passenger_name": "Marie", "passenger_email": "marie@example.org", "seats": 1,
            "pickup": {"label": "Bellecour"}, "message": "Merci", "lang": "fr"
        })
    }

    fn field_of<T: DeserializeOwned>(v: Value, fields: &[Field]) -> Option<String> {
        parse::<T>(v, fields).err().and_then(|e| e.field)
    }

    #[test]
    fn valid_bodies_pass() {
        assert!(parse::<OfferInput>(offer(), OFFER).is_ok());
        assert!(parse::<ReservationInput>(reservation(), RESERVATION).is_ok());
        let minimal = json!({"passenger_name": "M", "passenger_email": "m@x.fr", "seats": 1});
        assert!(parse::<ReservationInput>(minimal, RESERVATION).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let mut v = offer();
        v["seats"] = json!("3");
        assert_eq!(field_of::<OfferInput>(v, OFFER).as_deref(), Some("seats"));
        let mut v = offer();
        v["seats"] = json!(2.5);
        assert_eq!(field_of::<OfferInput>(v, OFFER).as_deref(), Some("seats"));
        let mut v = offer();
        v["origin"] = json!("Lyon");
        assert_eq!(field_of::<OfferInput>(v, OFFER).as_deref(), Some("origin"));
        let mut v = offer();
        v["origin"]["lat"] = json!("north");
        assert_eq!(
            field_of::<OfferInput>(v, OFFER).as_deref(),
            Some("origin.lat")
        );
        let mut v = offer();
        v["destination"]["country"] = json!("FR");
        assert_eq!(
            field_of::<OfferInput>(v, OFFER).as_deref(),
            Some("destination.country")
        );
        let mut v = reservation();
        v["pickup"] = json!({});
        assert_eq!(
            field_of::<ReservationInput>(v, RESERVATION).as_deref(),
            Some("pickup.label")
        );
        let e = parse::<OfferInput>(json!([1]), OFFER).unwrap_err();
        assert_eq!(e.field, None);
    }

    /// The tables must describe the service's structs exactly: dropping any required
    /// field or adding an unknown one fails both here and in serde.
    #[test]
    fn tables_match_the_structs() {
        for (sample, fields) in [(offer(), OFFER), (reservation(), RESERVATION)] {
            let Value::Object(map) = &sample else {
                unreachable!()
            };
            for f in fields {
                let mut v = map.clone();
                v.remove(f.name);
                let serde_ok = if fields.len() == OFFER.len() {
                    serde_json::from_value::<OfferInput>(Value::Object(v.clone())).is_ok()
                } else {
                    serde_json::from_value::<ReservationInput>(Value::Object(v.clone())).is_ok()
                };
                assert_eq!(serde_ok, !f.required, "{}", f.name);
                let mut v = map.clone();
                v.insert(f.name.to_owned(), json!([]));
                let serde_ok = if fields.len() == OFFER.len() {
                    serde_json::from_value::<OfferInput>(Value::Object(v)).is_ok()
                } else {
                    serde_json::from_value::<ReservationInput>(Value::Object(v)).is_ok()
                };
                assert!(!serde_ok, "{} accepts a list", f.name);
            }
        }
    }
}
