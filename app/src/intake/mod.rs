//! Leads in from suppliers (docs/DOMAIN.md §9): the intake endpoint `POST /api/v1/lead`,
//! Databowl-compatible. Server only.

pub mod http;
