//! The machine API under `/api/v1/` for client users' software (docs/DOMAIN.md §7): requests are
//! authenticated by an API key, never by a session cookie. Server only.

pub mod auth;
pub mod docs;
pub mod error;
pub mod lookups;
pub mod me;
pub mod openapi;
pub mod reject;
pub mod task_json;
pub mod tasks;
