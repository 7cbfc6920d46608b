//! Bookings: the job's state machine, pricing, QA, disputes, stats.

pub mod store;
