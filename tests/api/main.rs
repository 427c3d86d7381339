//! The HTTP-level suite: every test runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL`
//! is set. One test binary, one module per concern.
//!
//! A case whose service is not configured (PostgreSQL, Redis, SMTP) returns early and says so on
//! a line of its own in `cargo test`'s output (`skipped: <test>: <why>`, `helpers::skip`): the
//! harness has no "skipped" result, and it hides what passing tests print with `eprintln!`.

// Tests may wait in real time for background work (clippy.toml forbids that in the server).
#![allow(clippy::disallowed_methods)]

mod helpers;

mod account;
mod admin;
mod apps;
mod auth;
mod cors;
mod emails;
mod extract;
mod health;
mod import;
mod input;
mod instances;
mod jwt;
mod jwt_keys;
mod limits;
mod lockout;
mod mail;
mod metrics;
mod openapi;
mod organization;
mod origin;
mod otp;
mod outage;
mod passkeys;
mod password;
mod proxies;
mod secrets;
mod session;
mod social;
mod stripe;
mod tokens;
mod two_factor;
mod user;
mod user_fields;
mod usernames;
mod verification;
mod webhooks;
