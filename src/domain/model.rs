//! The contract's objects as stored rows; serde gives their JSON shape.

use serde::{Deserialize, Serialize};

/// `U`: `{id, name, email, emailVerified, image, createdAt, updatedAt}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
    #[serde(with = "crate::domain::time::iso")]
    pub updated_at: i64,
}

/// `S`: `{id, token, userId, expiresAt, createdAt, updatedAt, ipAddress, userAgent,
/// activeOrganizationId}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct SessionRow {
    pub id: String,
    pub token: String,
    pub user_id: String,
    #[serde(with = "crate::domain::time::iso")]
    pub expires_at: i64,
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
    #[serde(with = "crate::domain::time::iso")]
    pub updated_at: i64,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub active_organization_id: Option<String>,
}

/// `Sub`: the subscription lookup every session answer carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub is_subscribed: bool,
    pub product_id: Option<String>,
    pub status: Option<String>,
    pub period_end: Option<String>,
}

impl Subscription {
    /// No subscription found (the subscriptions feature fills real ones in).
    pub fn none() -> Self {
        Self { is_subscribed: false, product_id: None, status: None, period_end: None }
    }
}
