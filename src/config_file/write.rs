//! [`ClientConfig`] to TOML text.

use super::*;
use toml::{Table, Value};

impl ClientConfig {
    /// Writes the settings as TOML that [`from_toml`](ClientConfig::from_toml)
    /// reads back to an equal config.
    pub fn to_toml(&self) -> String {
        let p = &self.pool;
        let mut pool = Table::new();
        pool.insert("max_conns".into(), Value::Integer(p.max_conns as i64));
        pool.insert(
            "max_conns_per_domain".into(),
            Value::Integer(p.max_conns_per_domain as i64),
        );
        pool.insert("wait_timeout".into(), dur(p.wait_timeout));
        pool.insert("connect_timeout".into(), dur(p.connect_timeout));
        pool.insert("idle_timeout".into(), dur(p.idle_timeout));
        pool.insert("max_lifetime".into(), dur(p.max_lifetime));
        pool.insert("max_errors".into(), Value::Integer(i64::from(p.max_errors)));
        pool.insert(
            "default_port".into(),
            Value::Integer(i64::from(p.default_port)),
        );
        pool.insert("health_check_interval".into(), dur(p.health_check_interval));
        pool.insert(
            "min_idle_per_domain".into(),
            Value::Integer(p.min_idle_per_domain as i64),
        );
        pool.insert(
            "max_concurrent_dials".into(),
            Value::Integer(p.max_concurrent_dials as i64),
        );
        pool.insert(
            "probe_concurrency".into(),
            Value::Integer(p.probe_concurrency as i64),
        );
        pool.insert("dns_refresh_interval".into(), dur(p.dns_refresh_interval));
        pool.insert("min_success_rate".into(), Value::Float(p.min_success_rate));
        pool.insert("probe_timeout".into(), dur(p.probe_timeout));
        pool.insert("negative_dns_ttl".into(), dur(p.negative_dns_ttl));
        pool.insert(
            "allow_private_addresses".into(),
            Value::Boolean(p.allow_private_addresses),
        );
        pool.insert("wake".into(), Value::String(p.wake.as_str().into()));
        pool.insert(
            "address_choice".into(),
            Value::String(p.address_choice.as_str().into()),
        );
        let mut blacklist = Table::new();
        blacklist.insert("ttl".into(), dur(p.blacklist_ttl));
        blacklist.insert("allow".into(), strs(&p.allow_ips));
        blacklist.insert(
            "deny".into(),
            strs(
                p.deny_ips
                    .iter()
                    .map(ToString::to_string)
                    .chain(p.deny_ranges.iter().map(ToString::to_string)),
            ),
        );
        blacklist.insert(
            "block_ip_after_domains".into(),
            Value::Integer(p.block_ip_after_domains as i64),
        );
        let t = &self.tls;
        let mut tls = Table::new();
        tls.insert("profiles".into(), strs(&t.profiles));
        tls.insert(
            "profile_choice".into(),
            Value::String(t.profile_choice.clone()),
        );
        tls.insert("connect_timeout".into(), dur(t.connect_timeout));
        tls.insert("handshake_timeout".into(), dur(t.handshake_timeout));
        tls.insert(
            "max_retries".into(),
            Value::Integer(i64::from(t.max_retries)),
        );
        tls.insert("local_addresses".into(), strs(&t.local_addresses));
        tls.insert(
            "root_certificates".into(),
            strs(t.root_certificates.iter().map(|p| p.display())),
        );
        tls.insert(
            "dangerous_accept_invalid_certificates".into(),
            Value::Boolean(t.dangerous_accept_invalid_certificates),
        );
        let h = &self.http;
        let mut http = Table::new();
        http.insert("user_agent".into(), Value::String(h.user_agent.clone()));
        http.insert("accept".into(), Value::String(h.accept.clone()));
        http.insert("accept_languages".into(), strs(&h.accept_languages));
        http.insert("decompress".into(), Value::Boolean(h.decompress));
        http.insert("timeout".into(), dur(h.timeout));
        http.insert(
            "max_body_size".into(),
            match h.max_body_size {
                Some(n) => Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
                None => Value::String("none".into()),
            },
        );
        http.insert(
            "max_response_header_size".into(),
            Value::Integer(h.max_response_header_size as i64),
        );
        http.insert(
            "max_streams_per_connection".into(),
            Value::Integer(i64::try_from(h.max_streams_per_connection).unwrap_or(i64::MAX)),
        );
        http.insert(
            "max_redirects".into(),
            Value::Integer(i64::try_from(h.max_redirects).unwrap_or(i64::MAX)),
        );
        http.insert("cookies".into(), Value::Boolean(h.cookies));
        http.insert("proxies".into(), strs(&h.proxies));
        http.insert("proxy_choice".into(), Value::String(h.proxy_choice.clone()));
        http.insert("resolver".into(), Value::String(h.resolver.clone()));
        let mut headers = Table::new();
        for (k, v) in &h.headers {
            headers.insert(k.clone(), Value::String(v.clone()));
        }
        http.insert("headers".into(), Value::Table(headers));
        let v = &self.validation;
        let mut validation = Table::new();
        validation.insert("enabled".into(), Value::Boolean(v.enabled));
        validation.insert("method".into(), Value::String(v.method.clone()));
        validation.insert("path".into(), Value::String(v.path.clone()));
        validation.insert("timeout".into(), dur(v.timeout));
        validation.insert("rule".into(), Value::String(v.rule.clone()));
        let mut root = Table::new();
        root.insert("pool".into(), Value::Table(pool));
        root.insert("blacklist".into(), Value::Table(blacklist));
        root.insert("tls".into(), Value::Table(tls));
        root.insert("http".into(), Value::Table(http));
        root.insert("validation".into(), Value::Table(validation));
        if !self.domains.is_empty() {
            let list = self
                .domains
                .iter()
                .map(|d| {
                    let mut t = Table::new();
                    t.insert("name".into(), Value::String(d.name.clone()));
                    t.insert("ips".into(), strs(&d.ips));
                    Value::Table(t)
                })
                .collect();
            root.insert("domain".into(), Value::Array(list));
        }
        root.to_string()
    }
}
