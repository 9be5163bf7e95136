//! Pass 1 of a run, read-only: the file streamed once in file order, each row parsed, text
//! identifiers resolved to lead ids in chunks, duplicates found; the result is a compact slot
//! per row, sorted in the order pass 2 applies them (rows naming a lead by lead id, then the
//! rest by line). Each row's two cells are kept (bounded), so pass 2 rarely reads the file again.

use std::collections::HashMap;
use std::path::Path;

use super::IN_CHUNK;
use super::lookup::find_leads;
use super::row::{TaskRow, TaskSetup};
use super::run::Halt;
use crate::db::{DbConn, DbError};
use crate::domain::task::IdentifierMode;
use crate::engine::csv_file::{RawRow, RowReader};
use crate::engine::planner::{Found, Key, RowInput};

/// What pass 1 hands to pass 2.
pub(super) struct Pass1 {
    pub slots: Vec<Slot>,
    pub kept: KeptCells,
}

/// Reads the file in order; returns every data row's slot, sorted in the order the rows are
/// applied. `Halt::Fail` when the file cannot be read.
pub(super) fn read_file(
    conn: &mut DbConn,
    task: &TaskRow,
    setup: &TaskSetup,
    path: &Path,
) -> Result<Pass1, Halt> {
    let mut reader =
        RowReader::open(path, setup.shape.delimiter, setup.shape.data_offset, setup.shape.data_line)
            .map_err(|e| Halt::Fail(e.to_string()))?;
    let mut slots: Vec<Slot> = Vec::new();
    let mut kept = KeptCells::default();
    // The first line of each text key (lead ids are compared after the sort, below).
    let mut first_line: HashMap<Key, u64> = HashMap::new();
    // Text keys wait here until a chunk of them is looked up.
    let mut pending: Vec<(usize, Key)> = Vec::new();
    loop {
        let Some(row) = reader.next_row().map_err(|e| Halt::Fail(e.to_string()))? else { break };
        let cells = cells_of(&row, setup);
        let mut slot = Slot {
            group: 1,
            lead_id: 0,
            line: row.line,
            offset: row.offset,
            duplicate_of: None,
            kept: cells.as_ref().ok().and_then(|(id, reason)| kept.keep(id, reason)),
        };
        match RowInput::new(row.line, setup.mode, cells).parsed {
            Ok(Key::LeadId(id)) => {
                slot.group = 0;
                slot.lead_id = id;
            }
            Ok(key) => {
                if let Some(first) = first_line.get(&key) {
                    slot.duplicate_of = Some(*first);
                } else {
                    first_line.insert(key.clone(), row.line);
                    pending.push((slots.len(), key));
                }
            }
            Err(_) => {}
        }
        slots.push(slot);
        if pending.len() >= IN_CHUNK {
            resolve(conn, task, setup.mode, &mut pending, &mut slots)?;
        }
    }
    resolve(conn, task, setup.mode, &mut pending, &mut slots)?;
    drop(first_line);
    slots.sort_unstable_by_key(Slot::order);
    if setup.mode == IdentifierMode::LeadId {
        mark_repeated_lead_ids(&mut slots);
    }
    Ok(Pass1 { slots, kept })
}

/// A data row's place in the processing order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    /// 0: names a lead (applied in lead id order); 1: names none (applied by line).
    pub group: u8,
    pub lead_id: i64,
    pub line: u64,
    pub offset: u64,
    pub duplicate_of: Option<u64>,
    /// The row's cells, when pass 1 kept them.
    pub kept: Option<Kept>,
}

impl Slot {
    fn order(&self) -> (u8, i64, u64) {
        (self.group, self.lead_id, self.line)
    }
}

/// Lead ID mode, after the sort: rows naming the same lead id are adjacent, the first in the
/// file first; the others become its duplicates. (Sorting instead of a hash map of every id
/// saves a large file's map: tens of MB.)
fn mark_repeated_lead_ids(slots: &mut [Slot]) {
    let mut first: Option<(i64, u64)> = None;
    for slot in slots.iter_mut().take_while(|s| s.group == 0) {
        match first {
            Some((id, line)) if id == slot.lead_id => slot.duplicate_of = Some(line),
            _ => first = Some((slot.lead_id, slot.line)),
        }
    }
}

/// The row as the planner reads it.
pub(super) fn row_input(row: &RawRow, setup: &TaskSetup) -> RowInput {
    read_input(row, setup.mode, setup.identifier_index, setup.reason_index)
}

/// The row's cells as [`row_input`] reads them.
fn cells_of<'r>(row: &'r RawRow, setup: &TaskSetup) -> Result<(&'r str, &'r str), String> {
    row_cells(row, setup.identifier_index, setup.reason_index)
}

pub(super) fn read_input(
    row: &RawRow,
    mode: IdentifierMode,
    identifier_index: usize,
    reason_index: usize,
) -> RowInput {
    RowInput::new(row.line, mode, row_cells(row, identifier_index, reason_index))
}

/// The row's identifier and reason cells, or why they cannot be read.
fn row_cells(row: &RawRow, identifier_index: usize, reason_index: usize) -> Result<(&str, &str), String> {
    if row.unterminated_quote {
        Err("a quoted value is never closed; this row and everything after it could not be read".to_owned())
    } else {
        row.text(identifier_index).and_then(|id| row.text(reason_index).map(|r| (id, r)))
    }
}

/// Pass 1 keeps each row's two cells here, so that pass 2, which visits the rows in lead id
/// order, need not read them from the file again (one `pread` per row was a tenth of a large
/// task's time). Bounded: the cells of rows past [`KEPT_CELLS_BYTES`], and long cells, are
/// read from the file again.
#[derive(Default)]
pub(super) struct KeptCells {
    text: String,
}

/// Where a row's cells are in [`KeptCells`]: the identifier, then the reason.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kept {
    at: u32,
    identifier_len: u32,
    reason_len: u32,
}

/// At most this much cell text is kept in memory per task (1,000,000 typical rows take ~25 MB).
const KEPT_CELLS_BYTES: usize = 64 << 20;
/// A row whose cells are longer than this together is read from the file again.
const KEPT_ROW_BYTES: usize = 4096;

impl KeptCells {
    fn keep(&mut self, identifier: &str, reason: &str) -> Option<Kept> {
        let len = identifier.len() + reason.len();
        if len > KEPT_ROW_BYTES || self.text.len() + len > KEPT_CELLS_BYTES {
            return None;
        }
        let kept = Kept {
            at: u32::try_from(self.text.len()).ok()?,
            identifier_len: u32::try_from(identifier.len()).ok()?,
            reason_len: u32::try_from(reason.len()).ok()?,
        };
        self.text.push_str(identifier);
        self.text.push_str(reason);
        Some(kept)
    }

    pub fn get(&self, kept: Kept) -> Option<(&str, &str)> {
        let at = usize::try_from(kept.at).ok()?;
        let mid = at + usize::try_from(kept.identifier_len).ok()?;
        let end = mid + usize::try_from(kept.reason_len).ok()?;
        Some((self.text.get(at..mid)?, self.text.get(mid..end)?))
    }
}

/// Looks up pending text keys; slots whose key names exactly one lead join group 0.
fn resolve(
    conn: &mut DbConn,
    task: &TaskRow,
    mode: IdentifierMode,
    pending: &mut Vec<(usize, Key)>,
    slots: &mut [Slot],
) -> Result<(), DbError> {
    if pending.is_empty() {
        return Ok(());
    }
    let keys: Vec<&Key> = pending.iter().map(|(_, k)| k).collect();
    let found = find_leads(conn, task.campaign(), mode, &keys)?;
    for (index, key) in pending.drain(..) {
        if let Some(Found::One(lead)) = found.get(&key) {
            slots[index].group = 0;
            slots[index].lead_id = lead.id;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{KEPT_CELLS_BYTES, KEPT_ROW_BYTES, KeptCells, Slot, mark_repeated_lead_ids};

    #[test]
    fn kept_cells_come_back_as_they_went_in_and_stay_bounded() {
        let mut kept = KeptCells::default();
        let a = kept.keep("1000001", "Wrong number").expect("kept");
        let b = kept.keep("", "Ünïcode, \"quoted\"").expect("kept");
        assert_eq!(kept.get(a), Some(("1000001", "Wrong number")));
        assert_eq!(kept.get(b), Some(("", "Ünïcode, \"quoted\"")));
        // A long cell is left in the file.
        assert!(kept.keep("1", &"x".repeat(KEPT_ROW_BYTES)).is_none());
        // So is everything past the bound.
        let row = "y".repeat(KEPT_ROW_BYTES - 1);
        while kept.keep("1", &row).is_some() {}
        assert!(kept.text.len() <= KEPT_CELLS_BYTES);
        assert!(kept.keep("1", "short").is_some(), "a short row may still fit");
        assert_eq!(kept.get(a), Some(("1000001", "Wrong number")));
    }

    #[test]
    fn a_repeated_lead_id_points_at_its_first_row() {
        let slot =
            |group, lead_id, line| Slot { group, lead_id, line, offset: 0, duplicate_of: None, kept: None };
        // Sorted as pass 2 applies them: (group, lead id, line).
        let mut slots = vec![
            slot(0, 5, 3),
            slot(0, 5, 9),
            slot(0, 5, 12),
            slot(0, 7, 2),
            slot(0, 8, 4),
            slot(0, 8, 6),
            slot(1, 0, 5),
        ];
        mark_repeated_lead_ids(&mut slots);
        let marks: Vec<Option<u64>> = slots.iter().map(|s| s.duplicate_of).collect();
        assert_eq!(marks, [None, Some(3), Some(3), None, None, Some(4), None]);
    }
}
