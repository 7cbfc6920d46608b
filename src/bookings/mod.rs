//! Bookings: the job between a customer and a technician. `model` holds the
//! pure rules (the state machine, pricing, fees, windows), `store` the SQL
//! (every change keeps the timeline, counts, technician figures and an
//! outbox event in its transaction), `document` the JSON clients read, and
//! `routes` the `/api/v1/bookings` endpoints.
//!
//! Other modules use: `store::find_parties`, `store::create` (matching's
//! accept), `document::document` (a booking's JSON), and the outbox events
//! `booking.created`, `booking.status_changed`, `booking.dispute_resolved`,
//! `booking.pricing_updated`, `booking.qa_checkpoint_added`.

pub mod document;
pub mod model;
pub mod routes;
pub mod schemas;
pub mod store;
