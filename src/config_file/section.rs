//! Walking a TOML table key by key, every rejection naming `section.key`.

use crate::error::Error;
use std::{net::IpAddr, str::FromStr, time::Duration};
use toml::{Table, Value};

/// One section being read: lookups by key with typed, named errors.
pub(super) struct Section<'a> {
    pub(super) name: &'a str,
    pub(super) table: &'a Table,
}

pub(super) fn bad(key: &str, value: &Value, reason: impl Into<String>) -> Error {
    Error::invalid_config(key, show(value), reason)
}

/// A value as written in TOML (strings quoted).
pub(super) fn show(v: &Value) -> String {
    v.to_string()
}

impl<'a> Section<'a> {
    pub(super) fn new(
        root: &'a Table,
        name: &'a str,
        known: &[&str],
    ) -> Result<Option<Section<'a>>, Error> {
        let Some(v) = root.get(name) else {
            return Ok(None);
        };
        let Value::Table(table) = v else {
            return Err(bad(name, v, "must be a table ([section])"));
        };
        let s = Section { name, table };
        s.check_keys(known)?;
        Ok(Some(s))
    }

    pub(super) fn check_keys(&self, known: &[&str]) -> Result<(), Error> {
        for (k, v) in self.table {
            if !known.contains(&k.as_str()) {
                return Err(bad(
                    &self.key(k),
                    v,
                    format!("unknown key; known keys: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn key(&self, k: &str) -> String {
        format!("{}.{}", self.name, k)
    }

    pub(super) fn get(&self, k: &str) -> Option<&'a Value> {
        self.table.get(k)
    }

    pub(super) fn usize(&self, k: &str, out: &mut usize) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = match v {
                Value::Integer(i) => usize::try_from(*i)
                    .map_err(|_| bad(&self.key(k), v, "must be a non-negative integer"))?,
                _ => return Err(bad(&self.key(k), v, "must be a non-negative integer")),
            };
        }
        Ok(())
    }

    pub(super) fn int<T: TryFrom<i64>>(
        &self,
        k: &str,
        out: &mut T,
        what: &str,
    ) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = match v {
                Value::Integer(i) => {
                    T::try_from(*i).map_err(|_| bad(&self.key(k), v, format!("must be {what}")))?
                }
                _ => return Err(bad(&self.key(k), v, format!("must be {what}"))),
            };
        }
        Ok(())
    }

    pub(super) fn float(&self, k: &str, out: &mut f64) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = match v {
                Value::Float(f) => *f,
                Value::Integer(i) => *i as f64,
                _ => return Err(bad(&self.key(k), v, "must be a number")),
            };
        }
        Ok(())
    }

    pub(super) fn bool(&self, k: &str, out: &mut bool) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = v
                .as_bool()
                .ok_or_else(|| bad(&self.key(k), v, "must be true or false"))?;
        }
        Ok(())
    }

    pub(super) fn string(&self, k: &str, out: &mut String) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = v
                .as_str()
                .ok_or_else(|| bad(&self.key(k), v, "must be a string"))?
                .to_owned();
        }
        Ok(())
    }

    pub(super) fn duration(&self, k: &str, out: &mut Duration) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            let s = v.as_str().ok_or_else(|| {
                bad(
                    &self.key(k),
                    v,
                    "must be a duration string such as \"30s\" or \"15m\"",
                )
            })?;
            *out = humantime::parse_duration(s)
                .map_err(|e| bad(&self.key(k), v, format!("not a duration: {e}")))?;
        }
        Ok(())
    }

    pub(super) fn strings(&self, k: &str, out: &mut Vec<String>) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            let arr = v
                .as_array()
                .ok_or_else(|| bad(&self.key(k), v, "must be an array of strings"))?;
            let mut list = Vec::with_capacity(arr.len());
            for item in arr {
                list.push(
                    item.as_str()
                        .ok_or_else(|| bad(&self.key(k), item, "must be an array of strings"))?
                        .to_owned(),
                );
            }
            *out = list;
        }
        Ok(())
    }

    pub(super) fn ips(&self, k: &str, out: &mut Vec<IpAddr>) -> Result<(), Error> {
        let mut raw = Vec::new();
        if self.get(k).is_none() {
            return Ok(());
        }
        self.strings(k, &mut raw)?;
        let mut ips = Vec::with_capacity(raw.len());
        for s in raw {
            ips.push(IpAddr::from_str(s.trim()).map_err(|_| {
                Error::invalid_config(self.key(k), format!("{s:?}"), "not an IP address")
            })?);
        }
        *out = ips;
        Ok(())
    }
}

/// Renames a [`Config::validate`] key to its place in the file.
pub(super) fn file_key(key: &str) -> String {
    match key {
        "blacklist_ttl" => "blacklist.ttl".into(),
        "allow_ips" => "blacklist.allow".into(),
        "deny_ips" | "deny_ranges" => "blacklist.deny".into(),
        "block_ip_after_domains" => "blacklist.block_ip_after_domains".into(),
        k => format!("pool.{k}"),
    }
}

pub(super) fn dur(d: Duration) -> Value {
    Value::String(humantime::format_duration(d).to_string())
}

pub(super) fn strs<I: IntoIterator<Item = S>, S: ToString>(items: I) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|s| Value::String(s.to_string()))
            .collect(),
    )
}
