//! TOML text to [`ClientConfig`].

use super::*;
use crate::error::Error;
use std::{net::IpAddr, path::PathBuf, str::FromStr};
use toml::{Table, Value};

impl ClientConfig {
    /// Reads settings from TOML text.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key (`section.key`) and the value
    /// for an unknown key or section, a wrong type, or an invalid value
    /// (zero capacity, zero interval, a malformed IP, an unknown profile…);
    /// for text that is not TOML, the key is `toml` and the reason is the
    /// parser's message with the line.
    pub fn from_toml(text: &str) -> Result<ClientConfig, Error> {
        let root: Table = text.parse().map_err(|e: toml::de::Error| {
            Error::invalid_config("toml", "(file)", e.to_string().trim_end().to_owned())
        })?;
        const SECTIONS: &[&str] = &["pool", "blacklist", "tls", "http", "validation", "domain"];
        for (k, v) in &root {
            if !SECTIONS.contains(&k.as_str()) {
                return Err(bad(
                    k,
                    v,
                    format!("unknown section; known sections: {}", SECTIONS.join(", ")),
                ));
            }
        }
        let mut c = ClientConfig::default();
        if let Some(s) = Section::new(&root, "pool", POOL_KEYS)? {
            let p = &mut c.pool;
            s.usize("max_conns", &mut p.max_conns)?;
            s.usize("max_conns_per_domain", &mut p.max_conns_per_domain)?;
            s.duration("wait_timeout", &mut p.wait_timeout)?;
            s.duration("connect_timeout", &mut p.connect_timeout)?;
            s.duration("idle_timeout", &mut p.idle_timeout)?;
            s.duration("max_lifetime", &mut p.max_lifetime)?;
            s.int("max_errors", &mut p.max_errors, "an integer from 0 to 255")?;
            s.int("default_port", &mut p.default_port, "a port number")?;
            s.duration("health_check_interval", &mut p.health_check_interval)?;
            s.usize("min_idle_per_domain", &mut p.min_idle_per_domain)?;
            s.usize("max_concurrent_dials", &mut p.max_concurrent_dials)?;
            s.usize("probe_concurrency", &mut p.probe_concurrency)?;
            s.duration("dns_refresh_interval", &mut p.dns_refresh_interval)?;
            s.float("min_success_rate", &mut p.min_success_rate)?;
            s.duration("probe_timeout", &mut p.probe_timeout)?;
            s.duration("negative_dns_ttl", &mut p.negative_dns_ttl)?;
            s.bool("allow_private_addresses", &mut p.allow_private_addresses)?;
            if let Some(v) = s.get("wake") {
                p.wake = v
                    .as_str()
                    .and_then(crate::Wake::parse)
                    .ok_or_else(|| bad("pool.wake", v, "must be \"one\" or \"broadcast\""))?;
            }
            if let Some(v) = s.get("address_choice") {
                p.address_choice = v
                    .as_str()
                    .and_then(crate::AddressChoice::parse)
                    .ok_or_else(|| {
                        bad(
                            "pool.address_choice",
                            v,
                            "must be \"score\" or \"round-robin\"",
                        )
                    })?;
            }
        }
        if let Some(s) = Section::new(&root, "blacklist", BLACKLIST_KEYS)? {
            s.duration("ttl", &mut c.pool.blacklist_ttl)?;
            s.ips("allow", &mut c.pool.allow_ips)?;
            if let Some(v) = s.get("deny") {
                let mut raw = Vec::new();
                s.strings("deny", &mut raw)?;
                let (mut ips, mut ranges) = (Vec::new(), Vec::new());
                for item in raw {
                    let t = item.trim();
                    if let Ok(ip) = IpAddr::from_str(t) {
                        ips.push(ip);
                    } else if let Ok(net) = t.parse::<ipnet::IpNet>() {
                        ranges.push(net);
                    } else {
                        return Err(bad(
                            "blacklist.deny",
                            v,
                            format!("{item:?} is not an IP address or a CIDR range"),
                        ));
                    }
                }
                c.pool.deny_ips = ips;
                c.pool.deny_ranges = ranges;
            }
            s.usize("block_ip_after_domains", &mut c.pool.block_ip_after_domains)?;
        }
        if let Some(s) = Section::new(&root, "tls", TLS_KEYS)? {
            let t = &mut c.tls;
            s.strings("profiles", &mut t.profiles)?;
            s.string("profile_choice", &mut t.profile_choice)?;
            s.duration("connect_timeout", &mut t.connect_timeout)?;
            s.duration("handshake_timeout", &mut t.handshake_timeout)?;
            s.int("max_retries", &mut t.max_retries, "a non-negative integer")?;
            s.ips("local_addresses", &mut t.local_addresses)?;
            let mut roots = Vec::new();
            s.strings("root_certificates", &mut roots)?;
            t.root_certificates = roots.into_iter().map(PathBuf::from).collect();
            s.bool(
                "dangerous_accept_invalid_certificates",
                &mut t.dangerous_accept_invalid_certificates,
            )?;
        }
        if let Some(s) = Section::new(&root, "http", HTTP_KEYS)? {
            let h = &mut c.http;
            s.string("user_agent", &mut h.user_agent)?;
            s.string("accept", &mut h.accept)?;
            s.strings("accept_languages", &mut h.accept_languages)?;
            s.bool("decompress", &mut h.decompress)?;
            s.duration("timeout", &mut h.timeout)?;
            if let Some(v) = s.get("max_body_size") {
                h.max_body_size = match v {
                    Value::Integer(i) if *i > 0 => Some(*i as u64),
                    Value::String(n) if n == "none" => None,
                    _ => {
                        return Err(bad(
                            "http.max_body_size",
                            v,
                            "must be a positive number of bytes or \"none\"",
                        ))
                    }
                };
            }
            s.usize("max_response_header_size", &mut h.max_response_header_size)?;
            s.usize(
                "max_streams_per_connection",
                &mut h.max_streams_per_connection,
            )?;
            s.usize("max_redirects", &mut h.max_redirects)?;
            s.bool("cookies", &mut h.cookies)?;
            s.strings("proxies", &mut h.proxies)?;
            for p in &h.proxies {
                if let Err(Error::InvalidConfig { value, reason, .. }) =
                    crate::proxy::Proxy::parse(p)
                {
                    return Err(Error::invalid_config("http.proxies", value, reason));
                }
            }
            s.string("proxy_choice", &mut h.proxy_choice)?;
            if !matches!(h.proxy_choice.as_str(), "round-robin" | "random") {
                return Err(Error::invalid_config(
                    "http.proxy_choice",
                    format!("{:?}", h.proxy_choice),
                    "must be \"round-robin\" or \"random\"",
                ));
            }
            s.string("resolver", &mut h.resolver)?;
            if let Some(v) = s.get("headers") {
                let t = v
                    .as_table()
                    .ok_or_else(|| bad("http.headers", v, "must be a table of name = \"value\""))?;
                h.headers.clear();
                for (name, value) in t {
                    let value = value.as_str().ok_or_else(|| {
                        bad(&format!("http.headers.{name}"), value, "must be a string")
                    })?;
                    h.headers.push((name.clone(), value.to_owned()));
                }
            }
        }
        if let Some(s) = Section::new(&root, "validation", VALIDATION_KEYS)? {
            let v = &mut c.validation;
            s.bool("enabled", &mut v.enabled)?;
            s.string("method", &mut v.method)?;
            s.string("path", &mut v.path)?;
            s.duration("timeout", &mut v.timeout)?;
            s.string("rule", &mut v.rule)?;
            if !matches!(v.rule.as_str(), "default" | "strict") {
                return Err(bad(
                    "validation.rule",
                    &Value::String(v.rule.clone()),
                    "must be \"default\" or \"strict\"",
                ));
            }
        }
        if let Some(v) = root.get("domain") {
            let arr = v
                .as_array()
                .ok_or_else(|| bad("domain", v, "must be an array of tables ([[domain]])"))?;
            for (i, entry) in arr.iter().enumerate() {
                let name = format!("domain[{i}]");
                let table = entry
                    .as_table()
                    .ok_or_else(|| bad(&name, entry, "must be a table"))?;
                let s = Section { name: &name, table };
                s.check_keys(DOMAIN_KEYS)?;
                let mut d = DomainEntry::new(String::new(), Vec::new());
                s.string("name", &mut d.name)?;
                if d.name.is_empty() {
                    return Err(Error::invalid_config(
                        format!("{name}.name"),
                        format!("{:?}", d.name),
                        "every [[domain]] needs a name",
                    ));
                }
                s.ips("ips", &mut d.ips)?;
                c.domains.push(d);
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Reads settings from a TOML file.
    ///
    /// # Errors
    ///
    /// As [`from_toml`](ClientConfig::from_toml), and
    /// [`Error::InvalidConfig`] with key `file` if it cannot be read.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<ClientConfig, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid_config("file", path.display(), e.to_string()))?;
        ClientConfig::from_toml(&text)
    }
}
