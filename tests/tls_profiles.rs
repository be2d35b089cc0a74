//! Each built-in profile's real ClientHello, captured on a loopback
//! listener, has the pinned JA4; the profiles' JA4s are distinct.
use hotpool::{
    fingerprint::ClientHello, profile::Profile, Connect, ProfileChoice, Target, TlsConnector,
};
use std::time::Duration;
use tokio::{io::AsyncReadExt, net::TcpListener};

/// JA4 of each built-in profile (ALPN, suites, groups, signature order and
/// extensions are all fixed by the profile; rustls's extension shuffling
/// does not change JA4, which sorts them).
const PINNED: &[(&str, &str)] = &[
    ("pq-h2", "t13d1012h2_61a7ad8aa9b6_365e8e3f38a9"),
    ("classic-h2", "t13d1011h2_61a7ad8aa9b6_0d308c48d2a3"),
    ("tls13-h1", "t13d0310h1_55b375c5d22e_76ad8fd2bde2"),
    ("compat-h1", "t13d0711h1_27e10e16ab97_f4becea66202"),
    ("ech-grease", "t13d0312h2_55b375c5d22e_011413bc0759"),
    ("p384-h2", "t13d1011h2_61a7ad8aa9b6_f4becea66202"),
];

async fn capture(profile: &str) -> (ClientHello, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed before a whole record");
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() >= 5 && buf.len() >= 5 + u16::from_be_bytes([buf[3], buf[4]]) as usize {
                return buf;
            }
        }
    });
    let connector = TlsConnector::builder()
        .profile_choice(ProfileChoice::Fixed(profile.into()))
        .handshake_timeout(Duration::from_millis(300))
        .max_retries(0)
        .build()
        .unwrap();
    let target = Target::new("capture.hotpool.test".into(), addr);
    let dial = tokio::spawn(async move { connector.connect(&target).await.map(|_| ()) });
    let bytes = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    let _ = dial.await;
    let hello = ClientHello::parse(&bytes).unwrap();
    assert_eq!(hello.server_name.as_deref(), Some("capture.hotpool.test"));
    (hello, bytes)
}

#[tokio::test]
async fn every_builtin_profile_has_its_pinned_ja4() {
    let mut seen = Vec::new();
    let seeds = std::env::var_os("HOTPOOL_WRITE_FUZZ_SEEDS");
    for p in Profile::builtin() {
        let (hello, raw) = capture(p.name()).await;
        if seeds.is_some() {
            // refresh the client_hello fuzz target's seed corpus
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/client_hello");
            std::fs::write(format!("{dir}/{}.bin", p.name()), &raw).unwrap();
        }
        let ja4 = hello.ja4();
        println!(
            "{:12} {ja4}  ({} bytes of extensions listed)",
            p.name(),
            hello.extensions.len()
        );
        seen.push((p.name().to_string(), ja4));
    }
    for (name, ja4) in &seen {
        let pinned = PINNED.iter().find(|(n, _)| n == name).map(|(_, j)| *j);
        assert_eq!(pinned, Some(ja4.as_str()), "profile {name}");
    }
    let mut distinct: Vec<&String> = seen.iter().map(|(_, j)| j).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "every profile has its own JA4: {seen:?}"
    );
}

#[tokio::test]
async fn the_pq_profile_sends_a_large_hello_and_the_classic_one_a_small_one() {
    let (pq, pq_raw) = capture("pq-h2").await;
    let (classic, classic_raw) = capture("classic-h2").await;
    assert!(
        pq_raw.len() > classic_raw.len() + 1000,
        "{} vs {} bytes",
        pq_raw.len(),
        classic_raw.len()
    );
    assert!(
        pq.groups.contains(&0x11ec),
        "X25519MLKEM768 offered: {:x?}",
        pq.groups
    );
    assert!(!classic.groups.contains(&0x11ec));
}
