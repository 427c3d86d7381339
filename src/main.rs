//! The `gatehouse` binary: parse the CLI, load settings, call into the library.

use clap::{Parser, Subcommand};
use gatehouse::{apps_cli, config::Settings, server};
use tracing_subscriber::EnvFilter;

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
    /// Manage apps: several applications on one server, each with its own users and keys
    /// (APP is an app's id or slug).
    Apps {
        #[command(subcommand)]
        action: AppsAction,
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
    // tower-sessions opens an info-level span per request; keep it (and its cost) out by default.
    let default_filter = "info,tower_sessions=warn,tower_sessions_core=warn";
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)))
        .init();
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
