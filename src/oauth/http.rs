//! Calls to providers: a bounded time for each (connect 5 s, whole call 10 s), no redirects
//! followed, and answers read up to 1 MiB; anything else is an error, never a hang or a memory
//! spike.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::OAuthError;

const MAX_ANSWER_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("gatehouse")
            .build()?;
        Ok(Self { client })
    }

    /// Runs a request built by the `oauth2` crate.
    pub async fn execute(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, OAuthError> {
        let request = reqwest::Request::try_from(request).map_err(|e| OAuthError::Http(e.to_string()))?;
        let answer = self.client.execute(request).await.map_err(|e| OAuthError::Http(e.to_string()))?;
        let mut response = oauth2::HttpResponse::new(Vec::new());
        *response.status_mut() = answer.status();
        *response.headers_mut() = answer.headers().clone();
        *response.body_mut() = read_limited(answer).await?;
        Ok(response)
    }

    /// `GET url` (with a bearer token, if any) as JSON; a non-2xx answer is an error.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<T, OAuthError> {
        let mut request = self.client.get(url).header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.map_err(|e| OAuthError::Http(e.to_string()))?;
        let status = answer.status();
        let body = read_limited(answer).await?;
        if !status.is_success() {
            return Err(OAuthError::Http(format!("{url} answered {status}")));
        }
        serde_json::from_slice(&body)
            .map_err(|e| OAuthError::Http(format!("{url}: not the JSON expected: {e}")))
    }
}

/// So the `oauth2` crate's requests go through [`Http::execute`] (a boxed `Send` future: its
/// closure form does not prove `Send` across axum's handler bound).
impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = OAuthError;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, OAuthError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

async fn read_limited(mut answer: reqwest::Response) -> Result<Vec<u8>, OAuthError> {
    if answer.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(OAuthError::Http("answer too large".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(|e| OAuthError::Http(e.to_string()))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(OAuthError::Http("answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
