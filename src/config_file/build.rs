//! [`ClientConfig`] to a [`ClientBuilder`] and a [`Client`].

use super::*;
use crate::{
    error::Error, http_layer::ClientBuilder, profile::Profile, tls::ProfileChoice, Client,
};
use rustls_pki_types::{pem::PemObject, CertificateDer};

impl ClientConfig {
    /// A [`ClientBuilder`] with every setting of this config (reading the
    /// root certificate files). Add what a file cannot hold (a custom
    /// validator or resolver, a clock) and build; the `[[domain]]`
    /// addresses are set by [`build`](ClientConfig::build).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming `tls.root_certificates` if a file
    /// cannot be read or holds no certificate.
    pub fn builder(&self) -> Result<ClientBuilder, Error> {
        self.validate()?;
        let t = &self.tls;
        let mut tls = crate::TlsConnector::builder()
            .connect_timeout(t.connect_timeout)
            .handshake_timeout(t.handshake_timeout)
            .max_retries(t.max_retries)
            .local_addresses(t.local_addresses.iter().copied());
        if !t.profiles.is_empty() {
            tls = tls.profiles(
                Profile::builtin()
                    .into_iter()
                    .filter(|p| t.profiles.iter().any(|n| n == p.name()))
                    .collect(),
            );
        }
        tls = tls.profile_choice(match t.profile_choice.as_str() {
            "random" => ProfileChoice::Random,
            "round-robin" => ProfileChoice::RoundRobin,
            name => ProfileChoice::Fixed(name.to_owned()),
        });
        for path in &t.root_certificates {
            let key = "tls.root_certificates";
            let pem = std::fs::read(path)
                .map_err(|e| Error::invalid_config(key, path.display(), e.to_string()))?;
            let mut found = false;
            for der in CertificateDer::pem_slice_iter(&pem) {
                let der = der.map_err(|e| {
                    Error::invalid_config(key, path.display(), format!("bad PEM: {e}"))
                })?;
                tls = tls.add_root_certificate(der)?;
                found = true;
            }
            if !found {
                return Err(Error::invalid_config(
                    key,
                    path.display(),
                    "holds no certificate",
                ));
            }
        }
        if t.dangerous_accept_invalid_certificates {
            tls = tls.dangerous_accept_invalid_certificates();
        }
        let h = &self.http;
        let mut b = Client::builder()
            .config(self.pool.clone())
            .tls(tls)
            .user_agent(&h.user_agent)
            .accept(&h.accept)
            .accept_languages(&h.accept_languages)
            .decompress(h.decompress)
            .timeout(h.timeout)
            .max_body_size(h.max_body_size)
            .max_response_header_size(h.max_response_header_size)
            .max_streams_per_connection(h.max_streams_per_connection)
            .redirect(if h.max_redirects == 0 {
                crate::redirect::Policy::none()
            } else {
                crate::redirect::Policy::limited(h.max_redirects)
            })
            .cookie_store(h.cookies)
            .validation_timeout(self.validation.timeout);
        for (k, v) in &h.headers {
            b = b.default_header(k, v);
        }
        for p in &h.proxies {
            b = b.proxy(crate::proxy::Proxy::parse(p)?);
        }
        b = b.proxy_choice(if h.proxy_choice == "random" {
            crate::proxy::ProxyChoice::Random
        } else {
            crate::proxy::ProxyChoice::RoundRobin
        });
        if h.resolver == "none" {
            b = b.no_resolver();
        }
        let v = &self.validation;
        b = if v.enabled {
            let method = http::Method::from_bytes(v.method.as_bytes()).map_err(|_| {
                Error::invalid_config("validation.method", &v.method, "not a method")
            })?;
            let b = b.validation_request(method, &v.path);
            if v.rule == "strict" {
                b.strict_validation()
            } else {
                b
            }
        } else {
            b.no_validation()
        };
        Ok(b)
    }

    /// Builds the client and sets the `[[domain]]` addresses.
    ///
    /// # Errors
    ///
    /// As [`builder`](ClientConfig::builder) and
    /// [`ClientBuilder::build`].
    pub fn build(&self) -> Result<Client, Error> {
        let client = self.builder()?.build()?;
        for d in &self.domains {
            client.set_ips(&d.name, d.ips.iter().copied());
        }
        Ok(client)
    }
}
