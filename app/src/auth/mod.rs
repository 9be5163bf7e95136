//! Authentication and access control (server only): password hashing, the session store, login
//! throttling, and the one helper every server function uses to learn who is asking.

pub mod access;
pub mod client_ip;
pub mod login;
pub mod password;
pub mod session_store;
pub mod throttle;
