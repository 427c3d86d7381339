//! Security primitives: password hashing, tokens, cookie signing and origin checks.

pub mod keys;
pub mod origin;
pub mod password;
pub mod tokens;
