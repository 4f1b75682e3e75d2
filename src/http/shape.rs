//! Checks the shape of a JSON body (required fields, types, unknown keys) before serde
//! sees it, so an error can name the field: serde_json's own type errors only give a
//! line and column. A test below keeps these tables in step with the service's structs.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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

/// Why a body is not one unambiguous JSON value.
#[derive(Debug)]
pub enum JsonError {
    Malformed(serde_json::Error),
    /// The same key twice in one object: which one counts is anyone's guess (serde_json
    /// keeps the last, other parsers the first), so neither is taken. Holds the dotted path.
    Duplicate(String),
}

/// Parses a JSON body like `serde_json::from_slice`, but refuses an object that repeats
/// a key, at any depth.
pub fn parse_json(bytes: &[u8]) -> Result<Value, JsonError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = Strict {
        path: String::new(),
        duplicate: &duplicate,
    };
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match (parsed, duplicate.into_inner()) {
        (_, Some(path)) => Err(JsonError::Duplicate(path)),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(JsonError::Malformed(e)),
    }
}

/// Builds a `Value` as serde_json would, noting the first repeated key's path.
struct Strict<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl Strict<'_> {
    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let seed = Strict {
                path: format!("{}[{}]", self.path, out.len()),
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.child(&key);
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(path);
                return Err(serde::de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(Strict {
                path,
                duplicate: self.duplicate,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
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

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        let dup = |body: &str| match parse_json(body.as_bytes()) {
            Err(JsonError::Duplicate(path)) => Some(path),
            Ok(_) => None,
            Err(JsonError::Malformed(e)) => panic!("{body}: {e}"),
        };
        assert_eq!(
            dup(r#"{"passenger_email":"a@b.org","passenger_email":"c@d.org"}"#).as_deref(),
            Some("passenger_email")
        );
        assert_eq!(
            dup(r#"{"pickup":{"label":"A","lat":1,"label":"B"}}"#).as_deref(),
            Some("pickup.label")
        );
        assert_eq!(
            dup(r#"{"a":[{"x":1},{"x":1,"x":2}]}"#).as_deref(),
            Some("a[1].x")
        );
        // The same key in sibling objects is no repetition; values match serde_json's.
        let body = r#"{"origin":{"label":"A","lat":45.5},"destination":{"label":"B"},"seats":3,"n":null,"ok":true,"big":18446744073709551615,"neg":-1}"#;
        assert_eq!(dup(body), None);
        assert_eq!(
            parse_json(body.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(body).unwrap()
        );
        for bad in ["", "{", "{\"a\":1} x", "[1,]", "{\"a\" 1}"] {
            assert!(
                matches!(parse_json(bad.as_bytes()), Err(JsonError::Malformed(_))),
                "{bad}"
            );
        }
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
