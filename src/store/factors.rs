//! The storage of second factors, trusted devices and passkeys (their SQL: `sql/two_factor.rs`,
//! `sql/passkeys.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::model::{PasskeyRow, TrustedDevice, TwoFactorRow, User};

/// Second factors and trusted devices (`sql/two_factor.rs`).
#[async_trait]
pub trait TwoFactors: Send + Sync {
    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactorRow>>;
    /// Stores a new enrollment, replacing one never completed; false (nothing changed) when the
    /// user has a verified second factor. A lock in force stays.
    async fn begin_two_factor(&self, row: &TwoFactorRow) -> StoreResult<bool>;
    /// Completes an enrollment: the user's `twoFactorEnabled` is set, and the row `row_id` (the
    /// one a code was checked against) is marked verified when a TOTP code proved it. False when
    /// the user no longer has that row (another enrollment replaced it).
    async fn enable_two_factor(
        &self,
        user_id: &str,
        row_id: &str,
        totp_verified: bool,
        now: i64,
    ) -> StoreResult<bool>;
    /// Removes the second factor and every trusted device; `twoFactorEnabled` false.
    async fn disable_two_factor(&self, user_id: &str, now: i64) -> StoreResult<()>;
    /// Counts one try of a second factor before it is checked; false (nothing counted) while
    /// locked or when `max` tries are counted since the last success. A lock that has ended starts
    /// a new count.
    async fn reserve_second_factor_try(&self, user_id: &str, now: i64, max: i64) -> StoreResult<bool>;
    /// A try failed, or was refused: with `max` tries counted, locks until `lock_until`.
    async fn second_factor_failed(&self, user_id: &str, max: i64, lock_until: i64) -> StoreResult<()>;
    /// A second factor passed: the count and any lock are cleared.
    async fn second_factor_passed(&self, user_id: &str) -> StoreResult<()>;
    /// Records TOTP time step `step` as used, only if it is later than the last one used: false
    /// for a step already used (a replay), also when two requests race with it.
    async fn use_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool>;
    /// Replaces the sealed backup codes only if they still are `old` (compare-and-set).
    async fn swap_backup_codes(&self, user_id: &str, old: &str, new: &str) -> StoreResult<bool>;
    async fn insert_trusted_device(&self, device: &TrustedDevice) -> StoreResult<()>;
    /// Deletes and returns the user's trusted device `id` (of two concurrent uses, one gets it).
    async fn take_trusted_device(&self, id: &str, user_id: &str) -> StoreResult<Option<TrustedDevice>>;
    /// The user's trusted devices that have not expired, newest first.
    async fn trusted_devices(&self, user_id: &str, now: i64) -> StoreResult<Vec<TrustedDevice>>;
    /// Deletes one of the user's trusted devices; false when the user has no such device.
    async fn delete_trusted_device(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    async fn delete_expired_trusted_devices(&self, now: i64) -> StoreResult<u64>;
}

/// What removing a way to sign in did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Done,
    NotFound,
    /// Refused: it is the user's last way to sign in.
    LastWayIn,
}

/// Passkeys (`sql/passkeys.rs`).
#[async_trait]
pub trait Passkeys: Send + Sync {
    /// `Conflict` when the credential is registered already.
    async fn insert_passkey(&self, passkey: &PasskeyRow) -> StoreResult<()>;
    /// A new user whose only way in is `passkey`, in one transaction; `Conflict` when the email
    /// is taken (or held by an undo link) or the credential is registered.
    async fn create_user_with_passkey(&self, user: &User, passkey: &PasskeyRow) -> StoreResult<()>;
    /// The user's passkeys, oldest first.
    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<PasskeyRow>>;
    /// By credential id, among the users of an app (`""`: the default space).
    async fn passkey_by_credential(&self, credential_id: &str, app: &str) -> StoreResult<Option<PasskeyRow>>;
    async fn passkey(&self, id: &str) -> StoreResult<Option<PasskeyRow>>;
    /// Deletes one of the user's passkeys, unless it is their last way to sign in.
    async fn delete_passkey(&self, id: &str, user_id: &str, now: i64) -> StoreResult<Removed>;
    /// Removes the user's password (their credential account), unless it is their last way to
    /// sign in; `NotFound` when they have none.
    async fn remove_password(&self, user_id: &str, now: i64) -> StoreResult<Removed>;
    /// Renames one of the user's passkeys: the passkey afterwards, `None` when not theirs.
    async fn rename_passkey(&self, id: &str, user_id: &str, name: &str) -> StoreResult<Option<PasskeyRow>>;
    /// Records a sign-in's counter and backup flags (`eligible` makes it `multiDevice`), only
    /// moving the counter forward (both zero is allowed: synced passkeys report no counter); false
    /// when the stored counter is not lower (a clone, or another sign-in got there first).
    async fn passkey_used(
        &self,
        id: &str,
        counter: i64,
        eligible: bool,
        backed_up: bool,
    ) -> StoreResult<bool>;
}
