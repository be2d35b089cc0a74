//! How a profile's HTTP/2 connection opens: the SETTINGS a client controls
//! and the connection's first WINDOW_UPDATE.
//!
//! An HTTP/2 client's first frames are as telling as its ClientHello: the
//! connection preface is followed by a SETTINGS frame (RFC 9113 §6.5) whose
//! values and order, the WINDOW_UPDATE that raises the connection's receive
//! window, any PRIORITY frames, and the order of the pseudo-headers in the
//! first HEADERS frame make up the Akamai HTTP/2 fingerprint
//! ([`crate::fingerprint::Http2Hello`]). A profile varies what hyper lets a
//! client set:
//!
//! | SETTINGS id | name | from |
//! |---|---|---|
//! | 1 | `HEADER_TABLE_SIZE` | [`Http2Settings::header_table_size`] (not sent when `None`: 4,096) |
//! | 2 | `ENABLE_PUSH` | always `0`: hyper's client refuses server push |
//! | 3 | `MAX_CONCURRENT_STREAMS` | [`Http2Settings::max_concurrent_streams`] (not sent when `None`) |
//! | 4 | `INITIAL_WINDOW_SIZE` | [`Http2Settings::initial_stream_window`] |
//! | 5 | `MAX_FRAME_SIZE` | [`Http2Settings::max_frame_size`] (not sent when `None`: 16,384) |
//! | 6 | `MAX_HEADER_LIST_SIZE` | the client's `max_response_header_size`: the limit it enforces is the one it announces |
//!
//! What hyper (through the `h2` crate) fixes for every profile: SETTINGS go
//! out in ascending id order, no PRIORITY frames are sent, and the
//! pseudo-headers come as `:method`, `:scheme`, `:authority`, `:path`
//! (`m,s,a,p`) — an order no mainstream browser uses. So no profile can be
//! taken for a browser, and none claims to be one.

use crate::error::Error;

/// The largest flow-control window HTTP/2 allows (2³¹ − 1, RFC 9113 §6.9.1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// Every connection starts with a 65,535-byte window (RFC 9113 §6.9.2); a
/// larger connection window is announced by a WINDOW_UPDATE of the
/// difference.
pub const DEFAULT_WINDOW: u32 = 65_535;

/// The HTTP/2 opening of a [`Profile`](super::Profile). The default is
/// hyper's: a 2 MiB stream window, a 5 MiB connection window, a 16 KiB
/// frame size sent, no header table size and no stream limit sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Http2Settings {
    /// `SETTINGS_HEADER_TABLE_SIZE`: the HPACK dynamic table the server's
    /// encoder may use (`None`: not sent, the protocol's 4,096).
    pub header_table_size: Option<u32>,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` the client allows the server to
    /// open (`None`: not sent). With push disabled the server opens none, so
    /// this only shapes the fingerprint.
    pub max_concurrent_streams: Option<u32>,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: each stream's receive window, at
    /// most [`MAX_WINDOW`]. Flow-control credit, not memory: nothing is
    /// allocated up front.
    pub initial_stream_window: u32,
    /// The connection's receive window, [`DEFAULT_WINDOW`] to
    /// [`MAX_WINDOW`]; above the default it is announced by a WINDOW_UPDATE
    /// of `initial_connection_window - 65,535` on stream 0.
    pub initial_connection_window: u32,
    /// `SETTINGS_MAX_FRAME_SIZE`: 16,384 to 16,777,215 (`None`: not sent,
    /// the protocol's 16,384).
    pub max_frame_size: Option<u32>,
}

impl Default for Http2Settings {
    fn default() -> Self {
        Http2Settings {
            header_table_size: None,
            max_concurrent_streams: None,
            initial_stream_window: 2 * 1024 * 1024,
            initial_connection_window: 5 * 1024 * 1024,
            max_frame_size: Some(16_384),
        }
    }
}

impl Http2Settings {
    /// The connection WINDOW_UPDATE increment the client sends, if any.
    pub fn window_update(&self) -> Option<u32> {
        self.initial_connection_window
            .checked_sub(DEFAULT_WINDOW)
            .filter(|&n| n > 0)
    }

    /// Checks the values against the protocol's bounds (hyper would panic
    /// on an out-of-range frame size); `profile` names the profile in the
    /// error's key.
    pub(crate) fn check(&self, profile: &str) -> Result<(), Error> {
        let bad = |field: &str, value: u32, why: &str| {
            Err(Error::invalid_config(
                format!("tls.profile.{profile}.http2.{field}"),
                value.to_string(),
                why,
            ))
        };
        if self.initial_stream_window > MAX_WINDOW {
            return bad(
                "initial_stream_window",
                self.initial_stream_window,
                "at most 2^31 - 1",
            );
        }
        if !(DEFAULT_WINDOW..=MAX_WINDOW).contains(&self.initial_connection_window) {
            return bad(
                "initial_connection_window",
                self.initial_connection_window,
                "65,535 to 2^31 - 1",
            );
        }
        if let Some(f) = self.max_frame_size {
            if !(16_384..=16_777_215).contains(&f) {
                return bad("max_frame_size", f, "16,384 to 16,777,215");
            }
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_window_update_is_the_window_above_the_default() {
        let mut s = Http2Settings::default();
        assert_eq!(s.window_update(), Some(5 * 1024 * 1024 - 65_535));
        s.initial_connection_window = DEFAULT_WINDOW;
        assert_eq!(s.window_update(), None);
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let s = Http2Settings {
            max_frame_size: Some(1000),
            ..Http2Settings::default()
        };
        let e = s.check("x").unwrap_err().to_string();
        assert!(e.contains("tls.profile.x.http2.max_frame_size"), "{e}");
        let s = Http2Settings {
            initial_connection_window: 10,
            ..Http2Settings::default()
        };
        let e = s.check("x").unwrap_err().to_string();
        assert!(e.contains("initial_connection_window"), "{e}");
        let s = Http2Settings {
            initial_stream_window: u32::MAX,
            ..Http2Settings::default()
        };
        assert!(s.check("x").is_err());
        assert!(Http2Settings::default().check("x").is_ok());
    }
}
