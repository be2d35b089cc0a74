//! Cookies: an RFC 6265 cookie jar ([`Jar`]) for a client or a
//! [`Session`](crate::Session).
//!
//! # Where cookies live
//!
//! Connections carry no cookies; jars do. A client built with
//! [`cookie_store(true)`](crate::ClientBuilder::cookie_store) keeps one jar
//! for all its requests; each [`Session`](crate::Session) keeps its own and
//! shares the client's pool, so a crawler can run thousands of isolated
//! sessions over one set of hot connections.
//!
//! # The protocol
//!
//! Every response of a request with a jar — each redirect hop included —
//! has its `Set-Cookie` headers stored against the URL that answered. Every
//! request (each hop again) that does not carry a `Cookie` header of the
//! caller's gets one with the jar's cookies for its URL: name=value pairs
//! joined by `; `, longest path first, then by name.
//!
//! The storage and matching rules are RFC 6265's, from the
//! [`cookie_store`] crate (reqwest's cookie jar uses it too): host-only and
//! domain cookies (`Domain=example.com` is sent to its subdomains),
//! `Path` prefixes, `Secure` (every request here is HTTPS), `Expires` and
//! `Max-Age` (a cookie set with `Max-Age=0` or a past date is removed),
//! a newer cookie of the same name, domain and path replacing the older.
//!
//! Domain cookies for a public suffix are refused (RFC 6265 §5.3 step 5):
//! a page on `shop.example.co.uk` cannot set a cookie for all of `co.uk`.
//! The check uses the public suffix list compiled into the [`psl`] crate,
//! so a jar allocates no copy of the list; a `Domain` attribute equal to
//! the answering host itself (a site *at* a public suffix) makes the cookie
//! host-only, as the RFC says.
//!
//! # Concurrency
//!
//! A jar is a `RwLock` around the store: requests read it, responses that
//! set cookies write it. This sits beside the pool's lock-free path, not on
//! it; a client without a jar never touches one.

use crate::error::Error;
use cookie_store::{CookieStore, RawCookie};
use http::{header, HeaderMap, HeaderValue, Uri};
use std::{
    fmt,
    io::{BufRead, Write},
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
};

/// A cookie jar: the cookies that responses set, sent back to the URLs
/// they match. See the [module docs](self) for the rules.
///
/// # Examples
///
/// ```
/// use hotpool::cookie::Jar;
/// let jar = Jar::new();
/// let url: hotpool::http::Uri = "https://www.example.com/account/login".parse().unwrap();
/// assert!(jar.add("sid=42; Domain=example.com; Path=/; Secure", &url));
/// assert!(!jar.add("all=1; Domain=com", &url), "com is a public suffix");
/// let other: hotpool::http::Uri = "https://img.example.com/a.png".parse().unwrap();
/// assert_eq!(jar.cookies(&other).unwrap(), "sid=42");
/// ```
pub struct Jar {
    store: RwLock<CookieStore>,
}

impl Default for Jar {
    fn default() -> Jar {
        Jar::new()
    }
}

impl fmt::Debug for Jar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cookie values are credentials: never printed.
        f.debug_struct("Jar")
            .field("cookies", &self.len())
            .finish_non_exhaustive()
    }
}

/// The `url` crate's form of an `https` request URI, for the store.
fn to_url(uri: &Uri) -> Option<url::Url> {
    url::Url::parse(&uri.to_string()).ok()
}

impl Jar {
    /// An empty jar.
    pub fn new() -> Jar {
        Jar {
            store: RwLock::new(CookieStore::new()),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, CookieStore> {
        // A panic while holding the lock leaves a consistent store (every
        // write is one call into it).
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, CookieStore> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores one `Set-Cookie` header value as if `url` had answered with
    /// it. Returns whether it was stored (for one already expired: whether
    /// it removed the cookie it names); `false` for a value that does not
    /// parse, a domain the URL is not in, or a public suffix.
    pub fn add(&self, set_cookie: &str, url: &Uri) -> bool {
        let Some(u) = to_url(url) else {
            return false;
        };
        match checked(set_cookie, &u) {
            Some(c) => self.write().insert_raw(&c, &u).is_ok(),
            None => false,
        }
    }

    /// The `Cookie` header value for a request to `url`: the unexpired
    /// cookies that match it, or `None` if none does.
    pub fn cookies(&self, url: &Uri) -> Option<HeaderValue> {
        let store = self.read();
        // An empty jar answers without parsing the URL.
        store.iter_any().next()?;
        let u = to_url(url)?;
        let mut matched = store.matches(&u);
        // RFC 6265 §5.4: longer paths first; then by name, so that the
        // header does not depend on the store's hashing.
        let path_len = |c: &cookie_store::Cookie<'_>| c.path.as_ref().len();
        matched.sort_by(|a, b| {
            path_len(b)
                .cmp(&path_len(a))
                .then_with(|| a.name().cmp(b.name()))
        });
        let mut value = String::new();
        for c in matched {
            let (name, v) = c.name_value();
            if !value.is_empty() {
                value.push_str("; ");
            }
            value.push_str(name);
            value.push('=');
            value.push_str(v);
        }
        if value.is_empty() {
            return None;
        }
        HeaderValue::from_str(&value).ok()
    }

    /// Whether the jar holds an unexpired cookie `name` that a request to
    /// `url` would send.
    pub fn contains(&self, url: &Uri, name: &str) -> bool {
        let Some(u) = to_url(url) else {
            return false;
        };
        self.read().get_request_values(&u).any(|(n, _)| n == name)
    }

    /// How many unexpired cookies the jar holds.
    pub fn len(&self) -> usize {
        self.read().iter_unexpired().count()
    }

    /// Whether the jar holds no unexpired cookie.
    pub fn is_empty(&self) -> bool {
        self.read().iter_unexpired().next().is_none()
    }

    /// Removes every cookie.
    pub fn clear(&self) {
        self.write().clear();
    }

    /// Writes the jar as JSON, session cookies (those without an expiry)
    /// included, so that [`load_json`](Jar::load_json) resumes the session.
    ///
    /// # Errors
    ///
    /// [`Error::CookieJar`] if writing fails.
    pub fn save_json<W: Write>(&self, writer: &mut W) -> Result<(), Error> {
        let store = self.read();
        cookie_store::serde::json::save_incl_expired_and_nonpersistent(&store, writer)
            .map_err(|reason| Error::CookieJar { reason })
    }

    /// A jar read from what [`save_json`](Jar::save_json) wrote; cookies
    /// that have expired since are left out.
    ///
    /// # Errors
    ///
    /// [`Error::CookieJar`] if reading fails or the input is not a saved
    /// jar.
    pub fn load_json<R: BufRead>(reader: R) -> Result<Jar, Error> {
        let store = cookie_store::serde::json::load(reader)
            .map_err(|reason| Error::CookieJar { reason })?;
        Ok(Jar {
            store: RwLock::new(store),
        })
    }

    /// Stores every `Set-Cookie` of a response from `url`.
    pub(crate) fn store_response(&self, url: &Uri, headers: &HeaderMap) {
        let mut values = headers.get_all(header::SET_COOKIE).iter().peekable();
        if values.peek().is_none() {
            return;
        }
        let Some(u) = to_url(url) else {
            return;
        };
        let cookies: Vec<RawCookie<'static>> = values
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| checked(v, &u))
            .collect();
        if cookies.is_empty() {
            return;
        }
        let mut store = self.write();
        for c in &cookies {
            if let Err(e) = store.insert_raw(c, &u) {
                tracing::trace!(name = c.name(), error = %e, "hotpool: cookie refused");
            }
        }
    }

    /// Adds the jar's `Cookie` header to `headers` unless the caller set
    /// one.
    pub(crate) fn apply(&self, url: &Uri, headers: &mut HeaderMap) {
        if headers.contains_key(header::COOKIE) {
            return;
        }
        if let Some(v) = self.cookies(url) {
            headers.insert(header::COOKIE, v);
        }
    }
}

/// `set_cookie` parsed, with the public-suffix rule applied for a response
/// from `url`: `None` if it does not parse or names a public suffix other
/// than the host itself.
fn checked(set_cookie: &str, url: &url::Url) -> Option<RawCookie<'static>> {
    let mut c = RawCookie::parse(set_cookie.to_owned()).ok()?;
    let Some(domain) = c.domain() else {
        return Some(c);
    };
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    let public = psl::suffix(domain.as_bytes())
        .is_some_and(|s| s.is_known() && s.as_bytes() == domain.as_bytes());
    if !public {
        return Some(c);
    }
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    if host == domain {
        // A site at a public suffix may set cookies for itself alone.
        c.unset_domain();
        Some(c)
    } else {
        tracing::trace!(domain, host, "hotpool: cookie for a public suffix refused");
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn host_only_and_domain_cookies() {
        let jar = Jar::new();
        let login = uri("https://www.example.com/login");
        assert!(jar.add("host=1", &login));
        assert!(jar.add("dom=2; Domain=.Example.COM", &login));
        assert_eq!(jar.cookies(&login).unwrap(), "dom=2; host=1");
        let sub = uri("https://img.example.com/");
        assert_eq!(jar.cookies(&sub).unwrap(), "dom=2", "host-only stays");
        assert!(jar.cookies(&uri("https://example.org/")).is_none());
        assert!(
            !jar.add("x=1; Domain=other.com", &login),
            "a domain the host is not in"
        );
    }

    #[test]
    fn paths_expiry_and_replacement() {
        let jar = Jar::new();
        let u = uri("https://a.test/shop/cart");
        assert!(jar.add("p=shop; Path=/shop", &u));
        assert!(jar.add("r=root; Path=/", &u));
        assert_eq!(jar.cookies(&u).unwrap(), "p=shop; r=root");
        assert_eq!(jar.cookies(&uri("https://a.test/")).unwrap(), "r=root");
        assert_eq!(
            jar.cookies(&uri("https://a.test/shopping")).unwrap(),
            "r=root",
            "a path prefix ends at a slash"
        );
        assert!(jar.add("r=new; Path=/", &u));
        assert_eq!(jar.cookies(&uri("https://a.test/")).unwrap(), "r=new");
        assert!(jar.add("r=gone; Path=/; Max-Age=0", &u));
        assert!(jar.cookies(&uri("https://a.test/")).is_none());
        jar.add("old=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", &u);
        assert!(!jar.contains(&u, "old"), "expired on arrival");
        assert_eq!(jar.len(), 1);
    }

    #[test]
    fn public_suffixes_are_refused() {
        let jar = Jar::new();
        let u = uri("https://shop.example.co.uk/");
        assert!(!jar.add("a=1; Domain=co.uk", &u));
        assert!(!jar.add("a=1; Domain=uk", &u));
        assert!(jar.add("b=2; Domain=example.co.uk", &u));
        assert_eq!(
            jar.cookies(&uri("https://www.example.co.uk/")).unwrap(),
            "b=2"
        );
        // A site at a public suffix (github.io is on the list) keeps its
        // cookie to itself.
        let at = uri("https://github.io/");
        assert!(jar.add("c=3; Domain=github.io", &at));
        assert!(jar.contains(&at, "c"));
        assert!(!jar.contains(&uri("https://someone.github.io/"), "c"));
        assert!(!jar.add("d=4; Domain=github.io", &uri("https://someone.github.io/")));
    }

    #[test]
    fn saved_and_loaded_with_session_cookies() {
        let jar = Jar::new();
        let u = uri("https://a.test/");
        assert!(jar.add("sid=abc", &u));
        assert!(jar.add("pref=dark; Max-Age=3600", &u));
        let mut out = Vec::new();
        jar.save_json(&mut out).unwrap();
        let back = Jar::load_json(&out[..]).unwrap();
        assert_eq!(back.cookies(&u).unwrap(), "pref=dark; sid=abc");
        let err = Jar::load_json(&b"not json"[..]).unwrap_err();
        assert!(err.is_cookie_jar(), "{err}");
    }

    #[test]
    fn a_response_stores_all_its_cookies_and_the_caller_wins() {
        let jar = Jar::new();
        let u = uri("https://a.test/");
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, "a=1".parse().unwrap());
        h.append(header::SET_COOKIE, "b=2; Path=/".parse().unwrap());
        h.append(header::SET_COOKIE, "=broken".parse().unwrap());
        jar.store_response(&u, &h);
        assert_eq!(jar.len(), 2);
        let mut req = HeaderMap::new();
        jar.apply(&u, &mut req);
        assert_eq!(req[header::COOKIE], "a=1; b=2");
        let mut own = HeaderMap::new();
        own.insert(header::COOKIE, "mine=1".parse().unwrap());
        jar.apply(&u, &mut own);
        assert_eq!(own[header::COOKIE], "mine=1");
    }
}
