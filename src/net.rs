//! IP networks (`server.trusted_proxies`) and the client address a request counts against:
//! pure functions, no I/O.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address block: "203.0.113.7" (one address), "10.0.0.0/8", "2001:db8::/32".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        let invalid = || {
            format!(
                "invalid address \"{s}\": expected an IP address or a CIDR block such as \"10.0.0.0/8\" or \"2001:db8::/32\""
            )
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr
            .parse::<IpAddr>()
            .map_err(|_| invalid())?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(invalid)?,
            Some(_) => return Err(invalid()),
        };
        // Host bits set ("10.0.0.1/8") usually mean a typo: refuse rather than guess.
        let net = IpNet { addr, prefix };
        let zeroed = match addr {
            IpAddr::V4(a) => IpNet {
                addr: IpAddr::from(mask_bytes(a.octets(), prefix)),
                prefix,
            },
            IpAddr::V6(a) => IpNet {
                addr: IpAddr::from(mask_bytes(a.octets(), prefix)),
                prefix,
            },
        };
        if zeroed != net {
            return Err(format!(
                "invalid network \"{s}\": host bits are set (did you mean \"{zeroed}\"?)"
            ));
        }
        Ok(net)
    }
}

fn mask_bytes<const N: usize>(mut bytes: [u8; N], prefix: u8) -> [u8; N] {
    for (i, b) in bytes.iter_mut().enumerate() {
        let bit = i * 8;
        let keep = usize::from(prefix).saturating_sub(bit).min(8);
        *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
    bytes
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// The client a request counts against (rate limits).
///
/// Only a peer listed in `trusted` (a reverse proxy) may speak for someone else. Its
/// `X-Forwarded-For` is read from the right (each proxy appends the address it received
/// the request from): the client is the right-most entry that is not itself a trusted
/// proxy. Entries left of it were written by the client and are never looked at. An
/// entry that cannot be parsed on the way makes the whole header ignored: the request
/// then counts against the peer, so garbage never buys a fresh identity.
pub fn client_ip<'a>(
    peer: SocketAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut last_proxy = None;
    for entry in forwarded_for.flat_map(|v| v.split(',')).rev() {
        let Some(ip) = parse_entry(entry.trim()) else {
            return peer;
        };
        if !is_trusted(ip, trusted) {
            return ip;
        }
        last_proxy = Some(ip);
    }
    // Every hop was one of our proxies: the left-most is the nearest thing to a client.
    last_proxy.unwrap_or(peer)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// "203.0.113.5", "203.0.113.5:41234", "2001:db8::1", "[2001:db8::1]:443".
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = entry.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn peer(s: &str) -> SocketAddr {
        SocketAddr::new(ip(s), 40000)
    }

    #[test]
    fn networks_parse_and_match() {
        assert!(net("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("192.168.1.128/25").contains(ip("192.168.1.200")));
        assert!(!net("192.168.1.128/25").contains(ip("192.168.1.100")));
        assert!(net("203.0.113.7").contains(ip("203.0.113.7")));
        assert!(!net("203.0.113.7").contains(ip("203.0.113.8")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
        // IPv4-mapped IPv6 peers (a dual-stack listener) match their IPv4 network.
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert_eq!(net(" 10.0.0.0/8 ").to_string(), "10.0.0.0/8");
        assert_eq!(net("::1").to_string(), "::1");
    }

    #[test]
    fn bad_networks_are_refused_with_a_hint() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "localhost",
            "10.0.0.0/8/8",
            "10.0.0.0/+8",
            "1.2.3.4:80",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?} accepted");
        }
        let e = "10.0.0.1/8".parse::<IpNet>().unwrap_err();
        assert!(e.contains("did you mean \"10.0.0.0/8\""), "{e}");
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let xff = ["1.2.3.4, 5.6.7.8"];
        // Default: nobody is trusted, not even loopback.
        assert_eq!(
            client_ip(peer("127.0.0.1"), xff.into_iter(), &[]),
            ip("127.0.0.1")
        );
        let trusted = [net("127.0.0.1")];
        assert_eq!(
            client_ip(peer("9.9.9.9"), xff.into_iter(), &trusted),
            ip("9.9.9.9")
        );
        assert_eq!(
            client_ip(peer("127.0.0.1"), xff.into_iter(), &trusted),
            ip("5.6.7.8")
        );
        assert_eq!(
            client_ip(peer("127.0.0.1"), std::iter::empty(), &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let trusted = [net("127.0.0.1"), net("10.0.0.0/8")];
        // Client-written entries on the left never count; our proxies on the right are skipped.
        let xff = ["6.6.6.6, 203.0.113.5", "10.1.1.1, 10.2.2.2"];
        assert_eq!(
            client_ip(peer("127.0.0.1"), xff.into_iter(), &trusted),
            ip("203.0.113.5")
        );
        // The rotating-spoof case of the report: the proxy-appended entry (with a port) wins.
        for k in 0..5 {
            let h = format!("10.123.0.{k}, 203.0.113.5:41234");
            assert_eq!(
                client_ip(
                    peer("127.0.0.1"),
                    [h.as_str()].into_iter(),
                    &[net("127.0.0.1")]
                ),
                ip("203.0.113.5")
            );
        }
        assert_eq!(
            client_ip(
                peer("127.0.0.1"),
                ["[2001:db8::7]:443"].into_iter(),
                &trusted
            ),
            ip("2001:db8::7")
        );
        // Only proxies: the left-most of them.
        assert_eq!(
            client_ip(
                peer("127.0.0.1"),
                ["10.9.9.9, 10.1.1.1"].into_iter(),
                &trusted
            ),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn an_unparseable_entry_makes_the_header_ignored() {
        let trusted = [net("127.0.0.1"), net("10.0.0.0/8")];
        for h in [
            "garbage",
            "1.2.3.4, garbage",
            "1.2.3.4, unknown, 10.0.0.1",
            "1.2.3.4,,",
        ] {
            assert_eq!(
                client_ip(peer("127.0.0.1"), [h].into_iter(), &trusted),
                ip("127.0.0.1"),
                "{h}"
            );
        }
        // Garbage left of the client was the client's own doing: it changes nothing.
        assert_eq!(
            client_ip(
                peer("127.0.0.1"),
                ["garbage, 1.2.3.4"].into_iter(),
                &trusted
            ),
            ip("1.2.3.4")
        );
    }
}
