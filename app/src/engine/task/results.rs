//! The task's outcomes and its results file: each batch stores its rows' results-CSV records
//! as one chunk (its part of the task's cursor); when the rows are done the chunks are merged
//! in file order into the results file, stored in parts of about 1 MB; the download streams
//! the header and the parts. Cells a spreadsheet would run as formulas are neutralised.
//! The merge streams (the chunks are copied to a temporary file and read back through small
//! buffers), so its memory does not grow with the task; parts are stored compressed
//! (engine/compact.rs) and every reader goes through [`next_part`].

use std::collections::BinaryHeap;
use std::io::Write;
use std::path::Path;

use diesel::prelude::*;

use super::claim::{holds_claim, set_phase_unchecked};
use crate::db::schema::{rejection_task_chunks, rejection_task_results, rejection_tasks};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::task::{Outcome, TaskPhase};
use crate::engine::compact;
use crate::engine::planner::RowResult;
use crate::engine::spill::{LineSet, RangeReader, TempFile};

/// The results file is stored in parts of about this many bytes (before compression).
const RESULT_PART_BYTES: usize = 1 << 20;
/// Each chunk's read buffer while merging (a 256 MB file of short ids makes ~6,000 chunks).
const MERGE_BUFFER_BYTES: usize = 4096;

fn results_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(out)
}

fn csv_failed(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> DbError {
    DbError::File { what: "writing the results file", source: std::io::Error::other(e) }
}

/// Stores a batch's outcomes as one chunk: its results-CSV records, sorted by row number.
pub(super) fn insert_chunk(
    conn: &mut DbConn,
    task_id: i64,
    chunk: i64,
    rows: &[RowResult],
) -> Result<(), DbError> {
    let body = chunk_body(rows)?;
    diesel::insert_into(rejection_task_chunks::table)
        .values((
            rejection_task_chunks::task_id.eq(task_id),
            rejection_task_chunks::chunk.eq(chunk),
            rejection_task_chunks::body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// A batch's results-CSV records, sorted by row number, cells made safe for spreadsheets.
pub(super) fn chunk_body(rows: &[RowResult]) -> Result<String, DbError> {
    let mut sorted: Vec<&RowResult> = rows.iter().collect();
    sorted.sort_unstable_by_key(|r| r.line);
    let mut w = results_writer(Vec::with_capacity(rows.len() * 64));
    for r in sorted {
        w.write_record([
            r.line.to_string().as_str(),
            &spreadsheet_safe(&r.identifier),
            &spreadsheet_safe(&r.reason),
            r.outcome.as_str(),
            &r.lead_id.map(|i| i.to_string()).unwrap_or_default(),
            &spreadsheet_safe(&r.message),
        ])
        .map_err(csv_failed)?;
    }
    let body = w.into_inner().map_err(csv_failed)?;
    String::from_utf8(body).map_err(csv_failed)
}

/// The row number of a results record.
fn record_row(record: &csv::ByteRecord) -> Option<u64> {
    std::str::from_utf8(record.get(0)?).ok()?.parse().ok()
}

/// Calls `each` with every results record in a task's chunks, in chunk order (one chunk in
/// memory at a time); returns the next chunk's number.
fn for_each_chunk_record(
    conn: &mut DbConn,
    task_id: i64,
    mut each: impl FnMut(&csv::ByteRecord) -> Result<(), DbError>,
) -> Result<i64, DbError> {
    let chunks: Vec<i64> = rejection_task_chunks::table
        .filter(rejection_task_chunks::task_id.eq(task_id))
        .select(rejection_task_chunks::chunk)
        .order(rejection_task_chunks::chunk)
        .load(conn)?;
    let mut record = csv::ByteRecord::new();
    for &chunk in &chunks {
        let body: String = rejection_task_chunks::table
            .find((task_id, chunk))
            .select(rejection_task_chunks::body)
            .first(conn)?;
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
        while reader.read_byte_record(&mut record).map_err(csv_failed)? {
            each(&record)?;
        }
    }
    Ok(chunks.last().map_or(0, |c| c + 1))
}

/// The rows whose outcomes a task has committed (in its chunks), and the next chunk's number.
/// A bit per line (at most 32 MB for the largest file), not a set of every row.
pub(super) fn committed_rows(conn: &mut DbConn, task_id: i64) -> Result<(LineSet, i64), DbError> {
    let mut rows = LineSet::default();
    let next = for_each_chunk_record(conn, task_id, |record| {
        if let Some(row) = record_row(record) {
            rows.insert(row);
        }
        Ok(())
    })?;
    Ok((rows, next))
}

/// The results records a task has committed but not yet merged into its results file (its
/// chunks), in chunk order.
pub fn committed_result_rows(conn: &mut DbConn, task_id: i64) -> Result<Vec<Vec<String>>, DbError> {
    let mut rows = Vec::new();
    for_each_chunk_record(conn, task_id, |record| {
        let cells: Result<Vec<String>, _> =
            record.iter().map(|c| std::str::from_utf8(c).map(str::to_owned)).collect();
        rows.push(cells.map_err(csv_failed)?);
        Ok(())
    })?;
    Ok(rows)
}

/// Merges a task's chunks into its results file, in file order, then deletes the chunks and moves
/// the task to `next_phase` in the same transaction. Run again after a crash, it starts over.
/// Every write (clearing an unfinished merge's parts, each part, the last step) is a
/// transaction that first checks `worker_id` still holds the task: a worker that lost the task
/// writes nothing more, and parts are only cleared by the worker holding it, before a merge
/// that has not finished (a finished merge has moved the task past this phase). `false` when
/// the task was lost.
pub(super) fn finish_results(
    conn: &mut DbConn,
    task_id: i64,
    worker_id: &str,
    now: &dyn Fn() -> chrono::NaiveDateTime,
    next_phase: TaskPhase,
    tmp_dir: &Path,
) -> Result<bool, DbError> {
    let cleared = write_transaction(conn, |conn| {
        if !holds_claim(conn, task_id, worker_id, now())? {
            return Ok::<_, DbError>(false);
        }
        diesel::delete(rejection_task_results::table.filter(rejection_task_results::task_id.eq(task_id)))
            .execute(conn)?;
        Ok(true)
    })?;
    if !cleared {
        return Ok(false);
    }
    // The chunks, one at a time, into a temporary file; each is then read back through a
    // small buffer of its own, so the merge's memory does not grow with the task.
    let chunks: Vec<i64> = rejection_task_chunks::table
        .filter(rejection_task_chunks::task_id.eq(task_id))
        .select(rejection_task_chunks::chunk)
        .order(rejection_task_chunks::chunk)
        .load(conn)?;
    let file_failed = |source| DbError::File { what: "merging the results file", source };
    let copy = TempFile::new(tmp_dir).map_err(file_failed)?;
    let mut ranges: Vec<(u64, u64)> = Vec::with_capacity(chunks.len());
    {
        let mut out = std::io::BufWriter::new(copy.file());
        let mut end = 0_u64;
        for &chunk in &chunks {
            let body: String = rejection_task_chunks::table
                .find((task_id, chunk))
                .select(rejection_task_chunks::body)
                .first(conn)?;
            out.write_all(body.as_bytes()).map_err(file_failed)?;
            ranges.push((end, end + body.len() as u64));
            end += body.len() as u64;
        }
        out.flush().map_err(file_failed)?;
    }
    // A k-way merge: each chunk is sorted by row number, and row numbers are unique.
    let mut readers: Vec<csv::Reader<RangeReader<'_>>> = ranges
        .iter()
        .map(|&(start, end)| {
            csv::ReaderBuilder::new()
                .has_headers(false)
                .buffer_capacity(MERGE_BUFFER_BYTES)
                .from_reader(RangeReader::new(&copy, start, end))
        })
        .collect();
    let mut current: Vec<csv::ByteRecord> = vec![csv::ByteRecord::new(); readers.len()];
    let mut heap = BinaryHeap::new();
    for (i, reader) in readers.iter_mut().enumerate() {
        if reader.read_byte_record(&mut current[i]).map_err(csv_failed)? {
            heap.push(std::cmp::Reverse((record_row(&current[i]).unwrap_or(u64::MAX), i)));
        }
    }
    let mut part = 0_i64;
    let mut w = results_writer(Vec::with_capacity(RESULT_PART_BYTES + 64 * 1024));
    let store = |conn: &mut DbConn, body: Vec<u8>, part: i64| -> Result<(), DbError> {
        diesel::insert_into(rejection_task_results::table)
            .values((
                rejection_task_results::task_id.eq(task_id),
                rejection_task_results::part.eq(part),
                rejection_task_results::body.eq(""),
                rejection_task_results::packed.eq(Some(compact::pack(&body)?)),
            ))
            .execute(conn)?;
        Ok(())
    };
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        w.write_byte_record(&current[i]).map_err(csv_failed)?;
        if readers[i].read_byte_record(&mut current[i]).map_err(csv_failed)? {
            heap.push(std::cmp::Reverse((record_row(&current[i]).unwrap_or(u64::MAX), i)));
        }
        if w.get_ref().len() >= RESULT_PART_BYTES {
            let full =
                std::mem::replace(&mut w, results_writer(Vec::with_capacity(RESULT_PART_BYTES + 64 * 1024)));
            let body = full.into_inner().map_err(csv_failed)?;
            let held = write_transaction(conn, |conn| {
                if !holds_claim(conn, task_id, worker_id, now())? {
                    return Ok::<_, DbError>(false);
                }
                store(conn, body, part)?;
                Ok(true)
            })?;
            if !held {
                return Ok(false);
            }
            part += 1;
        }
    }
    let last = w.into_inner().map_err(csv_failed)?;
    drop(readers);
    drop(copy);
    write_transaction(conn, |conn| {
        if !holds_claim(conn, task_id, worker_id, now())? {
            return Ok(false);
        }
        if !last.is_empty() {
            store(conn, last, part)?;
        }
        diesel::delete(rejection_task_chunks::table.filter(rejection_task_chunks::task_id.eq(task_id)))
            .execute(conn)?;
        set_phase_unchecked(conn, task_id, next_phase)?;
        Ok(true)
    })
}

/// Rows per outcome in a task's results file (rows read = the sum), read a part at a time.
pub fn outcome_counts(conn: &mut DbConn, task_id: i64) -> Result<Vec<(Outcome, i64)>, DbError> {
    let mut counts: Vec<(Outcome, i64)> = Outcome::ALL.iter().map(|o| (*o, 0)).collect();
    let mut record = csv::ByteRecord::new();
    for_each_part(conn, task_id, |body| {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body);
        while reader.read_byte_record(&mut record).map_err(csv_failed)? {
            if let Some(slot) = counts.iter_mut().find(|(o, _)| Some(o.as_str().as_bytes()) == record.get(3))
            {
                slot.1 += 1;
            }
        }
        Ok(())
    })?;
    Ok(counts)
}

/// The part of a task's results file after part `after` (start with -1): its number and its
/// CSV records, or `None` past the last. The one reader of stored parts (compressed, or text
/// stored before compression).
pub fn next_part(conn: &mut DbConn, task_id: i64, after: i64) -> Result<Option<(i64, Vec<u8>)>, DbError> {
    let part: Option<(i64, String, Option<Vec<u8>>)> = rejection_task_results::table
        .filter(rejection_task_results::task_id.eq(task_id).and(rejection_task_results::part.gt(after)))
        .select((rejection_task_results::part, rejection_task_results::body, rejection_task_results::packed))
        .order(rejection_task_results::part)
        .first(conn)
        .optional()?;
    part.map(|(part, body, packed)| Ok((part, compact::unpack(body, packed)?))).transpose()
}

/// Calls `each` with every part of a task's results file, in order (one part in memory at a
/// time).
fn for_each_part(
    conn: &mut DbConn,
    task_id: i64,
    mut each: impl FnMut(&[u8]) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let mut after = -1_i64;
    while let Some((part, body)) = next_part(conn, task_id, after)? {
        each(&body)?;
        after = part;
    }
    Ok(())
}

/// The header line of a task's results file (an undo's has its own columns).
pub fn results_header(conn: &mut DbConn, task_id: i64) -> Result<Vec<u8>, DbError> {
    let undo_of: Option<Option<i64>> =
        rejection_tasks::table.find(task_id).select(rejection_tasks::undo_of).first(conn).optional()?;
    let mut w = results_writer(Vec::with_capacity(64));
    // Writing to memory cannot fail.
    let _ = match undo_of.flatten() {
        Some(_) => w.write_record(super::undo::UNDO_RESULTS_COLUMNS),
        None => w.write_record(RESULTS_COLUMNS),
    };
    Ok(w.into_inner().unwrap_or_default())
}

const RESULTS_COLUMNS: [&str; 6] = ["row", "identifier", "reason", "outcome", "lead_id", "message"];

/// A task's results file read back: one record per row (row, identifier, reason, outcome,
/// lead id, message), without the header.
pub fn result_rows(conn: &mut DbConn, task_id: i64) -> Result<Vec<Vec<String>>, DbError> {
    let mut out = Vec::new();
    write_results_csv(conn, task_id, &mut out)?;
    let mut reader = csv::Reader::from_reader(out.as_slice());
    reader.records().map(|r| r.map(|r| r.iter().map(str::to_owned).collect()).map_err(csv_failed)).collect()
}

/// A cell safe to open in a spreadsheet: text that a spreadsheet would run as a formula gets a
/// leading apostrophe (OWASP CSV injection).
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Writes the results CSV of a task: the header, then one line per input row, in file order.
pub fn write_results_csv(conn: &mut DbConn, task_id: i64, mut out: impl Write) -> Result<(), DbError> {
    out.write_all(&results_header(conn, task_id)?).map_err(csv_failed)?;
    for_each_part(conn, task_id, |body| out.write_all(body).map_err(csv_failed))?;
    out.flush().map_err(csv_failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+44 7700"), "'+44 7700");
        assert_eq!(spreadsheet_safe("-1"), "'-1");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("\tcmd"), "'\tcmd");
        assert_eq!(spreadsheet_safe("Wrong number"), "Wrong number");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
