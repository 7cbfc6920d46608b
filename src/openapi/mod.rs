//! The OpenAPI document, generated from the handlers' annotations by
//! utoipa-axum as the router is built, so the two cannot drift; Swagger UI
//! is served from assets vendored into the binary.

pub mod schemas;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Document-level metadata; paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "BaiTech API", version = "v1", description = "AI-Powered Technician & Community Platform"),
    modifiers(&BearerAuth),
    components(schemas(crate::error::FieldError, schemas::ErrorBody)),
    tags(
        (name = "system", description = "Health, metrics, service description"),
        (name = "auth", description = "Accounts, sign-in, sessions, 2FA"),
        (name = "reviews", description = "Reviews after completed bookings, helpful marks, responses"),
        (name = "transactions", description = "Payments, escrow, refunds, gateway webhooks"),
        (name = "wallet", description = "Wallet balance, postings, withdrawals"),
        (name = "users", description = "Profiles, follows, portfolio, availability, push tokens, KYC, nearby technicians"),
        (name = "bookings", description = "Bookings: the job's state machine, pricing, QA, disputes, stats"),
        (name = "media", description = "Uploads to local disk, transformations, signed direct uploads"),
        (name = "matching", description = "Technician matching: scored sessions, accept into a booking, preferences, learned weights, blocks"),
        (name = "support", description = "Support desk: tickets, SLA clocks, assignment by load, escalation, satisfaction"),
        (name = "admin", description = "Operator views the modules do not offer: overview figures, job queue, configuration, payment webhooks, ledger check"),
        (name = "notifications", description = "In-app notifications, preferences, admin notices and broadcasts"),
        (name = "conversations", description = "Chat conversations: direct, group, booking, support; members and per-member settings"),
        (name = "messages", description = "Chat messages: send, list, read marks, reactions, deletes"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
