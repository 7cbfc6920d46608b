//! Accounts and sign-in: the "1. Authentication Routes" of the spec.

pub mod emails;
pub mod extract;
pub mod password;
pub mod policy;
pub mod routes;
pub mod sessions;
pub mod store;
pub mod tokens;
pub mod totp;

pub use extract::{CurrentUser, OptionalUser, Role};
