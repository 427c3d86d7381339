//! Work that several routes share, so handlers only parse, call and answer.

pub mod admin;
pub mod apps;
pub mod audit;
pub mod codes;
pub mod credentials;
pub mod email_change;
pub mod links;
pub mod passkeys;
pub mod passwords;
pub mod secrets;
pub mod sessions;
pub mod sign_in;
pub mod social;
pub mod tokens;
pub mod two_factor;
pub mod usernames;
pub mod webhooks;
