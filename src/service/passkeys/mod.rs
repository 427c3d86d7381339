//! Passkeys (Better Auth's passkey plugin) over `webauthn-rs`: registering one for the signed-in
//! user, and signing in with one (through the one sign-in gate, as `Proof::Passkey`).
//!
//! Each ceremony keeps its state server-side: a `verification` row `passkey:<hmac>` (5 minutes)
//! holding webauthn-rs's state, named by a signed cookie; it is consumed before the response is
//! checked, so a failed ceremony burns it. Only Better Auth's columns are stored: the credential
//! is rebuilt from them for every sign-in, so rows migrated from Better Auth sign in too.
//! User verification is always required, so a passkey counts as both factors. Passkey-first
//! accounts are `sign_up.rs`.

mod sign_up;

pub use self::sign_up::{sign_up, sign_up_options};

use axum::http::StatusCode;
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_cookies::Cookies;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_core::{
    internals::AuthenticatorData,
    proto::{
        AttestationFormat, AttestationMetadata, COSEKey, ParsedAttestation, ParsedAttestationData,
        RegisteredExtensions, Registration, UserVerificationPolicy,
    },
};

use crate::{
    domain::model::{PasskeyRow, User},
    error::{ApiError, ApiResult},
    security::tokens::{random_hex, random_id},
    service::{
        links,
        sessions::{expire_cookie, marked_cookie, set_marked_cookie},
    },
    state::AppState,
    store::StoreError,
};

pub const NOT_CONFIGURED: ApiError = ApiError::Coded(
    StatusCode::BAD_REQUEST,
    "PASSKEY_NOT_CONFIGURED",
    "Passkeys are not configured: the base URL needs a domain (e.g. http://localhost:3000) or PASSKEY_RP_ID",
);
pub const CHALLENGE_NOT_FOUND: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "CHALLENGE_NOT_FOUND", "Challenge not found");
pub const FAILED_TO_VERIFY_REGISTRATION: ApiError = ApiError::Coded(
    StatusCode::BAD_REQUEST,
    "FAILED_TO_VERIFY_REGISTRATION",
    "Failed to verify registration",
);
pub const NOT_ALLOWED_TO_REGISTER: ApiError = ApiError::Coded(
    StatusCode::UNAUTHORIZED,
    "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY",
    "You are not allowed to register this passkey",
);
pub const PREVIOUSLY_REGISTERED: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "PREVIOUSLY_REGISTERED", "Previously registered");
pub const AUTHENTICATION_FAILED: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "AUTHENTICATION_FAILED", "Authentication failed");
pub const PASSKEY_NOT_FOUND: ApiError =
    ApiError::Coded(StatusCode::UNAUTHORIZED, "PASSKEY_NOT_FOUND", "Passkey not found");

const CHALLENGE_TTL_MS: i64 = 5 * 60_000;
/// What a challenge cookie's value starts with (see `sessions::set_marked_cookie`).
const MARK: &str = "pk.";

/// The relying party for a ceremony: the configured id, the base URL's origin, and the request's
/// `Origin` when it is one of the trusted origins (e.g. the app on another subdomain).
fn relying_party(state: &AppState, origin: Option<&str>) -> ApiResult<Webauthn> {
    let rp_id = state.settings.passkeys.rp_id.as_deref().ok_or(NOT_CONFIGURED)?;
    let base = &state.settings.base_url;
    let name = state.settings.passkeys.rp_name.as_deref().unwrap_or(&state.settings.app_name);
    let mut builder = WebauthnBuilder::new(rp_id, base).map_err(|_| NOT_CONFIGURED)?.rp_name(name);
    if let Some(origin) = origin.filter(|o| state.origins.is_trusted(o))
        && let Ok(url) = Url::parse(origin)
        && url.origin() != base.origin()
    {
        builder = builder.append_allowed_origin(&url);
    }
    builder.build().map_err(|_| NOT_CONFIGURED)
}

/// Whether passkeys are on (else every passkey route answers 400 `PASSKEY_NOT_CONFIGURED`).
pub fn configured(state: &AppState) -> ApiResult<()> {
    relying_party(state, None).map(|_| ())
}

/// A ceremony under way, as its `verification` row keeps it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Ceremony {
    Registration {
        user_id: String,
        state: PasskeyRegistration,
    },
    Authentication {
        user_id: String,
        state: PasskeyAuthentication,
    },
    Discoverable {
        state: DiscoverableAuthentication,
    },
    /// A new account's passkey: the user to create once the mailed code and the passkey check out.
    SignUp {
        user_id: String,
        email: String,
        name: String,
        state: PasskeyRegistration,
    },
}

const CEREMONY_PREFIX: &str = "passkey:";

fn identifier(state: &AppState, raw: &str) -> String {
    format!("{CEREMONY_PREFIX}{}", state.token_keys.hash(raw))
}

/// Stores `ceremony` and sets the signed cookie naming it.
async fn begin(state: &AppState, cookies: &Cookies, ceremony: &Ceremony) -> ApiResult<()> {
    let raw = random_hex(16);
    let now = state.clock.now_ms();
    let value = serde_json::to_string(ceremony).map_err(ApiError::internal)?;
    state.store.insert_verification(&identifier(state, &raw), &value, now + CHALLENGE_TTL_MS, now).await?;
    set_marked_cookie(state, cookies, state.passkey_cookie(), MARK, &raw, CHALLENGE_TTL_MS);
    Ok(())
}

/// Consumes the ceremony the request's cookie names (400 `CHALLENGE_NOT_FOUND` without a live
/// one): of two uses, one gets it.
async fn take(state: &AppState, cookies: &Cookies) -> ApiResult<Ceremony> {
    let raw = marked_cookie(state, cookies, &state.passkey_cookie(), MARK);
    expire_cookie(state, cookies, state.passkey_cookie());
    let raw = raw.ok_or(CHALLENGE_NOT_FOUND)?;
    // Kept under the current secret's key, or an older one's (begun before a rotation).
    let taken = links::take_first(state, links::identifiers(state, CEREMONY_PREFIX, &raw)).await?;
    let (value, expires_at) = taken.ok_or(CHALLENGE_NOT_FOUND)?;
    if expires_at <= state.clock.now_ms() {
        return Err(CHALLENGE_NOT_FOUND);
    }
    serde_json::from_str(&value).map_err(|_| CHALLENGE_NOT_FOUND)
}

/// The stored credential id of a raw one.
fn credential_id(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// The credential a row describes (rebuilt from Better Auth's columns).
fn credential_of(row: &PasskeyRow) -> Option<Credential> {
    let cose = STANDARD
        .decode(&row.public_key)
        .or_else(|_| URL_SAFE_NO_PAD.decode(row.public_key.trim_end_matches('=')))
        .ok()?;
    let value: serde_cbor_2::Value = serde_cbor_2::from_slice(&cose).ok()?;
    Some(Credential {
        cred_id: URL_SAFE_NO_PAD.decode(row.credential_id.trim_end_matches('=')).ok()?,
        cred: COSEKey::try_from(&value).ok()?,
        counter: u32::try_from(row.counter).ok()?,
        transports: None,
        user_verified: false,
        backup_eligible: row.device_type == "multiDevice",
        backup_state: row.backed_up,
        registration_policy: UserVerificationPolicy::Preferred,
        extensions: RegisteredExtensions::none(),
        attestation: ParsedAttestation {
            data: ParsedAttestationData::None,
            metadata: AttestationMetadata::None,
        },
        attestation_format: AttestationFormat::None,
    })
}

/// Registration options for the signed-in `user` (SimpleWebAuthn's JSON, not wrapped in
/// `publicKey`); the user's passkeys are excluded.
pub async fn registration_options(
    state: &AppState,
    cookies: &Cookies,
    user: &User,
    name: Option<&str>,
    attachment: Option<&str>,
) -> ApiResult<Value> {
    let rp = relying_party(state, None)?;
    let existing = state.store.passkeys_of(&user.id).await?;
    let exclude = existing.iter().filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok()).collect();
    let user_name = name.unwrap_or(&user.email);
    let (options, registration) = rp
        .start_passkey_registration(Uuid::new_v4(), user_name, &user.name, Some(exclude))
        .map_err(ApiError::internal)?;
    begin(state, cookies, &Ceremony::Registration { user_id: user.id.clone(), state: registration }).await?;
    let mut json = serde_json::to_value(&options.public_key).map_err(ApiError::internal)?;
    // A discoverable credential, so signing in needs no user name (webauthn-rs asks for none).
    json["authenticatorSelection"]["residentKey"] = "preferred".into();
    if let Some(attachment) = attachment.filter(|a| matches!(*a, "platform" | "cross-platform")) {
        json["authenticatorSelection"]["authenticatorAttachment"] = attachment.into();
    }
    Ok(json)
}

/// Verifies a registration for the signed-in `user` and stores the passkey.
pub async fn register(
    state: &AppState,
    cookies: &Cookies,
    user: &User,
    origin: Option<&str>,
    response: Value,
    name: Option<String>,
) -> ApiResult<PasskeyRow> {
    let Ceremony::Registration { user_id, state: registration } = take(state, cookies).await? else {
        return Err(CHALLENGE_NOT_FOUND);
    };
    if user_id != user.id {
        return Err(NOT_ALLOWED_TO_REGISTER);
    }
    let row_for = verify_new(state, origin, &registration, response)?;
    let name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let row = row_for(&user.id, name, state.clock.now_ms());
    match state.store.insert_passkey(&row).await {
        Ok(()) => Ok(row),
        Err(StoreError::Conflict) => Err(PREVIOUSLY_REGISTERED),
        Err(e) => Err(e.into()),
    }
}

/// Checks a registration response against its ceremony: a builder of the new passkey's row
/// (user id, name, time).
fn verify_new(
    state: &AppState,
    origin: Option<&str>,
    registration: &PasskeyRegistration,
    response: Value,
) -> ApiResult<impl FnOnce(&str, Option<String>, i64) -> PasskeyRow> {
    let origin = origin.ok_or(FAILED_TO_VERIFY_REGISTRATION)?;
    let transports = transports_of(&response);
    let reg: RegisterPublicKeyCredential =
        serde_json::from_value(response).map_err(|_| FAILED_TO_VERIFY_REGISTRATION)?;
    let passkey =
        relying_party(state, Some(origin))?.finish_passkey_registration(&reg, registration).map_err(|e| {
            // An excluded credential shows as CredentialAlteredAlgFromRequest, as does an algorithm
            // not offered: a credential registered already is told by the unique index instead.
            tracing::info!(error = %e, "a passkey registration was refused");
            FAILED_TO_VERIFY_REGISTRATION
        })?;
    let (public_key, aaguid) = key_and_aaguid(&reg).ok_or(FAILED_TO_VERIFY_REGISTRATION)?;
    let credential: Credential = passkey.into();
    Ok(move |user_id: &str, name: Option<String>, now: i64| PasskeyRow {
        id: random_id(),
        name,
        public_key,
        user_id: user_id.to_string(),
        credential_id: credential_id(&credential.cred_id),
        counter: i64::from(credential.counter),
        device_type: if credential.backup_eligible { "multiDevice" } else { "singleDevice" }.into(),
        backed_up: credential.backup_state,
        transports: Some(transports),
        created_at: Some(now),
        aaguid: Some(aaguid),
    })
}

/// The transports the client listed (`response.response.transports`) that WebAuthn knows,
/// once each, comma-joined.
fn transports_of(response: &Value) -> String {
    const KNOWN: &[&str] = &["usb", "nfc", "ble", "internal", "hybrid", "smart-card"];
    let listed =
        response["response"]["transports"].as_array().into_iter().flatten().filter_map(Value::as_str);
    let mut kept: Vec<&str> = Vec::new();
    for t in listed.filter(|t| KNOWN.contains(t)) {
        if !kept.contains(&t) {
            kept.push(t);
        }
    }
    kept.join(",")
}

/// The COSE public key (standard base64, as Better Auth stores it) and the AAGUID, read from the
/// attestation object (webauthn-rs keeps neither as bytes).
fn key_and_aaguid(reg: &RegisterPublicKeyCredential) -> Option<(String, String)> {
    let object: serde_cbor_2::Value = serde_cbor_2::from_slice(&reg.response.attestation_object).ok()?;
    let serde_cbor_2::Value::Map(map) = &object else { return None };
    let Some(serde_cbor_2::Value::Bytes(auth_data)) = map.get(&serde_cbor_2::Value::Text("authData".into()))
    else {
        return None;
    };
    let data = AuthenticatorData::<Registration>::try_from(auth_data.as_slice()).ok()?.acd?;
    let key = serde_cbor_2::to_vec(&data.credential_pk).ok()?;
    Some((STANDARD.encode(key), Uuid::from_bytes(data.aaguid).to_string()))
}

/// Sign-in options: the signed-in user's passkeys, else any discoverable passkey.
pub async fn authentication_options(
    state: &AppState,
    cookies: &Cookies,
    user: Option<&User>,
) -> ApiResult<Value> {
    let rp = relying_party(state, None)?;
    let passkeys: Vec<Passkey> = match user {
        Some(user) => state
            .store
            .passkeys_of(&user.id)
            .await?
            .iter()
            .filter_map(credential_of)
            .map(Passkey::from)
            .collect(),
        None => Vec::new(),
    };
    let (options, ceremony) = match user.filter(|_| !passkeys.is_empty()) {
        None => {
            let (options, state) = rp.start_discoverable_authentication().map_err(ApiError::internal)?;
            (options, Ceremony::Discoverable { state })
        }
        Some(user) => {
            let (options, state) = rp.start_passkey_authentication(&passkeys).map_err(ApiError::internal)?;
            (options, Ceremony::Authentication { user_id: user.id.clone(), state })
        }
    };
    begin(state, cookies, &ceremony).await?;
    serde_json::to_value(&options.public_key).map_err(ApiError::internal)
}

/// Checks a sign-in with a passkey: its user. A counter that went backwards (a cloned
/// authenticator) is refused and logged; the counter moves forward once.
pub async fn authenticate(
    state: &AppState,
    cookies: &Cookies,
    scope: &crate::domain::app::Scope,
    origin: Option<&str>,
    response: Value,
) -> ApiResult<User> {
    let ceremony = take(state, cookies).await?;
    let origin = origin.ok_or(AUTHENTICATION_FAILED)?;
    let assertion: PublicKeyCredential =
        serde_json::from_value(response).map_err(|_| AUTHENTICATION_FAILED)?;
    let row = state
        .store
        .passkey_by_credential(&credential_id(assertion.get_credential_id()), scope.key())
        .await?
        .ok_or(PASSKEY_NOT_FOUND)?;
    let Some(credential) = credential_of(&row) else {
        tracing::warn!(passkey = %row.id, "a stored passkey does not parse (an Ed25519 key from Better Auth?)");
        return Err(AUTHENTICATION_FAILED);
    };
    let rp = relying_party(state, Some(origin))?;
    let checked = match ceremony {
        Ceremony::Discoverable { state } => {
            rp.finish_discoverable_authentication_v2(&assertion, state, &credential)
        }
        Ceremony::Authentication { user_id, .. } if user_id != row.user_id => {
            return Err(AUTHENTICATION_FAILED);
        }
        Ceremony::Authentication { state, .. } => rp.finish_passkey_authentication(&assertion, &state),
        Ceremony::Registration { .. } | Ceremony::SignUp { .. } => return Err(CHALLENGE_NOT_FOUND),
    };
    let result = checked.map_err(|e| {
        if matches!(e, WebauthnError::CredentialPossibleCompromise) {
            tracing::warn!(passkey = %row.id, user = %row.user_id, "a passkey's counter went backwards: possibly cloned");
        } else {
            tracing::info!(error = %e, "a passkey sign-in was refused");
        }
        AUTHENTICATION_FAILED
    })?;
    if result.cred_id().as_slice() != credential.cred_id.as_slice() {
        return Err(AUTHENTICATION_FAILED);
    }
    let (counter, eligible) = (i64::from(result.counter()), result.backup_eligible());
    if !state.store.passkey_used(&row.id, counter, eligible, result.backup_state()).await? {
        tracing::warn!(passkey = %row.id, user = %row.user_id, "a passkey's counter did not move forward: possibly cloned");
        return Err(AUTHENTICATION_FAILED);
    }
    state.store.user_by_id(&row.user_id).await?.ok_or(PASSKEY_NOT_FOUND)
}
