//! API tests: the real server over real HTTP on loopback, a temp SQLite
//! file per test. One crate, one binary, a module per spec module.

mod harness;

mod admin;
mod admin_browser;
mod auth;
mod bookings;
mod chat;
mod cli;
mod fake_at;
mod fake_daraja;
mod fake_fcm;
mod fake_stripe;
mod hardening;
mod matching;
mod media;
mod notifications;
mod ops_cli;
mod ops_jobs;
mod payments;
mod platform;
mod posts;
mod reviews;
mod schemathesis;
mod search;
mod smtp;
mod support;
mod users;
