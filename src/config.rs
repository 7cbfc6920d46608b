//! Every setting, declared once: name, type, default and the doc that is its help text.
//!
//! Precedence: command-line flag, then the `BAITECH_<NAME>` environment
//! variable, then the optional TOML file (`--config`, `BAITECH_CONFIG`, or
//! `./baitech.toml`), then the default written here. `baitech config` prints
//! the result with secrets masked.

use std::path::{Path, PathBuf};

use serde::Deserialize;

macro_rules! settings {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:expr $(, $secret:ident)? ; )*) => {
        /// Values given on the command line (and, through clap, nowhere else).
        #[derive(clap::Args, Debug, Clone, Default)]
        pub struct Flags {
            $( $(#[doc = $doc])* #[arg(long, global = true)] pub $name: Option<$ty>, )*
        }

        /// Values read from the TOML file.
        #[derive(Deserialize, Debug, Default)]
        #[serde(deny_unknown_fields)]
        struct FileValues {
            $( #[serde(default)] $name: Option<$ty>, )*
        }

        /// The effective configuration of one process.
        #[derive(Debug, Clone)]
        pub struct Config {
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }

        impl Config {
            fn merge(flags: &Flags, file: FileValues, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
                Ok(Config {
                    $( $name: match (&flags.$name, env_value::<$ty>(env, stringify!($name))?, file.$name) {
                        (Some(v), _, _) => v.clone(),
                        (None, Some(v), _) => v,
                        (None, None, Some(v)) => v,
                        (None, None, None) => $default.into(),
                    }, )*
                })
            }

            /// `(name, value, help)` for every setting, secrets masked.
            pub fn describe(&self) -> Vec<(String, String, String)> {
                let mut out = Vec::new();
                $(
                    let shown = format!("{:?}", self.$name);
                    let is_secret = false $( || stringify!($secret) == "secret" )?;
                    let shown = if is_secret && shown != "\"\"" { "\"********\"".to_string() } else { shown };
                    let help: &[&str] = &[$($doc),*];
                    out.push((stringify!($name).to_string(), shown, help.join(" ").trim().to_string()));
                )*
                out
            }
        }
    };
}

settings! {
    /// Folder for the database, search index, media, outbox and generated secrets.
    data_dir: PathBuf = "./data";
    /// Address and port the HTTP server listens on.
    listen: String = "127.0.0.1:5000";
    /// Public base URL of this server, used in links and media URLs (default: http://<listen>).
    public_url: String = "";
    /// Base URL of the web client, used in password-reset and verification links.
    client_web_url: String = "http://localhost:3000";
    /// Comma-separated CORS allow-list of origins ("*" allows any origin).
    cors_origins: String = "http://localhost:3000,http://localhost:3001,http://localhost:5000,http://localhost:5173,http://localhost:5174,http://127.0.0.1:3000,http://127.0.0.1:5000,http://127.0.0.1:5173";
    /// HS256 secret for access tokens; generated and kept in the data dir when empty.
    jwt_secret: String = "", secret;
    /// Lifetime of an access token, in seconds.
    access_token_ttl_secs: u64 = 900u64;
    /// Lifetime of a refresh token, in seconds.
    refresh_token_ttl_secs: u64 = 2_592_000u64;
    /// "on" or "off": per-IP rate limits (per-account limits on login, 2FA and reset stay on).
    rate_limits: String = "on";
    /// Requests per minute per IP on the whole API.
    rate_limit_global_per_min: u32 = 600u32;
    /// Requests per minute per IP on login, register, 2FA and password reset.
    rate_limit_auth_per_min: u32 = 20u32;
    /// Failed sign-in attempts per account per 15 minutes before it is throttled.
    account_failed_logins_per_15min: u32 = 10u32;
    /// Largest accepted request body (JSON), in bytes.
    body_limit_bytes: u64 = 10_485_760u64;
    /// Log format: "pretty" or "json".
    log_format: String = "pretty";
    /// Log filter, e.g. "info" or "baitech=debug,tower_http=info".
    log_level: String = "info";
    /// Trust X-Forwarded-For / X-Forwarded-Proto from a reverse proxy in front of us.
    trust_proxy: bool = false;
    /// SMTP server host; when empty, emails are written to <data_dir>/outbox instead.
    smtp_host: String = "";
    /// SMTP server port.
    smtp_port: u16 = 587u16;
    /// SMTP user name.
    smtp_username: String = "";
    /// SMTP password.
    smtp_password: String = "", secret;
    /// Sender of every email.
    smtp_from: String = "BaiTech <no-reply@baitech.local>";
    /// SMTP transport security: "starttls", "tls" or "none".
    smtp_tls: String = "starttls";
    /// Background job workers.
    job_workers: u32 = 2u32;
    /// Read connections in the database pool.
    db_pool_size: u32 = 8u32;
    /// argon2id memory cost in KiB (OWASP: 19456).
    argon2_memory_kib: u32 = 19_456u32;
    /// argon2id iterations (OWASP: 2).
    argon2_iterations: u32 = 2u32;
    /// Days after posting during which a reviewer may edit a review (0: never).
    review_edit_window_days: u32 = 30u32;
    /// M-Pesa Daraja API base URL (sandbox by default; production is https://api.safaricom.co.ke).
    mpesa_base_url: String = "https://sandbox.safaricom.co.ke";
    /// Daraja consumer key; when it or the secret is empty, M-Pesa requests are written to <data_dir>/outbox and payments stay pending.
    mpesa_consumer_key: String = "";
    /// Daraja consumer secret.
    mpesa_consumer_secret: String = "", secret;
    /// M-Pesa business shortcode (paybill or till) that receives STK Push payments.
    mpesa_shortcode: String = "174379";
    /// Lipa na M-Pesa Online passkey of the shortcode.
    mpesa_passkey: String = "", secret;
    /// STK Push TransactionType: "CustomerPayBillOnline" or "CustomerBuyGoodsOnline".
    mpesa_transaction_type: String = "CustomerPayBillOnline";
    /// Secret path segment of the M-Pesa callback URLs; generated and kept in the data dir when empty.
    mpesa_callback_secret: String = "", secret;
    /// Confirm every successful STK Push callback with an STK Query before crediting it.
    mpesa_confirm_with_query: bool = true;
    /// Seconds after an STK Push with no callback before an STK Query settles it (paid, cancelled or expired).
    mpesa_reconcile_after_secs: u64 = 180u64;
    /// Shortcode that sends B2C payouts (withdrawals, refunds); the STK shortcode when empty.
    mpesa_b2c_shortcode: String = "";
    /// B2C initiator (API operator) name.
    mpesa_b2c_initiator: String = "";
    /// B2C security credential (the initiator password encrypted with Safaricom's certificate).
    mpesa_b2c_security_credential: String = "", secret;
    /// B2C CommandID: "BusinessPayment", "SalaryPayment" or "PromotionPayment".
    mpesa_b2c_command: String = "BusinessPayment";
    /// Stripe API base URL.
    stripe_base_url: String = "https://api.stripe.com";
    /// Stripe secret key (sk_...); when empty, Stripe requests are written to <data_dir>/outbox and payments stay pending.
    stripe_secret_key: String = "", secret;
    /// Stripe webhook signing secret (whsec_...); Stripe webhooks are refused while it is empty.
    stripe_webhook_secret: String = "", secret;
    /// Platform fee taken when escrow is released, in percent of the released amount.
    platform_fee_percent: f64 = 10.0f64;
    /// Smallest platform fee per release, in major units (capped at the released amount).
    platform_fee_minimum: f64 = 0.0f64;
    /// Seconds after a booking is completed (without a dispute) before its escrow is released automatically.
    escrow_release_delay_secs: u64 = 259_200u64;
    /// Days a deleted account's personal data is kept before it is scrubbed.
    user_scrub_after_days: u32 = 30u32;
    /// A second follow toggle of the same pair within this many ms is a double click: answered, not applied.
    follow_debounce_ms: u64 = 1500u64;
    /// Push (FCM) tokens kept per account; adding one more drops the oldest.
    fcm_tokens_per_user: u32 = 10u32;
    /// Largest radius, in km, that nearby-technician searches use (larger ones are capped).
    nearby_max_radius_km: f64 = 100.0f64;
    /// Portfolio items one technician may keep.
    portfolio_items_per_user: u32 = 50u32;
    /// Bookings: how many days ahead a job may be scheduled.
    booking_horizon_days: u32 = 180u32;
    /// Bookings: hours after completion during which a participant may open a dispute.
    booking_dispute_window_hours: u32 = 72u32;
    /// Bookings: a customer cancelling an accepted job less than this many hours before it starts pays a fee.
    booking_late_cancel_hours: u32 = 24u32;
    /// Bookings: the late-cancellation fee, in percent of the booking's total.
    booking_cancellation_fee_percent: u32 = 20u32;
    /// Bookings: minutes east of UTC of the clients' local times (scheduledTime, timeSlot, daily stats); 180 = Nairobi.
    booking_utc_offset_mins: i32 = 180i32;
    /// HMAC secret for direct-upload grants and transformation URLs; generated and kept in the data dir when empty.
    media_secret: String = "", secret;
    /// Byte budget of the on-disk cache of rendered transformations (least recently used evicted).
    media_cache_max_bytes: u64 = 536_870_912u64;
    /// Part of that budget also kept in memory (renders up to 256 KiB), in bytes.
    media_cache_memory_bytes: u64 = 33_554_432u64;
    /// Largest width or height a transformation URL may ask for, in pixels.
    media_transform_max_px: u32 = 2000u32;
    /// Lifetime of a direct-upload grant from generate-signature, in seconds.
    media_grant_ttl_secs: u64 = 3600u64;
    /// ffmpeg program for video thumbnails (a path, or a name looked up on PATH); empty disables.
    media_ffmpeg: String = "ffmpeg";
    /// Age after which temporary files of failed or abandoned uploads are swept, in seconds.
    media_tmp_max_age_secs: u64 = 3600u64;
    /// Hours a match stays open for accepting after find-technicians (the original: 7 days).
    matching_match_ttl_hours: u64 = 168u64;
    /// Days matching sessions, matches and weight adjustments are kept before the daily purge (anonymous counts stay).
    matching_retention_days: u64 = 90u64;
    /// Seconds a technician's record is reused between searches (0 = always read it).
    matching_profile_cache_secs: u64 = 30u64;
    /// Offset of the marketplace's local time from UTC in minutes (weekly schedules, scheduledDate + scheduledTime); 180 = Nairobi.
    matching_utc_offset_mins: i64 = 180i64;
    /// Chat: seconds after sending during which the sender may delete a message for everyone (0: never).
    chat_delete_window_secs: u64 = 3600u64;
    /// Chat: longest message text, in characters.
    chat_text_max_chars: u32 = 5000u32;
    /// Chat: 64 hex characters (32 bytes) of the AES-256-GCM key for message text at rest; generated and kept in the data dir when empty.
    chat_key: String = "", secret;
}

fn env_value<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<T>, String> {
    let key = format!("BAITECH_{}", name.to_ascii_uppercase());
    match env(&key) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<T>()
            .map(Some)
            .map_err(|_| format!("{key}: cannot read {raw:?}")),
    }
}

impl Config {
    /// Resolves the configuration from flags, the process environment and the TOML file.
    pub fn load(flags: &Flags, file: Option<&Path>) -> Result<Config, String> {
        let env = |k: &str| std::env::var(k).ok();
        Self::load_with(flags, file, &env)
    }

    /// As [`Config::load`], with the environment given (tests use this).
    pub fn load_with(
        flags: &Flags,
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let path = file
            .map(Path::to_path_buf)
            .or_else(|| env("BAITECH_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("baitech.toml");
                p.exists().then_some(p)
            });
        let file_values = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => FileValues::default(),
        };
        let mut config = Config::merge(flags, file_values, env)?;
        if config.public_url.is_empty() {
            config.public_url = format!("http://{}", config.listen);
        }
        config.public_url = config.public_url.trim_end_matches('/').to_string();
        Ok(config)
    }

    /// Defaults only, rooted at `data_dir`: what tests and benchmarks start from.
    pub fn for_data_dir(data_dir: &Path) -> Config {
        let mut config =
            Config::load_with(&Flags::default(), None, &|_| None).expect("defaults are valid");
        config.data_dir = data_dir.to_path_buf();
        config
    }

    /// Whether per-IP rate limits apply.
    pub fn rate_limits_on(&self) -> bool {
        !self.rate_limits.eq_ignore_ascii_case("off")
    }

    /// The CORS allow-list as individual origins.
    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = std::env::temp_dir().join(format!("baitech-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("b.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:1\"\nlog_level = \"warn\"\njob_workers = 7\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "BAITECH_LOG_LEVEL" => Some("debug".to_string()),
            "BAITECH_JOB_WORKERS" => Some("3".to_string()),
            _ => None,
        };
        let flags = Flags {
            job_workers: Some(5),
            ..Flags::default()
        };
        let c = Config::load_with(&flags, Some(&file), &env).unwrap();
        assert_eq!(c.listen, "0.0.0.0:1");
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.job_workers, 5);
        assert_eq!(c.smtp_port, 587);
        assert_eq!(c.public_url, "http://0.0.0.0:1");
    }

    #[test]
    fn secrets_are_masked() {
        let mut c = Config::for_data_dir(Path::new("/tmp/x"));
        c.jwt_secret = "hunter2".into();
        let rows = c.describe();
        let jwt = rows.iter().find(|r| r.0 == "jwt_secret").unwrap();
        assert_eq!(jwt.1, "\"********\"");
        assert!(!jwt.2.is_empty());
    }

    #[test]
    fn bad_env_is_an_error_naming_the_variable() {
        let env = |k: &str| (k == "BAITECH_SMTP_PORT").then(|| "lots".to_string());
        let err = Config::load_with(&Flags::default(), None, &env).unwrap_err();
        assert!(err.contains("BAITECH_SMTP_PORT"));
    }
}
