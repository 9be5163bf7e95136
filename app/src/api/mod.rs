//! The machine API under `/api/v1/` for client users' software (docs/DOMAIN.md §7): requests are
//! authenticated by an API key, never by a session cookie. Server only.

pub mod auth;
pub mod lookups;
pub mod me;
pub mod reject;
pub mod tasks;
