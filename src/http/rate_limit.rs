//! Rate limits by class: global per IP, stricter per IP on the auth routes,
//! and per account (2FA, forgot-password, reset) which stays on even when
//! per-IP limits are turned off with `rate_limits = "off"`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// Attempts per account per window on 2FA, forgot and reset.
const ACCOUNT_BURST: u32 = 5;
const ACCOUNT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// All limiters of the process.
pub struct RateLimits {
    global: Option<DefaultKeyedRateLimiter<IpAddr>>,
    auth: Option<DefaultKeyedRateLimiter<IpAddr>>,
    account: DefaultKeyedRateLimiter<String>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).expect("non-zero"))
}

fn verdict<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs() + 1,
        }
    })
}

impl RateLimits {
    pub fn new(config: &Config) -> RateLimits {
        let on = config.rate_limits_on();
        let account_quota = Quota::with_period(ACCOUNT_WINDOW / ACCOUNT_BURST)
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(ACCOUNT_BURST).expect("non-zero"));
        RateLimits {
            global: on.then(|| RateLimiter::keyed(per_minute(config.rate_limit_global_per_min))),
            auth: on.then(|| RateLimiter::keyed(per_minute(config.rate_limit_auth_per_min))),
            account: RateLimiter::keyed(account_quota),
        }
    }

    /// The global per-IP limit on every `/api` request.
    pub fn check_global_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.global.as_ref().map_or(Ok(()), |l| verdict(l, &ip))
    }

    /// The stricter per-IP limit of login, register, 2FA and password reset.
    pub fn check_auth_ip(&self, _state: &AppState, ip: IpAddr) -> Result<(), ApiError> {
        self.auth.as_ref().map_or(Ok(()), |l| verdict(l, &ip))
    }

    /// The per-account limit; `key` names the action and the account.
    pub fn check_account(&self, key: &str) -> Result<(), ApiError> {
        verdict(&self.account, &key.to_string())
    }

    /// Forgets idle keys so memory stays bounded; called periodically.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.global {
            l.retain_recent();
        }
        if let Some(l) = &self.auth {
            l.retain_recent();
        }
        self.account.retain_recent();
    }
}
