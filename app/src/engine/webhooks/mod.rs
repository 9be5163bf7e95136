//! Lead-status webhooks leaving the database (docs/DOMAIN.md §7): the outbox's events are
//! written with each change (`db::outbox`); here they are signed (Standard Webhooks v1), sent
//! by every server's delivery worker with retries, and recorded.

pub mod send;
pub mod sign;
pub mod store;
pub mod worker;

pub use worker::{DeliverySettings, DeliveryWorker};
