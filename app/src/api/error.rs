//! The error answer every `/api/v1/` endpoint shares, `{"result":"error","error":{"code":…,
//! "message":…}}` (and `field` where a posted field is at fault), and the codes it carries.
//! The OpenAPI document is derived from these types, so they are the one list of codes.

use serde::Serialize;
use utoipa::ToSchema;

/// What went wrong, as clients' software tells it apart (`error.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The API key is missing, malformed, unknown or revoked (401).
    InvalidKey,
    /// The key's user no longer holds "Reject Leads as a Client" (403).
    Forbidden,
    /// Too many requests with this key; `Retry-After` says when to come back (429).
    RateLimited,
    /// No lead of the key's client has this id (404).
    LeadNotFound,
    /// The lead is already Client Rejected (409).
    AlreadyRejected,
    /// The lead is outside its rejection window (422).
    OutsideWindow,
    /// The lead was never delivered, so it cannot be rejected (422).
    NotDelivered,
    /// The lead's campaign has no maximum rejection days (422).
    NoMaxRejectionDays,
    /// The rejection reason is missing, blank or too long (422).
    MissingReason,
    /// Intake: the body could not be read (400).
    InvalidRequest,
    /// Intake: no campaign id `cid` (400).
    MissingCid,
    /// Intake: no supplier id `sid` (400).
    MissingSid,
    /// Intake: no campaign of the key's instance has this id (404).
    UnknownCampaign,
    /// Intake: the supplier may not send leads to this campaign (403).
    SupplierNotAllowed,
    /// Intake: a posted name is no field of the campaign, or its value is not text (422).
    InvalidField,
    /// No rejection task of the key's user has this id (404).
    TaskNotFound,
    /// The task has not finished, so its results file is not whole yet (409).
    TaskNotFinished,
    /// Rejection tasks: no campaign of the key's client has this id (404).
    CampaignNotFound,
    /// Rejection tasks: no `Idempotency-Key` header (400).
    MissingIdempotencyKey,
    /// Rejection tasks: the `Idempotency-Key` is not 1–255 visible ASCII characters (400).
    InvalidIdempotencyKey,
    /// Rejection tasks: the `Idempotency-Key` was used before with another file or other settings (422).
    IdempotencyKeyReused,
    /// A required query parameter is missing (422).
    MissingParameter,
    /// A query parameter is unknown or its value is not valid (422).
    InvalidParameter,
    /// Rejection tasks: the file has no column with the name given, or none could be guessed (422).
    UnknownColumn,
    /// Rejection tasks: the identifier field is not a deduplicated field of the campaign (422).
    InvalidIdentifier,
    /// Rejection tasks: a file-level refusal — not CSV, empty, no data rows, … (422).
    InvalidFile,
    /// Rejection tasks: the file is over the size limit (413).
    FileTooLarge,
    /// Rejection tasks: the body did not arrive whole (400).
    UploadInterrupted,
    /// Rejection tasks: a newer preview by the same user replaced this one before it ended (409).
    PreviewReplaced,
    /// Undo: the task cannot be undone — not finished, an undo itself, or undone already (409).
    TaskNotUndoable,
    /// Something failed on the server's side (500).
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 31] = [
        ErrorCode::InvalidKey,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::LeadNotFound,
        ErrorCode::AlreadyRejected,
        ErrorCode::OutsideWindow,
        ErrorCode::NotDelivered,
        ErrorCode::NoMaxRejectionDays,
        ErrorCode::MissingReason,
        ErrorCode::InvalidRequest,
        ErrorCode::MissingCid,
        ErrorCode::MissingSid,
        ErrorCode::UnknownCampaign,
        ErrorCode::SupplierNotAllowed,
        ErrorCode::InvalidField,
        ErrorCode::TaskNotFound,
        ErrorCode::TaskNotFinished,
        ErrorCode::CampaignNotFound,
        ErrorCode::MissingIdempotencyKey,
        ErrorCode::InvalidIdempotencyKey,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::MissingParameter,
        ErrorCode::InvalidParameter,
        ErrorCode::UnknownColumn,
        ErrorCode::InvalidIdentifier,
        ErrorCode::InvalidFile,
        ErrorCode::FileTooLarge,
        ErrorCode::UploadInterrupted,
        ErrorCode::PreviewReplaced,
        ErrorCode::TaskNotUndoable,
        ErrorCode::Internal,
    ];

    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidKey => "INVALID_KEY",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::LeadNotFound => "LEAD_NOT_FOUND",
            ErrorCode::AlreadyRejected => "ALREADY_REJECTED",
            ErrorCode::OutsideWindow => "OUTSIDE_WINDOW",
            ErrorCode::NotDelivered => "NOT_DELIVERED",
            ErrorCode::NoMaxRejectionDays => "NO_MAX_REJECTION_DAYS",
            ErrorCode::MissingReason => "MISSING_REASON",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::MissingCid => "MISSING_CID",
            ErrorCode::MissingSid => "MISSING_SID",
            ErrorCode::UnknownCampaign => "UNKNOWN_CAMPAIGN",
            ErrorCode::SupplierNotAllowed => "SUPPLIER_NOT_ALLOWED",
            ErrorCode::InvalidField => "INVALID_FIELD",
            ErrorCode::TaskNotFound => "TASK_NOT_FOUND",
            ErrorCode::TaskNotFinished => "TASK_NOT_FINISHED",
            ErrorCode::CampaignNotFound => "CAMPAIGN_NOT_FOUND",
            ErrorCode::MissingIdempotencyKey => "MISSING_IDEMPOTENCY_KEY",
            ErrorCode::InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            ErrorCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ErrorCode::MissingParameter => "MISSING_PARAMETER",
            ErrorCode::InvalidParameter => "INVALID_PARAMETER",
            ErrorCode::UnknownColumn => "UNKNOWN_COLUMN",
            ErrorCode::InvalidIdentifier => "INVALID_IDENTIFIER",
            ErrorCode::InvalidFile => "INVALID_FILE",
            ErrorCode::FileTooLarge => "FILE_TOO_LARGE",
            ErrorCode::UploadInterrupted => "UPLOAD_INTERRUPTED",
            ErrorCode::PreviewReplaced => "PREVIEW_REPLACED",
            ErrorCode::TaskNotUndoable => "TASK_NOT_UNDOABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Always `"error"` in an error answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorResult {
    Error,
}

// Fields in alphabetical order: the answer's bytes stay as `serde_json::json!` first wrote them.
/// An error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiError {
    pub error: ErrorDetail,
    pub result: ErrorResult,
}

/// What was refused, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(value_type = ErrorCode)]
    pub code: String,
    /// The posted field or query parameter at fault (intake, rejection tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a person to read; may change, so software should match on `code`.
    pub message: String,
}

impl ApiError {
    pub fn new(code: impl AsRef<str>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail { code: code.as_ref().to_owned(), field: None, message: message.into() },
            result: ErrorResult::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    #[test]
    fn the_documented_codes_are_the_codes_sent() {
        let schema = serde_json::to_value(ErrorCode::schema()).unwrap_or_default();
        let documented: Vec<&str> =
            schema["enum"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        let sent: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(documented, sent);
    }

    #[test]
    fn an_error_is_written_as_before() {
        let body =
            serde_json::to_string(&ApiError::new(ErrorCode::LeadNotFound, "No lead.")).unwrap_or_default();
        assert_eq!(body, r#"{"error":{"code":"LEAD_NOT_FOUND","message":"No lead."},"result":"error"}"#);
        let mut with_field = ApiError::new(ErrorCode::InvalidField, "Send text.");
        with_field.error.field = Some("email".into());
        assert_eq!(
            serde_json::to_string(&with_field).unwrap_or_default(),
            r#"{"error":{"code":"INVALID_FIELD","field":"email","message":"Send text."},"result":"error"}"#
        );
    }
}
