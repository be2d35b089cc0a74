//! Any bytes given to the ClientHello parser give a ClientHello or an error,
//! never a panic; a parsed hello always yields its fingerprints.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = hotpool::fingerprint::ClientHello::parse(data) {
        let ja4 = hello.ja4();
        assert_eq!(ja4.len(), 36, "{ja4}");
        assert_eq!(hello.ja3().len(), 32);
    }
});
