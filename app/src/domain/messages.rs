//! Words shown to users that several parts of the app say, kept in one place so they cannot
//! drift apart, and the one parser of dates typed into forms.

use chrono::NaiveDate;

/// A campaign without a maximum rejection time refuses tasks (docs/DOMAIN.md §2).
pub const NO_MAXIMUM_REJECTION_TIME: &str = "This campaign has no maximum rejection time, so it does not accept \
    rejections. Ask your lead supplier to set one.";
/// The upload a form refers to is gone (pruned, or never the user's).
pub const UPLOAD_GONE: &str = "The uploaded file is no longer available. Choose the file again.";
/// Every database connection is busy: the request was not run; it may be repeated.
pub const SERVER_BUSY: &str = "The server is busy right now. Please try again in a moment.";
/// A date field that does not hold a date.
pub const NOT_A_DATE: &str = "Enter the date as a date, e.g. 2026-11-20.";

/// A size in bytes as the upload box states the limit ("256 MB").
pub fn megabytes(bytes: u64) -> String {
    format!("{} MB", bytes.div_ceil(1024 * 1024))
}

/// Text typed into a date field that is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotADate;

/// A date typed into a form field (`YYYY-MM-DD`, surrounding spaces ignored): `None` when left
/// empty, `Err` when it is not a date.
pub fn optional_date(text: &str) -> Result<Option<NaiveDate>, NotADate> {
    match text.trim() {
        "" => Ok(None),
        date => date.parse().map(Some).map_err(|_| NotADate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_stated_in_whole_megabytes() {
        assert_eq!(megabytes(256 * 1024 * 1024), "256 MB");
        assert_eq!(megabytes(10 * 1024 * 1024 + 1), "11 MB");
    }

    #[test]
    fn form_dates_are_iso_days_or_empty() {
        assert_eq!(optional_date(""), Ok(None));
        assert_eq!(optional_date(" 2026-11-20 "), Ok(NaiveDate::from_ymd_opt(2026, 11, 20)));
        assert_eq!(optional_date("20/11/2026"), Err(NotADate));
        assert_eq!(optional_date("yesterday"), Err(NotADate));
    }
}
