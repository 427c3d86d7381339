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
    /// In both databases.
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// Rows take the app's id (`appId`, after the columns).
    pub in_app: bool,
    /// Columns that reference another table's `id`.
    pub parents: &'static [(&'static str, &'static str)],
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

impl Table {
    /// Where its rows go: its columns, then `appId` when rows take the app's id.
    pub fn target(&self) -> Target {
        let mut columns: Vec<&'static str> = self.columns.iter().map(|(c, _)| *c).collect();
        if self.in_app {
            columns.push("appId");
        }
        Target { table: self.name, columns, parents: self.parents }
    }
}

const fn table(
    label: &'static str,
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    in_app: bool,
    parents: &'static [(&'static str, &'static str)],
) -> Table {
    Table { label, name, columns, in_app, parents }
}

const USER_OF: &[(&str, &str)] = &[("userId", "user")];

/// In the order rows reference each other.
pub(super) const TABLES: &[Table] = &[
    table("users", "user", USER, true, &[]),
    table("accounts", "account", ACCOUNT, true, USER_OF),
    table("organizations", "organization", ORGANIZATION, true, &[]),
    table("members", "member", MEMBER, false, &[("organizationId", "organization"), ("userId", "user")]),
    table(
        "invitations",
        "invitation",
        INVITATION,
        false,
        &[("organizationId", "organization"), ("inviterId", "user")],
    ),
    table("two-factor", "twoFactor", TWO_FACTOR, false, USER_OF),
    table("sessions", "session", SESSION, false, USER_OF),
];
