//! A background preview as its page polls it: the job's status, the rows read so far and, once
//! done, the preview itself (`T`: the rejection or lead import summary). Shared with the browser.

use serde::{Deserialize, Serialize};

/// Where a preview job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewStatus {
    /// Waiting for a free preview worker.
    Queued,
    Running,
    Done,
    Failed,
    /// Replaced by a newer preview of the same user.
    Cancelled,
}

impl PreviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Done, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// Done, failed or cancelled: the job changes no more.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

/// One poll's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewProgress<T> {
    pub job_id: i64,
    pub status: PreviewStatus,
    /// Data rows read so far.
    pub rows_read: i64,
    /// The rows the preview reads in all, once known.
    pub rows_total: Option<i64>,
    /// The preview, once done.
    pub result: Option<T>,
}

impl<T> PreviewProgress<T> {
    /// What the page says while the preview runs.
    pub fn progress_text(&self) -> String {
        match self.status {
            PreviewStatus::Queued => "Previewing… waiting for a free preview worker.".to_owned(),
            _ => match self.rows_total {
                Some(total) => {
                    format!("Previewing… {} of {} rows read", thousands(self.rows_read), thousands(total))
                }
                None => format!("Previewing… {} rows read", thousands(self.rows_read)),
            },
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_progress_reads_well() {
        for s in [
            PreviewStatus::Queued,
            PreviewStatus::Running,
            PreviewStatus::Done,
            PreviewStatus::Failed,
            PreviewStatus::Cancelled,
        ] {
            assert_eq!(PreviewStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let p = PreviewProgress::<()> {
            job_id: 1,
            status: PreviewStatus::Running,
            rows_read: 15_000,
            rows_total: None,
            result: None,
        };
        assert_eq!(p.progress_text(), "Previewing… 15,000 rows read");
    }
}
