//! The one error type: every failure a handler can return, mapped to the contract's JSON body
//! `{"code", "error", "message"}` and status. Internal failures log their detail and answer a
//! generic 500 or 503; nothing internal ever reaches the client.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(String),
    #[error("Invalid email")]
    InvalidEmail,
    #[error("Password too short")]
    PasswordTooShort,
    #[error("Password too long")]
    PasswordTooLong,
    /// The password policy's required classes; the message names the missing ones.
    #[error("{0}")]
    PasswordTooWeak(String),
    #[error("Invalid password")]
    InvalidPassword,
    /// 400 for reset tokens, 401 for `verify-email` links and JWTs.
    #[error("Invalid token")]
    InvalidToken(StatusCode),
    #[error("Token expired")]
    TokenExpired(StatusCode),
    #[error("Invalid OTP")]
    InvalidOtp,
    #[error("OTP expired")]
    OtpExpired,
    #[error("Too many attempts")]
    TooManyAttempts,
    #[error("Email already verified")]
    EmailAlreadyVerified,
    #[error("Email can not be updated")]
    EmailCanNotBeUpdated,
    #[error("Credential account not found")]
    CredentialAccountNotFound,
    #[error("Invalid email or password")]
    InvalidCredentials,
    #[error("Unauthorized")]
    Unauthorized,
    #[error("Email not verified")]
    EmailNotVerified,
    #[error("Invalid origin")]
    InvalidOrigin,
    #[error("Missing or null Origin")]
    MissingOrNullOrigin,
    #[error("Invalid callbackURL")]
    InvalidCallbackUrl,
    #[error("Session is not fresh")]
    SessionNotFresh,
    #[error("User already exists. Use another email.")]
    UserExists,
    #[error("Too many requests. Try again later.")]
    RateLimited,
    #[error("Account locked after too many failed sign-ins. Try again later or reset your password.")]
    AccountLocked,
    #[error("Provider not found")]
    ProviderNotFound,
    #[error("This provider does not support ID token sign-in")]
    IdTokenNotSupported,
    #[error("This account is already linked to another user")]
    SocialAccountAlreadyLinked,
    #[error("Account not found")]
    AccountNotFound,
    #[error("You cannot unlink your last account")]
    FailedToUnlinkLastAccount,
    #[error("Two-factor authentication is required")]
    TwoFactorRequired,
    /// The sign-in gate's answer for a user with a second factor: no session yet, a challenge
    /// (200 `{twoFactorRedirect: true, twoFactorMethods}`; the challenge cookie is already set).
    #[error("A second factor is needed")]
    SecondFactorNeeded(Vec<&'static str>),
    /// The gate's answer when the server requires a second factor and the user has none: a
    /// restricted session (200 `{twoFactorRedirect: true, twoFactorSetupRequired: true}`).
    #[error("A second factor must be set up")]
    SecondFactorSetupNeeded,
    /// Errors that carry their own status, code and message (the organization plugin's, the
    /// provider-token routes').
    #[error("{2}")]
    Coded(StatusCode, &'static str, &'static str),
    #[error("You have been banned from this application")]
    BannedUser,
    #[error("Invalid API key")]
    InvalidApiKey,
    #[error("An API key is required to name an app")]
    ApiKeyRequired,
    #[error("The appId does not match the app of this request")]
    AppMismatch,
    #[error("Invalid Stripe signature")]
    InvalidSignature,
    #[error("Payload too large")]
    PayloadTooLarge,
    #[error("Unsupported media type: use application/json")]
    UnsupportedMediaType,
    #[error("Service unavailable")]
    ServiceUnavailable,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }

    /// The contract code of a client error (for `?error=CODE` redirects); `None` for 5xx.
    pub fn code(&self) -> Option<&'static str> {
        let (status, code, _) = self.parts();
        (!status.is_server_error()).then_some(code)
    }

    /// Status, Better Auth `code`, plain-API `error`.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Validation(_) => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "VALIDATION_ERROR"),
            InvalidEmail => (StatusCode::BAD_REQUEST, "INVALID_EMAIL", "INVALID_EMAIL"),
            PasswordTooShort => (StatusCode::BAD_REQUEST, "PASSWORD_TOO_SHORT", "PASSWORD_TOO_SHORT"),
            PasswordTooLong => (StatusCode::BAD_REQUEST, "PASSWORD_TOO_LONG", "PASSWORD_TOO_LONG"),
            PasswordTooWeak(_) => (StatusCode::BAD_REQUEST, "PASSWORD_TOO_WEAK", "PASSWORD_TOO_WEAK"),
            InvalidPassword => (StatusCode::BAD_REQUEST, "INVALID_PASSWORD", "INVALID_PASSWORD"),
            InvalidToken(status) => (*status, "INVALID_TOKEN", "INVALID_TOKEN"),
            TokenExpired(status) => (*status, "TOKEN_EXPIRED", "TOKEN_EXPIRED"),
            InvalidOtp => (StatusCode::BAD_REQUEST, "INVALID_OTP", "INVALID_OTP"),
            OtpExpired => (StatusCode::BAD_REQUEST, "OTP_EXPIRED", "OTP_EXPIRED"),
            TooManyAttempts => (StatusCode::FORBIDDEN, "TOO_MANY_ATTEMPTS", "TOO_MANY_ATTEMPTS"),
            EmailAlreadyVerified => {
                (StatusCode::BAD_REQUEST, "EMAIL_ALREADY_VERIFIED", "EMAIL_ALREADY_VERIFIED")
            }
            EmailCanNotBeUpdated => {
                (StatusCode::BAD_REQUEST, "EMAIL_CAN_NOT_BE_UPDATED", "EMAIL_CAN_NOT_BE_UPDATED")
            }
            CredentialAccountNotFound => {
                (StatusCode::BAD_REQUEST, "CREDENTIAL_ACCOUNT_NOT_FOUND", "CREDENTIAL_ACCOUNT_NOT_FOUND")
            }
            InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, "INVALID_EMAIL_OR_PASSWORD", "INVALID_CREDENTIALS")
            }
            Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "UNAUTHORIZED"),
            EmailNotVerified => (StatusCode::FORBIDDEN, "EMAIL_NOT_VERIFIED", "EMAIL_NOT_VERIFIED"),
            InvalidOrigin => (StatusCode::FORBIDDEN, "INVALID_ORIGIN", "INVALID_ORIGIN"),
            MissingOrNullOrigin => {
                (StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN", "MISSING_OR_NULL_ORIGIN")
            }
            InvalidCallbackUrl => (StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL", "INVALID_CALLBACK_URL"),
            SessionNotFresh => (StatusCode::FORBIDDEN, "SESSION_NOT_FRESH", "SESSION_NOT_FRESH"),
            UserExists => (StatusCode::CONFLICT, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "USER_EXISTS"),
            RateLimited => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT_EXCEEDED"),
            AccountLocked => (StatusCode::FORBIDDEN, "ACCOUNT_LOCKED", "ACCOUNT_LOCKED"),
            InvalidSignature => (StatusCode::BAD_REQUEST, "INVALID_SIGNATURE", "INVALID_SIGNATURE"),
            InvalidApiKey => (StatusCode::UNAUTHORIZED, "INVALID_API_KEY", "INVALID_API_KEY"),
            BannedUser => (StatusCode::FORBIDDEN, "BANNED_USER", "BANNED_USER"),
            ApiKeyRequired => (StatusCode::UNAUTHORIZED, "API_KEY_REQUIRED", "API_KEY_REQUIRED"),
            AppMismatch => (StatusCode::FORBIDDEN, "APP_MISMATCH", "APP_MISMATCH"),
            ProviderNotFound => (StatusCode::NOT_FOUND, "PROVIDER_NOT_FOUND", "PROVIDER_NOT_FOUND"),
            AccountNotFound => (StatusCode::BAD_REQUEST, "ACCOUNT_NOT_FOUND", "ACCOUNT_NOT_FOUND"),
            SocialAccountAlreadyLinked => {
                (StatusCode::CONFLICT, "SOCIAL_ACCOUNT_ALREADY_LINKED", "SOCIAL_ACCOUNT_ALREADY_LINKED")
            }
            IdTokenNotSupported => {
                (StatusCode::NOT_FOUND, "ID_TOKEN_NOT_SUPPORTED", "ID_TOKEN_NOT_SUPPORTED")
            }
            FailedToUnlinkLastAccount => {
                (StatusCode::BAD_REQUEST, "FAILED_TO_UNLINK_LAST_ACCOUNT", "FAILED_TO_UNLINK_LAST_ACCOUNT")
            }
            TwoFactorRequired => (StatusCode::FORBIDDEN, "TWO_FACTOR_REQUIRED", "TWO_FACTOR_REQUIRED"),
            SecondFactorNeeded(_) => (StatusCode::OK, "TWO_FACTOR_REQUIRED", "TWO_FACTOR_REQUIRED"),
            SecondFactorSetupNeeded => {
                (StatusCode::OK, "TWO_FACTOR_SETUP_REQUIRED", "TWO_FACTOR_SETUP_REQUIRED")
            }
            Coded(status, code, _) => (*status, code, code),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "PAYLOAD_TOO_LARGE"),
            UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_MEDIA_TYPE")
            }
            ServiceUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE")
            }
            Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR")
            }
        }
    }
}

/// The contract's error body.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "UNAUTHORIZED", "error": "UNAUTHORIZED", "message": "Unauthorized"}))]
pub struct ErrorBody {
    /// Better Auth's code, e.g. `INVALID_EMAIL_OR_PASSWORD`, `RATE_LIMIT_EXCEEDED`.
    pub code: &'static str,
    /// The plain API's name for it (mostly the same as `code`).
    pub error: &'static str,
    /// A sentence for people.
    pub message: String,
}

/// A sign-in's answer when a second factor is needed before a session is given (status 200;
/// the challenge cookie is set), or must first be set up (a restricted session is given).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorRedirect {
    pub two_factor_redirect: bool,
    /// The methods the user may verify with: `totp`, `otp`, `backup-code`.
    pub two_factor_methods: Vec<&'static str>,
    /// Present and `true` when the server requires a second factor the user has not set up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub two_factor_setup_required: Option<bool>,
}

/// A sign-in's answer: signed in, or (also with status 200) a second factor is needed first.
// Only describes the answer in the API document: the second shape comes through ApiError.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "describes an answer; the gate builds the second shape through ApiError")]
pub enum OrChallenge<T> {
    Signed(T),
    Challenge(TwoFactorRedirect),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, error) = self.parts();
        let redirect = match &self {
            ApiError::SecondFactorNeeded(methods) => Some(TwoFactorRedirect {
                two_factor_redirect: true,
                two_factor_methods: methods.clone(),
                two_factor_setup_required: None,
            }),
            ApiError::SecondFactorSetupNeeded => Some(TwoFactorRedirect {
                two_factor_redirect: true,
                two_factor_methods: Vec::new(),
                two_factor_setup_required: Some(true),
            }),
            _ => None,
        };
        if let Some(body) = redirect {
            let mut res = (status, Json(body)).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return res;
        }
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "Internal server error".to_string()
            }
            other => other.to_string(),
        };
        let closes = matches!(self, ApiError::PayloadTooLarge);
        let busy = matches!(self, ApiError::ServiceUnavailable);
        let mut res = (status, Json(ErrorBody { code, error, message })).into_response();
        if busy {
            // Overloaded or the database is away: a client may try again shortly.
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if closes {
            // Part of the body may still be unread: the connection cannot carry another request.
            res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        res
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if database_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable: answered 503");
            return Self::ServiceUnavailable;
        }
        Self::Internal(format!("database: {err}"))
    }
}

/// The database cannot be reached or has no connection to spare (for now): no free connection
/// within `DB_ACQUIRE_TIMEOUT`, a connection lost or refused, the server shutting down or out of
/// connections, SQLite's file lock held past its busy timeout. Worth retrying, unlike a bug.
pub(crate) fn database_unavailable(err: &sqlx::Error) -> bool {
    use sqlx::Error::*;
    match err {
        PoolTimedOut | PoolClosed | Io(_) | Tls(_) => true,
        // SQLite: BUSY or LOCKED, with any extended code (BUSY_SNAPSHOT is 517).
        Database(db) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
            db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6))
        }
        // PostgreSQL: connection exceptions (08…, not 08P01, a protocol violation: a bug),
        // admin/crash shutdown and "cannot connect now" (57P01–57P03), too many connections.
        Database(db) => db.code().is_some_and(|code| {
            (code.starts_with("08") && code != "08P01")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl From<tower_sessions::session::Error> for ApiError {
    fn from(err: tower_sessions::session::Error) -> Self {
        use tower_sessions::{session::Error::Store, session_store::Error::Backend};
        if matches!(err, Store(Backend(_))) && database_was_away() {
            return Self::ServiceUnavailable;
        }
        Self::Internal(format!("session: {err}"))
    }
}

tokio::task_local! {
    /// Set when the session layer's store found the database away during this request.
    static DATABASE_AWAY: std::cell::Cell<bool>;
}

/// Runs a request's handling, and says whether the session layer's store found the database away
/// meanwhile. The session layer reports its store's failures as text (or, when saving, as a bare
/// 500 of its own), so the kind of failure travels beside them instead.
pub async fn watching_the_database<F: std::future::Future>(handling: F) -> (F::Output, bool) {
    DATABASE_AWAY
        .scope(std::cell::Cell::new(false), async {
            let out = handling.await;
            (out, database_was_away())
        })
        .await
}

/// Notes a session-store failure for [`watching_the_database`] when it is the database being away.
pub fn note_store_failure(err: &sqlx::Error) {
    if database_unavailable(err) {
        tracing::warn!(error = %err, "database unavailable in the session layer: answered 503");
        let _ = DATABASE_AWAY.try_with(|away| away.set(true));
    }
}

fn database_was_away() -> bool {
    DATABASE_AWAY.try_with(std::cell::Cell::get).unwrap_or(false)
}

pub type ApiResult<T> = Result<T, ApiError>;
