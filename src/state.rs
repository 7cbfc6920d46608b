//! What every handler and background task shares.

use std::sync::Arc;
use std::time::Instant;

use crate::auth::tokens::JwtKeys;
use crate::config::Config;
use crate::db::Db;
use crate::events::EventBus;
use crate::http::rate_limit::RateLimits;
use crate::jobs::JobRegistry;
use crate::metrics::Metrics;

/// The application context; cheap to clone (everything inside is shared).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub jwt: Arc<JwtKeys>,
    pub jobs: Arc<JobRegistry>,
    pub events: Arc<EventBus>,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<RateLimits>,
    /// Outbound HTTP client for providers (rustls, timeouts set).
    pub http: reqwest::Client,
    pub started: Instant,
    /// A valid hash to verify against when an email is unknown (equal timing).
    pub decoy_hash: Arc<String>,
    /// Recently seen callers' accounts (see `AccountCache`).
    pub accounts: Arc<crate::auth::extract::AccountCache>,
    /// Serialised `GET /auth/me` answers of recent callers.
    pub me_answers: Arc<crate::db::cache::GenerationCache<axum::body::Bytes>>,
    /// Active technicians' locations, for nearby search and matching.
    pub geo: Arc<crate::users::geo::GeoIndex>,
    /// Payments: the M-Pesa callback secret and the cached Daraja token.
    pub payments: Arc<crate::payments::Payments>,
    /// Media on local disk: paths, signing key, render cache.
    pub media: Arc<crate::media::Media>,
    /// Matching's technician record cache and session writer.
    pub matching: Arc<crate::matching::MatchingState>,
    /// Full-text index of users, kept current by the `search.users` consumer.
    pub search: Arc<crate::search::SearchIndex>,
    /// Presence and emitting to connected sockets (the Socket.IO layer plugs in).
    pub realtime: Arc<crate::realtime::Realtime>,
    /// Posts: pending views and the posts search index.
    pub posts: Arc<crate::posts::Posts>,
    /// Notification channels' shared state (the cached FCM access token).
    pub notifications: Arc<crate::notifications::Notifications>,
    /// Chat: the message-text cipher and limits.
    pub chat: Arc<crate::chat::Chat>,
}

impl AppState {
    /// The argon2 cost configured for this process.
    pub fn password_cost(&self) -> crate::auth::password::Cost {
        crate::auth::password::Cost {
            memory_kib: self.config.argon2_memory_kib,
            iterations: self.config.argon2_iterations,
        }
    }
}
