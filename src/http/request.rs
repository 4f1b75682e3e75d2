//! Reading what a request carries: a bounded body, the token of a link, the client's
//! address, the bearer token.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::net::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Timeout,
    /// The client went away or sent a broken chunked encoding.
    Broken,
}

/// Reads the whole body, refusing it as soon as it is known to exceed `limit`
/// (announced length) or does (streamed), without reading further.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}

/// The media type without parameters, lowercased ("application/json; charset=utf-8" →
/// "application/json").
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mt = v.split(';').next()?.trim().to_ascii_lowercase();
    (!mt.is_empty()).then_some(mt)
}

/// The first value of `name` in an `application/x-www-form-urlencoded` string (a query
/// string or a form body).
pub fn form_value(encoded: &str, name: &str) -> Option<String> {
    encoded.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k)? == name).then(|| percent_decode(v))?
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The client a rate limit applies to: the TCP peer, or what a trusted reverse proxy
/// says in `X-Forwarded-For` (see [`crate::net::client_ip`]).
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    // A header value that is not visible ASCII cannot be parsed: ignore the whole header.
    let values: Option<Vec<&str>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .collect();
    match values {
        Some(values) => crate::net::client_ip(peer, values.into_iter(), trusted),
        None => crate::net::client_ip(peer, ["?"].into_iter(), trusted),
    }
}

/// Compares the request's bearer token with the configured one without leaking, by
/// timing, how much of it matched (hashing first also hides the length).
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
    else {
        return false;
    };
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(
            form_value("token=abc.def", "token").as_deref(),
            Some("abc.def")
        );
        assert_eq!(
            form_value("a=1&token=x%2Ey", "token").as_deref(),
            Some("x.y")
        );
        assert_eq!(form_value("a=1&b", "token"), None);
        assert_eq!(form_value("token=%zz", "token"), None);
        assert_eq!(form_value("token=", "token").as_deref(), Some(""));
        assert_eq!(form_value("na+me=a+b", "na me").as_deref(), Some("a b"));
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.append("x-forwarded-for", HeaderValue::from_static("5.6.7.8"));
        let local: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let remote: SocketAddr = "9.9.9.9:9".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["127.0.0.1".parse().unwrap()];
        // Several header lines are one list, in order.
        assert_eq!(
            client_ip(local, &h, &trusted),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(local, &h, &[]), local.ip());
        assert_eq!(client_ip(remote, &h, &trusted), remote.ip());
        assert_eq!(client_ip(local, &HeaderMap::new(), &trusted), local.ip());
        // A value that is not text cannot be read: the peer it is.
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.2.3.\xff").unwrap(),
        );
        assert_eq!(client_ip(local, &h, &trusted), local.ip());
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(bearer_matches(&h, "s3cret"));
        assert!(!bearer_matches(&h, "s3cre"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic s3cret"),
        );
        assert!(!bearer_matches(&h, "s3cret"));
    }

    #[test]
    fn media_types_ignore_parameters_and_case() {
        let mut h = HeaderMap::new();
        assert_eq!(media_type(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(media_type(&h).as_deref(), Some("application/json"));
    }
}
