//! Run-time settings: [`Pool::update_config`].

use super::*;
use crate::{config::Config, connect::Connect, error::Error, pool::Pool};

impl<C: Connect> Pool<C> {
    /// Changes the run-time settings without stopping the pool: limits,
    /// time-outs, intervals, `min_idle_per_domain`, `max_concurrent_dials`.
    /// Each value is an atomic the pool reads where it uses it, so the
    /// change applies to the next lend, dial, wait or sweep. Lowering a
    /// limit closes nothing that is lent: new dials wait until the domain
    /// is under it, and the sweeper closes idle connections beyond it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key if a value is invalid or
    /// cannot change at run time (`default_port`, `allow_ips`,
    /// `deny_ips`); nothing is changed then.
    pub fn update_config(&self, config: Config) -> Result<(), Error> {
        config.validate()?;
        let services = &self.inner.services;
        let mut current = lock(&services.config);
        if config.default_port != current.default_port {
            return Err(Error::invalid_config(
                "default_port",
                config.default_port,
                "cannot change at run time",
            ));
        }
        if config.allow_ips != current.allow_ips {
            return Err(Error::invalid_config(
                "allow_ips",
                format!("{:?}", config.allow_ips),
                "cannot change at run time",
            ));
        }
        if config.deny_ranges != current.deny_ranges {
            return Err(Error::invalid_config(
                "deny_ranges",
                format!("{:?}", config.deny_ranges),
                "cannot change at run time",
            ));
        }
        if config.deny_ips != current.deny_ips {
            return Err(Error::invalid_config(
                "deny_ips",
                format!("{:?}", config.deny_ips),
                "cannot change at run time",
            ));
        }
        self.inner.shared.settings.update(&config);
        {
            // Exactly `max_concurrent_dials` permits in all: available +
            // held - owed. Lowering forgets what is available and owes the
            // rest (taken back as held permits return); raising first
            // cancels what is owed.
            let mut p = lock(&services.dial_permits);
            let new = config.max_concurrent_dials;
            if new > p.configured {
                let add = new - p.configured;
                let cancel = add.min(p.owed);
                p.owed -= cancel;
                services.dials.add_permits(add - cancel);
            } else if new < p.configured {
                let diff = p.configured - new;
                let forgotten = services.dials.forget_permits(diff);
                p.owed += diff - forgotten;
            }
            p.configured = new;
        }
        // A raised limit may free waiters: wake them to look again.
        self.inner.shared.wake_all();
        tracing::info!("hotpool: settings updated");
        *current = config;
        Ok(())
    }
}
