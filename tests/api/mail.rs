//! Mail transports: the development outbox (readable by the server user only), and delivery
//! through a real SMTP server (aiosmtpd from PyPI, started by `.ci/run`, storing what it receives
//! in a maildir; runs when `TEST_SMTP_URL` and `TEST_SMTP_MAILDIR` are set).

use std::time::Duration;

use gatehouse::config::Secret;
use serde_json::json;

use crate::{app, backend_tests, helpers::*};

/// Undoes quoted-printable soft line breaks and `=3D`, enough to read links out of a message.
fn unfold_qp(raw: &str) -> String {
    raw.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}

fn find_message(maildir: &str, to: &str) -> Option<String> {
    let dir = std::path::Path::new(maildir).join("new");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .find(|m| m.lines().any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_mail_goes_out_through_a_real_smtp_server() {
    let (Ok(url), Ok(maildir)) = (std::env::var("TEST_SMTP_URL"), std::env::var("TEST_SMTP_MAILDIR")) else {
        skip("TEST_SMTP_URL / TEST_SMTP_MAILDIR not set (.ci/run starts aiosmtpd and sets them)");
        return;
    };
    let Some(app) = TestApp::with(Backend::Sqlite, |s| {
        s.mail.smtp_url = Some(Secret::new(url));
        s.mail.from = "Gatehouse Test <no-reply@gatehouse.test>".into();
    })
    .await
    else {
        return;
    };
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;

    // Handed over means the server answered the message's DATA, and aiosmtpd stores a message
    // before it answers. (SMTP sends give up after 15 s; a failed one is counted too, and then
    // the maildir has nothing.)
    app.mail_handed_over(1, Duration::from_secs(20)).await;
    let message =
        find_message(&maildir, &email).unwrap_or_else(|| panic!("no message for {email} in {maildir}"));
    let lower = message.to_ascii_lowercase();
    assert!(message.contains("Subject: Verify your email for Gatehouse"), "{message}");
    assert!(lower.contains("from: \"gatehouse test\" <no-reply@gatehouse.test>"), "{message}");
    assert!(lower.contains("multipart/alternative"), "{message}");
    assert!(lower.contains("content-type: text/plain"), "{message}");
    assert!(lower.contains("content-type: text/html"), "{message}");
    assert!(app.outbox().is_empty(), "with SMTP configured nothing goes to the outbox");

    let body = unfold_qp(&message);
    let marker = "http://127.0.0.1:3000/api/auth/verify-email?token=";
    let at = body.find(marker).expect("verification link in the message");
    let token: String = body[at + marker.len()..].chars().take_while(char::is_ascii_hexdigit).collect();
    assert_eq!(token.len(), 64, "{body}");
    let res = app.get(&format!("/verify-email?token={token}"), None).await;
    assert_eq!(res.json(), json!({"status": true}), "the link in the delivered mail works");
    let session = app.get("/get-session", Some(&cookie)).await.json();
    assert_eq!(session["user"]["emailVerified"], true);
}

async fn outbox_is_readable_by_the_server_user_only(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    app.post("/request-password-reset", json!({"email": email}), None).await;
    app.mail(&email, "reset").await;
    let mode =
        std::fs::metadata(&app.state.settings.mail.outbox_path).expect("outbox written").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "outbox mode {mode:o}");
    // One left world-readable (by an older version) is made private when a server starts on it.
    let path = app.state.settings.mail.outbox_path.clone();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _restarted = app.sibling(|s| s.mail.outbox_path = path.clone());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "outbox mode after a restart {mode:o}");
}

backend_tests!(outbox_is_readable_by_the_server_user_only);
