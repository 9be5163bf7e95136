//! Owner-staff server functions for managing the instance's users. Each requires owner staff
//! (403) and acts only within the caller's instance: ids of another instance are "not found".

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub is_owner: bool,
    pub client_name: Option<String>,
    pub can_reject_leads: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOption {
    pub id: i64,
    pub name: String,
}

/// Shortest initial password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    crate::auth::access::guarded(async {
        let state = crate::state::app_state()?;
        let owner = crate::auth::access::require_owner().await?;
        let rows = state.db(move |conn| crate::db::users::list_in_instance(conn, owner.instance_id)).await?;
        Ok(rows
            .into_iter()
            .map(|u| UserRow {
                id: u.id,
                email: u.email,
                name: u.name,
                is_owner: u.role == crate::db::users::Role::OwnerStaff,
                client_name: u.client_name,
                can_reject_leads: u.can_reject_leads,
            })
            .collect())
    })
    .await
}

#[server(endpoint = "list_clients")]
pub async fn list_clients() -> Result<Vec<ClientOption>, AppError> {
    crate::auth::access::guarded(async {
        let state = crate::state::app_state()?;
        let owner = crate::auth::access::require_owner().await?;
        let rows =
            state.db(move |conn| crate::db::users::clients_of_instance(conn, owner.instance_id)).await?;
        Ok(rows.into_iter().map(|(id, name)| ClientOption { id, name }).collect())
    })
    .await
}

#[server(endpoint = "create_client_user")]
pub async fn create_client_user(
    email: String,
    name: String,
    client_id: String,
    password: String,
) -> Result<i64, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let owner = crate::auth::access::require_owner().await?;
        let email = email.trim().to_lowercase();
        let name = name.trim().to_owned();
        if !valid_email(&email) {
            return Err(AppError::invalid("email", "Enter an email address like name@example.com."));
        }
        if name.is_empty() {
            return Err(AppError::invalid("name", "Enter the user's name."));
        }
        let Ok(client_id) = client_id.trim().parse::<i64>() else {
            return Err(AppError::invalid("client", "Choose the client this user belongs to."));
        };
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Err(AppError::invalid(
                "password",
                format!("Use at least {MIN_PASSWORD_LEN} characters for the initial password."),
            ));
        }
        let hash = crate::auth::password::hash_off_thread(password).await?;
        let now = state.clock.now();
        state
            .db_or(move |conn| -> Result<i64, AppError> {
                let new = crate::db::users::NewClientUser {
                    email: &email,
                    name: &name,
                    client_id,
                    password_hash: hash.as_str(),
                };
                Ok(crate::db::users::create_client_user(conn, &owner, &new, now)?)
            })
            .await
    })
    .await
}

#[server(endpoint = "set_reject_permission")]
pub async fn set_reject_permission(user_id: i64, granted: bool) -> Result<(), AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let owner = crate::auth::access::require_owner().await?;
        let now = state.clock.now();
        let found = state
            .db(move |conn| crate::db::users::set_reject_permission(conn, &owner, user_id, granted, now))
            .await?;
        if found { Ok(()) } else { Err(AppError::NotFound) }
    })
    .await
}

/// A plausible address: one `@`, something before it, a dot in the domain, no spaces.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.len() <= 254
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn email_shapes() {
        assert!(valid_email("new.person@acme.co.uk"));
        for bad in
            ["", "no-at", "@acme.com", "a@b", "a@.com", "a@b.", "a b@c.com", "a@b@c.com", "bo\u{7}ss@x.test"]
        {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
