//! The contract's objects as stored rows; serde gives their JSON shape.

use serde::{Deserialize, Serialize};

use crate::domain::fields::Fields;

/// `U`: `{id, name, email, emailVerified, image, createdAt, updatedAt}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    #[schema(required = true)]
    pub image: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub updated_at: i64,
    /// A second factor is needed to sign in (set by enrolling, never by the user directly).
    #[serde(default)]
    #[schema(required = true)]
    pub two_factor_enabled: bool,
    /// Lowercased and unique; `null` when none was chosen.
    #[serde(default)]
    #[schema(required = true)]
    pub username: Option<String>,
    /// The username as its owner wrote it.
    #[serde(default)]
    #[schema(required = true)]
    pub display_username: Option<String>,
    /// The app the user belongs to; absent for the default space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// `user` or `admin` (several comma-separated, as Better Auth stores them): what admin
    /// routes the user may call.
    #[serde(default = "default_role")]
    #[schema(required = true)]
    pub role: String,
    /// Banned users cannot sign in (until `banExpires`, when set).
    #[serde(default)]
    #[schema(required = true)]
    pub banned: bool,
    #[serde(default)]
    #[schema(required = true)]
    pub ban_reason: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::domain::time::iso_opt")]
    #[schema(required = true)]
    pub ban_expires: Option<i64>,
    /// The custom fields (`USER_FIELDS`), answered top-level beside the others.
    #[serde(flatten)]
    #[sqlx(try_from = "String")]
    #[schema(ignore)]
    pub fields: Fields,
}

fn default_role() -> String {
    "user".into()
}

impl User {
    /// Whether a ban holds at `now` (one past its `banExpires` is lifted at the next sign-in).
    pub fn banned_at(&self, now: i64) -> bool {
        self.banned && self.ban_expires.is_none_or(|until| until > now)
    }

    /// A new user (role `user`, nothing verified, no second factor, no username) created `now`,
    /// in the app `app_id`.
    pub fn new(id: String, name: String, email: String, app_id: Option<String>, now: i64) -> Self {
        Self {
            id,
            name,
            email,
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
            two_factor_enabled: false,
            username: None,
            display_username: None,
            app_id,
            role: default_role(),
            banned: false,
            ban_reason: None,
            ban_expires: None,
            fields: Fields::default(),
        }
    }
}

/// `S`: `{id, token, userId, expiresAt, createdAt, updatedAt, ipAddress, userAgent,
/// activeOrganizationId}`, plus `rememberMe` (Gatehouse's own field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct SessionRow {
    pub id: String,
    pub token: String,
    pub user_id: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub expires_at: i64,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub updated_at: i64,
    #[schema(required = true)]
    pub ip_address: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    #[schema(required = true)]
    pub active_organization_id: Option<String>,
    /// False for a `rememberMe: false` sign-in: a one-day session that is never extended.
    #[serde(default = "remembered")]
    #[schema(required = true)]
    pub remember_me: bool,
    /// The admin's user id when an admin opened this session as its user (impersonation).
    #[serde(default)]
    #[schema(required = true)]
    pub impersonated_by: Option<String>,
}

fn remembered() -> bool {
    true
}

/// An organization as stored; `metadata` is JSON text.
/// A way to sign in: the credential account (`providerId` `credential`, its hash never read
/// here) or a provider identity (`accountId` = the provider's subject). Provider tokens are
/// sealed at rest; [`crate::security::sealing`] opens them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
#[sqlx(rename_all = "camelCase")]
pub struct AccountRow {
    pub id: String,
    pub account_id: String,
    pub provider_id: String,
    pub user_id: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_token_expires_at: Option<i64>,
    /// The granted scopes, comma-separated.
    pub scope: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub metadata: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
    /// Members need a second factor to make it their active organization.
    pub require_two_factor: bool,
    /// The app whose users it serves (`None`: the default space; absent from JSON then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

/// What `organization/update` changes: `None` keeps a field, `Some(None)` clears the logo or
/// the metadata (JSON text).
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub logo: Option<Option<String>>,
    pub metadata: Option<Option<String>>,
    pub require_two_factor: Option<bool>,
}

/// A membership: `role` is `owner`, `admin` or `member`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct MemberRow {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
}

/// An invitation to an organization; `status`: pending, accepted, rejected, canceled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct InvitationRow {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub expires_at: i64,
    pub inviter_id: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
}

/// `Sub`: the subscription lookup every session answer carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub is_subscribed: bool,
    #[schema(required = true)]
    pub product_id: Option<String>,
    #[schema(required = true)]
    pub status: Option<String>,
    #[schema(required = true)]
    pub period_end: Option<String>,
}

impl Subscription {
    /// No subscription found.
    pub fn none() -> Self {
        Self { is_subscribed: false, product_id: None, status: None, period_end: None }
    }

    /// The lookup for a stored row: subscribed while `active` or `trialing` and the period has
    /// not ended (no end: open-ended).
    pub fn of(row: Option<&SubscriptionRow>, now: i64) -> Self {
        let Some(row) = row else { return Self::none() };
        let live = matches!(row.status.as_str(), "active" | "trialing")
            && row.period_end.is_none_or(|end| end > now);
        Self {
            is_subscribed: live,
            product_id: Some(row.plan.clone()),
            status: Some(row.status.clone()),
            period_end: row.period_end.map(crate::domain::time::format_ms),
        }
    }

    /// The plan a JWT names (`plan`): the product of a live subscription.
    pub fn plan_of(row: Option<&SubscriptionRow>, now: i64) -> Option<String> {
        let subscription = Self::of(row, now);
        subscription.is_subscribed.then_some(subscription.product_id).flatten()
    }
}

/// A row of the `subscription` table. `referenceId` is a user id or an organization id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct SubscriptionRow {
    pub id: String,
    pub plan: String,
    pub reference_id: String,
    pub status: String,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub seats: Option<i64>,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SubscriptionRow {
    /// A subscription granted by hand (not through Stripe), starting `now`; one per owner (its
    /// id is `manual:<reference>`, so granting again replaces it).
    pub fn manual(reference: &str, plan: &str, status: &str, period_end: Option<i64>, now: i64) -> Self {
        Self {
            id: format!("manual:{reference}"),
            plan: plan.to_string(),
            reference_id: reference.to_string(),
            status: status.to_string(),
            period_start: Some(now),
            period_end,
            cancel_at_period_end: false,
            seats: None,
            stripe_customer_id: None,
            stripe_subscription_id: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A user's second factor (`twoFactor`, Better Auth's columns plus `lastUsedStep`): the TOTP
/// secret and backup codes, both sealed; `verified` once a first code matched.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
#[sqlx(rename_all = "camelCase")]
pub struct TwoFactorRow {
    pub id: String,
    pub secret: String,
    pub backup_codes: String,
    pub user_id: String,
    pub verified: bool,
    pub failed_verification_count: i64,
    pub locked_until: Option<i64>,
    /// The last TOTP time step accepted (each is accepted once).
    pub last_used_step: Option<i64>,
}

/// A browser a user chose to trust after a second factor.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct TrustedDevice {
    pub id: String,
    #[serde(skip)]
    pub user_id: String,
    pub user_agent: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub expires_at: i64,
}

/// A passkey (`passkey`, Better Auth's columns): the COSE public key (standard base64), the
/// credential id (base64url), the signature counter, and what the authenticator said of itself.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct PasskeyRow {
    pub id: String,
    pub name: Option<String>,
    pub public_key: String,
    pub user_id: String,
    #[serde(rename = "credentialID")]
    #[sqlx(rename = "credentialID")]
    pub credential_id: String,
    pub counter: i64,
    /// `singleDevice` or `multiDevice` (backup eligible).
    pub device_type: String,
    pub backed_up: bool,
    /// Comma-separated (`internal,hybrid`); empty when the client sent none.
    pub transports: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "crate::domain::time::iso_opt")]
    pub created_at: Option<i64>,
    pub aaguid: Option<String>,
}
