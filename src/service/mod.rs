//! Work that several routes share, so handlers only parse, call and answer.

pub mod credentials;
