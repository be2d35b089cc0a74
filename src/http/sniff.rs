//! What the server's HTTP/2 frames tell the pool: its stream limit
//! (`SETTINGS_MAX_CONCURRENT_STREAMS`) and whether it sent `GOAWAY`.
//!
//! hyper keeps both to itself (the stream limit is only on the
//! `Connection` its task owns, `GOAWAY` not at all), and the client needs
//! them to share a connection: never to lend a stream past the server's
//! limit, and to stop lending one the server is draining. So the read side
//! of an HTTP/2 connection walks the frame headers going by (RFC 9113
//! §4.1: 3 bytes of length, a type, flags, a stream id) and reads the
//! payload of the two frame types it cares about; everything else is
//! skipped by its length. The walker never changes a byte and costs a few
//! comparisons per frame.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Frame type `SETTINGS` (RFC 9113 §6.5).
const SETTINGS: u8 = 0x4;
/// Frame type `GOAWAY` (RFC 9113 §6.8).
const GOAWAY: u8 = 0x7;
/// `SETTINGS` flag `ACK`.
const ACK: u8 = 0x1;
/// `SETTINGS_MAX_CONCURRENT_STREAMS`.
const MAX_CONCURRENT_STREAMS: u16 = 0x3;

/// What the walker has seen, shared with the client.
#[derive(Debug)]
pub(crate) struct H2Signals {
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS`; `u32::MAX` until it
    /// says (the protocol's initial value is "unlimited").
    max_streams: AtomicU32,
    /// The server sent `GOAWAY`: no new stream on this connection.
    goaway: AtomicBool,
}

impl H2Signals {
    pub(crate) fn new() -> H2Signals {
        H2Signals {
            max_streams: AtomicU32::new(u32::MAX),
            goaway: AtomicBool::new(false),
        }
    }

    /// The server's stream limit (`u32::MAX`: none announced).
    pub(crate) fn max_streams(&self) -> u32 {
        self.max_streams.load(Ordering::Acquire)
    }

    /// Whether the server sent `GOAWAY`.
    pub(crate) fn goaway(&self) -> bool {
        self.goaway.load(Ordering::Acquire)
    }
}

/// Where the walker is in the server's byte stream.
#[derive(Debug)]
enum Part {
    /// Collecting a 9-byte frame header.
    Header,
    /// Skipping the rest of an uninteresting payload.
    Skip(u32),
    /// Reading a `SETTINGS` payload of this many bytes left, 6 per entry.
    Settings(u32),
    /// Reading a `GOAWAY` payload: the last-stream-id, then the rest.
    GoAway(u32),
}

/// Walks the server's frames as they are read.
#[derive(Debug)]
pub(crate) struct FrameWalker {
    part: Part,
    buf: [u8; 9],
    have: usize,
    signals: std::sync::Arc<H2Signals>,
}

impl FrameWalker {
    pub(crate) fn new(signals: std::sync::Arc<H2Signals>) -> FrameWalker {
        FrameWalker {
            part: Part::Header,
            buf: [0; 9],
            have: 0,
            signals,
        }
    }

    /// Feeds the bytes just read.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.part {
                Part::Header => {
                    let n = (9 - self.have).min(bytes.len());
                    self.buf[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                    self.have += n;
                    bytes = &bytes[n..];
                    if self.have == 9 {
                        self.have = 0;
                        let b = self.buf;
                        let len = u32::from_be_bytes([0, b[0], b[1], b[2]]);
                        self.part = match b[3] {
                            SETTINGS if b[4] & ACK == 0 => Part::Settings(len),
                            GOAWAY => Part::GoAway(len),
                            _ => Part::Skip(len),
                        };
                        self.settle();
                    }
                }
                Part::Skip(left) => {
                    let n = (left as usize).min(bytes.len());
                    bytes = &bytes[n..];
                    self.part = Part::Skip(left - n as u32);
                    self.settle();
                }
                Part::Settings(left) => {
                    let n = (6 - self.have).min(bytes.len()).min(left as usize);
                    self.buf[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                    self.have += n;
                    bytes = &bytes[n..];
                    let left = left - n as u32;
                    if self.have == 6 {
                        self.have = 0;
                        let id = u16::from_be_bytes([self.buf[0], self.buf[1]]);
                        if id == MAX_CONCURRENT_STREAMS {
                            let v = u32::from_be_bytes([
                                self.buf[2],
                                self.buf[3],
                                self.buf[4],
                                self.buf[5],
                            ]);
                            self.signals.max_streams.store(v, Ordering::Release);
                        }
                    }
                    self.part = Part::Settings(left);
                    self.settle();
                }
                Part::GoAway(left) => {
                    // The payload's content does not matter here: a GOAWAY
                    // of any last-stream-id means no new streams.
                    self.signals.goaway.store(true, Ordering::Release);
                    self.part = Part::Skip(left);
                    self.settle();
                }
            }
        }
    }

    /// A payload read to its end: back to the next header.
    fn settle(&mut self) {
        match self.part {
            Part::Skip(0) | Part::Settings(0) => {
                self.part = Part::Header;
                self.have = 0;
            }
            // A GOAWAY of length 0 is malformed; still, its header said it.
            Part::GoAway(0) => self.signals.goaway.store(true, Ordering::Release),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut v = len.to_be_bytes()[1..].to_vec();
        v.push(ty);
        v.push(flags);
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
        let mut p = Vec::new();
        for (id, v) in entries {
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&v.to_be_bytes());
        }
        frame(SETTINGS, 0, 0, &p)
    }

    /// The same stream fed whole and one byte at a time ends in the same
    /// signals.
    fn walk(bytes: &[u8], step: usize) -> Arc<H2Signals> {
        let s = Arc::new(H2Signals::new());
        let mut w = FrameWalker::new(s.clone());
        for c in bytes.chunks(step) {
            w.feed(c);
        }
        s
    }

    #[test]
    fn reads_the_stream_limit_across_any_split() {
        let mut bytes = settings(&[(0x1, 4096), (MAX_CONCURRENT_STREAMS, 8), (0x4, 65535)]);
        bytes.extend(frame(0x8, 0, 0, &[0, 0, 1, 0])); // WINDOW_UPDATE
        bytes.extend(frame(SETTINGS, ACK, 0, &[]));
        bytes.extend(frame(0x0, 1, 1, &[b'x'; 300])); // DATA
        for step in [1, 2, 5, 9, 64, bytes.len()] {
            let s = walk(&bytes, step);
            assert_eq!(s.max_streams(), 8, "step {step}");
            assert!(!s.goaway(), "step {step}");
        }
    }

    #[test]
    fn a_later_settings_frame_changes_the_limit_and_goaway_is_seen() {
        let mut bytes = settings(&[(MAX_CONCURRENT_STREAMS, 100)]);
        bytes.extend(frame(0x1, 4, 1, &[0x88])); // HEADERS
        bytes.extend(settings(&[(MAX_CONCURRENT_STREAMS, 3)]));
        let s = walk(&bytes, 7);
        assert_eq!(s.max_streams(), 3);
        assert!(!s.goaway());
        bytes.extend(frame(GOAWAY, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0]));
        for step in [1, 3, bytes.len()] {
            let s = walk(&bytes, step);
            assert_eq!(s.max_streams(), 3);
            assert!(s.goaway(), "step {step}");
        }
    }

    #[test]
    fn without_a_limit_it_stays_unlimited() {
        let s = walk(&settings(&[(0x4, 1 << 20)]), 4);
        assert_eq!(s.max_streams(), u32::MAX);
    }
}
