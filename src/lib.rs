//! BaiTech: the whole backend of a services marketplace in one binary.
//!
//! [`build_state`] opens the data directory; [`app`] is the router;
//! [`serve`] runs it on a listener until `shutdown` resolves. Tests and
//! benchmarks call these directly with a listener bound to `127.0.0.1:0`.

pub mod admin;
pub mod auth;
pub mod bookings;
pub mod chat;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod files;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod matching;
pub mod media;
pub mod metrics;
pub mod money;
pub mod notifications;
pub mod openapi;
pub mod payments;
pub mod posts;
pub mod providers;
pub mod realtime;
pub mod reviews;
pub mod search;
pub mod seed;
pub mod state;
pub mod support;
pub mod system;
pub mod users;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::db::Db;
use crate::events::EventBus;
use crate::http::middleware;
use crate::jobs::JobRegistry;
use crate::state::AppState;

/// Opens (creating) the data directory and database, loads or generates the
/// JWT secret, and registers job handlers and event consumers.
pub fn build_state(config: Config) -> Result<AppState, String> {
    let started = Instant::now();
    files::secure_data_dir(&config.data_dir)?;
    db::health::preflight(&config.data_dir)?;
    let db = Db::open(&config.data_dir.join("baitech.db"), config.db_pool_size)?;
    let pages = config.db_wal_autocheckpoint;
    db.with_writer(|c| c.pragma_update(None, "wal_autocheckpoint", pages))
        .and_then(|r| r.map_err(Into::into))
        .map_err(|e| format!("wal_autocheckpoint: {e}"))?;
    let handed = db
        .write_blocking(users::handle::backfill)
        .map_err(|e| format!("giving accounts their handles: {e}"))?;
    if handed > 0 {
        tracing::info!(accounts = handed, "gave older accounts their @handles");
    }
    let secret = jwt_secret(&config)?;
    let geo = db
        .read_blocking(users::geo::GeoIndex::load)
        .map_err(|e| format!("loading the technician index: {e}"))?;
    let mut jobs = JobRegistry::default();
    jobs.register(providers::email::JOB_KIND, providers::email::send);
    let mut events = EventBus::default();
    payments::register(&mut jobs, &mut events);
    support::install(&mut jobs, &mut events);
    jobs.register(users::store::SCRUB_JOB, users::scrub_job);
    jobs.register(media::SWEEP_JOB, media::sweep_job);
    let media = Arc::new(media::Media::open(&config)?);
    media::schedule_sweep_for_leftovers(&media, &db)?;
    media::load_private_documents(&media, &db)?;
    jobs.register(matching::PURGE_JOB, matching::purge_job);
    jobs.register(crate::jobs::prune::JOB, crate::jobs::prune::job);
    db.write_blocking(crate::jobs::prune::schedule)
        .map_err(|e| format!("scheduling the retention prune: {e}"))?;
    events.subscribe(matching::HISTORY_CONSUMER, matching::record_history);
    db.write_blocking(matching::schedule_purge)
        .map_err(|e| format!("scheduling the matching purge: {e}"))?;
    notifications::install(&mut jobs, &mut events);
    db.write_blocking(notifications::schedule_purge)
        .map_err(|e| format!("scheduling the notification purge: {e}"))?;
    let search = search::SearchIndex::open(&config.data_dir, &db)?;
    events.subscribe_batch(
        search::CONSUMER,
        search::LINGER,
        search::consumer::on_events,
    );
    posts::install(&mut events);
    let posts = Arc::new(posts::Posts::open(&config.data_dir, &db)?);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let cost = auth::password::Cost {
        memory_kib: config.argon2_memory_kib,
        iterations: config.argon2_iterations,
    };
    let payments = Arc::new(payments::Payments::open(&config)?);
    let matching = Arc::new(matching::MatchingState::new(&config));
    let chat = Arc::new(chat::Chat::open(&config)?);
    chat::install(&mut events);
    realtime::fanout::install(&mut events);
    Ok(AppState {
        limits: Arc::new(http::rate_limit::RateLimits::new(&config)),
        config: Arc::new(config),
        db,
        jwt: Arc::new(auth::tokens::JwtKeys::new(secret.as_bytes())),
        jobs: Arc::new(jobs),
        events: Arc::new(events),
        metrics: Arc::new(metrics::Metrics::default()),
        http,
        started,
        decoy_hash: Arc::new(auth::password::decoy_hash(cost)),
        accounts: Arc::default(),
        me_answers: Arc::default(),
        geo: Arc::new(geo),
        payments,
        media,
        matching,
        search: Arc::new(search),
        realtime: Arc::default(),
        posts,
        notifications: Arc::default(),
        chat,
    })
}

/// The configured JWT secret, or the one generated on first start and kept
/// in `<data_dir>/jwt.secret` (mode 0600).
fn jwt_secret(config: &Config) -> Result<String, String> {
    if !config.jwt_secret.is_empty() {
        if config.jwt_secret.len() < 32 {
            return Err("jwt_secret must be at least 32 characters".into());
        }
        return Ok(config.jwt_secret.clone());
    }
    let path = config.data_dir.join("jwt.secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    let secret = ids::random_token(48);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(secret.as_bytes()).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    Ok(secret)
}

/// Every module's routes with their OpenAPI paths.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(system::routes())
        .nest("/api/v1/auth", auth::routes::routes())
        .nest("/api/v1/reviews", reviews::routes::routes())
        .nest("/api/v1/transactions", payments::routes::routes())
        .nest("/api/v1/wallet", payments::routes::wallet_routes())
        .nest("/api/v1/users", users::routes::routes())
        .nest("/api/v1/bookings", bookings::routes::routes())
        .nest("/api/v1/media", media::routes::routes())
        .merge(media::routes::profile_picture_routes())
        .merge(media::routes::file_routes())
        .nest("/api/v1/matching", matching::routes::routes())
        .nest("/api/v1/support", support::routes::routes())
        .nest("/api/v1/posts", posts::routes::routes())
        .nest("/api/v1/admin", admin::routes::routes())
        .nest("/api/v1/notifications", notifications::routes::routes())
        .nest("/api/v1/conversations", chat::routes::conversation_routes())
        .nest("/api/v1/messages", chat::routes::message_routes())
}

/// The OpenAPI document of this build.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

fn cors(config: &Config) -> CorsLayer {
    let mut origins = config.cors_origin_list();
    // The web client's own origin is always allowed (the original's
    // whitelist starts with CLIENT_WEB_URL, for HTTP and Socket.IO alike).
    let client = config.client_web_url.trim().trim_end_matches('/');
    if let Some(origin) = client_origin(client) {
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::mirror_request()
    } else {
        let list: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
        AllowOrigin::list(list)
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-requested-with"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// The origin (`scheme://host[:port]`) of a URL, without its path.
fn client_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let (router, api) = api_router().split_for_parts();
    let sockets = realtime::socket::layer(&state);
    let request_id = middleware::REQUEST_ID.clone();
    let trace = TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
        let id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
    });
    router
        .merge(SwaggerUi::new("/api-docs").config(utoipa_swagger_ui::Config::from(API_DOCS)))
        .route(API_DOCS, api_docs_route(&api))
        .merge(admin::assets::router())
        .fallback(middleware::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::record_metrics,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::global_rate_limit,
        ))
        .layer(DefaultBodyLimit::max(
            state.config.body_limit_bytes as usize,
        ))
        .layer(axum::middleware::from_fn(middleware::envelope_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(sockets)
        .layer(cors(&state.config))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::access_log))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Where the OpenAPI document is served (and Swagger UI reads it).
const API_DOCS: &str = "/api-docs.json";

/// `GET /api-docs.json`: the document serialized once at start. Swagger
/// UI's own route would keep utoipa's tree of it (several times the
/// 300 KB of JSON) for the life of the process and serialize it per call.
fn api_docs_route(api: &utoipa::openapi::OpenApi) -> axum::routing::MethodRouter<AppState> {
    let json = bytes::Bytes::from(serde_json::to_vec(api).unwrap_or_default());
    axum::routing::get(move || {
        let json = json.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], json) }
    })
}

/// Start-up (migrations, index loads, building the OpenAPI document) frees
/// a few MiB that glibc would otherwise keep in the heap for the life of
/// the process.
fn release_start_up_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Serves until `shutdown` resolves: stops accepting, finishes in-flight
/// requests, lets job workers finish their current job, then returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let recovered = state.db.write(jobs::recover_abandoned).await.unwrap_or(0);
    if recovered > 0 {
        tracing::warn!(
            jobs = recovered,
            "re-queued jobs left running by a previous process"
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut background = jobs::start(state.clone(), state.config.job_workers, stop_rx.clone());
    background.extend(state.events.start(state.clone(), stop_rx.clone()));
    let limits = state.limits.clone();
    let mut sweep_stop = stop_rx.clone();
    background.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => limits.forget_idle(),
                _ = sweep_stop.changed() => return,
            }
        }
    }));
    let limits = http::server::ConnLimits::of(&state.config);
    let views = state.clone();
    let app = app(state);
    release_start_up_memory();
    let result = http::server::serve(listener, app, limits, shutdown).await;
    // Views counted in memory since the last flush.
    let _ = posts::flush_views(&views).await;
    let _ = stop_tx.send(true);
    for task in background {
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
    result
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; draining");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn the_web_clients_origin_comes_from_its_url() {
        for (url, origin) in [
            ("http://localhost:3000", Some("http://localhost:3000")),
            (
                "https://app.baitech.co.ke/path/",
                Some("https://app.baitech.co.ke"),
            ),
            ("nonsense", None),
        ] {
            assert_eq!(super::client_origin(url).as_deref(), origin, "{url}");
        }
    }

    /// utoipa keeps one component per name, silently: two modules each
    /// with a `CreateBody` once documented one route with the other's
    /// shape. Every name must mean one schema across the modules.
    #[test]
    fn schema_names_mean_one_schema_across_modules() {
        let modules = [
            ("system", super::system::routes()),
            ("auth", super::auth::routes::routes()),
            ("reviews", super::reviews::routes::routes()),
            ("payments", super::payments::routes::routes()),
            ("wallet", super::payments::routes::wallet_routes()),
            ("users", super::users::routes::routes()),
            ("bookings", super::bookings::routes::routes()),
            ("media", super::media::routes::routes()),
            (
                "profile picture",
                super::media::routes::profile_picture_routes(),
            ),
            ("media files", super::media::routes::file_routes()),
            ("matching", super::matching::routes::routes()),
            ("support", super::support::routes::routes()),
            ("posts", super::posts::routes::routes()),
            ("admin", super::admin::routes::routes()),
            ("notifications", super::notifications::routes::routes()),
            ("conversations", super::chat::routes::conversation_routes()),
            ("messages", super::chat::routes::message_routes()),
        ];
        let mut seen: BTreeMap<String, (&str, serde_json::Value)> = BTreeMap::new();
        let mut clashes = Vec::new();
        for (module, router) in modules {
            let doc = router.split_for_parts().1;
            let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
            for (name, schema) in schemas {
                let json = serde_json::to_value(&schema).unwrap();
                match seen.get(&name) {
                    Some((first, earlier)) if *earlier != json => {
                        clashes.push(format!("{name}: {first} and {module}"))
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(name, (module, json));
                    }
                }
            }
        }
        assert!(seen.len() > 50, "{} schemas found", seen.len());
        assert!(clashes.is_empty(), "one name, two schemas: {clashes:?}");
        let merged = super::openapi_document().components.unwrap().schemas;
        for name in seen.keys() {
            assert!(
                merged.contains_key(name),
                "{name} missing from the document"
            );
        }
    }
}
