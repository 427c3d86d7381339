//! The HTTP-level suite: every test runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL`
//! is set. One test binary, one module per concern.

// Tests may wait in real time for background work (clippy.toml forbids that in the server).
#![allow(clippy::disallowed_methods)]

mod helpers;

mod auth;
mod email;
mod email_change;
mod emails;
mod hardening;
mod health;
mod input;
mod instances;
mod jwt;
mod limits;
mod organization;
mod organization_members;
mod organization_state;
mod origin;
mod proxies;
mod sessions;
mod smtp;
mod stripe;
