//! Facebook's profile: `GET /me?fields=id,name,email,picture` on the Graph API. Facebook does
//! not say whether the address is verified, so it never counts as verified (as in Better Auth);
//! `TRUSTED_PROVIDERS=facebook` lets its addresses create accounts and link.

use serde::Deserialize;

use super::{OAuthError, Profile, http::Http};

#[derive(Deserialize)]
struct Me {
    id: String,
    name: Option<String>,
    email: Option<String>,
    picture: Option<Picture>,
}

#[derive(Deserialize)]
struct Picture {
    data: Option<PictureData>,
}

#[derive(Deserialize)]
struct PictureData {
    url: Option<String>,
}

pub async fn profile(http: &Http, graph: &str, access_token: &str) -> Result<Profile, OAuthError> {
    let url = format!("{}/me?fields=id,name,email,picture", graph.trim_end_matches('/'));
    let me: Me = http.get_json(&url, Some(access_token)).await?;
    Ok(Profile {
        account_id: me.id,
        email: me.email,
        email_verified: false,
        name: me.name,
        image: me.picture.and_then(|p| p.data).and_then(|d| d.url),
    })
}
