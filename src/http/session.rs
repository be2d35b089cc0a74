//! [`Session`]: a cookie jar and default headers of its own over a
//! client's shared pool.

use super::{cookie::Jar, Client, Response};
use crate::{
    error::Error,
    proxy::{Proxy, Route},
};
use bytes::Bytes;
use http::{header::IntoHeaderName, HeaderMap, HeaderValue, Method, Request};
use std::{fmt, sync::Arc};

/// A crawl session: its own [`Jar`] and default headers, the client's pool.
///
/// A session is what a logged-in user or an isolated visitor is to a site:
/// the cookies its responses set are sent on its later requests and on no
/// other session's. Connections carry no cookies, so every session lends
/// and returns the client's hot connections; thousands of sessions cost
/// thousands of jars, not thousands of pools. Cloning a session shares its
/// jar.
///
/// A session's default headers fill in what a request lacks, before the
/// client's own defaults; a `Cookie` header the caller sets replaces the
/// jar's for that request.
///
/// # Examples
///
/// ```no_run
/// # async fn f(client: hotpool::Client) -> Result<(), hotpool::Error> {
/// let alice = client.session().header("x-account", "alice".parse().unwrap());
/// alice.post("https://example.com/login", "user=alice").await?; // Set-Cookie: sid=…
/// alice.get("https://example.com/inbox").await?; // Cookie: sid=…
///
/// // Saved, and resumed later (even by another process).
/// let mut saved = Vec::new();
/// alice.jar().save_json(&mut saved)?;
/// let jar = hotpool::cookie::Jar::load_json(&saved[..])?;
/// let resumed = client.session_with_jar(std::sync::Arc::new(jar));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    client: Client,
    jar: Arc<Jar>,
    headers: Arc<HeaderMap>,
    route: Option<Route>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("jar", &self.jar)
            .field("headers", &self.headers.len())
            .field("proxy", &self.route.as_ref().map(|r| &r.0))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A new session with an empty cookie jar, over this client's pool.
    pub fn session(&self) -> Session {
        self.session_with_jar(Arc::new(Jar::new()))
    }

    /// A session over this client's pool that uses `jar` (one loaded with
    /// [`Jar::load_json`], or shared with another session).
    pub fn session_with_jar(&self, jar: Arc<Jar>) -> Session {
        Session {
            client: self.clone(),
            jar,
            headers: Arc::new(HeaderMap::new()),
            route: None,
        }
    }
}

impl Session {
    /// Adds a default header of this session (replacing an earlier one of
    /// the same name).
    pub fn header(mut self, name: impl IntoHeaderName, value: HeaderValue) -> Session {
        Arc::make_mut(&mut self.headers).insert(name, value);
        self
    }

    /// Pins the session to `proxy`: every connection of its requests goes
    /// through it, and they are pooled apart from other proxies' (the
    /// proxy is part of their pool key), so a site sees the session from
    /// one exit address. The proxy need not be in the client's list.
    pub fn proxy(mut self, proxy: Proxy) -> Session {
        let name = self.client.pool().connector().tls().proxies().pin(proxy);
        self.route = Some(Route(name));
        self
    }

    /// The session's cookie jar.
    pub fn jar(&self) -> &Arc<Jar> {
        &self.jar
    }

    /// The client whose pool the session uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `GET url` in this session.
    ///
    /// # Errors
    ///
    /// See [`Client::request`].
    pub async fn get(&self, url: &str) -> Result<Response, Error> {
        self.send(Method::GET, url, Bytes::new()).await
    }

    /// `HEAD url` in this session.
    ///
    /// # Errors
    ///
    /// See [`Client::request`].
    pub async fn head(&self, url: &str) -> Result<Response, Error> {
        self.send(Method::HEAD, url, Bytes::new()).await
    }

    /// `POST url` with `body` in this session. A POST is never retried.
    ///
    /// # Errors
    ///
    /// See [`Client::request`].
    pub async fn post(&self, url: &str, body: impl Into<Bytes>) -> Result<Response, Error> {
        self.send(Method::POST, url, body.into()).await
    }

    /// Sends `req` in this session: its default headers fill in what the
    /// request lacks, its jar supplies the cookies and keeps what the
    /// responses set.
    ///
    /// # Errors
    ///
    /// See [`Client::request`].
    pub async fn request<B: Into<Bytes>>(&self, req: Request<B>) -> Result<Response, Error> {
        let (parts, body) = req.into_parts();
        let mut req = Request::from_parts(parts, body.into());
        self.fill(&mut req);
        self.client.run(req, false, Some(&self.jar)).await
    }

    async fn send(&self, method: Method, url: &str, body: Bytes) -> Result<Response, Error> {
        let mut req = self.client.new_request(method, url, body)?;
        self.fill(&mut req);
        self.client.run(req, false, Some(&self.jar)).await
    }

    fn fill(&self, req: &mut Request<Bytes>) {
        if let Some(route) = &self.route {
            req.extensions_mut().insert(route.clone());
        }
        let headers = req.headers_mut();
        for name in self.headers.keys() {
            if !headers.contains_key(name) {
                for v in self.headers.get_all(name) {
                    headers.append(name.clone(), v.clone());
                }
            }
        }
    }
}
