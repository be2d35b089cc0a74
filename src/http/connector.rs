//! [`HttpConnector`]: dials, handshakes HTTP and validates.

use super::*;

use crate::{
    connect::{Connect, Target},
    error::Error,
    stats::ProfileStats,
    tls::TlsConnector,
};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
};

/// Makes [`HttpConnection`]s: a [`TlsConnector`] dial, hyper's HTTP/1.1 or
/// HTTP/2 handshake by ALPN, then validation.
///
/// # The life of a connection
///
/// 1. [`TlsConnector`] dials the target IP and handshakes with a profile.
/// 2. The protocol agreed by ALPN picks hyper's HTTP/2 client (`h2`) or its
///    HTTP/1.1 client (anything else); hyper's connection task is spawned on
///    the current tokio runtime and lives as long as the connection.
/// 3. Before the pool lends it for the first time, the connection is
///    validated: the [`Validate`] probe (by default `HEAD /`) is sent on it
///    and the response judged. 2xx and 3xx accept; 403 means the address
///    refuses us: the dial fails with [`Error::Blocked`] and the pool puts the
///    IP on its blacklist; any other status fails the dial with
///    [`Error::Validation`] and closes the connection without blacklisting.
/// 4. While pooled, [`Connect::is_open`] asks hyper whether its connection
///    task has ended (the peer closed, or a protocol error); a closed
///    connection is never lent.
/// 5. Dropping the connection drops hyper's request sender: the HTTP/1.1
///    task shuts the stream down (a TLS close_notify), the HTTP/2 task sends
///    GOAWAY, and the task ends.
///
/// A pool of these lends each connection exclusively, HTTP/2 ones too;
/// [`Client`](crate::Client) shares an HTTP/2 connection between
/// concurrent requests, one stream each, on top of that.
///
/// [`Client`](crate::Client) builds one for its pool; use it directly for a
/// `Pool<HttpConnector>` of your own.
pub struct HttpConnector {
    tls: TlsConnector,
    opts: Arc<HttpOptions>,
    tasks: Arc<AtomicUsize>,
}

impl fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnector")
            .field("tls", &self.tls)
            .field("validates", &self.opts.validator.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpConnector {
    /// HTTP over `tls`, validating each new connection with `HEAD /`.
    pub fn new(tls: TlsConnector) -> HttpConnector {
        HttpConnector::with_options(tls, Arc::new(HttpOptions::default()))
    }

    pub(crate) fn with_options(tls: TlsConnector, opts: Arc<HttpOptions>) -> HttpConnector {
        HttpConnector {
            tls,
            opts,
            tasks: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Validates new connections with `validator` instead (`None`: no
    /// validation).
    pub fn validator(mut self, validator: Option<Arc<dyn Validate>>) -> Self {
        Arc::make_mut(&mut self.opts).validator = validator;
        self
    }

    /// The TLS connector underneath.
    pub fn tls(&self) -> &TlsConnector {
        &self.tls
    }

    /// Runs hyper's connection task, counted in `closing` until it ends.
    fn spawn_task<F>(&self, conn: F, target: &Target, version: &'static str)
    where
        F: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
    {
        let t = target.clone();
        let guard = TaskGuard::new(&self.tasks);
        tokio::spawn(async move {
            let _guard = guard;
            if let Err(e) = conn.await {
                tracing::debug!(target = %t, error = %e, "hotpool: {version} connection ended");
            }
        });
    }

    async fn handshake(&self, target: &Target) -> Result<HttpConnection, Error> {
        let tls = self.tls.connect(target).await?;
        let profile: Arc<str> = tls.profile().into();
        let proxy = tls.proxy().map(Arc::from);
        let h2 = tls.alpn() == Some(b"h2");
        let http2_settings = tls.http2_settings();
        let read = Arc::new(AtomicU64::new(0));
        let signals = h2.then(|| Arc::new(H2Signals::new()));
        let io = TokioIo::new(Counted {
            inner: tls,
            read: read.clone(),
            walker: signals.clone().map(FrameWalker::new),
        });
        let http_err = |e: hyper::Error| Error::http(Some(target), None, e);
        let max_header = self.opts.max_header_size;
        let sender = if h2 {
            // The profile's opening (profile/http2.rs); hyper sends
            // ENABLE_PUSH = 0 itself, and the header-list limit announced
            // is the one enforced.
            let s = http2_settings;
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .header_table_size(s.header_table_size)
                .max_concurrent_streams(s.max_concurrent_streams)
                .initial_stream_window_size(s.initial_stream_window)
                .initial_connection_window_size(s.initial_connection_window)
                .max_frame_size(s.max_frame_size)
                .max_header_list_size(u32::try_from(max_header).unwrap_or(u32::MAX))
                .handshake(io)
                .await
                .map_err(http_err)?;
            self.spawn_task(conn, target, "HTTP/2");
            Sender::H2(sender)
        } else {
            let (sender, conn) = http1::Builder::new()
                .max_header_size(max_header)
                .max_headers(max_header_lines(max_header))
                .max_buf_size(max_header.max(64 * 1024))
                .handshake(io)
                .await
                .map_err(http_err)?;
            self.spawn_task(conn, target, "HTTP/1.1");
            Sender::H1(sender)
        };
        Ok(HttpConnection {
            sender,
            read,
            target: target.clone(),
            profile,
            proxy,
            accept_language: self.opts.pick_language(),
            requests: 0,
            retry_after: None,
            h2: signals,
        })
    }
}

impl Connect for HttpConnector {
    type Conn = HttpConnection;

    async fn connect(&self, target: &Target) -> Result<HttpConnection, Error> {
        let mut conn = self.handshake(target).await?;
        if let Some(v) = &self.opts.validator {
            conn.validate(&self.opts, &**v, None).await?;
        }
        Ok(conn)
    }

    fn is_open(&self, conn: &HttpConnection) -> bool {
        conn.is_open()
    }

    /// The health probe: the validation request (a 403 is an
    /// [`Error::Blocked`], which blacklists the IP), or, without a
    /// validator, a check that the connection can take a request.
    async fn probe(&self, conn: &mut HttpConnection) -> Result<(), Error> {
        match &self.opts.validator {
            Some(v) => conn.validate(&self.opts, &**v, None).await,
            None => conn.ready().await,
        }
    }

    fn label(&self, conn: &HttpConnection) -> Option<Arc<str>> {
        Some(conn.profile.clone())
    }

    /// hyper connection tasks still running: each ends once its connection
    /// is closed (an HTTP/1.1 task after sending close_notify).
    fn closing(&self) -> usize {
        self.tasks.load(Ordering::Relaxed) + self.tls.closing()
    }

    fn profile_stats(&self) -> Vec<ProfileStats> {
        self.tls.profile_stats()
    }
}

/// Counts a running hyper connection task; the count drops when the task
/// ends.
struct TaskGuard(Arc<AtomicUsize>);

impl TaskGuard {
    fn new(count: &Arc<AtomicUsize>) -> TaskGuard {
        count.fetch_add(1, Ordering::Relaxed);
        TaskGuard(count.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode};

    #[test]
    fn accept_language_has_distinct_tags_with_descending_q() {
        let opts = HttpOptions::default();
        for _ in 0..200 {
            let v = opts.pick_language();
            let s = v.to_str().unwrap();
            let tags: Vec<&str> = s.split(',').collect();
            assert!((2..=5).contains(&tags.len()), "{s}");
            let mut names: Vec<&str> = tags.iter().map(|t| t.split(';').next().unwrap()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), tags.len(), "duplicate tag in {s}");
            assert!(!tags[0].contains(";q="), "{s}");
            let qs: Vec<f64> = tags[1..]
                .iter()
                .map(|t| t.split_once(";q=").unwrap().1.parse().unwrap())
                .collect();
            assert!(qs.windows(2).all(|w| w[0] > w[1]), "{s}");
            assert!(qs.iter().all(|q| *q < 1.0 && *q > 0.0), "{s}");
        }
    }

    #[test]
    fn status_rules() {
        assert_eq!(status_verdict(StatusCode::OK), Verdict::Accept);
        assert_eq!(
            status_verdict(StatusCode::MOVED_PERMANENTLY),
            Verdict::Accept
        );
        assert_eq!(status_verdict(StatusCode::FORBIDDEN), Verdict::Block);
        assert!(matches!(
            status_verdict(StatusCode::NOT_FOUND),
            Verdict::Reject(_)
        ));
        assert!(matches!(
            status_verdict(StatusCode::SERVICE_UNAVAILABLE),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn validator_path_must_be_a_path() {
        let e = StatusValidator::new().path("robots.txt").unwrap_err();
        assert!(e.to_string().contains("validation.path"), "{e}");
        let v = StatusValidator::new().path("/robots.txt").unwrap();
        let t = Target::new("a.example".into(), "192.0.2.1:443".parse().unwrap());
        assert_eq!(v.probe(&t, None).uri(), "/robots.txt");
        assert_eq!(v.probe(&t, Some("/x?y=1")).uri(), "/x?y=1");
        assert_eq!(v.probe(&t, None).method(), Method::HEAD);
    }
}
