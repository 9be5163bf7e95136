//! Authentication building blocks (server only): password hashing.

pub mod password;
