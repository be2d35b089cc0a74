//! JA4 / JA3 from raw ClientHello bytes: the published JA4 example, hand
//! computed vectors, an independent implementation, and arbitrary input.
use hotpool::fingerprint::{is_grease, ClientHello};
use proptest::prelude::*;

/// Builds a ClientHello record: `exts` are (type, data) in sending order.
fn record(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([7u8; 32]); // random
    body.push(32);
    body.extend([9u8; 32]); // session id
    body.extend(u16be(ciphers.len() * 2));
    for c in ciphers {
        body.extend(c.to_be_bytes());
    }
    body.extend([0x01, 0x00]);
    let mut ext = Vec::new();
    for (t, d) in exts {
        ext.extend(t.to_be_bytes());
        ext.extend(u16be(d.len()));
        ext.extend(d);
    }
    body.extend(u16be(ext.len()));
    body.extend(ext);
    let mut hs = vec![0x01];
    hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend(u16be(hs.len()));
    rec.extend(hs);
    rec
}

fn u16be(n: usize) -> [u8; 2] {
    (n as u16).to_be_bytes()
}

fn list16(v: &[u16]) -> Vec<u8> {
    let mut d = u16be(v.len() * 2).to_vec();
    for x in v {
        d.extend(x.to_be_bytes());
    }
    d
}

fn sni(name: &str) -> Vec<u8> {
    let mut entry = vec![0u8];
    entry.extend(u16be(name.len()));
    entry.extend(name.as_bytes());
    let mut d = u16be(entry.len()).to_vec();
    d.extend(entry);
    d
}

fn alpn(protos: &[&str]) -> Vec<u8> {
    let mut l = Vec::new();
    for p in protos {
        l.push(p.len() as u8);
        l.extend(p.as_bytes());
    }
    let mut d = u16be(l.len()).to_vec();
    d.extend(l);
    d
}

/// A Chrome-like hello with the cipher and extension sets of the JA4
/// specification's worked example (plus GREASE, which must not count).
fn spec_example() -> Vec<u8> {
    let ciphers = [
        0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let sigs = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];
    let mut key_share = u16be(2 + 2 + 32).to_vec();
    key_share.extend([0x00, 0x1d, 0x00, 0x20]);
    key_share.extend([1u8; 32]);
    let exts: Vec<(u16, Vec<u8>)> = vec![
        (0x2a2a, vec![]),
        (0x0000, sni("example.com")),
        (0x0017, vec![]),
        (0xff01, vec![0]),
        (0x000a, list16(&[0x3a3a, 0x001d, 0x0017, 0x0018])),
        (0x000b, vec![1, 0]),
        (0x0023, vec![]),
        (0x0010, alpn(&["h2", "http/1.1"])),
        (0x0005, vec![1, 0, 0, 0, 0]),
        (0x000d, list16(&sigs)),
        (0x0012, vec![]),
        (0x0033, key_share),
        (0x002d, vec![1, 1]),
        (0x002b, {
            let mut d = vec![6];
            d.extend([0x4a, 0x4a, 0x03, 0x04, 0x03, 0x03]);
            d
        }),
        (0x001b, vec![2, 0, 2]),
        (0x4469, vec![0, 3, 2, b'h', b'2']),
        (0x0015, vec![0; 16]),
        (0x5a5a, vec![0]),
    ];
    record(&ciphers, &exts)
}

#[test]
fn ja4_of_the_specification_example() {
    let hello = ClientHello::parse(&spec_example()).unwrap();
    assert_eq!(hello.server_name.as_deref(), Some("example.com"));
    assert_eq!(hello.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(hello.max_version(), 0x0304);
    // The FoxIO JA4 README's example: 15 suites, 16 extensions, h2, and the
    // hashes of its sorted suite and extension_signature strings.
    assert_eq!(hello.ja4(), "t13d1516h2_8daaf6152771_e5627efa2ab1");
}

#[test]
fn ja4_matches_an_independent_implementation() {
    let bytes = spec_example();
    let theirs = huginn_net_tls::tls_process::parse_tls_client_hello_ja4(&bytes).unwrap();
    assert_eq!(ClientHello::parse(&bytes).unwrap().ja4(), theirs);

    let bytes = record(
        &[0x1301, 0xc02f],
        &[
            (0x000d, list16(&[0x0804, 0x0403])),
            (0x0010, alpn(&["http/1.1"])),
        ],
    );
    let theirs = huginn_net_tls::tls_process::parse_tls_client_hello_ja4(&bytes).unwrap();
    assert_eq!(ClientHello::parse(&bytes).unwrap().ja4(), theirs);
}

#[test]
fn hand_computed_vectors() {
    // No SNI, no ALPN, TLS 1.2 only, two suites, one extension.
    // b = sha256("1301,c02f")[..12], c = sha256("000d_0804,0403")[..12],
    // ja3 = md5("771,49199-4865,13,,"), all computed outside this crate
    // (Python's hashlib).
    let bytes = record(&[0xc02f, 0x1301], &[(0x000d, list16(&[0x0804, 0x0403]))]);
    let h = ClientHello::parse(&bytes).unwrap();
    assert_eq!(h.ja4(), "t12i020100_c1929292aa6b_b5b2a7d538fe");
    // JA3: decimal fields, sorted extensions, MD5
    assert_eq!(h.ja3_string(), "771,49199-4865,13,,");
    assert_eq!(h.ja3(), "b672a5854d4ea316b89a10cf13458370");
}

#[test]
fn ja3_ignores_extension_order() {
    let a = record(&[0x1301], &[(0x0017, vec![]), (0x000d, list16(&[0x0403]))]);
    let b = record(&[0x1301], &[(0x000d, list16(&[0x0403])), (0x0017, vec![])]);
    let (a, b) = (
        ClientHello::parse(&a).unwrap(),
        ClientHello::parse(&b).unwrap(),
    );
    assert_ne!(a.extensions, b.extensions);
    assert_eq!(a.ja3(), b.ja3());
    assert_eq!(a.ja4(), b.ja4());
}

#[test]
fn rejects_what_is_not_a_client_hello() {
    for bytes in [
        &b""[..],
        &[0x16, 0x03, 0x01, 0x00, 0x05, 0x02][..],
        &[0x17, 0x03, 0x03, 0x00, 0x01, 0x00][..],
        b"GET / HTTP/1.1\r\n\r\n",
    ] {
        let e = ClientHello::parse(bytes).unwrap_err();
        assert!(e.is_invalid_client_hello(), "{e}");
    }
    let mut truncated = spec_example();
    truncated.truncate(100);
    assert!(ClientHello::parse(&truncated).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = ClientHello::parse(&bytes).map(|h| (h.ja4(), h.ja3()));
    }

    #[test]
    fn grease_never_counts(n in 0usize..8) {
        let mut ciphers = vec![0x1301u16];
        ciphers.extend((0..n).map(|i| 0x0a0a + 0x1010 * i as u16));
        let h = ClientHello::parse(&record(&ciphers, &[])).unwrap();
        prop_assert!(h.ciphers.iter().filter(|c| is_grease(**c)).count() == n);
        prop_assert!(h.ja4().starts_with("t12i0100"));
    }
}
