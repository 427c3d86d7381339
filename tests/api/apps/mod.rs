//! Several apps on one server: keys and origins choosing the app, per-app settings, the CLI's
//! store work, and isolation (the same email in two apps, every route, nothing crosses).

mod isolation;
mod keys;
mod links;
mod migration;
mod settings;
