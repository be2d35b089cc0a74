#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// The loom build models the core only; the services that use the rest of
// the engine are left out of it.
#![cfg_attr(loom, allow(dead_code))]
#![warn(rust_2018_idioms, unreachable_pub)]

mod blacklist;
mod clock;
mod config;
#[cfg(not(loom))]
mod config_file;
mod connect;
mod engine;
mod error;
pub mod fingerprint;
mod idle;
mod key;
// The folder is `src/http/`; see its module docs for the name.
#[cfg(not(loom))]
#[path = "http/mod.rs"]
mod http_layer;
#[cfg(all(feature = "metrics", not(loom)))]
pub mod metrics;
mod pool;
mod pooled;
#[cfg(not(loom))]
mod probe;
#[cfg(not(loom))]
pub mod profile;
#[cfg(not(loom))]
pub mod proxy;
#[cfg(not(loom))]
mod services;
mod state;
mod stats;
pub mod streams;
mod sync;
#[cfg(not(loom))]
mod tls;

pub use crate::{
    config::{
        AddressChoice, Config, Wake, MAX_BLOCK_DOMAINS, MAX_CONNS, MAX_CONNS_PER_DOMAIN, MAX_DIALS,
    },
    connect::{Connect, Target},
    error::{BoxError, Error},
    pool::{Builder, DomainHandle, Pool},
    pooled::Pooled,
    stats::{
        AddressInfo, ConnectionInfo, DomainStats, Failures, ProfileStats, RequestStats, Stats,
        StatusClasses, StreamStats,
    },
};

#[cfg(not(loom))]
pub use crate::{
    config_file::{ClientConfig, DomainEntry, HttpSettings, TlsSettings, ValidationSettings},
    http_layer::{cookie, redirect},
    http_layer::{
        default_verdict, retry_after, status_verdict, strict_verdict, Body, Client, ClientBuilder,
        HttpConnection, HttpConnector, Response, Session, StatusValidator, Timeout, Validate,
        Verdict,
    },
    services::{Resolve, SweepReport, SystemResolver},
    tls::{ProfileChoice, TlsConnection, TlsConnector, TlsConnectorBuilder},
};

/// Re-exported: requests, methods, status codes and headers are `http`'s
/// types.
#[cfg(not(loom))]
pub use http;

/// Re-exported: request and response bodies are [`Bytes`](bytes::Bytes).
#[cfg(not(loom))]
pub use bytes;

/// Re-exported so that certificates and root stores can be named without a
/// direct dependency.
#[cfg(not(loom))]
pub use rustls;

/// Re-exported so that tests can build a mock clock for
/// [`Builder::clock`] without naming the dependency themselves.
pub use quanta;
