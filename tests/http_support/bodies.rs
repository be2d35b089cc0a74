//! The fault server's response bodies: a connection aborted mid-body, a
//! drip, generated bodies (endless, claimed sizes, compression bombs) and a
//! body that never comes.

use bytes::Bytes;
use hyper::body::{Body, Frame};
use std::{
    future::Future,
    io::{self, Write},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

/// The body of `/reset`: one chunk, a pause (so that the head and the
/// chunk reach the client), then a failure: the server aborts the
/// connection mid-body.
pub(super) struct Broken {
    sent: bool,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl Broken {
    pub(super) fn new() -> Broken {
        Broken {
            sent: false,
            pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
        }
    }
}

impl Body for Broken {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if !self.sent {
            self.sent = true;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'r'; 1000])))));
        }
        match self.pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::other("injected reset")))),
        }
    }
}

pub const GZIP_TEXT: &str = "hello gzip, ";

/// `/drip` and `/slow-drip`: `left` chunks of `size` bytes, `every` apart.
pub(super) struct Drip {
    left: u32,
    size: usize,
    every: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Drip {
    pub(super) fn new(left: u32, size: usize, every: Duration) -> Drip {
        Drip {
            left,
            size,
            every,
            sleep: None,
        }
    }
}

impl Body for Drip {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let every = self.every;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        match sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.sleep = None;
                self.left -= 1;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'd'; self.size])))))
            }
        }
    }
}

/// A body made on demand (`None` ends it), each frame ready at once but
/// the server yielding between frames, so that a client on the same
/// one-thread runtime gets to run: the endless and bomb paths.
pub(super) struct Gen {
    next: Box<dyn FnMut() -> Option<Bytes> + Send + Sync>,
    yielded: bool,
}

impl Gen {
    pub(super) fn new(next: impl FnMut() -> Option<Bytes> + Send + Sync + 'static) -> Gen {
        Gen {
            next: Box::new(next),
            yielded: false,
        }
    }
}

impl Body for Gen {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        Poll::Ready((self.next)().map(|b| Ok(Frame::data(b))))
    }
}

/// Bytes of zeros a bomb expands to: 10 GiB.
pub const BOMB_SIZE: u64 = 10 << 30;

/// Zeros per block of a deflate bomb.
const BLOCK: usize = 4 << 20;

/// Blocks per frame of a deflate bomb: 256 MiB of zeros in about 256 KB.
const BLOCKS_PER_FRAME: usize = 64;

/// A deflate stream of zeros, made without compressing gigabytes: the
/// first sync-flushed block (`head`, which starts the window), then a
/// block that encodes `BLOCK` more zeros only by back-references into a
/// window of zeros (`rest`). Such a block means the same wherever it
/// stands after the head, so repeating it makes a valid stream of any
/// length, about a thousandth of its output.
pub(super) fn deflate_blocks(level: flate2::Compression) -> (Vec<u8>, Vec<u8>) {
    let zeros = vec![0u8; BLOCK];
    let mut c = flate2::Compress::new(level, false);
    let block = |c: &mut flate2::Compress| {
        let mut out = Vec::with_capacity(BLOCK / 256);
        c.compress_vec(&zeros, &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        assert_eq!(c.total_in() % BLOCK as u64, 0, "one call takes the block");
        out
    };
    let head = block(&mut c);
    let rest = block(&mut c);
    (head, rest)
}

/// The same for brotli: after the first flushed segment of zeros, every
/// further flushed segment of `BLOCK` zeros is byte for byte the same
/// (the encoder's window and distance cache are all zeros and repeats by
/// then), so it too can be repeated.
pub(super) fn brotli_blocks() -> (Vec<u8>, Vec<u8>) {
    let zeros = vec![0u8; BLOCK];
    let mut e = brotli::CompressorWriter::new(Vec::new(), 4096, 1, 22);
    let mut segment = || {
        e.write_all(&zeros).unwrap();
        e.flush().unwrap();
        std::mem::take(e.get_mut())
    };
    let head = segment();
    let rest = segment();
    assert_eq!(rest, segment(), "brotli segments of zeros repeat");
    (head, rest)
}

/// A compression bomb of `BOMB_SIZE` zeros, made as the client reads by
/// repeating one block (see [`deflate_blocks`], [`brotli_blocks`]): each
/// frame decodes to 256 MiB (gzip and deflate frames are about 256 KB,
/// brotli ones about 48 KB), and the whole bomb is about 10 MB (gzip,
/// deflate) or 2 MB (brotli). It never gets to its trailer: no client
/// reads 10 GiB.
pub(super) fn bomb(encoding: &str, size: u64) -> Gen {
    let (mut first, (head, rest)) = match encoding {
        // A gzip header: magic, deflate, no flags, no time, no extra, any OS.
        "gzip" => (
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
            deflate_blocks(flate2::Compression::best()),
        ),
        // A zlib header: deflate with a 32 KiB window, no dictionary.
        "deflate" => (
            vec![0x78, 0x9c],
            deflate_blocks(flate2::Compression::best()),
        ),
        "deflate-raw" => (Vec::new(), deflate_blocks(flate2::Compression::best())),
        "br" => (Vec::new(), brotli_blocks()),
        other => panic!("no bomb of {other}"),
    };
    first.extend_from_slice(&head);
    // An endless bomb comes in frames of 16 GiB (3 MB of brotli): seconds
    // of decoding without the client ever waiting for the network.
    let blocks = if size == u64::MAX {
        4096
    } else {
        BLOCKS_PER_FRAME
    };
    let frame = Bytes::from(rest.repeat(blocks));
    let mut first = Some(Bytes::from(first));
    let mut left = size / (BLOCK * blocks) as u64;
    Gen::new(move || {
        if let Some(f) = first.take() {
            return Some(f);
        }
        if left == 0 {
            return None;
        }
        left -= 1;
        Some(frame.clone())
    })
}

/// `/stall-body`: headers, then a body that never comes.
pub(super) struct Stalled;

impl Body for Stalled {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Pending
    }
}
