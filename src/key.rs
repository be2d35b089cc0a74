//! Pool keys: one spelling for one host and port.
//!
//! Every entry point that names a domain — URLs, `set_ips`, `get`,
//! `prewarm`, `get_to`, `[[domain]]`, `block_pair` — goes through
//! [`normalize`], so `Example.COM.`, `example.com:443` and `example.com`
//! are one domain, and `bücher.example` is `xn--bcher-kva.example`:
//!
//! - the host is lower-cased, its trailing dot removed, and an
//!   internationalised name converted to its ASCII (punycode) form by
//!   UTS #46 (the `idna` crate, as browsers do);
//! - an IP literal is written in its canonical form, IPv6 in brackets;
//! - the port is kept only when it is not the pool's default.
//!
//! A key may end in a *route*, `#` and anything after it
//! (`example.com#socks5://proxy.test:1080`): the host and port before it
//! are normalised as above, the route is kept as given. A key with a route
//! is a domain of its own (its own connections, limits and blocks) that
//! shares its host's addresses; [`Target::route`](crate::Target::route)
//! hands the route to the connector.
//!
//! The map is looked up with the key as given first, and only a miss
//! normalises it: a key already in canonical form (what the client and a
//! crawler's own code pass) costs nothing more on the hot path.

use std::{
    borrow::Cow,
    net::{IpAddr, Ipv6Addr},
};

/// Splits `key` into host and port (`None`: no port given).
fn split(key: &str) -> (&str, Option<&str>) {
    if let Some(rest) = key.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            return (host, tail.strip_prefix(':'));
        }
    }
    if key.parse::<Ipv6Addr>().is_ok() {
        return (key, None);
    }
    match key.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (key, None),
    }
}

/// Splits the route (after the first `#`) off `key`.
pub(crate) fn split_route(key: &str) -> (&str, Option<&str>) {
    match key.split_once('#') {
        Some((k, r)) => (k, Some(r)),
        None => (key, None),
    }
}

/// Whether `key` is already canonical: lower-case ASCII host without a
/// trailing dot, no brackets, and no default port (and a non-empty route,
/// if any).
fn is_canonical(key: &str, default_port: u16) -> bool {
    let (key, route) = split_route(key);
    if route.is_some_and(str::is_empty) {
        return false;
    }
    let (host, port) = match key.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (key, None),
    };
    let host_ok = !host.is_empty()
        && !host.ends_with('.')
        && !host.starts_with("xn--") // checked by idna on the slow path
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let port_ok = match port {
        None => true,
        Some(p) => {
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && !p.starts_with('0')
                && p.parse::<u16>().is_ok_and(|n| n != default_port)
        }
    };
    host_ok && port_ok
}

/// The canonical form of a pool key; see the module docs. A key that
/// cannot be read as host and port is returned lower-cased, as it is.
pub(crate) fn normalize(key: &str, default_port: u16) -> Cow<'_, str> {
    if is_canonical(key, default_port) {
        return Cow::Borrowed(key);
    }
    match split_route(key) {
        (k, Some(route)) if !route.trim().is_empty() => {
            Cow::Owned(format!("{}#{}", normalize(k, default_port), route.trim()))
        }
        (k, _) => normalize_target(k, default_port),
    }
}

/// [`normalize`] of a key without a route.
fn normalize_target(key: &str, default_port: u16) -> Cow<'_, str> {
    if is_canonical(key, default_port) {
        return Cow::Borrowed(key);
    }
    let (host, port) = split(key.trim());
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) => n,
            Err(_) => return Cow::Owned(key.to_ascii_lowercase()),
        },
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => match idna::domain_to_ascii(host) {
            Ok(ascii) if !ascii.is_empty() => ascii,
            _ => host.to_ascii_lowercase(),
        },
    };
    if port == default_port {
        Cow::Owned(host)
    } else {
        Cow::Owned(format!("{host}:{port}"))
    }
}

/// The host of a canonical key (brackets of an IPv6 literal kept, the
/// route left out).
pub(crate) fn host_of(key: &str) -> &str {
    let key = split_route(key).0;
    if key.starts_with('[') {
        return match key.split_once(']') {
            Some((h, _)) => &key[..=h.len()],
            None => key,
        };
    }
    match key.rsplit_once(':') {
        Some((h, _)) => h,
        None => key,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_host_and_port() {
        let n = |k| normalize(k, 443).into_owned();
        assert_eq!(n("example.com"), "example.com");
        assert_eq!(n("Example.COM."), "example.com");
        assert_eq!(n("example.com:443"), "example.com");
        assert_eq!(n("EXAMPLE.com:8443"), "example.com:8443");
        assert_eq!(n("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(n("BÜCHER.example.:8443"), "xn--bcher-kva.example:8443");
        assert_eq!(n("2001:DB8::1"), "[2001:db8::1]");
        assert_eq!(n("[2001:db8:0::1]:443"), "[2001:db8::1]");
        assert_eq!(n("[2001:db8::1]:8443"), "[2001:db8::1]:8443");
        assert_eq!(n("127.0.0.1:443"), "127.0.0.1");
        assert_eq!(normalize("a.test:8443", 8443), "a.test");
        // Canonical keys are not copied.
        assert!(matches!(normalize("a.test:8443", 443), Cow::Borrowed(_)));
        assert!(matches!(normalize("example.com", 443), Cow::Borrowed(_)));
        // A route is kept as given, after the canonical host and port.
        assert_eq!(
            n("Example.COM:443#socks5://p.test:1080"),
            "example.com#socks5://p.test:1080"
        );
        assert_eq!(n("a.test:8443#r"), "a.test:8443#r");
        assert!(matches!(normalize("a.test#r", 443), Cow::Borrowed(_)));
        assert_eq!(n("a.test#"), "a.test", "an empty route is none");
        assert_eq!(host_of("a.test:8443#http://p:3128"), "a.test");
    }

    #[test]
    fn host_of_a_key() {
        assert_eq!(host_of("a.test:8443"), "a.test");
        assert_eq!(host_of("a.test"), "a.test");
        assert_eq!(host_of("[2001:db8::1]:8443"), "[2001:db8::1]");
        assert_eq!(host_of("[2001:db8::1]"), "[2001:db8::1]");
        assert_eq!(host_of("[2001:db8::1]:8443#r"), "[2001:db8::1]");
    }
}
