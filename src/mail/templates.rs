//! Email templates, loaded from a folder at start-up so operators can edit them without a
//! rebuild. Every message needs `subject.txt`, `body.txt` and `body.html`.

use std::path::Path;

use anyhow::Context;
use minijinja::{Environment, Value};

/// The messages Gatehouse sends; each is a folder of the templates directory.
pub const MESSAGES: &[&str] = &[
    "verify",
    "reset",
    "change-email",
    "change-email-notice",
    "email-changed",
    "existing-account",
    "otp",
    "invite",
    "locked",
    "link-account",
    "two-factor-notice",
];
const PARTS: &[&str] = &["subject.txt", "body.txt", "body.html"];
/// Messages newer than the first templates folder operators may have copied.
const ADDED_LATER: &[&str] = &["email-changed", "link-account", "two-factor-notice"];

/// The shipped templates, built in: used when no templates folder is configured or present.
macro_rules! builtin {
    ($($message:literal),*) => {
        &[$(
            ($message, "subject.txt", include_str!(concat!("../../email-templates/", $message, "/subject.txt"))),
            ($message, "body.txt", include_str!(concat!("../../email-templates/", $message, "/body.txt"))),
            ($message, "body.html", include_str!(concat!("../../email-templates/", $message, "/body.html"))),
        )*]
    };
}
const BUILTIN: &[(&str, &str, &str)] = builtin!(
    "verify",
    "reset",
    "change-email",
    "change-email-notice",
    "email-changed",
    "existing-account",
    "otp",
    "invite",
    "locked",
    "link-account",
    "two-factor-notice"
);

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads every template from `dir`; with `explicit` false and no such folder, the built-in
    /// copies are used instead.
    pub fn load_or_builtin(dir: &Path, explicit: bool) -> anyhow::Result<Self> {
        if !explicit && !dir.exists() {
            tracing::info!(dir = %dir.display(), "no email templates folder: using the built-in templates");
            let mut env = Self::environment();
            for (message, part, source) in BUILTIN {
                env.add_template_owned(format!("{message}/{part}"), *source)?;
            }
            return Ok(Self { env });
        }
        Self::load(dir)
    }

    /// Loads and compiles every template; a missing or broken one is an error naming it. A
    /// message added after the folder was copied (one of [`ADDED_LATER`], with no folder at all)
    /// uses its built-in copy, with a warning, so an upgrade does not stop start-up.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut env = Self::environment();
        for message in MESSAGES {
            if ADDED_LATER.contains(message) && !dir.join(message).exists() {
                tracing::warn!(dir = %dir.display(), message, "email template folder missing: using the built-in copy");
                for (_, part, source) in BUILTIN.iter().filter(|(m, _, _)| m == message) {
                    env.add_template_owned(format!("{message}/{part}"), *source)?;
                }
                continue;
            }
            for part in PARTS {
                let path = dir.join(message).join(part);
                let source = std::fs::read_to_string(&path).with_context(|| {
                    format!("email template {} is missing (EMAIL_TEMPLATES_DIR)", path.display())
                })?;
                env.add_template_owned(format!("{message}/{part}"), source)
                    .with_context(|| format!("email template {} does not parse", path.display()))?;
            }
        }
        Ok(Self { env })
    }

    fn environment() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env
    }

    /// Subject (one line), text part, HTML part.
    pub fn render(&self, message: &str, ctx: Value) -> anyhow::Result<(String, String, String)> {
        let part = |p: &str| -> anyhow::Result<String> {
            let name = format!("{message}/{p}");
            self.env
                .get_template(&name)?
                .render(&ctx)
                .with_context(|| format!("rendering email template {name}"))
        };
        let subject = part("subject.txt")?.lines().next().unwrap_or_default().trim().to_string();
        Ok((subject, part("body.txt")?, part("body.html")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_templates() -> Templates {
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("email-templates")).unwrap()
    }

    #[test]
    fn shipped_templates_render_and_escape_html() {
        let t = repo_templates();
        let ctx = minijinja::context! {
            app_name => "Gatehouse", name => "<b>Ann</b>", email => "a@x.y",
            url => "https://x.y/?a=1&b=2", expires_in => "1 hour",
        };
        let (subject, text, html) = t.render("verify", ctx).unwrap();
        assert_eq!(subject, "Verify your email for Gatehouse");
        assert!(text.contains("https://x.y/?a=1&b=2"));
        assert!(
            html.contains("&lt;b&gt;Ann&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;Ann&lt;/b&gt;"),
            "{html}"
        );
    }

    #[test]
    fn builtin_copies_match_the_shipped_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("email-templates");
        for (message, part, source) in BUILTIN {
            assert_eq!(std::fs::read_to_string(dir.join(message).join(part)).unwrap(), *source);
        }
        assert_eq!(BUILTIN.len(), MESSAGES.len() * PARTS.len());
        let absent = Path::new("/nonexistent-gatehouse-templates");
        assert!(Templates::load_or_builtin(absent, false).is_ok());
        assert!(Templates::load_or_builtin(absent, true).is_err(), "a configured folder must exist");
    }

    #[test]
    fn missing_or_broken_templates_are_named() {
        let dir = std::env::temp_dir().join(format!("gh-tpl-{}", crate::security::tokens::random_hex(4)));
        std::fs::create_dir_all(&dir).unwrap();
        let err = Templates::load(&dir).err().unwrap().to_string();
        assert!(err.contains("verify") && err.contains("missing"), "{err}");
        for m in MESSAGES {
            std::fs::create_dir_all(dir.join(m)).unwrap();
            for p in PARTS {
                std::fs::write(dir.join(m).join(p), "ok").unwrap();
            }
        }
        std::fs::write(dir.join("otp").join("body.html"), "{% if %}").unwrap();
        let err = Templates::load(&dir).err().unwrap().to_string();
        assert!(err.contains("otp") && err.contains("parse"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
