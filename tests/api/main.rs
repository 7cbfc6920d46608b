//! API tests: the real server over real HTTP on loopback, a temp SQLite
//! file per test. One crate, one binary, a module per spec module.

mod harness;

mod auth;
mod cli;
mod platform;
mod reviews;
mod schemathesis;
mod search;
mod smtp;
