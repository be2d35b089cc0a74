//! Each built-in profile that offers h2 opens its HTTP/2 connections its
//! own way: its first frames, captured in the clear behind a loopback TLS
//! listener, have the pinned Akamai HTTP/2 fingerprint, and the profiles'
//! fingerprints are distinct.
mod tls_support;

use hotpool::{fingerprint::Http2Hello, profile::Profile, Client, ProfileChoice};
use std::{sync::Arc, time::Duration};
use tls_support::{Ca, NAME};
use tokio::{io::AsyncReadExt, net::TcpListener};

/// The Akamai fingerprint of each h2 profile with the default
/// `max_response_header_size` (64 KiB, SETTINGS id 6). SETTINGS order,
/// `ENABLE_PUSH = 0`, no PRIORITY frames and the `m,s,a,p` pseudo-header
/// order are hyper's, the same for all; the values are the profile's.
const PINNED: &[(&str, &str)] = &[
    ("pq-h2", "1:65536;2:0;4:6291456;6:65536|15663105|0|m,s,a,p"),
    (
        "classic-h2",
        "2:0;4:131072;5:16384;6:65536|12517377|0|m,s,a,p",
    ),
    (
        "ech-grease",
        "1:65536;2:0;3:1000;4:1048576;6:65536|10420225|0|m,s,a,p",
    ),
    (
        "p384-h2",
        "1:4096;2:0;3:100;4:4194304;5:32768;6:65536|8323073|0|m,s,a,p",
    ),
];

/// The client's first HTTP/2 bytes on a connection of `profile`, read in
/// the clear by a TLS server that agrees to h2, up to its first HEADERS.
async fn capture(ca: &Ca, profile: &str, max_header: Option<usize>) -> (Http2Hello, Vec<u8>) {
    let mut config = ca.server_config(&[NAME]);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = tls.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed before its first HEADERS");
            buf.extend_from_slice(&chunk[..n]);
            if let Ok(h) = Http2Hello::parse(&buf) {
                if h.headers_seen {
                    return (h, buf);
                }
            }
        }
    });
    let mut b = Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed(profile.into()))
        .no_validation()
        .timeout(Duration::from_secs(2));
    if let Some(n) = max_header {
        b = b.max_response_header_size(n);
    }
    let client = b.build().unwrap();
    client.set_ips(&format!("{NAME}:{port}"), [[127, 0, 0, 1].into()]);
    let url = format!("https://{NAME}:{port}/");
    let request = tokio::spawn(async move { client.get(&url).await.map(|_| ()) });
    let hello = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the client's first frames within 5 s")
        .unwrap();
    // The server never answers: the request fails, which is not the point.
    request.abort();
    hello
}

#[tokio::test]
async fn every_h2_profile_has_its_pinned_http2_fingerprint() {
    let ca = Ca::new();
    let h2: Vec<Profile> = Profile::builtin()
        .into_iter()
        .filter(Profile::offers_h2)
        .collect();
    assert_eq!(
        h2.iter().map(Profile::name).collect::<Vec<_>>(),
        PINNED.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "every h2 profile is pinned"
    );
    let mut seen = Vec::new();
    let seeds = std::env::var_os("HOTPOOL_WRITE_FUZZ_SEEDS");
    for p in &h2 {
        let (hello, raw) = capture(&ca, p.name(), None).await;
        if seeds.is_some() {
            // refresh the http2_hello fuzz target's seed corpus
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/http2_hello");
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(format!("{dir}/{}.bin", p.name()), &raw).unwrap();
        }
        let got = hello.akamai();
        let (_, want) = PINNED.iter().find(|(n, _)| *n == p.name()).unwrap();
        assert_eq!(&got, want, "{}", p.name());
        // What the profile says it sends is what it sent.
        let s = p.http2_settings();
        assert_eq!(hello.window_update, s.window_update(), "{}", p.name());
        let window = hello.settings.iter().find(|(id, _)| *id == 4).unwrap().1;
        assert_eq!(window, s.initial_stream_window, "{}", p.name());
        assert_eq!(
            hello.pseudo_headers,
            [":method", ":scheme", ":authority", ":path"]
        );
        assert!(!seen.contains(&got), "{} repeats a fingerprint", p.name());
        seen.push(got);
    }
}

#[tokio::test]
async fn the_announced_header_list_size_is_the_enforced_limit() {
    let ca = Ca::new();
    let (hello, _) = capture(&ca, "classic-h2", Some(256 * 1024)).await;
    assert!(
        hello.settings.contains(&(6, 256 * 1024)),
        "{:?}",
        hello.settings
    );
}

#[test]
fn out_of_range_http2_settings_are_a_config_error_naming_the_profile() {
    let mut s = Profile::new("tiny-frames").http2_settings();
    s.max_frame_size = Some(100);
    let e = hotpool::TlsConnector::builder()
        .profiles(vec![Profile::new("tiny-frames").http2(s)])
        .build()
        .unwrap_err();
    assert!(e.is_invalid_config(), "{e:?}");
    assert!(
        e.to_string()
            .contains("tls.profile.tiny-frames.http2.max_frame_size"),
        "{e}"
    );
}
