//! Every setting, declared once: name, type, default and the doc that is its help text.
//!
//! Precedence: command-line flag, then the `BAITECH_<NAME>` environment
//! variable, then the optional TOML file (`--config`, `BAITECH_CONFIG`, or
//! `./baitech.toml`), then the default written here. `baitech config` prints
//! the result with secrets masked.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

macro_rules! settings {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:expr $(, $secret:ident)? ; )*) => {
        /// Server settings given on the command line (`serve` and `config`
        /// take them; `--data-dir` is the CLI's global flag, set here by main).
        #[derive(clap::Args, Debug, Clone, Default)]
        pub struct Flags {
            /// Set from the global `--data-dir` flag.
            #[arg(skip)]
            pub data_dir: Option<PathBuf>,
            $( $(#[doc = $doc])* #[arg(long)] pub $name: Option<$ty>, )*
        }

        /// Values read from the TOML file.
        #[derive(Deserialize, Debug, Default)]
        #[serde(deny_unknown_fields)]
        struct FileValues {
            #[serde(default)]
            data_dir: Option<PathBuf>,
            $( #[serde(default)] $name: Option<$ty>, )*
        }

        /// The effective configuration of one process.
        #[derive(Debug, Clone)]
        pub struct Config {
            /// Folder for the database, search index, media, outbox and generated secrets.
            pub data_dir: PathBuf,
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }

        /// Every setting's name (as in the TOML file; `BAITECH_<NAME>` in the environment).
        pub const SETTING_NAMES: &[&str] = &["data_dir", $( stringify!($name), )*];

        impl Config {
            fn merge(flags: &Flags, file: FileValues, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
                Ok(Config {
                    data_dir: match (&flags.data_dir, env_value::<PathBuf>(env, "data_dir")?, file.data_dir) {
                        (Some(v), _, _) => v.clone(),
                        (None, Some(v), _) => v,
                        (None, None, Some(v)) => v,
                        (None, None, None) => PathBuf::from(DEFAULT_DATA_DIR),
                    },
                    $( $name: match (&flags.$name, env_value::<$ty>(env, stringify!($name))?, file.$name) {
                        (Some(v), _, _) => v.clone(),
                        (None, Some(v), _) => v,
                        (None, None, Some(v)) => v,
                        (None, None, None) => $default.into(),
                    }, )*
                })
            }

            /// `(name, value, help)` for every setting, values in TOML form, secrets masked.
            pub fn describe(&self) -> Vec<(String, String, String)> {
                let mut out = vec![(
                    "data_dir".to_string(),
                    toml_value(&self.data_dir),
                    "Folder for the database, search index, media, outbox and generated secrets.".to_string(),
                )];
                $(
                    let shown = toml_value(&self.$name);
                    let is_secret = false $( || stringify!($secret) == "secret" )?;
                    let shown = if is_secret && shown != "\"\"" { "\"********\"".to_string() } else { shown };
                    let help: &[&str] = &[$($doc),*];
                    out.push((stringify!($name).to_string(), shown, help.join(" ").trim().to_string()));
                )*
                out
            }

            /// The configuration as a TOML file that reads back as the same
            /// configuration: secrets that are set are left out as comments
            /// (never a placeholder that would be taken literally).
            pub fn to_toml(&self) -> String {
                let mut out = String::new();
                for (name, value, help) in self.describe() {
                    if is_secret(&name) && value != "\"\"" {
                        out.push_str(&format!("# {help}\n# {name} = (set; not shown)\n\n"));
                    } else {
                        out.push_str(&format!("# {help}\n{name} = {value}\n\n"));
                    }
                }
                out
            }
        }

        /// Whether the setting `name` holds a secret (masked, never printed).
        pub fn is_secret(name: &str) -> bool {
            $( if name == stringify!($name) { return false $( || stringify!($secret) == "secret" )?; } )*
            false
        }
    };
}

/// Where the database and everything else live when nothing says otherwise.
pub const DEFAULT_DATA_DIR: &str = "./data";

/// A setting's value as TOML writes it (`"text"`, `10`, `10.0`, `true`).
fn toml_value<T: Serialize>(v: &T) -> String {
    toml::Value::try_from(v)
        .map(|v| v.to_string())
        .unwrap_or_else(|e| format!("\"<{e}>\""))
}

/// A closed set of words a setting accepts: parsed by clap, serde and the
/// environment alike, so a wrong word is refused wherever it is written.
macro_rules! choice {
    ($(#[doc = $doc:literal])* $name:ident { $( $variant:ident = $word:literal ),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
        pub enum $name {
            $( #[value(name = $word)] #[serde(rename = $word)] $variant, )+
        }

        impl $name {
            /// The word as written in the configuration.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $word, )+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $( $word => Ok($name::$variant), )+ _ => Err(format!("one of {}", [$($word),+].join(", "))) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choice! {
    /// A feature switch.
    OnOff { On = "on", Off = "off" }
}
choice! {
    /// How log lines are written.
    LogFormat { Pretty = "pretty", Json = "json" }
}
choice! {
    /// SMTP transport security.
    SmtpTls { Starttls = "starttls", Tls = "tls", None = "none" }
}
choice! {
    /// Daraja STK Push TransactionType.
    MpesaTransactionType { PayBill = "CustomerPayBillOnline", BuyGoods = "CustomerBuyGoodsOnline" }
}
choice! {
    /// Daraja B2C CommandID.
    MpesaB2cCommand { BusinessPayment = "BusinessPayment", SalaryPayment = "SalaryPayment", PromotionPayment = "PromotionPayment" }
}

settings! {
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
    /// Lifetime of an access token, in seconds (7 days, as the original's JWT_EXPIRE: its clients never refresh). Every sign-out revokes access tokens at once.
    access_token_ttl_secs: u64 = 604_800u64;
    /// Lifetime of a refresh token, in seconds.
    refresh_token_ttl_secs: u64 = 2_592_000u64;
    /// "on" or "off": per-IP rate limits (per-account limits on login, 2FA and reset stay on).
    rate_limits: OnOff = OnOff::On;
    /// Requests per minute per IP on the whole API.
    rate_limit_global_per_min: u32 = 600u32;
    /// Requests per minute per IP on login, register, 2FA and password reset.
    rate_limit_auth_per_min: u32 = 20u32;
    /// Failed sign-in attempts per account per 15 minutes before it is throttled.
    account_failed_logins_per_15min: u32 = 10u32;
    /// Largest accepted request body (JSON), in bytes.
    body_limit_bytes: u64 = 10_485_760u64;
    /// Log format: "pretty" or "json".
    log_format: LogFormat = LogFormat::Pretty;
    /// Log level of BaiTech's own lines ("error", "warn", "info", "debug", "trace" or "off"; other libraries stay at "warn"), or a filter of target=level directives, e.g. "baitech=debug,tantivy=info".
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
    smtp_tls: SmtpTls = SmtpTls::Starttls;
    /// Background job workers.
    job_workers: u32 = 2u32;
    /// Hours a failing job keeps being retried (backoff doubling from 2 s up to an hour) before it is dead.
    job_give_up_hours: u64 = 24u64;
    /// Days finished (done or dead) jobs are kept before the daily prune deletes them.
    job_retention_days: u64 = 14u64;
    /// Days events are kept once every consumer has read them, before the daily prune deletes them.
    event_retention_days: u64 = 30u64;
    /// Days files in <data_dir>/outbox (dev emails and provider requests) are kept before the daily prune deletes them.
    outbox_retention_days: u64 = 7u64;
    /// WAL pages after which SQLite checkpoints on commit; 0 leaves checkpoints to Litestream (set 0 when it replicates the database).
    db_wal_autocheckpoint: u32 = 1000u32;
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
    mpesa_transaction_type: MpesaTransactionType = MpesaTransactionType::PayBill;
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
    mpesa_b2c_command: MpesaB2cCommand = MpesaB2cCommand::BusinessPayment;
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
    /// Only technicians whose KYC an admin approved are matched and bookable (off: everyone active is, as the original; documents carry `kyc.verified` either way).
    require_technician_kyc: bool = false;
    /// Bearer token that `/metrics` requires; when empty, `/metrics` answers only callers on loopback.
    metrics_token: String = "", secret;
    /// Seconds a client has to send a request's headers before the connection is closed.
    http_header_timeout_secs: u64 = 10u64;
    /// Seconds a kept-alive connection may sit idle between requests before it is closed.
    http_idle_timeout_secs: u64 = 60u64;
    /// Most client connections served at once; further ones wait in the kernel's backlog.
    http_max_connections: u32 = 1024u32;
    /// Tickets a support agent may hold at once (assigned, in progress, waiting) until they set their own cap.
    support_max_concurrent_tickets: u64 = 5u64;
    /// Percent of an SLA target after which the assignee is warned (the breach escalates at 100%).
    support_sla_warn_percent: u64 = 80u64;
    /// Hours after closing during which the ticket's customer may reopen it.
    support_reopen_window_hours: u64 = 168u64;
    /// Notifications: minutes east of UTC of users' quiet hours (local time); 180 = Nairobi.
    notification_utc_offset_mins: i32 = 180i32;
    /// Notifications: minutes before an accepted booking's start that both parties get a reminder.
    notification_reminder_lead_mins: u32 = 60u32;
    /// FCM HTTP v1 base URL (messages:send is under /v1/projects/<project>/).
    fcm_base_url: String = "https://fcm.googleapis.com";
    /// OAuth token endpoint the FCM service-account JWT is exchanged at (also the JWT's audience).
    fcm_oauth_url: String = "https://oauth2.googleapis.com/token";
    /// Path of the Firebase service-account JSON; or set the three fcm_* values below. With none, pushes go to <data_dir>/outbox.
    fcm_service_account_file: String = "";
    /// Firebase project id (when no service-account file is given).
    fcm_project_id: String = "";
    /// Service-account email (client_email).
    fcm_client_email: String = "";
    /// Service-account RSA private key, PEM (literal \n sequences become newlines).
    fcm_private_key: String = "", secret;
    /// Africa's Talking messaging base URL; empty = the live API, or the sandbox when at_username is "sandbox".
    sms_base_url: String = "";
    /// Africa's Talking username ("sandbox" for the sandbox).
    at_username: String = "sandbox";
    /// Africa's Talking API key; when empty, SMS go to <data_dir>/outbox.
    at_api_key: String = "", secret;
    /// Sender id (alphanumeric or short code) SMS come from.
    at_sender_id: String = "BAITECH";
    /// Chat: seconds after sending during which the sender may delete a message for everyone (0: never).
    chat_delete_window_secs: u64 = 3600u64;
    /// Chat: longest message text, in characters.
    chat_text_max_chars: u32 = 5000u32;
    /// Chat: 64 hex characters (32 bytes) of the AES-256-GCM key for message text at rest; generated and kept in the data dir when empty.
    chat_key: String = "", secret;
}

fn env_value<T>(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<T>, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let key = format!("BAITECH_{}", name.to_ascii_uppercase());
    match env(&key) {
        None => Ok(None),
        Some(raw) => raw.parse::<T>().map(Some).map_err(|e| {
            format!(
                "{key}: cannot read {raw:?}: expected {}",
                expected_form::<T>(&e.to_string())
            )
        }),
    }
}

/// What a value of type `T` looks like, for error messages.
fn expected_form<T>(parse_error: &str) -> String {
    let ty = std::any::type_name::<T>();
    match ty.rsplit("::").next().unwrap_or(ty) {
        "u16" => format!("a whole number from 0 to {}", u16::MAX),
        "u32" => format!("a whole number from 0 to {}", u32::MAX),
        "u64" => "a whole number, 0 or more".into(),
        "i32" | "i64" => "a whole number".into(),
        "f64" => "a number, e.g. 10 or 2.5".into(),
        "bool" => "true or false".into(),
        _ => parse_error.to_string(),
    }
}

/// Environment variables that start with `BAITECH_` but are not settings
/// (the test suite's tool locations are known and not warned about).
pub fn unknown_env_vars(names: impl IntoIterator<Item = String>) -> Vec<String> {
    const NOT_SETTINGS: &[&str] = &[
        "BAITECH_CONFIG",
        "BAITECH_NODE_MODULES",
        "BAITECH_CHROMIUM",
        "BAITECH_SCHEMATHESIS",
        "BAITECH_LITESTREAM",
    ];
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("BAITECH_") && !NOT_SETTINGS.contains(&n.as_str()))
        .filter(|n| {
            let setting = n["BAITECH_".len()..].to_ascii_lowercase();
            !SETTING_NAMES.contains(&setting.as_str())
        })
        .collect();
    unknown.sort();
    unknown
}

/// The log levels `log_level` accepts on their own.
const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Whether `log_level` is a bare level or `target=level` directives (a bare
/// word such as "warning" would be read as a target and silence everything).
fn log_level_problem(value: &str) -> Option<String> {
    let expected = "expected a level (off, error, warn, info, debug, trace) or target=level directives separated by commas";
    if value.trim().is_empty() {
        return Some(expected.into());
    }
    for directive in value.split(',').map(str::trim) {
        let level = match directive.split_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level.trim(),
            Some(_) => return Some(expected.into()),
            None => directive,
        };
        if !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Some(format!("{expected}; {directive:?} is not one"));
        }
    }
    None
}

/// The tracing filter for `log_level`: a bare level applies to BaiTech's own
/// lines (and its access log), while other libraries (tantivy, hyper...)
/// stay at `warn`; directives are used as given.
pub fn log_filter(log_level: &str) -> String {
    let level = log_level.trim().to_ascii_lowercase();
    if level.contains('=') {
        return log_level.trim().to_string();
    }
    match level.as_str() {
        "off" | "error" => level,
        _ => format!("warn,baitech={level}"),
    }
}

/// Whether `value` is an absolute http(s) URL.
fn is_http_url(value: &str) -> bool {
    reqwest::Url::parse(value)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Whether `value` is a socket address the server can bind: `IP:port` or `localhost:port`.
fn is_listen_address(value: &str) -> bool {
    value.parse::<std::net::SocketAddr>().is_ok()
        || value
            .strip_prefix("localhost:")
            .is_some_and(|port| port.parse::<u16>().is_ok())
}

impl Config {
    /// Checks every value against its expected form; the error is one line
    /// naming the setting and what it accepts. Runs before anything is
    /// created on disk (start-up and `baitech config` alike).
    pub fn validate(&self) -> Result<(), String> {
        let mut problems: Vec<(&str, String)> = Vec::new();
        let mut need =
            |ok: bool, name: &'static str, expected: &str, value: &dyn std::fmt::Debug| {
                if !ok {
                    problems.push((name, format!("expected {expected}, got {value:?}")));
                }
            };
        need(
            is_listen_address(&self.listen),
            "listen",
            "IP:port or localhost:port, e.g. 127.0.0.1:5000",
            &self.listen,
        );
        need(
            self.public_url.is_empty() || is_http_url(&self.public_url),
            "public_url",
            "an http(s) URL such as https://api.example.com, or empty",
            &self.public_url,
        );
        need(
            is_http_url(&self.client_web_url),
            "client_web_url",
            "an http(s) URL such as https://app.example.com",
            &self.client_web_url,
        );
        need(
            is_http_url(&self.mpesa_base_url),
            "mpesa_base_url",
            "an http(s) URL",
            &self.mpesa_base_url,
        );
        need(
            is_http_url(&self.stripe_base_url),
            "stripe_base_url",
            "an http(s) URL",
            &self.stripe_base_url,
        );
        need(
            self.cors_origin_list()
                .iter()
                .all(|o| o == "*" || is_http_url(o)),
            "cors_origins",
            "comma-separated http(s) origins, or \"*\"",
            &self.cors_origins,
        );
        need(
            self.jwt_secret.is_empty() || self.jwt_secret.len() >= 32,
            "jwt_secret",
            "at least 32 characters, or empty to generate one",
            &"(secret)",
        );
        need(
            self.access_token_ttl_secs > 0,
            "access_token_ttl_secs",
            "a number of seconds above 0",
            &self.access_token_ttl_secs,
        );
        need(
            self.refresh_token_ttl_secs > 0,
            "refresh_token_ttl_secs",
            "a number of seconds above 0",
            &self.refresh_token_ttl_secs,
        );
        need(
            self.rate_limit_global_per_min > 0,
            "rate_limit_global_per_min",
            "a number above 0 (turn limits off with rate_limits = \"off\")",
            &self.rate_limit_global_per_min,
        );
        need(
            self.rate_limit_auth_per_min > 0,
            "rate_limit_auth_per_min",
            "a number above 0",
            &self.rate_limit_auth_per_min,
        );
        need(
            self.account_failed_logins_per_15min > 0,
            "account_failed_logins_per_15min",
            "a number above 0",
            &self.account_failed_logins_per_15min,
        );
        need(
            self.body_limit_bytes >= 1024,
            "body_limit_bytes",
            "a number of bytes, 1024 or more",
            &self.body_limit_bytes,
        );
        need(
            self.smtp_port > 0,
            "smtp_port",
            "a port from 1 to 65535",
            &self.smtp_port,
        );
        need(
            self.smtp_from.parse::<lettre::message::Mailbox>().is_ok(),
            "smtp_from",
            "a mailbox such as \"BaiTech <no-reply@example.com>\"",
            &self.smtp_from,
        );
        need(
            self.job_workers >= 1,
            "job_workers",
            "1 or more",
            &self.job_workers,
        );
        need(
            self.db_pool_size >= 1,
            "db_pool_size",
            "1 or more",
            &self.db_pool_size,
        );
        need(
            self.argon2_memory_kib >= 8 * 1024,
            "argon2_memory_kib",
            "8192 KiB or more (OWASP: 19456)",
            &self.argon2_memory_kib,
        );
        need(
            self.argon2_iterations >= 1,
            "argon2_iterations",
            "1 or more",
            &self.argon2_iterations,
        );
        need(
            (0.0..=100.0).contains(&self.platform_fee_percent),
            "platform_fee_percent",
            "a percentage from 0 to 100",
            &self.platform_fee_percent,
        );
        need(
            self.platform_fee_minimum.is_finite() && self.platform_fee_minimum >= 0.0,
            "platform_fee_minimum",
            "an amount, 0 or more",
            &self.platform_fee_minimum,
        );
        need(
            self.booking_cancellation_fee_percent <= 100,
            "booking_cancellation_fee_percent",
            "a percentage from 0 to 100",
            &self.booking_cancellation_fee_percent,
        );
        need(
            (-720..=840).contains(&self.booking_utc_offset_mins),
            "booking_utc_offset_mins",
            "minutes east of UTC from -720 to 840",
            &self.booking_utc_offset_mins,
        );
        need(
            (-720..=840).contains(&self.matching_utc_offset_mins),
            "matching_utc_offset_mins",
            "minutes east of UTC from -720 to 840",
            &self.matching_utc_offset_mins,
        );
        need(
            self.nearby_max_radius_km.is_finite() && self.nearby_max_radius_km > 0.0,
            "nearby_max_radius_km",
            "a distance in km above 0",
            &self.nearby_max_radius_km,
        );
        need(
            self.booking_horizon_days >= 1,
            "booking_horizon_days",
            "1 or more",
            &self.booking_horizon_days,
        );
        need(
            self.media_transform_max_px >= 1,
            "media_transform_max_px",
            "1 or more",
            &self.media_transform_max_px,
        );
        need(
            self.media_cache_memory_bytes <= self.media_cache_max_bytes,
            "media_cache_memory_bytes",
            "at most media_cache_max_bytes",
            &self.media_cache_memory_bytes,
        );
        if let Some(problem) = log_level_problem(&self.log_level) {
            problems.push(("log_level", format!("{problem}, got {:?}", self.log_level)));
        }
        match problems.into_iter().next() {
            None => Ok(()),
            Some((name, problem)) => Err(format!("{name}: {problem}")),
        }
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
                toml::from_str(&text).map_err(|e: toml::de::Error| {
                    let line = e
                        .span()
                        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                        .unwrap_or(0);
                    format!("{}:{line}: {}", p.display(), e.message().trim())
                })?
            }
            None => FileValues::default(),
        };
        let mut config = Config::merge(flags, file_values, env)?;
        config.validate()?;
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
        self.rate_limits == OnOff::On
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

    fn load_env(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let env = |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        };
        Config::load_with(&Flags::default(), None, &env)
    }

    #[test]
    fn every_wrong_value_is_refused_naming_the_setting_and_its_form() {
        // (variable, value, words the one-line error must contain)
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "BAITECH_RATE_LIMITS",
                "false",
                &["BAITECH_RATE_LIMITS", "on, off"],
            ),
            (
                "BAITECH_LOG_LEVEL",
                "warning",
                &["log_level", "warn", "\"warning\" is not one"],
            ),
            ("BAITECH_LOG_LEVEL", "baitech=loud", &["log_level"]),
            ("BAITECH_LOG_LEVEL", "=info", &["log_level"]),
            (
                "BAITECH_LOG_FORMAT",
                "xml",
                &["BAITECH_LOG_FORMAT", "pretty, json"],
            ),
            (
                "BAITECH_SMTP_TLS",
                "ssl",
                &["BAITECH_SMTP_TLS", "starttls, tls, none"],
            ),
            (
                "BAITECH_PLATFORM_FEE_PERCENT",
                "250",
                &["platform_fee_percent", "0 to 100"],
            ),
            (
                "BAITECH_PLATFORM_FEE_PERCENT",
                "-5",
                &["platform_fee_percent", "0 to 100"],
            ),
            (
                "BAITECH_PLATFORM_FEE_PERCENT",
                "NaN",
                &["platform_fee_percent"],
            ),
            (
                "BAITECH_PLATFORM_FEE_MINIMUM",
                "-1",
                &["platform_fee_minimum"],
            ),
            (
                "BAITECH_BOOKING_CANCELLATION_FEE_PERCENT",
                "101",
                &["booking_cancellation_fee_percent"],
            ),
            ("BAITECH_LISTEN", "notaport", &["listen", "IP:port"]),
            ("BAITECH_LISTEN", "127.0.0.1:99999", &["listen"]),
            (
                "BAITECH_PUBLIC_URL",
                "api.example.com",
                &["public_url", "http(s) URL"],
            ),
            ("BAITECH_CLIENT_WEB_URL", "ftp://x", &["client_web_url"]),
            ("BAITECH_MPESA_BASE_URL", "sandbox", &["mpesa_base_url"]),
            ("BAITECH_STRIPE_BASE_URL", "", &["stripe_base_url"]),
            (
                "BAITECH_CORS_ORIGINS",
                "http://a.example,not a url",
                &["cors_origins"],
            ),
            (
                "BAITECH_MPESA_TRANSACTION_TYPE",
                "PayBill",
                &["CustomerPayBillOnline, CustomerBuyGoodsOnline"],
            ),
            ("BAITECH_MPESA_B2C_COMMAND", "Payment", &["BusinessPayment"]),
            (
                "BAITECH_SMTP_PORT",
                "lots",
                &["BAITECH_SMTP_PORT", "whole number from 0 to 65535"],
            ),
            ("BAITECH_SMTP_PORT", "0", &["smtp_port"]),
            ("BAITECH_SMTP_FROM", "nobody", &["smtp_from"]),
            (
                "BAITECH_TRUST_PROXY",
                "yes",
                &["BAITECH_TRUST_PROXY", "true or false"],
            ),
            ("BAITECH_JOB_WORKERS", "0", &["job_workers"]),
            ("BAITECH_JWT_SECRET", "short", &["jwt_secret", "32"]),
            (
                "BAITECH_BOOKING_UTC_OFFSET_MINS",
                "100000",
                &["booking_utc_offset_mins"],
            ),
            ("BAITECH_ARGON2_MEMORY_KIB", "16", &["argon2_memory_kib"]),
        ];
        for (name, value, words) in cases {
            let err = load_env(&[(name, value)]).expect_err(&format!("{name}={value} accepted"));
            assert!(!err.contains('\n'), "{name}={value}: one line: {err}");
            for w in *words {
                assert!(err.contains(w), "{name}={value}: {err:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn right_values_are_taken_as_typed_values() {
        let c = load_env(&[
            ("BAITECH_RATE_LIMITS", "off"),
            ("BAITECH_SMTP_TLS", "tls"),
            ("BAITECH_LOG_LEVEL", "baitech=debug,tantivy=info"),
            ("BAITECH_PLATFORM_FEE_PERCENT", "0"),
            ("BAITECH_LISTEN", "localhost:8080"),
            ("BAITECH_MPESA_TRANSACTION_TYPE", "CustomerBuyGoodsOnline"),
        ])
        .unwrap();
        assert!(!c.rate_limits_on());
        assert_eq!(c.smtp_tls, SmtpTls::Tls);
        assert_eq!(c.mpesa_transaction_type, MpesaTransactionType::BuyGoods);
        assert_eq!(c.public_url, "http://localhost:8080");
    }

    #[test]
    fn a_wrong_value_in_the_file_names_the_file_line_and_setting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\nrate_limits = false\n").unwrap();
        let err = Config::load_with(&Flags::default(), Some(&file), &|_| None).unwrap_err();
        assert!(err.contains("b.toml:2"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        std::fs::write(&file, "smtp_tls = \"ssl\"\n").unwrap();
        let err = Config::load_with(&Flags::default(), Some(&file), &|_| None).unwrap_err();
        assert!(err.contains("starttls"), "{err}");
    }

    #[test]
    fn the_printed_configuration_reads_back_without_its_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::for_data_dir(dir.path());
        c.jwt_secret = "x".repeat(40);
        c.platform_fee_percent = 7.5;
        c.smtp_tls = SmtpTls::None;
        let text = c.to_toml();
        assert!(!text.contains("********"));
        assert!(!text.contains(&"x".repeat(40)));
        assert!(text.contains("# jwt_secret = (set; not shown)"));
        let file = dir.path().join("saved.toml");
        std::fs::write(&file, &text).unwrap();
        let back = Config::load_with(&Flags::default(), Some(&file), &|_| None).unwrap();
        assert_eq!(
            back.jwt_secret, "",
            "a secret is never read back from a placeholder"
        );
        assert_eq!(back.platform_fee_percent, 7.5);
        assert_eq!(back.smtp_tls, SmtpTls::None);
        assert_eq!(back.data_dir, dir.path());
        assert_eq!(
            back.to_toml()
                .replace("# jwt_secret = (set; not shown)", "jwt_secret = \"\""),
            text.replace("# jwt_secret = (set; not shown)", "jwt_secret = \"\"")
        );
    }

    #[test]
    fn unknown_baitech_variables_are_listed() {
        let names = [
            "BAITECH_LISTEN",
            "BAITECH_LISTN",
            "BAITECH_CONFIG",
            "PATH",
            "BAITECH_DATA_DIR",
            "BAITECH_CHROMIUM",
        ]
        .map(String::from);
        assert_eq!(unknown_env_vars(names), vec!["BAITECH_LISTN".to_string()]);
    }

    #[test]
    fn a_bare_level_keeps_other_libraries_at_warn() {
        let cases = [
            ("info", "warn,baitech=info"),
            ("debug", "warn,baitech=debug"),
            ("error", "error"),
            ("off", "off"),
            ("baitech=debug,tantivy=info", "baitech=debug,tantivy=info"),
        ];
        for (level, filter) in cases {
            assert_eq!(log_filter(level), filter, "{level}");
            assert!(tracing_subscriber::EnvFilter::try_new(log_filter(level)).is_ok());
        }
    }
}
