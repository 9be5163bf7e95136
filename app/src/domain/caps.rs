//! Cap periods (docs/DOMAIN.md §2): each counted lead uses one unit in the period that holds its `received_at`.

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapPeriod {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
    Total,
}

impl CapPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            CapPeriod::Day => "day",
            CapPeriod::Week => "week",
            CapPeriod::Month => "month",
            CapPeriod::Total => "total",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(CapPeriod::Day),
            "week" => Some(CapPeriod::Week),
            "month" => Some(CapPeriod::Month),
            "total" => Some(CapPeriod::Total),
            _ => None,
        }
    }

    /// The first day of the period holding `date` (the key of a cap-usage row).
    /// A `total` cap has a single period, keyed 1970-01-01.
    pub fn period_start(self, date: NaiveDate) -> NaiveDate {
        match self {
            CapPeriod::Day => date,
            CapPeriod::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            CapPeriod::Month => date.with_day(1).unwrap_or(date),
            CapPeriod::Total => NaiveDate::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn period_starts() {
        // 2026-11-26 is a Thursday.
        assert_eq!(CapPeriod::Day.period_start(d("2026-11-26")), d("2026-11-26"));
        assert_eq!(CapPeriod::Week.period_start(d("2026-11-26")), d("2026-11-23"));
        assert_eq!(CapPeriod::Week.period_start(d("2026-11-23")), d("2026-11-23"));
        assert_eq!(CapPeriod::Week.period_start(d("2026-11-22")), d("2026-11-16"));
        assert_eq!(CapPeriod::Month.period_start(d("2026-11-26")), d("2026-11-01"));
        assert_eq!(CapPeriod::Total.period_start(d("2026-11-26")), d("1970-01-01"));
    }

    #[test]
    fn round_trips() {
        for p in [CapPeriod::Day, CapPeriod::Week, CapPeriod::Month, CapPeriod::Total] {
            assert_eq!(CapPeriod::parse(p.as_str()), Some(p));
        }
    }
}
