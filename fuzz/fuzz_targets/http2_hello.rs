//! Any bytes given to the HTTP/2 client-start parser give an `Http2Hello`
//! or an error, never a panic; a parsed start always yields its Akamai
//! fingerprint (four `|`-separated parts) and its hash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = hotpool::fingerprint::Http2Hello::parse(data) {
        let akamai = hello.akamai();
        assert_eq!(akamai.split('|').count(), 4, "{akamai}");
        assert_eq!(hello.akamai_hash().len(), 32);
    }
});
