//! The tables `gatehouse import better-auth` copies, in the order rows reference each other:
//! each source column and how it converts, and where the rows go.

use crate::store::import::Target;

/// How a source column becomes a cell.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Text,
    /// Text that must be there (the row is skipped without it).
    Required,
    /// Lowercased required text (emails).
    Email,
    TextOr(&'static str),
    Time,
    RequiredTime,
    /// A time, or the time of the import when the column is absent.
    TimeOrNow,
    Bool(bool),
    Int(i64),
}

/// One table: its name in both databases, its columns and how each converts, whether rows take
/// the app's id (`appId`, last), and what they reference.
pub(super) struct Table {
    pub label: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub in_app: bool,
    pub target: Target,
}

use Kind::*;

const USER: &[(&str, Kind)] = &[
    ("id", Required),
    ("name", TextOr("")),
    ("email", Email),
    ("emailVerified", Bool(false)),
    ("image", Text),
    ("createdAt", RequiredTime),
    ("updatedAt", RequiredTime),
    ("twoFactorEnabled", Bool(false)),
    ("username", Text),
    ("displayUsername", Text),
    ("role", TextOr("user")),
    ("banned", Bool(false)),
    ("banReason", Text),
    ("banExpires", Time),
];
const ACCOUNT: &[(&str, Kind)] = &[
    ("id", Required),
    ("accountId", Required),
    ("providerId", Required),
    ("userId", Required),
    ("accessToken", Text),
    ("refreshToken", Text),
    ("idToken", Text),
    ("accessTokenExpiresAt", Time),
    ("refreshTokenExpiresAt", Time),
    ("scope", Text),
    ("password", Text),
    ("createdAt", RequiredTime),
    ("updatedAt", RequiredTime),
];
const ORGANIZATION: &[(&str, Kind)] = &[
    ("id", Required),
    ("name", Required),
    ("slug", Required),
    ("logo", Text),
    ("metadata", Text),
    ("createdAt", RequiredTime),
];
const MEMBER: &[(&str, Kind)] = &[
    ("id", Required),
    ("organizationId", Required),
    ("userId", Required),
    ("role", TextOr("member")),
    ("createdAt", RequiredTime),
];
const INVITATION: &[(&str, Kind)] = &[
    ("id", Required),
    ("organizationId", Required),
    ("email", Email),
    ("role", TextOr("member")),
    ("status", TextOr("pending")),
    ("expiresAt", RequiredTime),
    ("inviterId", Required),
    ("createdAt", TimeOrNow),
];
const TWO_FACTOR: &[(&str, Kind)] = &[
    ("id", Required),
    ("secret", Required),
    ("backupCodes", Required),
    ("userId", Required),
    ("verified", Bool(true)),
    ("failedVerificationCount", Int(0)),
    ("lockedUntil", Time),
];
const SESSION: &[(&str, Kind)] = &[
    ("id", Required),
    ("token", Required),
    ("userId", Required),
    ("expiresAt", RequiredTime),
    ("createdAt", RequiredTime),
    ("updatedAt", RequiredTime),
    ("ipAddress", Text),
    ("userAgent", Text),
    ("activeOrganizationId", Text),
    ("impersonatedBy", Text),
];

/// The target columns of a table: its columns, then `appId` if rows take the app's id.
macro_rules! table {
    ($label:literal, $name:literal, $columns:ident, in_app, [$($c:literal),*], $parents:expr) => {
        Table { label: $label, columns: $columns, in_app: true,
            target: Target { table: $name, columns: &[$($c,)* "appId"], parents: $parents } }
    };
    ($label:literal, $name:literal, $columns:ident, [$($c:literal),*], $parents:expr) => {
        Table { label: $label, columns: $columns, in_app: false,
            target: Target { table: $name, columns: &[$($c),*], parents: $parents } }
    };
}

/// In the order rows reference each other.
pub(super) const TABLES: &[Table] = &[
    table!(
        "users",
        "user",
        USER,
        in_app,
        [
            "id",
            "name",
            "email",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt",
            "twoFactorEnabled",
            "username",
            "displayUsername",
            "role",
            "banned",
            "banReason",
            "banExpires"
        ],
        &[]
    ),
    table!(
        "accounts",
        "account",
        ACCOUNT,
        in_app,
        [
            "id",
            "accountId",
            "providerId",
            "userId",
            "accessToken",
            "refreshToken",
            "idToken",
            "accessTokenExpiresAt",
            "refreshTokenExpiresAt",
            "scope",
            "password",
            "createdAt",
            "updatedAt"
        ],
        &[("userId", "user")]
    ),
    table!(
        "organizations",
        "organization",
        ORGANIZATION,
        in_app,
        ["id", "name", "slug", "logo", "metadata", "createdAt"],
        &[]
    ),
    table!(
        "members",
        "member",
        MEMBER,
        ["id", "organizationId", "userId", "role", "createdAt"],
        &[("organizationId", "organization"), ("userId", "user")]
    ),
    table!(
        "invitations",
        "invitation",
        INVITATION,
        ["id", "organizationId", "email", "role", "status", "expiresAt", "inviterId", "createdAt"],
        &[("organizationId", "organization"), ("inviterId", "user")]
    ),
    table!(
        "two-factor",
        "twoFactor",
        TWO_FACTOR,
        ["id", "secret", "backupCodes", "userId", "verified", "failedVerificationCount", "lockedUntil"],
        &[("userId", "user")]
    ),
    table!(
        "sessions",
        "session",
        SESSION,
        [
            "id",
            "token",
            "userId",
            "expiresAt",
            "createdAt",
            "updatedAt",
            "ipAddress",
            "userAgent",
            "activeOrganizationId",
            "impersonatedBy"
        ],
        &[("userId", "user")]
    ),
];
