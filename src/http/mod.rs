//! HTTP: one module per feature, each exposing `router()`; `app` merges them and adds layers.

pub mod account;
pub mod admin;
pub mod answers;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod body_limit;
pub mod extract;
pub mod health;
pub mod jwt;
pub mod layers;
pub mod limits;
pub mod linked_accounts;
pub mod metrics;
pub mod openapi;
pub mod organization;
pub mod otp;
pub mod pages;
pub mod passkeys;
pub mod password;
pub mod redirect;
pub mod session;
pub mod social;
pub mod social_errors;
pub mod stripe;
pub mod tokens;
pub mod two_factor;
pub mod user;
pub mod usernames;
pub mod verification;

use std::sync::Arc;

use axum::{Extension, Router, middleware};
use tower_cookies::cookie::SameSite;
use tower_http::trace::TraceLayer;
use tower_sessions::SessionManagerLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::{state::AppState, store::session_store::RowSessionStore};

/// The whole server: routes under the base path, `/health` at the root, and every layer.
pub fn app(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(RowSessionStore::new(state.store.clone(), state.clock.clone()))
        .with_name(state.session_cookie.clone())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.settings.secure_cookies())
        .with_path("/")
        .with_signed(state.cookie_key.clone());
    let sessions = match &state.settings.cookie_domain {
        Some(domain) => sessions.with_domain(domain.clone()),
        None => sessions,
    };

    // Counted by the route matched; paths that match none share the fallback's bucket.
    let limits = middleware::from_fn_with_state(state.clone(), limits::rate_limit);
    let (routes, described) = OpenApiRouter::new()
        .merge(auth::router())
        .merge(session::router())
        .merge(user::router())
        .merge(health::router())
        .merge(jwt::router())
        .merge(verification::router())
        .merge(password::router())
        .merge(account::router())
        .merge(otp::router())
        .merge(stripe::router())
        .merge(organization::router())
        .merge(social::router())
        .merge(linked_accounts::router())
        .merge(two_factor::router())
        .merge(passkeys::router())
        .merge(tokens::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(usernames::router(state.settings.clients.email_availability_check))
        .merge(openapi::router())
        .split_for_parts();
    let document = openapi::Document::new(
        described,
        &state.settings.base_path,
        &state.session_cookie,
        &state.settings.user_fields,
    );
    let api = routes
        .route_layer(limits.clone())
        .layer(Extension(Arc::new(document)))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(state.clone(), layers::bearer_and_auth_token))
        // Outside the Bearer layer: the check sees the cookies the client really sent.
        .layer(middleware::from_fn_with_state(state.clone(), layers::origin_check))
        // Inside the app's scope (an app's origins are trusted for its requests); a preflight is
        // answered here, before the CSRF check.
        .layer(middleware::from_fn_with_state(Arc::new(layers::cors_layer(&state)), layers::cors))
        // Outermost: which app the request belongs to decides everything below, and an invalid
        // key is refused before anything else runs.
        .layer(middleware::from_fn_with_state(state.clone(), apps::app_scope));

    let router = Router::new()
        .nest(&state.settings.base_path, api)
        .merge(health::root_router().merge(metrics::root_router()).route_layer(limits))
        .fallback(limits::unknown_route)
        .layer(middleware::from_fn(layers::contract_errors));
    // Measured only when someone can read the figures.
    let router = match state.settings.metrics_token {
        Some(_) => router.layer(middleware::from_fn_with_state(state.clone(), metrics::track)),
        None => router,
    };
    router
        .layer(TraceLayer::new_for_http().make_span_with(layers::request_span))
        .layer(middleware::from_fn(layers::request_id))
        .with_state(state)
}
