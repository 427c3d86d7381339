//! GitHub's profile: `GET /user` for the id, name and picture, and `GET /user/emails` for the
//! address and whether GitHub verified it (the primary one, else any verified one); the
//! profile's own `email` field says nothing about verification.

use serde::Deserialize;

use super::{OAuthError, Profile, http::Http};

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

pub async fn profile(http: &Http, api: &str, access_token: &str) -> Result<Profile, OAuthError> {
    let api = api.trim_end_matches('/');
    let user: User = http.get_json(&format!("{api}/user"), Some(access_token)).await?;
    let emails: Vec<Email> = http.get_json(&format!("{api}/user/emails"), Some(access_token)).await?;
    let chosen = emails
        .iter()
        .find(|e| e.primary && e.verified)
        .or_else(|| emails.iter().find(|e| e.verified))
        .or_else(|| emails.iter().find(|e| e.primary));
    Ok(Profile {
        account_id: user.id.to_string(),
        email: chosen.map(|e| e.email.clone()),
        email_verified: chosen.is_some_and(|e| e.verified),
        name: user.name.filter(|n| !n.trim().is_empty()).or(Some(user.login)),
        image: user.avatar_url,
    })
}
