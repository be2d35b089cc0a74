//! Checking a [`ClientConfig`] as a whole.

use super::*;
use crate::{error::Error, profile::Profile};
use std::time::Duration;

impl ClientConfig {
    /// Checks every value, naming keys as the file does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first bad key.
    pub fn validate(&self) -> Result<(), Error> {
        self.pool.validate().map_err(|e| match e {
            Error::InvalidConfig { key, value, reason } => Error::InvalidConfig {
                key: file_key(&key),
                value,
                reason,
            },
            e => e,
        })?;
        let t = &self.tls;
        let zero = |key: &str, d: Duration| {
            if d.is_zero() {
                Err(Error::invalid_config(
                    key,
                    "\"0s\"",
                    "must be longer than zero",
                ))
            } else {
                Ok(())
            }
        };
        zero("tls.connect_timeout", t.connect_timeout)?;
        zero("tls.handshake_timeout", t.handshake_timeout)?;
        zero("http.timeout", self.http.timeout)?;
        zero("validation.timeout", self.validation.timeout)?;
        let builtin = Profile::builtin();
        let names: Vec<&str> = builtin.iter().map(|p| p.name()).collect();
        for p in &t.profiles {
            if !names.contains(&p.as_str()) {
                return Err(Error::invalid_config(
                    "tls.profiles",
                    format!("{p:?}"),
                    format!("unknown profile; built-in profiles: {}", names.join(", ")),
                ));
            }
        }
        let choice = t.profile_choice.as_str();
        if choice != "random" && choice != "round-robin" {
            let usable = if t.profiles.is_empty() {
                names.contains(&choice)
            } else {
                t.profiles.iter().any(|p| p == choice)
            };
            if !usable {
                return Err(Error::invalid_config(
                    "tls.profile_choice",
                    format!("{choice:?}"),
                    "must be \"random\", \"round-robin\" or the name of a listed profile",
                ));
            }
        }
        let streams = self.http.max_streams_per_connection;
        if streams == 0 || streams > u32::MAX as usize {
            return Err(Error::invalid_config(
                "http.max_streams_per_connection",
                streams,
                "must be from 1 to 4294967295",
            ));
        }
        if self.http.resolver != "system" && self.http.resolver != "none" {
            return Err(Error::invalid_config(
                "http.resolver",
                format!("{:?}", self.http.resolver),
                "must be \"system\" or \"none\"",
            ));
        }
        if http::Method::from_bytes(self.validation.method.as_bytes()).is_err() {
            return Err(Error::invalid_config(
                "validation.method",
                format!("{:?}", self.validation.method),
                "not an HTTP method",
            ));
        }
        if !self.validation.path.starts_with('/') {
            return Err(Error::invalid_config(
                "validation.path",
                format!("{:?}", self.validation.path),
                "must start with '/'",
            ));
        }
        for d in &self.domains {
            if d.ips.is_empty() {
                return Err(Error::invalid_config(
                    format!("domain.{}.ips", d.name),
                    "[]",
                    "needs at least one address",
                ));
            }
        }
        Ok(())
    }
}
