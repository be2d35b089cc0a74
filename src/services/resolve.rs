//! Resolving domains: the [`Resolve`] trait, the system resolver, single
//! flight and negative caching, and the refusal of inward addresses.

use super::*;
use crate::{
    connect::Connect,
    engine::{Domain, IPS_NONE},
    error::Error,
    pool::Pool,
    sync::{Arc, StdArc},
};
use std::{
    fmt,
    future::Future,
    net::IpAddr,
    pin::Pin,
    time::{Duration, Instant},
};

/// Fills and refreshes a domain's address list.
///
/// The pool asks it for a domain's addresses at the domain's first dial (if
/// [`Pool::set_ips`] gave none) and again every `dns_refresh_interval`.
/// Addresses that leave the list are retired: idle connections to them are
/// closed, lent ones when returned. New ones are used at once (and
/// prewarmed when `min_idle_per_domain` asks for it). Domains whose
/// addresses were set with `set_ips` are never resolved.
///
/// [`SystemResolver`] is the default of [`Client`](crate::Client); a
/// crawler's own IP service (domain → IPs) plugs in the same way.
///
/// # Examples
///
/// ```
/// use hotpool::{Error, Resolve};
/// use std::{collections::HashMap, net::IpAddr};
///
/// /// Addresses from a table a crawler maintains.
/// struct Table(HashMap<String, Vec<IpAddr>>);
///
/// impl Resolve for Table {
///     async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, Error> {
///         self.0.get(host).cloned().ok_or_else(|| Error::NoAddress { domain: host.into() })
///     }
/// }
/// ```
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` (dialed on `port`).
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Vec<IpAddr>, Error>> + Send;
}

/// The object-safe form of [`Resolve`] the pool stores.
pub(crate) trait DynResolve: Send + Sync + 'static {
    fn resolve_dyn<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, Error>> + Send + 'a>>;
}

impl<R: Resolve> DynResolve for R {
    fn resolve_dyn<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, Error>> + Send + 'a>> {
        Box::pin(self.resolve(host, port))
    }
}

/// A shared resolver.
#[derive(Clone)]
pub(crate) struct ResolverRef(pub(crate) StdArc<dyn DynResolve>);

impl ResolverRef {
    pub(crate) fn new(r: impl Resolve) -> ResolverRef {
        ResolverRef(StdArc::new(r))
    }
}

impl fmt::Debug for ResolverRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

/// The system resolver: `getaddrinfo` through [`tokio::net::lookup_host`],
/// run on tokio's blocking pool.
///
/// Chosen over hickory-resolver because it needs no extra dependency and
/// answers exactly as the rest of the machine does (`/etc/hosts`,
/// nsswitch, the local caching resolver). It reports no TTLs, so refreshes
/// follow `dns_refresh_interval`. A crawler resolving at a high rate should
/// plug in its own [`Resolve`] (a hickory resolver, or its IP service).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, Error> {
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::Resolve {
                domain: host.into(),
                source: Box::new(e),
            })?;
        let mut ips: Vec<IpAddr> = Vec::new();
        for a in addrs {
            if !ips.contains(&a.ip()) {
                ips.push(a.ip());
            }
        }
        Ok(ips)
    }
}

/// Whether `ip` points inward: private (RFC 1918, unique local),
/// loopback, link-local (cloud metadata services live at 169.254.169.254
/// and fd00:ec2::254), unspecified, shared address space (100.64/10), or
/// an IPv4-mapped form of one of these.
pub(crate) fn is_inward(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_inward(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
                || (s[0] & 0xffc0) == 0xfe80 // link-local
        }
    }
}

impl<C: Connect> Pool<C> {
    /// Resolves a domain that has no addresses yet (and was never given
    /// any), if the pool has a resolver.
    ///
    /// Called before a dial takes one of the `max_concurrent_dials`
    /// permits, so that a slow resolver does not hold them. Concurrent
    /// first requests to a domain share one resolution (single flight),
    /// and a failed one is remembered for `negative_dns_ttl`: requests in
    /// that time fail at once with the same error.
    pub(crate) async fn resolve_if_unknown(&self, d: &Arc<Domain<C::Conn>>) -> Result<(), Error> {
        if d.ip_source() != IPS_NONE || self.inner.services.resolver.is_none() {
            return Ok(());
        }
        let services = &self.inner.services;
        let key = d.key().clone();
        let remembered = || -> Result<(), Error> {
            let mut failed = lock(&services.failed);
            match failed.get(&key) {
                Some((until, why)) if *until > Instant::now() => Err(Error::Resolve {
                    domain: key.clone(),
                    source: format!("{why} (failed recently; not retried for negative_dns_ttl)")
                        .into(),
                }),
                Some(_) => {
                    failed.remove(&key);
                    Ok(())
                }
                None => Ok(()),
            }
        };
        remembered()?;
        let flight = lock(&services.resolving)
            .entry(key.clone())
            .or_default()
            .clone();
        let _turn = flight.lock().await;
        // Another request may have resolved (or failed) while this one
        // waited for its turn.
        if d.ip_source() != IPS_NONE {
            return Ok(());
        }
        remembered()?;
        let r = self.resolve_domain(d).await;
        lock(&services.resolving).remove(&key);
        if let Err(e) = &r {
            let ttl = self.inner.shared.settings.negative_dns_ttl();
            let until = Instant::now()
                .checked_add(ttl)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
            let why = match e {
                Error::Resolve { source, .. } => source.to_string(),
                e => e.to_string(),
            };
            lock(&services.failed).insert(key, (until, why));
        }
        r.map(|_| ())
    }

    /// Asks the resolver for `d`'s addresses and installs them. Returns
    /// whether there was a resolver.
    pub(super) async fn resolve_domain(&self, d: &Arc<Domain<C::Conn>>) -> Result<bool, Error> {
        let Some(r) = &self.inner.services.resolver else {
            return Ok(false);
        };
        let (host, port) = d.host_port();
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            // An IP literal names its own address, as the user wrote it:
            // trusted like set_ips, no resolver asked.
            d.set_resolved_ips(&[ip]);
            return Ok(true);
        }
        let timeout = self.inner.shared.settings.connect_timeout();
        let ips = match tokio::time::timeout(timeout, r.0.resolve_dyn(host, port)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Resolve {
                    domain: d.key().clone(),
                    source: format!("no answer within {timeout:?}").into(),
                })
            }
        };
        tracing::debug!(domain = %d.key(), ?ips, "hotpool: resolved");
        let allow_private = lock(&self.inner.services.config).allow_private_addresses;
        let ips = if allow_private {
            ips
        } else {
            let (public, inward): (Vec<IpAddr>, Vec<IpAddr>) =
                ips.into_iter().partition(|ip| !is_inward(*ip));
            if !inward.is_empty() {
                tracing::warn!(domain = %d.key(), ?inward, "hotpool: resolver answered private addresses; refused");
            }
            if public.is_empty() && !inward.is_empty() {
                return Err(Error::Resolve {
                    domain: d.key().clone(),
                    source: format!(
                        "resolved only to private, loopback, link-local or metadata addresses {inward:?} (refused; allow_private_addresses(true) permits them)"
                    )
                    .into(),
                });
            }
            public
        };
        d.set_resolved_ips(&ips);
        Ok(true)
    }
}
