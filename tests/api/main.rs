//! API tests: the real server over real HTTP on loopback, a temp SQLite
//! file per test. One crate, one binary, a module per spec module.

mod harness;

mod auth;
mod bookings;
mod chat;
mod cli;
mod fake_daraja;
mod fake_stripe;
mod matching;
mod media;
mod payments;
mod platform;
mod reviews;
mod schemathesis;
mod search;
mod smtp;
mod users;
