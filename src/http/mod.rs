//! HTTP plumbing shared by every module: extractors, envelopes, pagination, middleware.

pub mod json;
pub mod middleware;
pub mod page;
pub mod rate_limit;
pub mod server;

pub use json::{AppJson, AppQuery};
pub use page::{list_response, Page, PageQuery};
