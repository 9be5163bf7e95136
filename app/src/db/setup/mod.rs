//! Setting up an instance (docs/DOMAIN.md §9): clients, campaigns with their fields and caps, and
//! suppliers with the campaigns they may send to. Every function acts within the actor's
//! instance (an id of another instance is `NotFound`), writes in one write transaction, and logs
//! each change in the audit log in that transaction. The pages and the command line both call
//! these.

pub mod campaigns;
pub mod caps;
pub mod clients;
pub mod fields;
pub mod instances;
pub mod suppliers;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::DbError;
use crate::error::AppError;

/// Why a set-up change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The id is not one of the actor's instance.
    #[error("not found")]
    NotFound,
    /// Input the user should correct; `field` names the form field.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl SetupError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }
}

impl From<DieselError> for SetupError {
    fn from(e: DieselError) -> Self {
        Self::Db(e.into())
    }
}

impl From<SetupError> for AppError {
    fn from(err: SetupError) -> Self {
        match err {
            SetupError::NotFound => Self::NotFound,
            SetupError::Invalid { field, message } => Self::invalid(field, message),
            SetupError::Db(e) => e.into(),
        }
    }
}

/// A failed insert or update as the user reads it: a unique constraint broken (a name already
/// used, even by a change committed a moment ago) becomes `message` on `field`.
fn unique_or(err: DieselError, field: &'static str, message: impl FnOnce() -> String) -> SetupError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            SetupError::invalid(field, message())
        }
        other => other.into(),
    }
}

/// Runs a validation from `domain::setup`, naming the form field its message belongs to.
fn checked<T>(field: &'static str, result: Result<T, String>) -> Result<T, SetupError> {
    result.map_err(|message| SetupError::Invalid { field, message })
}
