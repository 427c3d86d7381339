//! Mail: messages rendered from `email-templates/` and delivered by SMTP (lettre) or, in
//! development, to an outbox file and the log.
//!
//! Delivery never holds up a request: the outbox line is written at once (a local append), and
//! SMTP sends run in the background with a time limit, their failures logged. So a slow or
//! failing SMTP server cannot change what a client is told.

pub mod inert;
mod templates;

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use serde::Serialize;

use crate::domain::time::format_ms;
pub use templates::Templates;

/// How long one SMTP delivery may take before it is abandoned (and logged).
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// A rendered message.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// `verify`, `reset`, `change-email`, `otp` or `invite`.
    pub kind: &'static str,
    /// The link the message carries, if any.
    pub url: Option<String>,
    /// The raw token or code the message carries, if any (outbox only; never logged).
    pub token: Option<String>,
    pub text: String,
    pub html: String,
}

enum Transport {
    /// `log_links`: links carry tokens, so they are logged only for a loopback base URL.
    Outbox {
        path: PathBuf,
        lock: Mutex<()>,
        log_links: bool,
    },
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
}

pub struct Mailer {
    templates: Templates,
    transport: Arc<Transport>,
    /// Counts messages written to the outbox or handed to SMTP (delivered or not), so a waiter
    /// (a test, an operator tool) can await the next one instead of polling.
    sent: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Mailer {
    /// SMTP when `smtp_url` is set, else the development outbox.
    pub fn new(
        templates: Templates,
        smtp_url: Option<&str>,
        from: &str,
        outbox: &Path,
        log_links: bool,
    ) -> anyhow::Result<Self> {
        let transport = match smtp_url {
            Some(url) => {
                let url = smtp_url_with_tls_policy(url)?;
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .context("SMTP_URL: not a valid smtp:// or smtps:// URL")?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                let from = from.parse().with_context(|| format!("EMAIL_FROM: {from:?} is not a mailbox"))?;
                Transport::Smtp { transport, from }
            }
            None => {
                if !log_links {
                    tracing::warn!(path = %outbox.display(), "SMTP_URL is not set: mail goes to the outbox file only");
                }
                restrict_outbox(outbox);
                Transport::Outbox { path: outbox.to_path_buf(), lock: Mutex::new(()), log_links }
            }
        };
        let (sent, _) = tokio::sync::watch::channel(0);
        Ok(Self { templates, transport: Arc::new(transport), sent: Arc::new(sent) })
    }

    /// Renders `template` for `to`; `kind` is what the outbox and logs call it.
    pub fn compose(
        &self,
        template: &str,
        kind: &'static str,
        to: &str,
        url: Option<String>,
        token: Option<String>,
        vars: minijinja::Value,
    ) -> anyhow::Result<Mail> {
        let ctx = minijinja::context! { url => url.clone(), ..vars };
        let (subject, text, html) = self.templates.render(template, ctx)?;
        Ok(Mail { to: to.to_string(), subject, kind, url, token, text, html })
    }

    /// Composes and sends; a failure is logged, never returned (callers answer the same either
    /// way).
    #[allow(clippy::too_many_arguments)]
    pub fn send_template(
        &self,
        template: &str,
        kind: &'static str,
        to: &str,
        url: Option<String>,
        token: Option<String>,
        vars: minijinja::Value,
        now_ms: i64,
    ) {
        match self.compose(template, kind, to, url, token, vars) {
            Ok(mail) => self.send(mail, now_ms),
            Err(e) => tracing::error!(template, error = %e, "could not render an email"),
        }
    }

    /// A receiver that sees a change whenever a message is written to the outbox or handed over
    /// to SMTP after it subscribed.
    pub fn watch_sent(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sent.subscribe()
    }

    pub fn send(&self, mail: Mail, now_ms: i64) {
        match self.transport.as_ref() {
            Transport::Outbox { path, lock, log_links } => {
                if *log_links {
                    tracing::info!(to = %mail.to, subject = %mail.subject, kind = mail.kind, url = ?mail.url, "email (development outbox)");
                } else {
                    tracing::info!(to = %mail.to, subject = %mail.subject, kind = mail.kind, "email (outbox; link not logged)");
                }
                let _guard = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Err(e) = append_outbox(path, &mail, now_ms) {
                    tracing::error!(path = %path.display(), error = %e, "could not write the outbox");
                }
                self.sent.send_modify(|n| *n += 1);
            }
            Transport::Smtp { .. } => {
                let (transport, sent_count) = (self.transport.clone(), self.sent.clone());
                tokio::spawn(async move {
                    let Transport::Smtp { transport, from } = transport.as_ref() else { return };
                    let (to, kind) = (mail.to.clone(), mail.kind);
                    let sent = async {
                        let message = build_message(from, &mail)?;
                        tokio::time::timeout(SMTP_TIMEOUT, transport.send(message))
                            .await
                            .map_err(|_| anyhow::anyhow!("timed out after {SMTP_TIMEOUT:?}"))??;
                        anyhow::Ok(())
                    };
                    match sent.await {
                        Ok(()) => tracing::info!(%to, kind, "email sent"),
                        Err(e) => tracing::error!(%to, kind, error = %e, "email not sent"),
                    }
                    sent_count.send_modify(|n| *n += 1);
                });
            }
        }
    }
}

/// `smtp://` means STARTTLS, required, unless the URL says `?tls=opportunistic`, or `?tls=none`
/// for a plaintext relay on a trusted network (local test servers); `smtps://` is implicit TLS.
fn smtp_url_with_tls_policy(raw: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(raw).context("SMTP_URL: not a URL")?;
    if url.scheme() != "smtp" {
        return Ok(raw.to_string());
    }
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    let others: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "tls")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut query = url.query_pairs_mut();
    query.clear().extend_pairs(others);
    match tls.as_deref() {
        None | Some("required") => {
            query.append_pair("tls", "required");
        }
        Some("opportunistic") => {
            query.append_pair("tls", "opportunistic");
        }
        Some("none") => {}
        Some(other) => anyhow::bail!("SMTP_URL: tls={other} (use required, opportunistic or none)"),
    }
    drop(query);
    let mut s = url.to_string();
    if s.ends_with('?') {
        s.pop();
    }
    Ok(s)
}

fn build_message(from: &Mailbox, mail: &Mail) -> anyhow::Result<Message> {
    Ok(Message::builder()
        .from(from.clone())
        .to(mail.to.parse()?)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))?)
}

/// An outbox left by an older version (or copied in) may be readable by others: it holds live
/// tokens, so it becomes the server user's only.
fn restrict_outbox(path: &Path) {
    #[cfg(unix)]
    if path.exists() {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "could not make the outbox private (mode 0600)");
        }
    }
}

fn append_outbox(path: &Path, mail: &Mail, now_ms: i64) -> anyhow::Result<()> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Line<'a> {
        #[serde(flatten)]
        mail: &'a Mail,
        sent_at: String,
    }
    let mut line = serde_json::to_vec(&Line { mail, sent_at: format_ms(now_ms) })?;
    line.push(b'\n');
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    // The outbox holds live tokens: created readable by the server's user only.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(&line)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::smtp_url_with_tls_policy as policy;

    #[test]
    fn smtp_defaults_to_required_starttls() {
        assert_eq!(
            policy("smtp://u:p@mail.example:587").unwrap(),
            "smtp://u:p@mail.example:587?tls=required"
        );
        assert_eq!(
            policy("smtp://mail.example?tls=opportunistic").unwrap(),
            "smtp://mail.example?tls=opportunistic"
        );
        assert_eq!(policy("smtp://127.0.0.1:2525?tls=none").unwrap(), "smtp://127.0.0.1:2525");
        assert_eq!(policy("smtps://mail.example").unwrap(), "smtps://mail.example");
        assert!(policy("smtp://mail.example?tls=maybe").is_err());
    }
}
