//! Who may do what in the admin API (Better Auth's admin plugin): resources and their actions,
//! the roles `admin` and `user`, and `ADMIN_USER_IDS`, which may do everything.

use super::model::User;

/// `resource: [actions]`, as Better Auth's access-control statements name them.
pub const STATEMENTS: &[(&str, &[&str])] = &[
    (
        "user",
        &[
            "create",
            "list",
            "set-role",
            "ban",
            "impersonate",
            "impersonate-admins",
            "delete",
            "set-password",
            "set-email",
            "get",
            "update",
        ],
    ),
    ("session", &["list", "revoke", "delete"]),
    ("audit", &["read"]),
];

/// The longest ban with an end, in seconds (longer: leave the end out).
pub const MAX_BAN_SECS: u64 = 100 * 365 * 86_400;

/// When a ban of `secs` seconds from `now` ends (`None` asked: no end); refused for zero or more
/// than [`MAX_BAN_SECS`] (the reason, for the caller's message).
pub fn ban_end(now: i64, secs: Option<u64>) -> Result<Option<i64>, &'static str> {
    match secs {
        None => Ok(None),
        Some(0) => Err("at least 1 second"),
        Some(s) if s > MAX_BAN_SECS => Err("at most 100 years (leave it out for no end)"),
        Some(s) => Ok(Some(now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000)))),
    }
}

/// The roles there are.
pub const ROLES: &[&str] = &["admin", "user"];

/// Whether the role `role` may do `action` on `resource`: `admin` everything but impersonating
/// other admins; `user` nothing.
pub fn role_allows(role: &str, resource: &str, action: &str) -> bool {
    role == "admin"
        && !(resource == "user" && action == "impersonate-admins")
        && is_statement(resource, action)
}

/// A `role` as Better Auth takes it: a string or a list of strings, each a role there is; stored
/// comma-joined. The error is the contract's code (`INVALID_ROLE_TYPE`,
/// `YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE`).
pub fn parse_role(raw: &serde_json::Value) -> Result<String, &'static str> {
    let roles: Vec<&str> = match raw {
        serde_json::Value::String(s) => s.split(',').map(str::trim).collect(),
        serde_json::Value::Array(items) => {
            items.iter().map(|v| v.as_str().ok_or("INVALID_ROLE_TYPE")).collect::<Result<_, _>>()?
        }
        _ => return Err("INVALID_ROLE_TYPE"),
    };
    if roles.is_empty() || roles.iter().any(|r| !ROLES.contains(r)) {
        return Err("YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE");
    }
    Ok(roles.join(","))
}

/// Whether `resource: action` is a statement at all.
pub fn is_statement(resource: &str, action: &str) -> bool {
    STATEMENTS.iter().any(|(r, actions)| *r == resource && actions.contains(&action))
}

/// A user's roles (`role` holds them comma-separated).
pub fn roles_of(user: &User) -> impl Iterator<Item = &str> {
    user.role.split(',').map(str::trim).filter(|r| !r.is_empty())
}

/// Whether `user` may do `action` on `resource`: one of their roles allows it, or they are
/// named in `ADMIN_USER_IDS` (`admin_ids`).
pub fn allows(user: &User, admin_ids: &[String], resource: &str, action: &str) -> bool {
    admin_ids.contains(&user.id) || roles_of(user).any(|r| role_allows(r, resource, action))
}

/// Whether `user` counts as an admin (impersonating one needs `impersonate-admins`).
pub fn is_admin(user: &User, admin_ids: &[String]) -> bool {
    admin_ids.contains(&user.id) || roles_of(user).any(|r| r == "admin")
}

/// Whether every `resource: [actions]` asked for is allowed to `check`.
pub fn allows_all(asked: &[(String, Vec<String>)], check: impl Fn(&str, &str) -> bool) -> bool {
    asked.iter().all(|(resource, actions)| actions.iter().all(|a| check(resource, a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permission_table() {
        let mut admin = User::new("a".into(), "A".into(), "a@x.y".into(), None, 0);
        admin.role = "admin".into();
        let user = User::new("u".into(), "U".into(), "u@x.y".into(), None, 0);
        for (resource, actions) in STATEMENTS {
            for action in *actions {
                let want = !(*resource == "user" && *action == "impersonate-admins");
                assert_eq!(allows(&admin, &[], resource, action), want, "admin {resource}:{action}");
                assert!(!allows(&user, &[], resource, action), "user {resource}:{action}");
                assert!(allows(&user, &["u".into()], resource, action), "ADMIN_USER_IDS {resource}:{action}");
            }
        }
        assert!(!allows(&admin, &[], "user", "fly"));
        let mut both = user.clone();
        both.role = "user, admin".into();
        assert!(allows(&both, &[], "user", "ban") && is_admin(&both, &[]));
    }
}
