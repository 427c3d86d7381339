//! Security primitives: password hashing, tokens, cookie signing and origin checks.

pub mod client_ip;
pub mod counters;
pub mod keys;
pub mod lockout;
pub mod origin;
pub mod password;
pub mod ratelimit;
pub mod sealing;
pub mod tokens;
pub mod totp;
