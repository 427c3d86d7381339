//! The few server-rendered pages for apps without pages of their own: "email verified", and the
//! new-password form a reset link opens. Plain HTML and a little CSS; no scripts.

use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn page(state: &AppState, title: &str, body: &str) -> Response {
    let app = escape(&state.settings.app_name);
    let title = escape(title);
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>{title} · {app}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f6f7f9;color:#1f2328;margin:0;padding:48px 16px}}
main{{max-width:420px;margin:auto;background:#fff;border:1px solid #e3e6ea;border-radius:10px;padding:28px 32px}}
h1{{font-size:22px;margin:0 0 16px}} label{{display:block;font-size:14px;margin:14px 0 6px}}
input{{width:100%;box-sizing:border-box;padding:10px;border:1px solid #c9ced4;border-radius:6px;font-size:15px}}
button{{margin-top:20px;width:100%;padding:11px;border:0;border-radius:6px;background:#1f6feb;color:#fff;font-size:15px;cursor:pointer}}
p{{line-height:1.5}} footer{{color:#6a737d;font-size:12px;margin-top:24px}}
</style></head>
<body><main><h1>{title}</h1>{body}<footer>{app}</footer></main></body></html>"#
    );
    let mut res = Html(html).into_response();
    res.headers_mut()
        .insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    res.headers_mut().insert(
        "content-security-policy",
        axum::http::HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    res
}

/// 400 with "Link not valid": a form posted a token that is invalid, used or expired.
pub fn invalid_link(state: &AppState) -> Response {
    let mut page = message(state, "Link not valid", "This link is invalid, used or expired.");
    *page.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    page
}

/// A page with a title and one sentence.
pub fn message(state: &AppState, title: &str, text: &str) -> Response {
    page(state, title, &format!("<p>{}</p>", escape(text)))
}

/// The new-password form; it posts (form-encoded, same origin) to `POST /reset-password`.
/// `refused`: why the password posted before was not accepted (shown above the form, 400).
pub fn reset_form(state: &AppState, token: &str, refused: Option<&str>) -> Response {
    let action = escape(&format!("{}/reset-password", state.settings.base_path));
    let policy = &state.settings.passwords.policy;
    let notice = refused.map(|m| format!(r#"<p role="alert"><b>{}</b></p>"#, escape(m))).unwrap_or_default();
    let body = format!(
        r#"{notice}<p>Choose a new password ({rule}). You will be signed out everywhere.</p>
<form method="post" action="{action}">
<input type="hidden" name="token" value="{token}">
<label for="p">New password</label>
<input id="p" type="password" name="newPassword" minlength="{min}" maxlength="{max}" autocomplete="new-password" required>
<button type="submit">Set new password</button>
</form>"#,
        rule = escape(&policy.describe()),
        min = policy.min,
        max = policy.max,
        token = escape(token)
    );
    let mut res = page(state, "Reset your password", &body);
    if refused.is_some() {
        *res.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    res
}

/// The confirmation a link to undo an email change opens: nothing changes until its form posts
/// (form-encoded, same origin) to `POST /undo-email-change`, so mail scanners that follow links
/// change nothing.
pub fn undo_email_form(state: &AppState, token: &str, old_email: &str) -> Response {
    let action = escape(&format!("{}/undo-email-change", state.settings.base_path));
    let body = format!(
        r#"<p>This puts <b>{old}</b> back as your account's email address and signs out every session. Then reset your password.</p>
<form method="post" action="{action}">
<input type="hidden" name="token" value="{token}">
<button type="submit">Undo the email change</button>
</form>"#,
        old = escape(old_email),
        token = escape(token)
    );
    page(state, "Undo the email change", &body)
}

/// The confirmation page of a link-account link (its form posts back with the token).
pub fn link_account_form(state: &AppState, token: &str, provider: &str, email: &str) -> Response {
    let action = escape(&format!("{}/link-account", state.settings.base_path));
    let body = format!(
        r#"<p>This links <b>{provider}</b> to the account <b>{email}</b>, so you can sign in with it.</p>
<p>It also confirms the address, removes the account's password (sign in with {provider}, or reset the password to set a new one) and signs out the account's other sessions.</p>
<form method="post" action="{action}">
<input type="hidden" name="token" value="{token}">
<button type="submit">Link {provider}</button>
</form>"#,
        provider = escape(provider),
        email = escape(email),
        token = escape(token)
    );
    page(state, "Link your account", &body)
}
