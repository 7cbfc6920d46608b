//! The operator's side in the browser: the admin dashboard served at
//! `/admin` from assets embedded in the binary ([`assets`]), and the few
//! admin-only routes under `/api/v1/admin` that the modules' own routes do
//! not already offer ([`routes`]): the overview's figures, the job queue,
//! the effective configuration, stored payment webhooks and the ledger
//! check. Each calls the owning module's exported function, so the
//! dashboard has no second path to any table.

pub mod assets;
pub mod model;
pub mod routes;
pub mod schemas;
