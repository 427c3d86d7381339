//! Work that several routes share, so handlers only parse, call and answer.

pub mod credentials;
pub mod sign_in;
