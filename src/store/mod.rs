//! (Over 400 lines: the store's interface, its traits with their contracts, mostly doc comments;
//! the newer concerns — apps, admin, audit, lockouts, second factors, refresh tokens — have
//! files of their own beside it.)
//!
//! Storage: one trait per concern (users, accounts, sessions, tokens, organizations, invitations,
//! billing, signing keys, lockouts, email changes, second factors, passkeys, refresh tokens), gathered by
//! [`Store`]; one implementation per backend (SQLite, PostgreSQL), picked once at start-up from
//! `DATABASE_URL`'s scheme. A feature imports the trait of the part it uses. The SQL lives in `sql/`, one file per concern, written once for
//! both backends (see `sql/mod.rs` for how).

pub mod admin;
pub mod apps;
pub mod audit;
mod batch;
pub mod cache;
mod connect;
mod factors;
pub mod import;
mod lockouts;
mod postgres;
mod refresh_tokens;
pub mod sealed;
pub mod session_store;
mod sqlite;
pub mod webhooks;

use async_trait::async_trait;

use crate::domain::{
    model::{
        AccountRow, InvitationRow, MemberRow, OrganizationChanges, OrganizationRow, SessionRow,
        SubscriptionRow, User,
    },
    roles::{Denied, MemberChange},
};

/// A live session, its user, and the subscription of its active organization (else of the user).
pub type SessionBundle = (SessionRow, User, Option<SubscriptionRow>);

use connect::{CACHE_TTL_MS, ping_if_idle};
pub use connect::{StoreOptions, connect};
pub use factors::{Passkeys, Removed, TwoFactors};
pub use lockouts::{Lockouts, Reserved};
pub use postgres::PostgresStore;
pub use refresh_tokens::{RefreshFound, RefreshRow, RefreshTokens};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint said no (e.g. the email is taken, a token collided).
    #[error("unique constraint violated")]
    Conflict,
    /// A row this one refers to is gone (a foreign key said no: e.g. the session ended).
    #[error("referenced row is gone")]
    Gone,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<StoreError> for crate::error::ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => Self::internal("unexpected unique constraint violation"),
            StoreError::Gone => Self::internal("unexpected foreign key violation"),
            StoreError::Db(e) => e.into(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A JWT signing key as stored: public JWK (JSON), private key (sealed), `expiresAt` NULL while
/// current.
#[derive(Debug, Clone, sqlx::FromRow)]
#[sqlx(rename_all = "camelCase")]
pub struct JwkRow {
    pub id: String,
    pub public_key: String,
    pub private_key: String,
    pub alg: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// What `update-user` changes (`None`: keep).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileChanges<'a> {
    pub name: Option<&'a str>,
    /// `Some(None)` clears the image.
    pub image: Option<Option<&'a str>>,
    /// Lowercased.
    pub username: Option<&'a str>,
    pub display_username: Option<&'a str>,
    /// The custom fields' merge patch (see `domain::fields::patch`).
    pub fields: Option<&'a crate::domain::fields::Fields>,
}

/// Which sessions a credential change ends.
#[derive(Debug, Clone, Copy)]
pub enum EndSessions<'a> {
    None,
    All,
    AllBut(&'a str),
}

/// Which membership a change is aimed at.
#[derive(Debug, Clone, Copy)]
pub enum MemberTarget<'a> {
    /// A member id.
    Id(&'a str),
    /// The member with this (normalised) email.
    Email(&'a str),
    /// The caller's own membership.
    Caller,
}

/// A user together with the hash of their credential account, if they have one.
#[derive(Debug, Clone)]
pub struct Credential {
    pub user: User,
    pub password_hash: Option<String>,
}

/// What an undo of an email change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// No such (unused) undo link.
    Invalid,
    /// The link had expired (it is gone now).
    Expired,
    /// The address is back: `(user id, restored email)`.
    Restored { user_id: String, email: String },
}

/// What unlinking an account did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    Done,
    /// The user has no such account.
    NotFound,
    /// It is the user's only way to sign in: kept.
    Last,
}

/// Everything the server stores, by concern.
pub trait Store:
    Maintenance
    + admin::Admin
    + apps::Apps
    + audit::Audit
    + sealed::Sealed
    + Users
    + Accounts
    + Sessions
    + Tokens
    + Organizations
    + Invitations
    + Billing
    + Keys
    + Lockouts
    + EmailChanges
    + TwoFactors
    + Passkeys
    + RefreshTokens
    + webhooks::Webhooks
    + import::Import
    + std::fmt::Debug
    + 'static
{
}

impl<T> Store for T where
    T: Maintenance
        + admin::Admin
        + apps::Apps
        + audit::Audit
        + sealed::Sealed
        + Users
        + Accounts
        + Sessions
        + Tokens
        + Organizations
        + Invitations
        + Billing
        + Keys
        + Lockouts
        + EmailChanges
        + TwoFactors
        + Passkeys
        + RefreshTokens
        + webhooks::Webhooks
        + import::Import
        + std::fmt::Debug
        + 'static
{
}

/// The database itself.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Applies pending migrations.
    async fn migrate(&self) -> anyhow::Result<()>;
    /// One cheap round trip, for `/health`.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pool (graceful shutdown); later calls fail.
    async fn close(&self);
    /// Connections in use, and the most the pool opens (for `/metrics`).
    fn pool_usage(&self) -> (u32, u32);
    /// Session lookups answered by the cache, and not (for `/metrics`).
    fn cache_counts(&self) -> (u64, u64);
}

/// Users and their credential accounts (`sql/users.rs`).
#[async_trait]
pub trait Users: Send + Sync {
    /// Inserts a user and their credential account in one transaction; `Conflict` when the email
    /// is taken (the unique constraint decides, so concurrent sign-ups create one user) or held by
    /// an undo link.
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()>;
    /// By (normalised) email within an app (`app`: its id, `""` for the default space).
    async fn credential_by_email(&self, email: &str, app: &str) -> StoreResult<Option<Credential>>;
    async fn set_password_hash(&self, user_id: &str, hash: &str, now: i64) -> StoreResult<()>;
    /// A new password (creating the credential account of a user who signed up by provider), in
    /// one transaction with ending sessions and dropping every pending reset,
    /// email-change and one-time-code token of the user (so a link obtained before the change
    /// cannot undo it).
    ///
    /// `proven_by_mail` (a reset by a link or code mailed to the address): an unverified address
    /// becomes verified, and provider identities attached to it while unverified are removed —
    /// whoever attached them never proved the address, and the mailbox owner now holds the
    /// account.
    async fn replace_credentials(
        &self,
        user_id: &str,
        hash: &str,
        end: EndSessions<'_>,
        proven_by_mail: bool,
        now: i64,
    ) -> StoreResult<()>;
    /// Updates the fields given; `Conflict` (nothing changed) when the username is taken.
    async fn update_user(&self, user_id: &str, changes: &ProfileChanges<'_>, now: i64) -> StoreResult<()>;
    /// A user and their credential account's hash, by (lowercased) username.
    async fn credential_by_username(&self, username: &str, app: &str) -> StoreResult<Option<Credential>>;
    /// The id of the user who has this (lowercased) username.
    async fn username_owner(&self, username: &str, app: &str) -> StoreResult<Option<String>>;
    /// Whether an account has this email, or an undo link holds it.
    async fn email_taken(&self, email: &str, app: &str, now: i64) -> StoreResult<bool>;

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// The user's mailbox proved itself (a verification link, an email code): the address is
    /// verified, and if it was not, provider identities attached while it was unverified are
    /// removed (whoever attached them never proved the address).
    async fn set_email_verified(&self, user_id: &str, now: i64) -> StoreResult<()>;
    /// Moves the user to a new (verified) email, in one transaction with ending the sessions
    /// `end` names, dropping every pending link and code of the user (for the old address too)
    /// except undo-email-change links, and storing a new undo link (`undo_link` = its identifier
    /// and expiry; its value `userId|oldEmail`). The previous email; `None` when there is no such
    /// user; `Conflict` (nothing changed) when the address is taken, or held by another user's
    /// undo link.
    async fn change_email(
        &self,
        user_id: &str,
        email: &str,
        end: EndSessions<'_>,
        undo_link: (&str, i64),
        now: i64,
    ) -> StoreResult<Option<String>>;
    /// Deletes the user with their sessions, accounts and memberships (cascade), their pending
    /// tokens, and the organizations they are the only member of. Refused (`LastOwner`, nothing
    /// deleted) while they are the only owner of an organization that has other members.
    async fn delete_user(&self, user_id: &str) -> StoreResult<Result<(), Denied>>;
}

/// Ways to sign in: provider identities and the credential account (`sql/accounts.rs`).
#[async_trait]
pub trait Accounts: Send + Sync {
    /// The account of a provider identity.
    async fn account(
        &self,
        provider_id: &str,
        account_id: &str,
        app: &str,
    ) -> StoreResult<Option<AccountRow>>;
    /// The user's accounts, oldest first.
    async fn accounts_of(&self, user_id: &str) -> StoreResult<Vec<AccountRow>>;
    /// Creates a user who signs in by a provider, with that account, in one transaction;
    /// `Conflict` when the email is taken (or held by an undo link) or the identity is linked.
    async fn create_user_with_account(&self, user: &User, account: &AccountRow) -> StoreResult<()>;
    /// Links a provider identity to an existing user; `Conflict` when it is linked already.
    async fn insert_account(&self, account: &AccountRow) -> StoreResult<()>;
    /// Stores the tokens of a sign-in (a refresh token the provider did not send again is kept).
    async fn update_account_tokens(&self, account: &AccountRow) -> StoreResult<()>;
    /// Links a provider identity to its user after the user's mailbox proved itself (a link
    /// mailed to the address), in one transaction: the account is added (`Conflict` when the
    /// identity is linked already), the email marked verified, the password removed, every
    /// session of the user ended and their pending reset, email-change and code tokens dropped:
    /// whoever registered the unverified account may not own the address. False, with nothing
    /// changed, unless the user's address still is `email` and still unverified.
    async fn link_proven(&self, account: &AccountRow, email: &str, now: i64) -> StoreResult<bool>;
    /// Removes one of the user's accounts unless it is their last way to sign in (passkeys and a
    /// password count; a credential account without a password does not).
    async fn unlink_account(&self, user_id: &str, id: &str, now: i64) -> StoreResult<Unlinked>;
}

/// Sessions (`sql/sessions.rs`).
#[async_trait]
pub trait Sessions: Send + Sync {
    async fn insert_session(&self, session: &SessionRow) -> StoreResult<()>;
    /// Writes a session's lifetime (`expiresAt`, `updatedAt`).
    async fn update_session(&self, session: &SessionRow) -> StoreResult<()>;
    /// Points the session at `organization_id` if `user_id` (the session's user) is a member,
    /// checked under the organization's row lock so a removal at the same time cannot be undone;
    /// `None` clears it. False (nothing changed) when not a member or no such organization.
    async fn set_active_organization(
        &self,
        token: &str,
        user_id: &str,
        organization_id: Option<&str>,
    ) -> StoreResult<bool>;
    /// The live session with this token and its user, in one round trip. An expired row is
    /// treated as absent and deleted.
    async fn session_with_user(&self, token: &str, now: i64) -> StoreResult<Option<SessionBundle>>;
    async fn delete_session(&self, token: &str) -> StoreResult<()>;
    /// Deletes one of the user's sessions by token; false when the user has no such session.
    async fn delete_user_session(&self, user_id: &str, token: &str) -> StoreResult<bool>;
    /// Deletes all of the user's sessions, or all but `keep`.
    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64>;
    async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionRow>>;
    /// Deletes up to `limit` expired sessions; answers how many.
    async fn delete_expired_sessions(&self, now: i64, limit: u32) -> StoreResult<u64>;
    /// A live session and its user by the session's id (the JWT's `sid`).
    async fn session_by_id(&self, id: &str, now: i64) -> StoreResult<Option<(SessionRow, User)>>;
}

/// Single-use tokens: links and one-time codes, stored by hash (`sql/verifications.rs`).
#[async_trait]
pub trait Tokens: Send + Sync {
    /// Stores a single-use token (by its hash) for `value` (a user id, or `userId|newEmail`).
    async fn insert_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()>;
    /// Consumes a token: deletes and returns `(value, expiresAt)` in one statement, so of two
    /// concurrent uses exactly one gets it.
    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<(String, i64)>>;
    /// Reads a token without consuming it.
    async fn peek_verification(&self, identifier: &str) -> StoreResult<Option<(String, i64)>>;
    /// Replaces a token's value only if it still is `old` (compare-and-set); false otherwise.
    async fn swap_verification(&self, identifier: &str, old: &str, new: &str, now: i64) -> StoreResult<bool>;
    /// Deletes every token whose identifier starts with `prefix` and whose value is `value`
    /// (a newer request makes older links useless).
    async fn delete_verifications(&self, prefix: &str, value: &str) -> StoreResult<u64>;
    /// Whether a token with this prefix and value (or value `value|…`) was created after `since`.
    async fn verification_created_since(&self, prefix: &str, value: &str, since: i64) -> StoreResult<bool>;
}

/// Organizations and their members (`sql/organizations.rs`).
#[async_trait]
pub trait Organizations: Send + Sync {
    /// Creates an organization with its first member (the owner) in one transaction;
    /// `Conflict` when the slug is taken.
    async fn create_organization(&self, org: &OrganizationRow, owner: &MemberRow) -> StoreResult<()>;
    /// Applies `changes` if `actor_user_id` may update the organization (checked under its row
    /// lock); the organization as it is afterwards. `Conflict` when the slug is taken.
    async fn update_organization(
        &self,
        id: &str,
        actor_user_id: &str,
        changes: &OrganizationChanges,
    ) -> StoreResult<Result<OrganizationRow, Denied>>;
    /// Deletes the organization if `actor_user_id` may (checked under its row lock): it is
    /// cleared from every session that has it active, members and invitations cascade. The
    /// organization as it was.
    async fn delete_organization(
        &self,
        id: &str,
        actor_user_id: &str,
    ) -> StoreResult<Result<OrganizationRow, Denied>>;
    /// Applies `change` to one membership of the organization, in one transaction that holds the
    /// organization's row lock: the caller's and the target's memberships and the owner count are
    /// read, [`check_member_change`](crate::domain::roles::check_member_change) decides, and the
    /// change is made (so two owners leaving at once cannot both go). A member who goes stops
    /// having the organization active in any session. Answers the member as it is afterwards
    /// (as it was, when removed); `Ok(Err(_))` when refused, with nothing changed.
    async fn change_member(
        &self,
        organization_id: &str,
        actor_user_id: &str,
        target: MemberTarget<'_>,
        change: MemberChange,
    ) -> StoreResult<Result<MemberRow, Denied>>;
    /// An organization by id or by slug.
    /// By id or slug, within an app (`""`: the default space).
    async fn organization(&self, id_or_slug: &str, app: &str) -> StoreResult<Option<OrganizationRow>>;
    async fn organizations_of(&self, user_id: &str) -> StoreResult<Vec<OrganizationRow>>;
    async fn membership(&self, organization_id: &str, user_id: &str) -> StoreResult<Option<MemberRow>>;
    /// The members of an organization, each with their user, oldest first.
    async fn members(&self, organization_id: &str) -> StoreResult<Vec<(MemberRow, User)>>;
}

/// Invitations to organizations (`sql/invitations.rs`).
#[async_trait]
pub trait Invitations: Send + Sync {
    async fn insert_invitation(&self, invitation: &InvitationRow) -> StoreResult<()>;
    async fn invitation(&self, id: &str) -> StoreResult<Option<InvitationRow>>;
    /// Invitations of an organization, newest first.
    async fn invitations_of(&self, organization_id: &str) -> StoreResult<Vec<InvitationRow>>;
    /// Moves a pending invitation to `status` (and a new expiry, for a resend); false when it is
    /// no longer pending.
    async fn settle_invitation(&self, id: &str, status: &str, expires_at: Option<i64>) -> StoreResult<bool>;
    /// Accepts a pending invitation, adds the member and makes the organization the session's
    /// active one, in one transaction under the organization's row lock: false when the
    /// invitation was no longer pending (or its organization is gone); `Conflict` when already a
    /// member.
    async fn accept_invitation(&self, id: &str, member: &MemberRow, token: &str) -> StoreResult<bool>;
}

/// Subscriptions and the Stripe events applied to them (`sql/subscriptions.rs`).
#[async_trait]
pub trait Billing: Send + Sync {
    /// The subscription that counts for `reference_id` (a user or organization): a live one
    /// first, then the one ending last.
    async fn subscription_for(&self, reference_id: &str) -> StoreResult<Option<SubscriptionRow>>;
    /// Creates or replaces a subscription by its id.
    async fn put_subscription(&self, row: &SubscriptionRow) -> StoreResult<()>;
    /// Applies a Stripe event once: records `event_id` and stores `row` in one transaction;
    /// false (and nothing changed) when the event was seen before.
    async fn apply_stripe_event(
        &self,
        event_id: &str,
        kind: &str,
        row: &SubscriptionRow,
        now: i64,
    ) -> StoreResult<bool>;
}

/// JWT signing keys (`sql/jwks.rs`).
#[async_trait]
pub trait Keys: Send + Sync {
    /// The current signing key, if any.
    async fn current_jwk(&self) -> StoreResult<Option<JwkRow>>;
    /// Adds the first current key; `Conflict` when another instance already did.
    async fn insert_jwk(&self, key: &JwkRow) -> StoreResult<()>;
    /// Retires the current key (valid until `retire_at`) and makes `key` current, atomically.
    async fn rotate_jwk(&self, key: &JwkRow, retire_at: i64) -> StoreResult<()>;
    /// Keys still able to verify tokens: the current one and those retired after `now`,
    /// newest first.
    async fn jwks_valid_after(&self, now: i64) -> StoreResult<Vec<JwkRow>>;
}

/// Undoing an email change (`sql/email_changes.rs`).
#[async_trait]
pub trait EmailChanges: Send + Sync {
    /// Undoes an email change with the undo link stored as `identifier`, in one transaction:
    /// consumes the link, puts the address it names back (`Conflict`, with nothing changed, when
    /// another account has it), clears the password (whoever changed the email may know it; the
    /// owner sets a new one by reset), ends every session of the user, and drops every pending
    /// link and code of the user and every undo link issued after this one. Older undo links stay,
    /// so the first owner's link always wins over links the attacker's own changes produced.
    async fn undo_email_change(&self, identifier: &str, now: i64) -> StoreResult<Undone>;
}

fn classify(err: sqlx::Error) -> StoreError {
    match err.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict,
        Some(db) if db.is_foreign_key_violation() => StoreError::Gone,
        _ => StoreError::Db(err),
    }
}
