//! The HTTP layer: connections that speak HTTP/1.1 or HTTP/2 over the
//! pool's TLS streams ([`HttpConnector`], [`HttpConnection`]), their
//! validation ([`Validate`]), and the [`Client`] on top.
//!
//! The folder is `src/http/`; the module is `http_layer` because the crate
//! root re-exports the `http` crate under its own name.

mod body;
mod builder;
mod client;
pub(crate) mod connection;
mod connector;
mod controls;
pub mod cookie;
mod counters;
mod decode;
mod lease;
mod options;
pub mod redirect;
mod response;
mod session;
mod share;
mod sniff;
mod validate;

pub use body::Body;
pub use builder::ClientBuilder;
pub use client::{Client, Timeout};
pub use connection::HttpConnection;
pub use connector::HttpConnector;
pub use response::Response;
pub use session::Session;
pub use validate::{
    default_verdict, retry_after, status_verdict, strict_verdict, StatusValidator, Validate,
    Verdict,
};

pub(crate) use body::Limits;
pub(crate) use client::DEFAULT_MAX_BODY_SIZE;
use client::{Inner, DEFAULT_TIMEOUT};
use connection::{Counted, Sender};
pub(crate) use counters::Counters;
pub(crate) use decode::{Decoder, Encoding};
pub(crate) use lease::Lease;
pub(crate) use options::*;
pub(crate) use redirect::DEFAULT_MAX_REDIRECTS;
use sniff::{FrameWalker, H2Signals};
