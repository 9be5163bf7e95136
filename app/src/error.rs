//! Errors in two layers: [`AppError`] is what server functions return — small, serialisable,
//! safe to show — and internal causes (database, I/O) are logged on the server and mapped to
//! [`AppError::Internal`], never shown.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please log in to continue.")]
    Unauthenticated,
    #[error("You do not have permission to do that.")]
    Forbidden,
    /// Signed in with a one-time password: choose a new one first (HTTP 403).
    #[error("Choose a new password before going on.")]
    PasswordChangeRequired,
    #[error("Not found.")]
    NotFound,
    /// Bad input: `field` names the form field it concerns, so the page can show it there.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// Too many attempts; the message says when to try again.
    #[error("{0}")]
    TooManyAttempts(String),
    /// The request itself could not be read (HTTP 400): malformed arguments of a server function.
    #[error("The request could not be read. Reload the page and try again.")]
    BadRequest,
    /// The server is too busy to do this now (HTTP 503); trying again in a moment may work.
    #[error("{0}")]
    Busy(String),
    #[error("Something went wrong on our side. Please try again in a moment.")]
    Internal,
    /// The request did not reach the server function or its answer could not be read.
    #[error("Could not reach the server ({0}). Check your connection and try again.")]
    Transport(String),
}

impl AppError {
    /// The message for `field`, when this error concerns it.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            AppError::Invalid { field: f, message } if f == field => Some(message.clone()),
            _ => None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    /// The date typed into form field `field`, `None` when left empty; `Invalid` (naming the
    /// field) when it is not a date.
    pub fn date_field(field: &str, text: &str) -> Result<Option<chrono::NaiveDate>, Self> {
        crate::domain::messages::optional_date(text)
            .map_err(|_| Self::invalid(field, crate::domain::messages::NOT_A_DATE))
    }

    /// The HTTP status the server answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Unauthenticated => 401,
            AppError::Forbidden | AppError::PasswordChangeRequired => 403,
            AppError::NotFound => 404,
            AppError::Invalid { .. } => 422,
            AppError::BadRequest => 400,
            AppError::TooManyAttempts(_) => 429,
            AppError::Busy(_) => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // On the server: the arguments sent could not be read (the JSON codec reports them
            // as `Deserialization`). A client error, not ours.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => crate::auth::access::respond(AppError::BadRequest),
            other => AppError::Transport(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<crate::db::DbError> for AppError {
    fn from(err: crate::db::DbError) -> Self {
        if let crate::db::DbError::Pool(e) = &err {
            // Every connection is in use: the server is overloaded, not broken.
            tracing::warn!(error = %e, "no database connection free");
            return AppError::Busy(crate::domain::messages::SERVER_BUSY.to_owned());
        }
        tracing::error!(error = %err, "internal error");
        AppError::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_wire_format() {
        let e = AppError::invalid("campaign", "Choose a campaign.");
        let bytes = e.ser();
        assert_eq!(AppError::de(bytes), e);
        assert_eq!(e.to_string(), "Choose a campaign.");
        assert_eq!(e.status_code(), 422);
    }

    #[test]
    fn internal_errors_say_nothing_of_the_cause() {
        assert!(!AppError::Internal.to_string().to_lowercase().contains("database"));
    }
}
