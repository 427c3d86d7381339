//! What the sign-in error page (`GET /error?error=code`) says for each code a failed sign-in with
//! a provider can land with: Gatehouse's own, the sign-in gate's, and the provider's standard
//! OAuth ones. An unknown code gets the general text and is never echoed.

/// The plain-words explanation of `code`.
pub fn explain(code: &str) -> &'static str {
    match code {
        "state_not_found" | "state_mismatch" => {
            "The sign-in could not be matched to this browser. This usually means cookies are blocked, the \
             sign-in took longer than ten minutes, or it started on another domain or in another browser. \
             Allow cookies for this site and start again."
        }
        "account_not_linked" => {
            "An account with this email already exists here. If we sent you an email, follow its link to \
             connect this sign-in to your account; otherwise sign in with your password first."
        }
        "account_already_linked_to_different_user" => {
            "This provider account is already linked to another user."
        }
        "email_not_found" => "The provider did not share an email address, which is needed to sign in.",
        "email_not_verified" => {
            "The email address is not verified: the provider has not verified it, or this site needs a \
             verified address before you sign in (check your inbox for a verification link)."
        }
        "signup_disabled" => "New accounts cannot be created this way. Ask for an invitation or sign in.",
        "account_locked" => "This account is locked after too many failed sign-ins. Try again later.",
        "issuer_mismatch" | "issuer_missing" => {
            "The answer did not come from the provider this sign-in started with."
        }
        "invalid_code" | "no_code" => "The provider's answer could not be used. Start the sign-in again.",
        "access_denied" => "The sign-in was cancelled at the provider.",
        "banned" => "This account is suspended. Contact the site's operator.",
        "unauthorized" => "This account cannot sign in to this application.",
        "two_factor_required" => {
            "This account uses a second factor, and this site has no page to ask for it after a \
             provider sign-in. Sign in another way this site offers (your password or an email \
             code), where it can ask for your second factor."
        }
        "two_factor_setup_required" => {
            "This site requires a second factor, which this account has not set up yet. Go back to \
             the site and set one up; until then it lets you do nothing else."
        }
        "oauth_provider_not_found" => "This sign-in provider is not available on this site.",
        "unable_to_link_account" => {
            "The provider account could not be connected to yours. Check that the provider has \
             verified your email address, then sign in again and retry."
        }
        "email_does_not_match" => {
            "The provider account's email address differs from yours, so it cannot be connected. Use a \
             provider account with the same address."
        }
        "unable_to_get_user_info" => {
            "We could not get your account details from the provider. Try again in a few minutes; \
             if it keeps failing, tell the site's operator."
        }
        "login_required" | "consent_required" | "interaction_required" | "account_selection_required" => {
            "The provider needs you to sign in or give your consent there first. Start the sign-in again."
        }
        "server_error" | "temporarily_unavailable" => {
            "The provider could not answer just now. Try again in a few minutes."
        }
        "invalid_request"
        | "unauthorized_client"
        | "invalid_scope"
        | "unsupported_response_type"
        | "invalid_client" => {
            "The provider refused this site's request. Tell the site's operator; trying again will not help."
        }
        "provider_error" => "The provider reported an error. Start the sign-in again.",
        "internal_server_error" => {
            "Something went wrong on our side. Start the sign-in again in a moment; if it keeps failing, \
             tell the site's operator."
        }
        _ => "The sign-in did not complete. Start it again; if it keeps failing, tell the site's operator.",
    }
}
