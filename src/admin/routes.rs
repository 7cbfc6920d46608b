//! `/api/v1/admin`: what the dashboard needs that no module route offers.
//! Admins only (support staff use the support module's own routes); each
//! handler checks the role, reads its parameters with a pure parser from
//! [`super::model`], and calls the owning module's exported function.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::admin::model;
use crate::admin::schemas::*;
use crate::auth::{CurrentUser, Role};
use crate::bookings::model::{day_string, local_day, major};
use crate::error::{ApiError, ApiResult};
use crate::http::{list_response, AppQuery, Page};
use crate::ids::now_ms;
use crate::openapi::schemas::{ErrorBody, Message};
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;
/// The currency the overview's money figures are in.
const CURRENCY: &str = "KES";

/// Every `/api/v1/admin` route with its OpenAPI path (mounted by `api_router`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(list_jobs))
        .routes(routes!(requeue_job))
        .routes(routes!(retry_job))
        .routes(routes!(effective_config))
        .routes(routes!(list_webhooks))
        .routes(routes!(ledger_check))
}

fn admin_only(user: &CurrentUser) -> ApiResult<()> {
    user.require_role(&[Role::Admin])
}

/// `GET /admin/overview` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// Days of bookings and GMV to chart, ending today (1-366, default 30).
    days: Option<String>,
}

/// The overview's figures: accounts per role, bookings and GMV per local
/// day, money held in escrow, and the job queue's depth.
#[utoipa::path(get, path = "/overview", tag = "admin", params(OverviewQuery), security(("bearer" = [])),
    responses((status = 200, body = AdminOverview), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn overview(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<OverviewQuery>,
) -> ApiResult<Json<Value>> {
    admin_only(&user)?;
    let days = model::parse_days(q.days.as_deref()).map_err(|e| ApiError::Validation(vec![e]))?;
    let offset = state.config.booking_utc_offset_mins;
    let to = (local_day(now_ms(), offset) + 1) * DAY_MS - offset as i64 * 60_000;
    let from = to - days as i64 * DAY_MS;
    let body = state
        .db
        .read(move |c| {
            // One snapshot for every figure.
            c.execute_batch("BEGIN DEFERRED")?;
            let figures = (|| {
                let roles = crate::users::store::count_by_role(c)?;
                let daily = crate::bookings::store::daily(c, from, to, offset)?;
                let money = crate::payments::store::platform_money(c, CURRENCY)?;
                let jobs = crate::jobs::queue_depth(c)?;
                Ok::<_, ApiError>((roles, daily, money, jobs))
            })();
            let _ = c.execute_batch("COMMIT");
            let (roles, daily, money, (queued, running, dead)) = figures?;
            Ok(json!({
                "success": true,
                "days": days,
                "currency": CURRENCY,
                "usersByRole": roles.iter().map(|(role, count)| json!({"role": role, "count": count})).collect::<Vec<_>>(),
                "bookingsPerDay": daily.iter().map(|d| json!({
                    "date": day_string(d.day),
                    "created": d.created,
                    "completed": d.completed,
                    "cancelled": d.cancelled,
                    "gmv": major(d.revenue_minor),
                    "platformFees": major(d.platform_fees_minor),
                })).collect::<Vec<_>>(),
                "escrowHeld": major(money.held),
                "platformFees": major(money.fees),
                "jobs": {"queued": queued, "running": running, "dead": dead},
            }))
        })
        .await?;
    Ok(Json(body))
}

/// `GET /admin/jobs` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// queued, running, done or dead (all when absent).
    status: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100.
    limit: Option<String>,
}

/// The job queue, newest first, filtered by status.
#[utoipa::path(get, path = "/jobs", tag = "admin", params(JobsQuery), security(("bearer" = [])),
    responses((status = 200, body = AdminJobList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_jobs(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<JobsQuery>,
) -> ApiResult<Json<Value>> {
    admin_only(&user)?;
    let status = model::parse_choice(
        q.status.as_deref(),
        "status",
        &crate::jobs::inspect::STATUSES,
    )
    .map_err(|e| ApiError::Validation(vec![e]))?;
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20)?;
    let (jobs, total) = state
        .db
        .read(move |c| crate::jobs::inspect::list(c, status.as_deref(), page))
        .await?;
    let items = jobs
        .into_iter()
        .map(|j| serde_json::to_value(j).map_err(ApiError::internal))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(list_response("jobs", items, total, page)))
}

/// Puts a dead job back in the queue, due now, attempts reset.
#[utoipa::path(post, path = "/jobs/{id}/requeue", tag = "admin", params(("id" = String, Path, description = "Job id")),
    security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn requeue_job(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    admin_only(&user)?;
    let id = model::parse_job_id(&id).ok_or_else(|| ApiError::not_found("Job"))?;
    state
        .db
        .write(move |tx| crate::jobs::inspect::requeue(tx, id))
        .await?;
    Ok(Json(json!({"success": true, "message": "Job requeued"})))
}

/// Makes a queued job that is waiting out its retry backoff due now.
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "admin", params(("id" = String, Path, description = "Job id")),
    security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn retry_job(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    admin_only(&user)?;
    let id = model::parse_job_id(&id).ok_or_else(|| ApiError::not_found("Job"))?;
    state
        .db
        .write(move |tx| crate::jobs::inspect::retry_now(tx, id))
        .await?;
    Ok(Json(json!({"success": true, "message": "Job due now"})))
}

/// The effective configuration of this process, secrets masked.
#[utoipa::path(get, path = "/config", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminConfig), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn effective_config(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Value>> {
    admin_only(&user)?;
    let settings = model::config_entries(state.config.describe());
    Ok(Json(json!({"success": true, "settings": settings})))
}

/// `GET /admin/webhooks` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhooksQuery {
    /// received, processed, ignored or review (all when absent).
    outcome: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100.
    limit: Option<String>,
}

/// Payment webhooks as stored, newest first; `outcome=review` lists the
/// ones kept for a person to look at.
#[utoipa::path(get, path = "/webhooks", tag = "admin", params(WebhooksQuery), security(("bearer" = [])),
    responses((status = 200, body = AdminWebhookList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_webhooks(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<WebhooksQuery>,
) -> ApiResult<Json<Value>> {
    admin_only(&user)?;
    let outcome = model::parse_choice(
        q.outcome.as_deref(),
        "outcome",
        &crate::payments::store::WEBHOOK_OUTCOMES,
    )
    .map_err(|e| ApiError::Validation(vec![e]))?;
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20)?;
    let (hooks, total) = state
        .db
        .read(move |c| {
            crate::payments::store::list_webhooks(
                c,
                outcome.as_deref(),
                page.limit as i64,
                page.offset(),
            )
        })
        .await?;
    let items = hooks
        .into_iter()
        .map(|w| serde_json::to_value(w).map_err(ApiError::internal))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(list_response("webhooks", items, total, page)))
}

/// Recomputes the ledger from its postings and reports every broken
/// invariant (the same check as `baitech ledger-check`).
#[utoipa::path(get, path = "/ledger-check", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminLedgerCheck), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn ledger_check(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Value>> {
    admin_only(&user)?;
    let report = state.db.read(crate::payments::ledger::check).await?;
    Ok(Json(model::ledger_json(&report)))
}
