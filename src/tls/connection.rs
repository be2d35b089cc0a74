//! [`TlsConnection`]: a rustls stream and the profile that opened it.

use super::*;

/// A TLS connection made by [`TlsConnector`]: the rustls stream plus the
/// name of the profile that made it. Reads and writes go to the stream.
pub struct TlsConnection {
    pub(super) stream: TlsStream<TcpStream>,
    pub(super) profile: Arc<str>,
    pub(super) http2: Http2Settings,
    /// The proxy it was tunnelled through, by name.
    pub(super) proxy: Option<Arc<str>>,
}

impl TlsConnection {
    /// The profile whose ClientHello opened this connection.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// How the profile opens HTTP/2 on this connection (used if ALPN
    /// agreed h2).
    pub fn http2_settings(&self) -> Http2Settings {
        self.http2
    }

    /// The name of the proxy it goes through (see
    /// [`Proxy::name`](crate::proxy::Proxy::name)); `None` for a direct
    /// connection.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// The protocol agreed by ALPN, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.stream.get_ref().1.alpn_protocol()
    }

    /// The rustls stream.
    pub fn get_ref(&self) -> &TlsStream<TcpStream> {
        &self.stream
    }

    /// The rustls stream, mutably.
    pub fn get_mut(&mut self) -> &mut TlsStream<TcpStream> {
        &mut self.stream
    }

    /// The rustls stream, by value.
    pub fn into_inner(self) -> TlsStream<TcpStream> {
        self.stream
    }

    /// Whether the peer has not closed the connection: a non-blocking peek
    /// at the socket sees neither end-of-stream nor an error.
    pub fn is_open(&self) -> bool {
        let tcp = self.stream.get_ref().0;
        let mut buf = [MaybeUninit::<u8>::uninit(); 1];
        match SockRef::from(tcp).peek(&mut buf) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }
}

impl fmt::Debug for TlsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnection")
            .field("profile", &self.profile)
            .field("peer", &self.stream.get_ref().0.peer_addr().ok())
            .finish()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
