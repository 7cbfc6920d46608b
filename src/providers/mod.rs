//! Clients for third-party providers. Each has a configurable base URL and,
//! when unconfigured, writes what it would have sent to the data dir's outbox.

pub mod email;
pub mod fcm;
pub mod gateway;
pub mod mpesa;
pub mod sms;
pub mod stripe;
