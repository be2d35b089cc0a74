//! The client's request counters, the source of [`RequestStats`].

use crate::{
    error::Error,
    stats::{Failures, RequestStats, StatusClasses},
};
use http::StatusCode;
use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

#[derive(Default)]
pub(crate) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) status: [AtomicU64; 5],
    pub(super) timeout: AtomicU64,
    pub(super) connect: AtomicU64,
    pub(super) tls: AtomicU64,
    pub(super) blocked: AtomicU64,
    pub(super) validation: AtomicU64,
    pub(super) http: AtomicU64,
    pub(super) other: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) body_errors: AtomicU64,
    pub(super) latency_sum_ns: AtomicU64,
    pub(super) latency_max_ns: AtomicU64,
}

impl Counters {
    pub(super) fn response(&self, status: StatusCode, latency: Duration) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.status[class].fetch_add(1, Relaxed);
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_ns.fetch_add(ns, Relaxed);
        self.latency_max_ns.fetch_max(ns, Relaxed);
    }

    pub(super) fn failure(&self, e: &Error) {
        let c = if e.is_timeout() || e.is_request_timeout() {
            &self.timeout
        } else if e.is_blocked() {
            &self.blocked
        } else if e.is_validation() {
            &self.validation
        } else if e.is_http() {
            &self.http
        } else if matches!(e, Error::Tls { .. } | Error::Certificate { .. }) {
            &self.tls
        } else if e.is_connect()
            || e.is_connect_refused()
            || e.is_no_address()
            || matches!(e, Error::Reset { .. })
        {
            &self.connect
        } else {
            &self.other
        };
        c.fetch_add(1, Relaxed);
    }

    pub(super) fn snapshot(&self) -> RequestStats {
        let ld = |c: &AtomicU64| c.load(Relaxed);
        let responses = StatusClasses {
            informational: ld(&self.status[0]),
            success: ld(&self.status[1]),
            redirection: ld(&self.status[2]),
            client_error: ld(&self.status[3]),
            server_error: ld(&self.status[4]),
        };
        let n = responses.total();
        RequestStats {
            requests: ld(&self.requests),
            responses,
            failures: Failures {
                timeout: ld(&self.timeout),
                connect: ld(&self.connect),
                tls: ld(&self.tls),
                blocked: ld(&self.blocked),
                validation: ld(&self.validation),
                http: ld(&self.http),
                other: ld(&self.other),
            },
            retries: ld(&self.retries),
            body_errors: ld(&self.body_errors),
            avg_latency: Duration::from_nanos(ld(&self.latency_sum_ns).checked_div(n).unwrap_or(0)),
            max_latency: Duration::from_nanos(ld(&self.latency_max_ns)),
        }
    }
}
