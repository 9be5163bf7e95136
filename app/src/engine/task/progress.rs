//! What the task page polls, kept on the task's row by each batch: outcome counts (a JSON
//! object) and the first changed rows (a JSON list); and where a run spends its time (logged).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::CHANGED_ROWS_KEPT;
use crate::domain::task::Outcome;
use crate::engine::planner::RowResult;

/// Adds a batch's outcomes to the task's stored counts (a JSON object, outcome → rows).
pub(super) fn merge_counts(stored: &str, rows: &[RowResult]) -> String {
    let mut counts: BTreeMap<String, i64> = serde_json::from_str(stored).unwrap_or_default();
    for row in rows {
        *counts.entry(row.outcome.as_str().to_owned()).or_default() += 1;
    }
    serde_json::to_string(&counts).unwrap_or_else(|_| "{}".to_owned())
}

/// The stored counts, one entry per outcome in [`Outcome::ALL`] order.
pub fn parse_counts(stored: &str) -> Vec<(Outcome, i64)> {
    let counts: BTreeMap<String, i64> = serde_json::from_str(stored).unwrap_or_default();
    Outcome::ALL.iter().map(|o| (*o, counts.get(o.as_str()).copied().unwrap_or(0))).collect()
}

/// The first [`CHANGED_ROWS_KEPT`] changed rows so far, with a batch's: JSON
/// `[[row, lead id, outcome], …]` in file order.
pub(super) fn merge_changed(stored: &str, rows: &[RowResult]) -> String {
    let mut kept: Vec<(u64, i64, String)> = serde_json::from_str(stored).unwrap_or_default();
    let bound =
        if kept.len() >= CHANGED_ROWS_KEPT { kept.last().map_or(u64::MAX, |k| k.0) } else { u64::MAX };
    kept.extend(
        rows.iter()
            .filter(|r| {
                r.line < bound && matches!(r.outcome, Outcome::Rejected | Outcome::AcceptedOutsideWindow)
            })
            .filter_map(|r| Some((r.line, r.lead_id?, r.outcome.as_str().to_owned()))),
    );
    kept.sort_unstable_by_key(|k| k.0);
    kept.truncate(CHANGED_ROWS_KEPT);
    serde_json::to_string(&kept).unwrap_or_else(|_| "[]".to_owned())
}

/// The stored changed rows: (row, lead id, outcome).
pub fn parse_changed(stored: &str) -> Vec<(u64, i64, Outcome)> {
    let kept: Vec<(u64, i64, String)> = serde_json::from_str(stored).unwrap_or_default();
    kept.into_iter().filter_map(|(row, lead, outcome)| Some((row, lead, Outcome::parse(&outcome)?))).collect()
}

/// Where a run spends its time (logged at the end of each run).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Timings {
    pub read: Duration,
    pub lookup: Duration,
    pub apply: Duration,
    pub outcomes: Duration,
    pub commit: Duration,
    pub remaining: Duration,
    pub results: Duration,
    /// Writing the webhook outbox's events (inside `apply`'s and `remaining`'s transactions).
    pub outbox: Duration,
}

thread_local! {
    static TIMINGS: Cell<Timings> = Cell::new(Timings::default());
}

impl Timings {
    /// Starts counting a new run on this thread.
    pub fn reset() {
        TIMINGS.with(|t| t.set(Timings::default()));
    }

    /// This thread's run so far.
    pub fn current() -> Timings {
        TIMINGS.with(Cell::get)
    }

    /// Adds `spent` to one of the counters.
    pub fn add(slot: fn(&mut Timings) -> &mut Duration, spent: Duration) {
        TIMINGS.with(|t| {
            let mut v = t.get();
            *slot(&mut v) += spent;
            t.set(v);
        });
    }
}

/// Runs `f`, adding its time to one of the counters.
pub(super) fn timed<T>(slot: fn(&mut Timings) -> &mut Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    Timings::add(slot, started.elapsed());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u64, outcome: Outcome, lead_id: Option<i64>) -> RowResult {
        RowResult {
            line,
            identifier: String::new(),
            reason: String::new(),
            outcome,
            lead_id,
            message: String::new(),
        }
    }

    #[test]
    fn counts_add_up_across_batches() {
        let first =
            merge_counts("{}", &[row(2, Outcome::Rejected, Some(1)), row(3, Outcome::NotFound, None)]);
        let both = merge_counts(&first, &[row(4, Outcome::Rejected, Some(2))]);
        let counts = parse_counts(&both);
        assert_eq!(counts.len(), Outcome::ALL.len());
        assert!(counts.contains(&(Outcome::Rejected, 2)));
        assert!(counts.contains(&(Outcome::NotFound, 1)));
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<i64>(), 3);
    }

    #[test]
    fn changed_rows_keep_the_first_in_file_order() {
        let late: Vec<RowResult> = (100..100 + CHANGED_ROWS_KEPT as u64)
            .map(|l| row(l, Outcome::Rejected, Some(l as i64)))
            .collect();
        let stored = merge_changed("[]", &late);
        let stored = merge_changed(
            &stored,
            &[row(5, Outcome::AcceptedOutsideWindow, Some(9)), row(6, Outcome::NotFound, None)],
        );
        let kept = parse_changed(&stored);
        assert_eq!(kept.len(), CHANGED_ROWS_KEPT);
        assert_eq!(kept[0], (5, 9, Outcome::AcceptedOutsideWindow));
        assert_eq!(kept[1].0, 100);
    }
}
