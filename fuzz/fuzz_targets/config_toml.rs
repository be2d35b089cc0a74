//! Any text given to the config loader gives a config or an error, never a
//! panic; a config it accepts writes back to TOML that reads to the same
//! config, and building a client from it gives a client or an error naming
//! a key, never a panic (nor a huge allocation: counts are bounded).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = hotpool::ClientConfig::from_toml(text) {
        let again = hotpool::ClientConfig::from_toml(&cfg.to_toml())
            .unwrap_or_else(|e| panic!("written config rejected: {e}\n{}", cfg.to_toml()));
        assert_eq!(again, cfg);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        if let Err(e) = cfg.build() {
            assert!(!e.to_string().is_empty());
        }
    }
});
