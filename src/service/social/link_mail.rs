//! Verify-to-link: a provider vouches for an address whose local account is unverified, so the
//! address gets a link that proves the mailbox and then links the identity.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::{
    domain::model::{AccountRow, User},
    error::{ApiError, ApiResult},
    oauth::Provider,
    security::tokens::random_id,
    service::{
        links::{Purpose, consume, link, mail_vars, peek, send_link},
        sessions::SignInContext,
        sign_in::{Admission, Proof, admit},
    },
    state::AppState,
    store::StoreError,
};

/// A link mailed to a local account's address, which proves the mailbox and links the provider
/// identity (`GET|POST /link-account`); the provider's tokens stay sealed in it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkOffer {
    user_id: String,
    /// The address the link was mailed to: it must still be the account's, unverified.
    email: String,
    provider_id: String,
    account_id: String,
    access_token: Option<String>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    access_token_expires_at: Option<i64>,
    scope: Option<String>,
    callback_url: String,
}

/// Mails the local address a link that links this provider identity once the mailbox owner
/// confirms (`/link-account`, an hour).
pub(super) async fn offer_link(
    state: &AppState,
    provider: &Provider,
    user: &User,
    account: &AccountRow,
    callback_url: &str,
) -> ApiResult<()> {
    // One link a minute per account at most (each provider sign-in would send one).
    let since = state.clock.now_ms() - 60_000;
    if state.store.verification_created_since(Purpose::LinkAccount.prefix(), &user.id, since).await? {
        return Ok(());
    }
    let offer = LinkOffer {
        user_id: user.id.clone(),
        email: user.email.clone(),
        provider_id: account.provider_id.clone(),
        account_id: account.account_id.clone(),
        access_token: account.access_token.clone(),
        refresh_token: account.refresh_token.clone(),
        id_token: account.id_token.clone(),
        access_token_expires_at: account.access_token_expires_at,
        scope: account.scope.clone(),
        callback_url: callback_url.to_string(),
    };
    // `userId|…`, so every change that drops the user's pending links (a new password or email,
    // a deletion, the link itself) drops this one too.
    let value = format!("{}|{}", user.id, serde_json::to_string(&offer).map_err(ApiError::internal)?);
    let vars = minijinja::context! { provider => provider.config.display_name(), ..mail_vars(state, user) };
    send_link(
        state,
        Purpose::LinkAccount,
        &value,
        &user.email,
        ("link-account", "link-account"),
        vars,
        |token| link(state, "/link-account", &[("token", token)]),
    )
    .await
}

/// What a link-account link offers: `(provider's name, the address)`, for its confirmation page.
pub async fn link_offer(state: &AppState, raw: &str) -> ApiResult<(String, String)> {
    let offer: LinkOffer =
        read_offer(&peek(state, Purpose::LinkAccount, raw, StatusCode::BAD_REQUEST).await?)?;
    let name = state
        .providers
        .get(&offer.provider_id)
        .map_or(offer.provider_id.clone(), |p| p.config.display_name());
    let user = state
        .store
        .user_by_id(&offer.user_id)
        .await?
        .ok_or(ApiError::InvalidToken(StatusCode::BAD_REQUEST))?;
    Ok((name, user.email))
}

/// Follows a link-account link: links the identity (marking the address verified, removing
/// the password, ending every session: see `Accounts::link_proven`), signs this browser in
/// through the gate, and answers where to send it.
pub async fn accept_link(state: &AppState, raw: &str, mut ctx: SignInContext) -> ApiResult<String> {
    let offer = read_offer(&consume(state, Purpose::LinkAccount, raw, StatusCode::BAD_REQUEST).await?)?;
    let now = state.clock.now_ms();
    let account = AccountRow {
        id: random_id(),
        account_id: offer.account_id,
        provider_id: offer.provider_id,
        user_id: offer.user_id,
        access_token: offer.access_token,
        refresh_token: offer.refresh_token,
        id_token: offer.id_token,
        access_token_expires_at: offer.access_token_expires_at,
        refresh_token_expires_at: None,
        scope: offer.scope,
        created_at: now,
        updated_at: now,
    };
    match state.store.link_proven(&account, &offer.email, now).await {
        Ok(true) => {}
        // The account's address changed, or was verified, since the link was mailed.
        Ok(false) => return Err(ApiError::InvalidToken(StatusCode::BAD_REQUEST)),
        Err(StoreError::Conflict) => return Err(ApiError::SocialAccountAlreadyLinked),
        Err(e) => return Err(e.into()),
    }
    let user = state
        .store
        .user_by_id(&account.user_id)
        .await?
        .ok_or(ApiError::InvalidToken(StatusCode::BAD_REQUEST))?;
    // The mailed link is the proof, and a browser following it carries no app: the user's own.
    ctx.scope = state.scope_of(&user).await?;
    let admission =
        Admission { proof: Proof::Provider, remember_me: true, callback: Some(&offer.callback_url) };
    admit(state, ctx, &user, admission).await?;
    Ok(offer.callback_url)
}

fn read_offer(value: &str) -> ApiResult<LinkOffer> {
    let json = value.split_once('|').map_or(value, |(_, json)| json);
    serde_json::from_str(json).map_err(|_| ApiError::InvalidToken(StatusCode::BAD_REQUEST))
}
