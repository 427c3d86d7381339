//! The `gatehouse` binary: parse the CLI, load settings, call into the library.
//!
//! (Just over 400 lines: the whole command tree is declared here, one enum per command group,
//! and each arm only calls into the library.)

use clap::{Parser, Subcommand};
use gatehouse::{apps_cli, config::Settings, server, users_cli, webhooks_cli};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's allocator: get-session on a cache miss allocates and frees many
/// small, short-lived buffers across two threads, where glibc's malloc spent about a sixth of the
/// server's time (measured with perf; figures in the README's Performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gatehouse: a session-cookie authentication server (Better Auth's wire contract).
///
/// Settings come from the environment and `.env` (see `.env.example`). With no settings it serves
/// http://127.0.0.1:3000/api/auth on SQLite at ./gatehouse.db.
#[derive(Parser)]
#[command(name = "gatehouse", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default): migrates the database first, stops cleanly on SIGINT/SIGTERM.
    Serve,
    /// Apply pending database migrations to DATABASE_URL and exit.
    Migrate,
    /// Grant or inspect subscriptions by hand (outside Stripe).
    Subscription {
        #[command(subcommand)]
        action: SubscriptionAction,
    },
    /// Manage the JWT signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Work with the server secrets (BETTER_AUTH_SECRETS: the current one first, then older ones).
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Manage apps: several applications on one server, each with its own users and keys
    /// (APP is an app's id or slug).
    Apps {
        #[command(subcommand)]
        action: AppsAction,
    },
    /// Manage users as the admin API does (USER is an id or an email).
    Users {
        /// In this app (id or slug), not the default space.
        #[arg(long, global = true)]
        app: Option<String>,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Read the audit log.
    Audit {
        #[arg(long, global = true)]
        app: Option<String>,
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Copy another auth server's database into this one (DATABASE_URL).
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// The outbox of webhook deliveries (WEBHOOK_URLS).
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
}

#[derive(Subcommand)]
enum ImportSource {
    /// From a Better Auth 1.x database: users (their passwords keep working), accounts,
    /// organizations, members, invitations, two-factor; again later, only what is new.
    BetterAuth {
        /// The Better Auth database: postgres://… or sqlite://path (read only).
        #[arg(long)]
        from: String,
        /// Copy live sessions too, so nobody is signed out by the cut-over (their cookies stay
        /// valid while BETTER_AUTH_SECRET is Better Auth's).
        #[arg(long)]
        with_sessions: bool,
        /// Into this app (id or slug) rather than the default space.
        #[arg(long)]
        app: Option<String>,
        /// The summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum WebhooksAction {
    /// Deliveries, newest first: state, attempts, the last error.
    List {
        /// Only `pending`, `delivered` or `failed` ones.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Sends a delivery (a delivery id) or all of an event's (an event id) again, from now.
    Replay { id: String },
}

#[derive(Subcommand)]
enum UsersAction {
    /// Users, newest first.
    List {
        /// Looked for in the email and the name.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A user and how many live sessions they have.
    Show {
        user: String,
    },
    /// A new user (no --password: no credential account).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Set a user's role (`admin`, `user`, or both comma-separated).
    SetRole {
        user: String,
        role: String,
    },
    /// Ban a user: every session ends, every way in is refused.
    Ban {
        user: String,
        #[arg(long)]
        reason: Option<String>,
        /// The ban lifts itself after this many seconds.
        #[arg(long = "for")]
        seconds: Option<u64>,
    },
    Unban {
        user: String,
    },
    /// Set a user's password (their sessions stay).
    SetPassword {
        user: String,
        password: String,
    },
    /// End every session of a user.
    RevokeSessions {
        user: String,
    },
    Delete {
        user: String,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// The newest audit events.
    Tail {
        /// Events by or about this user id.
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum AppsAction {
    /// Create an app; prints its id and its first key (shown once).
    Create {
        name: String,
        /// Browser origins whose requests belong to the app (repeat for more).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Default: made from the name.
        #[arg(long)]
        slug: Option<String>,
        /// Print one JSON object `{"id", "key"}`.
        #[arg(long)]
        json: bool,
    },
    /// List the apps with their settings, users and keys.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change an app: NAME, ORIGINS (comma-separated), REQUIRE_EMAIL_VERIFICATION,
    /// PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH, PASSWORD_REQUIRE, JWT_AUDIENCE, JWT_EXPIRATION,
    /// ACCESS_TOKEN_EXPIRATION, REFRESH_TOKEN_IDLE (an empty value: the server's setting).
    Set {
        app: String,
        #[arg(required = true, value_name = "SETTING=VALUE")]
        settings: Vec<String>,
    },
    /// Manage an app's keys.
    Key {
        #[command(subcommand)]
        action: AppKeyAction,
    },
    /// Delete an app; refused while it has users, unless --with-users (which deletes them).
    Delete {
        app: String,
        #[arg(long)]
        with_users: bool,
    },
}

#[derive(Subcommand)]
enum AppKeyAction {
    /// A new key beside the current one (both work until the old one is revoked).
    Rotate { app: String },
    /// Revoke a key (its id, from `apps list`).
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum SubscriptionAction {
    /// Create or replace the manual subscription of a user or organization.
    Set {
        /// User or organization id.
        #[arg(long)]
        reference: String,
        /// Plan (product) id, e.g. `pro`.
        #[arg(long)]
        plan: String,
        /// `active`, `trialing`, `canceled`, `past_due`, ...
        #[arg(long, default_value = "active")]
        status: String,
        /// End of the period: `2027-01-31` or an RFC 3339 time; omit for no end.
        #[arg(long)]
        until: Option<String>,
    },
    /// Show the subscription lookup for a user or organization (as get-session reports it).
    Show {
        #[arg(long)]
        reference: String,
    },
}

#[derive(Subcommand)]
enum SecretsAction {
    /// Seal again, under the current secret, everything sealed under an older one (signing keys,
    /// provider tokens, two-factor secrets), so the older secrets can then be dropped.
    Reseal,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a new signing key current. The old key stays in /jwks until every token it signed
    /// has expired (JWT_EXPIRATION); running servers switch within a minute.
    Rotate,
    /// List the signing keys: id, algorithm, created, and whether current or until when valid.
    List,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gatehouse::server::tune_allocator();
    // `.env` before the log settings too (`RUST_LOG`, `LOG_FORMAT`).
    let _ = dotenvy::dotenv();
    // tower-sessions opens an info-level span per request; keep it (and its cost) out by default.
    let default_filter = "info,tower_sessions=warn,tower_sessions_core=warn";
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match std::env::var("LOG_FORMAT").unwrap_or_default().to_ascii_lowercase().as_str() {
        // One JSON object per line, with the request's span (its `request_id`) in each.
        "json" => logs.json().with_current_span(true).with_span_list(false).init(),
        // Colours only for a person at a terminal.
        "" | "text" => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())).init(),
        other => {
            eprintln!("LOG_FORMAT: {other:?} is not one of text, json");
            return std::process::ExitCode::from(2);
        }
    }
    let cli = Cli::parse();
    let result = async {
        let settings = Settings::from_env()?;
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => server::serve(settings).await,
            Command::Migrate => {
                server::open_store(&settings).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::Subscription { action: SubscriptionAction::Set { reference, plan, status, until } } => {
                let shown =
                    server::set_subscription(settings, &reference, &plan, &status, until.as_deref()).await?;
                println!("{shown}");
                Ok(())
            }
            Command::Subscription { action: SubscriptionAction::Show { reference } } => {
                println!("{}", server::show_subscription(settings, &reference).await?);
                Ok(())
            }
            Command::Keys { action: KeysAction::Rotate } => {
                let kid = server::rotate_signing_key(settings).await?;
                println!("new signing key: {kid}");
                Ok(())
            }
            Command::Apps { action } => {
                let shown = apps_cli::with_store(&settings, async |store| match action {
                    AppsAction::Create { name, origins, slug, json } => {
                        apps_cli::create(store, &settings, &name, slug.as_deref(), &origins, json).await
                    }
                    AppsAction::List { json } => apps_cli::list(store, json).await,
                    AppsAction::Set { app, settings: pairs } => {
                        apps_cli::set(store, &settings, &app, &pairs).await
                    }
                    AppsAction::Key { action: AppKeyAction::Rotate { app } } => {
                        apps_cli::rotate_key(store, &app).await
                    }
                    AppsAction::Key { action: AppKeyAction::Revoke { key_id } } => {
                        apps_cli::revoke_key(store, &key_id).await
                    }
                    AppsAction::Delete { app, with_users } => apps_cli::delete(store, &app, with_users).await,
                })
                .await?;
                println!("{}", shown.trim_end());
                Ok(())
            }
            Command::Users { app, action } => {
                let app = app.as_deref();
                let shown = apps_cli::with_store(&settings, async |store| match action {
                    UsersAction::List { search, limit } => {
                        users_cli::list(store, search.as_deref(), limit, app).await
                    }
                    UsersAction::Show { user } => users_cli::show(store, &user, app).await,
                    UsersAction::Create { email, name, password, role } => {
                        users_cli::create(store, &settings, (&email, &name, password.as_deref(), &role), app)
                            .await
                    }
                    UsersAction::SetRole { user, role } => {
                        users_cli::set_role(store, &settings, &user, &role, app).await
                    }
                    UsersAction::Ban { user, reason, seconds } => {
                        users_cli::ban(store, &settings, &user, reason.as_deref(), seconds, app).await
                    }
                    UsersAction::Unban { user } => users_cli::unban(store, &settings, &user, app).await,
                    UsersAction::SetPassword { user, password } => {
                        users_cli::set_password(store, &settings, &user, &password, app).await
                    }
                    UsersAction::RevokeSessions { user } => {
                        users_cli::revoke_sessions(store, &settings, &user, app).await
                    }
                    UsersAction::Delete { user } => users_cli::delete(store, &settings, &user, app).await,
                })
                .await?;
                println!("{}", shown.trim_end());
                Ok(())
            }
            Command::Import { source: ImportSource::BetterAuth { from, with_sessions, app, json } } => {
                let options = gatehouse::import::Options { with_sessions, app_id: None };
                let summary =
                    gatehouse::import::cli::better_auth_cli(settings, &from, options, app.as_deref(), json)
                        .await?;
                println!("{}", summary.trim_end());
                Ok(())
            }
            Command::Webhooks { action } => {
                let shown = apps_cli::with_store(&settings, async |store| match action {
                    WebhooksAction::List { state, limit, json } => {
                        webhooks_cli::list(store, state.as_deref(), limit, json).await
                    }
                    WebhooksAction::Replay { id } => webhooks_cli::replay(store, &id).await,
                })
                .await?;
                println!("{}", shown.trim_end());
                Ok(())
            }
            Command::Audit { app, action: AuditAction::Tail { user, limit } } => {
                let shown = apps_cli::with_store(&settings, async |store| {
                    users_cli::tail(store, user.as_deref(), limit, app.as_deref()).await
                })
                .await?;
                println!("{}", shown.trim_end());
                Ok(())
            }
            Command::Secrets { action: SecretsAction::Reseal } => {
                for line in server::reseal_secrets(settings).await? {
                    println!("{line}");
                }
                Ok(())
            }
            Command::Keys { action: KeysAction::List } => {
                for line in server::list_signing_keys(settings).await? {
                    println!("{line}");
                }
                Ok(())
            }
        }
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
