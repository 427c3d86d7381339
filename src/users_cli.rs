//! `gatehouse users …` and `gatehouse audit tail`: the admin API's work from the command line,
//! on the same store calls and rules as the HTTP routes (`http::admin`), each change written to
//! the audit log with `"via": "cli"`. USER is an id or an email (in the default space, or in
//! `--app`). A ban ends the user's sessions at once: on PostgreSQL every running instance hears of
//! it; on SQLite a running server may still answer from its session cache for up to 30 s.

use anyhow::{Context, bail};
use serde_json::json;

use crate::{
    config::Settings,
    domain::{
        admin,
        audit::AuditEvent,
        input::{Email, NewPassword, parse_name},
        model::User,
        time::{Clock, format_ms},
    },
    security::{password::PasswordHasher, tokens::random_id},
    service::{
        self,
        audit::{Record, event},
    },
    store::{
        EndSessions, Store,
        admin::{AdminChanges, Ban, Match, UserField, UserQuery},
        audit::{AuditQuery, with_event_to},
    },
};

/// The app key (`""`: the default space) for `--app` (an app's id or slug).
async fn app_key(store: &dyn Store, app: Option<&str>) -> anyhow::Result<String> {
    match app {
        None => Ok(String::new()),
        Some(a) => Ok(store.app(a).await?.with_context(|| format!("no app {a:?}"))?.id),
    }
}

/// A user by id or email.
async fn find(store: &dyn Store, key: &str, app: Option<&str>) -> anyhow::Result<User> {
    let app = app_key(store, app).await?;
    let found = if key.contains('@') {
        let email = Email::parse(key).map_err(|e| anyhow::anyhow!("{e}"))?;
        store.credential_by_email(email.as_str(), &app).await?.map(|c| c.user)
    } else {
        store.user_by_id(key).await?.filter(|u| u.app_key() == app)
    };
    found.with_context(|| format!("no user {key:?}"))
}

/// Makes `change`, a CLI change to `user`, with its audit event (and webhook deliveries) in its
/// transaction.
async fn audited<F: std::future::Future>(
    (settings, store): (&Settings, &dyn Store),
    (action, user, details): (&'static str, &User, serde_json::Value),
    change: F,
) -> F::Output {
    let event = row(action, user, details);
    let hooks = service::webhooks::endpoints_of(settings, store, &event).await;
    with_event_to(event, hooks, change).await.0
}

/// The audit row of a CLI change to `user`.
fn row(action: &'static str, user: &User, details: serde_json::Value) -> AuditEvent {
    let mut details = details;
    if details.is_null() {
        details = json!({});
    }
    details["via"] = json!("cli");
    let record =
        Record { target: Some(("user", &user.id)), actor: None, details, ..Record::own(action, user) };
    event(&record, user.app_id.as_deref(), Clock::default().now_ms())
}

fn shown(user: &User) -> String {
    serde_json::to_string_pretty(user).unwrap_or_default()
}

/// `users list [--search S] [--limit N] [--app A]`: one line per user, newest first.
pub async fn list(
    store: &dyn Store,
    search: Option<&str>,
    limit: u32,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let query = UserQuery {
        app: app_key(store, app).await?,
        search: search.map(|s| (s.to_string(), Match::Contains)),
        filter: None,
        sort: (UserField::CreatedAt, true),
        limit: limit.clamp(1, 500),
        offset: 0,
    };
    let (users, total) = store.list_users(&query).await?;
    let mut out = format!("{total} users\n");
    for u in users {
        let banned = if u.banned { "  BANNED" } else { "" };
        out.push_str(&format!(
            "{}  {}  {:?}  {}  created {}{banned}\n",
            u.id,
            u.email,
            u.name,
            u.role,
            format_ms(u.created_at)
        ));
    }
    Ok(out)
}

/// `users show USER`: the user and their live sessions.
pub async fn show(store: &dyn Store, user: &str, app: Option<&str>) -> anyhow::Result<String> {
    let user = find(store, user, app).await?;
    let sessions = store.list_sessions(&user.id, Clock::default().now_ms()).await?;
    Ok(format!("{}\n{} live sessions", shown(&user), sessions.len()))
}

/// `users create --email E --name N [--password P] [--role R] [--app A]`.
pub async fn create(
    store: &dyn Store,
    settings: &Settings,
    (email, name, password, role): (&str, &str, Option<&str>, &str),
    app: Option<&str>,
) -> anyhow::Result<String> {
    let msg = |e: crate::error::ApiError| anyhow::anyhow!("{e}");
    let email = Email::parse(email).map_err(msg)?;
    let name = parse_name(name).map_err(msg)?;
    let role = admin::parse_role(&json!(role)).map_err(anyhow::Error::msg)?;
    let app_id = app_key(store, app).await?;
    let now = Clock::default().now_ms();
    let mut user =
        User::new(random_id(), name, email.as_str().to_string(), Some(app_id).filter(|a| !a.is_empty()), now);
    user.role = role;
    user.fields = crate::domain::fields::defaults(&settings.user_fields);
    let password =
        password.map(|p| NewPassword::parse(p, &settings.passwords.policy)).transpose().map_err(msg)?;
    let hasher = PasswordHasher::new(settings.passwords.argon2, 1)?;
    let event = row("user-created", &user, json!({ "role": user.role }));
    let hooks = service::webhooks::endpoints_of(settings, store, &event).await;
    if !service::admin::create_user(store, &hasher, &user, password.as_ref(), event, hooks)
        .await
        .map_err(msg)?
    {
        bail!("a user with that email exists");
    }
    Ok(shown(&user))
}

/// `users set-role USER ROLE`.
pub async fn set_role(
    store: &dyn Store,
    settings: &Settings,
    user: &str,
    role: &str,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let user = find(store, user, app).await?;
    let role = admin::parse_role(&json!(role)).map_err(anyhow::Error::msg)?;
    let what = ("role-changed", &user, json!({ "from": user.role, "to": role }));
    let changes = AdminChanges { role: Some(role.clone()), ..AdminChanges::default() };
    let now = Clock::default().now_ms();
    let updated = audited((settings, store), what, store.admin_update_user(&user.id, &changes, now))
        .await?
        .context("gone")?;
    Ok(shown(&updated))
}

/// `users ban USER [--reason R] [--for SECONDS]`: every session of the user ends.
pub async fn ban(
    store: &dyn Store,
    settings: &Settings,
    user: &str,
    reason: Option<&str>,
    secs: Option<u64>,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let now = Clock::default().now_ms();
    let expires = admin::ban_end(now, secs).map_err(|why| anyhow::anyhow!("--for: {why}"))?;
    let user = find(store, user, app).await?;
    let reason = reason.unwrap_or("No reason").to_string();
    let what = ("user-banned", &user, json!({ "reason": reason, "expires": expires }));
    let ban = Ban { reason, expires };
    let banned =
        audited((settings, store), what, store.ban_user(&user.id, &ban, now)).await?.context("gone")?;
    Ok(shown(&banned))
}

/// `users unban USER`.
pub async fn unban(
    store: &dyn Store,
    settings: &Settings,
    user: &str,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let user = find(store, user, app).await?;
    let what = ("user-unbanned", &user, serde_json::Value::Null);
    let unbanned = audited((settings, store), what, store.unban_user(&user.id, Clock::default().now_ms()))
        .await?
        .context("gone")?;
    Ok(shown(&unbanned))
}

/// `users set-password USER PASSWORD` (`-`: read it from standard input, kept out of the process
/// list and the shell's history; the user's app's password policy; sessions stay).
pub async fn set_password(
    store: &dyn Store,
    settings: &Settings,
    user: &str,
    password: &str,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let user = find(store, user, app).await?;
    let mut typed = String::new();
    let password = if password == "-" {
        std::io::stdin().read_line(&mut typed)?;
        typed.trim_end_matches(['\r', '\n'])
    } else {
        password
    };
    let policy = match user.app_id.as_deref() {
        Some(id) => store
            .app(id)
            .await?
            .context("the user's app is gone")?
            .password_policy(&settings.passwords.policy),
        None => settings.passwords.policy.clone(),
    };
    let password = NewPassword::parse(password, &policy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hasher = PasswordHasher::new(settings.passwords.argon2, 1)?;
    let hash = hasher.hash(password.as_str()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let change =
        store.replace_credentials(&user.id, &hash, EndSessions::None, false, Clock::default().now_ms());
    audited((settings, store), ("password-set", &user, serde_json::Value::Null), change).await?;
    Ok(format!("password set for {}", user.email))
}

/// `users revoke-sessions USER`.
pub async fn revoke_sessions(
    store: &dyn Store,
    settings: &Settings,
    user: &str,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let user = find(store, user, app).await?;
    let what = ("sessions-revoked", &user, serde_json::Value::Null);
    let n = audited((settings, store), what, store.delete_user_sessions(&user.id, None)).await?;
    Ok(format!("{n} sessions of {} ended", user.email))
}

/// `users delete USER`.
pub async fn delete(
    store: &dyn Store,
    settings: &Settings,
    user: &str,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let user = find(store, user, app).await?;
    let what = ("user-removed", &user, json!({ "email": user.email }));
    if audited((settings, store), what, store.delete_user(&user.id)).await?.is_err() {
        bail!("{} is the only owner of an organization with other members", user.email);
    }
    store.lockout_clear(&user.lockout_key()).await?;
    Ok(format!("user {} deleted", user.email))
}

/// `audit tail [--user ID] [--limit N] [--app A]`: the newest events, oldest of them first.
pub async fn tail(
    store: &dyn Store,
    user: Option<&str>,
    limit: u32,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let query = AuditQuery {
        app: app_key(store, app).await?,
        user_id: user.map(str::to_string),
        as_impersonator: true,
        limit: limit.clamp(1, 1000),
        ..AuditQuery::default()
    };
    let mut events = store.audit_events(&query).await?;
    events.reverse();
    Ok(events
        .iter()
        .map(|e| {
            format!(
                "{}  {:<22} {:<7}  actor {}  target {}  ip {}  {}",
                format_ms(e.at),
                e.action,
                e.outcome,
                e.actor_id.as_deref().unwrap_or("-"),
                e.target_id.as_deref().unwrap_or("-"),
                e.actor_ip.as_deref().unwrap_or("-"),
                e.details
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}
