//! Mail: `SMTP_URL`, `MAIL_TRANSPORT`, `EMAIL_FROM`, `OUTBOX_PATH`, `EMAIL_TEMPLATES_DIR`.

use std::path::PathBuf;

use anyhow::bail;

use super::{Secret, env::*};

#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://user:pass@host:587` (STARTTLS) or `smtps://…` (TLS); `None`: the outbox.
    pub smtp_url: Option<Secret>,
    pub from: String,
    pub outbox_path: PathBuf,
    pub templates_dir: PathBuf,
    /// Whether `EMAIL_TEMPLATES_DIR` was set (then the folder must exist).
    pub templates_explicit: bool,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self::for_host("localhost")
    }
}

impl MailSettings {
    /// The defaults for a server on `host` (mail comes from `no-reply@host`).
    pub fn for_host(host: &str) -> Self {
        Self {
            smtp_url: None,
            from: format!("Gatehouse <no-reply@{host}>"),
            outbox_path: PathBuf::from("outbox.jsonl"),
            templates_dir: PathBuf::from("email-templates"),
            templates_explicit: false,
        }
    }

    /// `public`: the base URL is not loopback, so mail must really go out (or the operator says
    /// the outbox is meant).
    pub fn read(env: &Env, base_url: &url::Url, public: bool) -> anyhow::Result<Self> {
        let d = Self::for_host(base_url.host_str().unwrap_or("localhost"));
        let smtp_url = env.get("SMTP_URL");
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            bail!("SMTP_URL: must start with smtp:// or smtps://");
        }
        match env.get("MAIL_TRANSPORT").as_deref() {
            None | Some("smtp") if smtp_url.is_none() && public => bail!(
                "SMTP_URL is not set: a server with a public BASE_URL ({base_url}) must send real mail. Set SMTP_URL, \
                 or MAIL_TRANSPORT=outbox to keep mail in the development outbox on purpose."
            ),
            Some("smtp") if smtp_url.is_none() => bail!("MAIL_TRANSPORT=smtp needs SMTP_URL"),
            Some("outbox") if smtp_url.is_some() => {
                bail!("MAIL_TRANSPORT=outbox and SMTP_URL contradict each other: unset one")
            }
            None | Some("smtp" | "outbox") => {}
            Some(other) => bail!("MAIL_TRANSPORT: {other:?} is not smtp or outbox"),
        }
        let from = env.get("EMAIL_FROM").unwrap_or(d.from);
        if from.parse::<lettre::message::Mailbox>().is_err() {
            bail!("EMAIL_FROM: {from:?} is not an email address (e.g. `Acme <no-reply@acme.com>`)");
        }
        let templates_dir = env.get("EMAIL_TEMPLATES_DIR").map(PathBuf::from);
        Ok(Self {
            smtp_url: smtp_url.map(Secret::new),
            from,
            outbox_path: env.get("OUTBOX_PATH").map_or(d.outbox_path, PathBuf::from),
            templates_explicit: templates_dir.is_some(),
            templates_dir: templates_dir.unwrap_or(d.templates_dir),
        })
    }
}
