//! A service verifying Gatehouse JWTs offline against `/jwks`.
//!
//! ```sh
//! TOKEN=$(curl -s -b jar http://127.0.0.1:3000/api/auth/token | jq -r .token)
//! cargo run --example verify_jwt -- http://127.0.0.1:3000 "$TOKEN"
//! ```
//!
//! A real service fetches the key set once, keeps it for the `Cache-Control: max-age` the
//! server sends, and fetches again when a token names a `kid` it does not know (a rotation).
//! The plain HTTP/1.1 GET below keeps the example free of an HTTP client dependency.

use std::{
    io::{Read, Write},
    net::TcpStream,
};

use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde::Deserialize;

/// The claims Gatehouse puts in every token.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Claims {
    sub: String,
    email: String,
    name: String,
    #[serde(rename = "emailVerified")]
    email_verified: bool,
    sid: String,
    org: Option<String>,
    plan: Option<String>,
    exp: i64,
}

fn fetch_jwks(base: &str) -> anyhow::Result<JwkSet> {
    let url = url::Url::parse(base)?;
    let host = url.host_str().ok_or_else(|| anyhow::anyhow!("no host in {base}"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    anyhow::ensure!(url.scheme() == "http", "this example speaks plain http only");
    let mut stream = TcpStream::connect((host, port))?;
    write!(stream, "GET /api/auth/jwks HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| anyhow::anyhow!("bad HTTP response"))?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "jwks: {}", head.lines().next().unwrap_or(""));
    Ok(serde_json::from_str(body)?)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(base), Some(token)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: verify_jwt BASE_URL TOKEN");
    };
    let jwks = fetch_jwks(&base)?;
    let header = decode_header(&token)?;
    let kid = header.kid.ok_or_else(|| anyhow::anyhow!("token has no kid"))?;
    let jwk = jwks.find(&kid).ok_or_else(|| anyhow::anyhow!("unknown kid {kid}: refetch /jwks"))?;
    // Trust the key's algorithm, never the token's header alone.
    let key_alg = jwk.common.key_algorithm.ok_or_else(|| anyhow::anyhow!("key without alg"))?;
    let alg = jsonwebtoken::Algorithm::try_from(key_alg)?;
    let origin = url::Url::parse(&base)?.origin().ascii_serialization();
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&origin]);
    validation.set_audience(&[&origin]);
    let data = decode::<Claims>(&token, &DecodingKey::from_jwk(jwk)?, &validation)?;
    println!(
        "valid token for {} <{}> (session {}, org {:?}, plan {:?}, exp {})",
        data.claims.name,
        data.claims.email,
        data.claims.sid,
        data.claims.org,
        data.claims.plan,
        data.claims.exp
    );
    Ok(())
}
