//! Field validation of rider-supplied input. Pure: the service maps these into field-level errors.

/// A field-level validation failure: `field` is the JSON name the API reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_LABEL_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 1000;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_SEATS: i64 = 8;

/// A one-line human string: trimmed, non-empty, bounded, no control characters
/// (CR/LF would let a name inject email headers).
pub fn single_line(field: &str, value: &str, max_chars: usize) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if v.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters or line breaks",
        ));
    }
    // Zero-width spaces and the like survive trim() but print nothing: a driver named
    // "\u{200B}" would greet nobody and cannot be told apart from another.
    if v.chars().all(is_invisible) {
        return Err(FieldError::new(
            field,
            "must contain at least one visible character",
        ));
    }
    if v.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(v.to_owned())
}

/// Characters that print nothing on their own: whitespace, controls, and the Unicode
/// format and filler characters (Default_Ignorable_Code_Point, plus blank-looking
/// fillers such as the Hangul and Braille blanks).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Free text (the passenger's message): line breaks allowed, other control characters not.
pub fn free_text(field: &str, value: &str, max_chars: usize) -> Result<Option<String>, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if v.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(Some(v.replace("\r\n", "\n")))
}

/// A pragmatic address check (the SMTP server has the last word): one `@`, a dotted
/// domain, no spaces, quotes, angle brackets or control characters, so the address
/// can go into a header as is.
///
/// Returns the address as it is sent and stored: an internationalised domain
/// (`exämple.org`) becomes its ASCII (punycode) form (`xn--exmple-cua.org`), which every
/// SMTP server takes; storing that one spelling keeps every comparison (duplicate
/// requests, per-recipient limits, the driver's dashboard, `forget`) on one form of the
/// address. A non-ASCII local part (`jösé@`) is refused: it needs SMTPUTF8 end to end,
/// which most servers do not offer, and it cannot be converted.
pub fn email(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let bad = || FieldError::new(field, "must be a valid email address");
    if v.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if v.len() > MAX_EMAIL_CHARS {
        return Err(FieldError::new(field, "must be at most 254 characters"));
    }
    if v.chars().any(|c| {
        c.is_control()
            || c.is_whitespace()
            || matches!(
                c,
                '<' | '>' | '"' | ',' | ';' | '(' | ')' | '\\' | '[' | ']'
            )
    }) {
        return Err(bad());
    }
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(bad());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad());
    }
    if !local.is_ascii() {
        return Err(FieldError::new(
            field,
            "must have only ASCII characters before the @ (no accents): most mail servers cannot deliver to such an address",
        ));
    }
    let domain = if domain.is_ascii() {
        domain.to_owned()
    } else {
        idna::domain_to_ascii_strict(domain).map_err(|_| bad())?
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    {
        return Err(bad());
    }
    let address = format!("{local}@{domain}");
    if address.len() > MAX_EMAIL_CHARS {
        return Err(FieldError::new(field, "must be at most 254 characters"));
    }
    Ok(address)
}

pub fn seats(field: &str, value: i64, max: i64) -> Result<i64, FieldError> {
    if value < 1 {
        return Err(FieldError::new(field, "must be at least 1"));
    }
    if value > max {
        return Err(FieldError::new(field, format!("must be at most {max}")));
    }
    Ok(value)
}

pub fn coordinate(
    field: &str,
    lat: Option<f64>,
    lon: Option<f64>,
) -> Result<Option<(f64, f64)>, FieldError> {
    match (lat, lon) {
        (None, None) => Ok(None),
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() {
                return Err(FieldError::new(
                    format!("{field}.lat"),
                    "must be between -90 and 90",
                ));
            }
            if !(-180.0..=180.0).contains(&lon) || !lon.is_finite() {
                return Err(FieldError::new(
                    format!("{field}.lon"),
                    "must be between -180 and 180",
                ));
            }
            Ok(Some((lat, lon)))
        }
        (Some(_), None) => Err(FieldError::new(
            format!("{field}.lon"),
            "is required when lat is given",
        )),
        (None, Some(_)) => Err(FieldError::new(
            format!("{field}.lat"),
            "is required when lon is given",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_header_injection_and_blank() {
        assert_eq!(single_line("driver_name", "  Jean  ", 100).unwrap(), "Jean");
        assert_eq!(
            single_line("driver_name", " ", 100).unwrap_err().message,
            "must not be empty"
        );
        let e = single_line("driver_name", "Jean\r\nBcc: x@y.z", 100).unwrap_err();
        assert_eq!(e.field, "driver_name");
        assert!(e.message.contains("line breaks"));
        assert!(single_line("x", &"é".repeat(101), 100).is_err());
        assert!(single_line("x", &"é".repeat(100), 100).is_ok());
    }

    #[test]
    fn names_need_a_visible_character() {
        for blank in [
            "\u{200B}",
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            " \u{200B} \u{3000} ",
            "\u{00A0}\u{00AD}\u{2800}\u{3164}",
            "\u{202E}\u{2066}\u{FE0F}\u{E0041}",
        ] {
            let e = single_line("passenger_name", blank, 100).unwrap_err();
            assert_eq!(e.field, "passenger_name", "{blank:?}");
            assert!(
                e.message == "must contain at least one visible character"
                    || e.message == "must not be empty",
                "{blank:?}: {}",
                e.message
            );
        }
        // One visible character is enough, joiners inside real names are kept.
        assert_eq!(single_line("n", "\u{200B}A", 100).unwrap(), "\u{200B}A");
        assert!(single_line("n", "👩\u{200D}🔧 Zoé", 100).is_ok());
        assert!(single_line("n", "李", 100).is_ok());
    }

    #[test]
    fn emails_are_checked() {
        for good in [
            "a@b.fr",
            "jean.dupont+carette@example.org",
            "Jean@Example.ORG",
        ] {
            assert_eq!(email("e", good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "a@@b.fr",
            "a b@c.fr",
            "a@b.fr\r\nBcc: x",
            "<a@b.fr>",
            "a@-b.fr",
            ".a@b.fr",
            "a@b..fr",
            "a@b_c.fr",
        ] {
            assert!(email("e", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn international_domains_become_punycode_and_accented_local_parts_are_refused() {
        assert_eq!(
            email("e", " poison@exämple.org ").as_deref(),
            Ok("poison@xn--exmple-cua.org")
        );
        assert_eq!(
            email("e", "marie@EXÄMPLE.org").as_deref(),
            Ok("marie@xn--exmple-cua.org"),
            "one spelling whatever the case"
        );
        assert_eq!(
            email("e", "jean@bücher.例え.jp").as_deref(),
            Ok("jean@xn--bcher-kva.xn--r8jz45g.jp")
        );
        for bad in ["jösé@example.org", "é@exemple.fr", "jean@exä mple.org"] {
            let e = email("passenger_email", bad).unwrap_err();
            assert_eq!(e.field, "passenger_email", "{bad}");
        }
        assert!(
            email("e", "jösé@example.org")
                .unwrap_err()
                .message
                .contains("ASCII")
        );
    }

    #[test]
    fn messages_keep_lines_but_not_other_controls() {
        assert_eq!(
            free_text("m", "a\r\nb", 10).unwrap().as_deref(),
            Some("a\nb")
        );
        assert_eq!(free_text("m", "   ", 10).unwrap(), None);
        assert!(free_text("m", "a\u{7}b", 10).is_err());
    }

    #[test]
    fn coordinates_come_in_pairs_within_range() {
        assert_eq!(coordinate("pickup", None, None), Ok(None));
        assert!(coordinate("pickup", Some(45.0), Some(4.8)).is_ok());
        assert_eq!(
            coordinate("pickup", Some(91.0), Some(4.8))
                .unwrap_err()
                .field,
            "pickup.lat"
        );
        assert_eq!(
            coordinate("pickup", Some(45.0), None).unwrap_err().field,
            "pickup.lon"
        );
        assert!(coordinate("pickup", Some(f64::NAN), Some(1.0)).is_err());
    }

    #[test]
    fn seats_are_bounded() {
        assert!(seats("seats", 0, 8).is_err());
        assert!(seats("seats", 9, 8).is_err());
        assert_eq!(seats("seats", 2, 8), Ok(2));
    }
}
