//! Property tests of the file reader, the planner and the results file, on arbitrary input:
//! any bytes are refused or give every row exactly one outcome (rows read = the sum of the
//! outcomes), and valid files' identifiers and reasons come back in the results file as they
//! went in, but for formula neutralisation. The case count is fixed to keep `make test` quick.

use std::collections::HashMap;
use std::io::Write;

use chrono::NaiveDate;
use proptest::prelude::*;

use super::pass1::read_input;
use super::results::{chunk_body, spreadsheet_safe};
use crate::domain::identifiers::FieldKind;
use crate::domain::task::{IdentifierMode, TaskOptions};
use crate::engine::csv_file::{self, RowReader};
use crate::engine::planner::{self, PlanSettings, RowInput, Seen};

const CASES: u32 = 256;

fn settings() -> PlanSettings {
    PlanSettings {
        reference_date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default(),
        max_rejection_days: 7,
        options: TaskOptions::default(),
    }
}

/// Reads a file as a task does (columns 0 and 1, or 0 twice); `None` when the file is refused.
/// Panics on a row that gets no outcome or two.
fn outcomes_of(bytes: &[u8], mode: IdentifierMode) -> Option<(usize, Vec<planner::RowResult>)> {
    let mut file = tempfile::NamedTempFile::new().ok()?;
    file.write_all(bytes).ok()?;
    let shape = csv_file::inspect(file.path()).ok()?;
    let reason = usize::from(shape.headers.len() > 1);
    let mut reader =
        RowReader::open(file.path(), shape.delimiter, shape.data_offset, shape.data_line).ok()?;
    let mut inputs: Vec<RowInput> = Vec::new();
    loop {
        match reader.next_row() {
            Ok(Some(row)) => inputs.push(read_input(&row, mode, 0, reason)),
            Ok(None) => break,
            // A read error stops the task with its reason (the file is refused then).
            Err(_) => return None,
        }
    }
    let rows = inputs.len();
    let lines: Vec<u64> = inputs.iter().map(|r| r.line).collect();
    let plan = planner::plan_batch(&settings(), inputs, &HashMap::new(), &mut Seen::default());
    let mut got: Vec<u64> = plan.rows.iter().map(|r| r.line).collect();
    got.sort_unstable();
    let mut want = lines;
    want.sort_unstable();
    assert_eq!(got, want, "every row exactly one outcome");
    Some((rows, plan.rows))
}

/// A cell that survives the trip: no surrounding whitespace, not empty, within the limits.
/// Known limit, left out here: the `csv` crate drops a U+FEFF (a byte-order mark) at the point
/// where a reader starts, and rows are read from their own offset, so a cell starting with an
/// invisible U+FEFF loses it.
fn cell(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[^\\s\\x00\\x{{feff}}][^\\x00]{{0,{max}}}"))
        .expect("a valid pattern")
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("not empty after trimming", |s| !s.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_bytes_are_refused_or_every_row_gets_one_outcome(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for mode in [IdentifierMode::LeadId, IdentifierMode::Uid, IdentifierMode::Field { field_id: 1, kind: FieldKind::Phone }] {
            if let Some((rows, results)) = outcomes_of(&bytes, mode) {
                prop_assert_eq!(rows, results.len());
            }
        }
    }

    #[test]
    fn csv_looking_text_is_refused_or_every_row_gets_one_outcome(
        lines in proptest::collection::vec("[a-z0-9@.,;|\"\\t =+-]{0,40}", 0..40),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        let bytes = format!("Identifier,Reason\n{text}").into_bytes();
        for mode in [IdentifierMode::LeadId, IdentifierMode::Uid] {
            let outcome = outcomes_of(&bytes, mode);
            prop_assert!(outcome.is_some(), "a file with a header is read");
            if let Some((rows, results)) = outcome {
                prop_assert_eq!(rows, results.len());
            }
        }
    }

    #[test]
    fn identifiers_and_reasons_come_back_in_the_results_file(
        rows in proptest::collection::vec((cell(60), cell(120)), 1..30),
        delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'|')],
    ) {
        let mut w = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
        w.write_record(["uid", "reason"]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (id, reason) in &rows {
            w.write_record([id, reason]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let bytes = w.into_inner().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (read, results) = outcomes_of(&bytes, IdentifierMode::Uid).ok_or_else(|| TestCaseError::fail("refused"))?;
        prop_assert_eq!(read, rows.len());
        let body = chunk_body(&results).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
        let back: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.len(), rows.len());
        for (record, (id, reason)) in back.iter().zip(&rows) {
            let (id, reason) = (spreadsheet_safe(id), spreadsheet_safe(reason));
            prop_assert_eq!(record.get(1), Some(id.as_ref()));
            prop_assert_eq!(record.get(2), Some(reason.as_ref()));
        }
    }
}
