//! Pass 1 of a run, read-only: the file streamed once in file order, each row parsed, text
//! identifiers resolved to lead ids in chunks, duplicates found; the result is a compact slot
//! per row, sorted in the order pass 2 applies them (rows naming a lead by lead id, then the
//! rest by line). Each row's two cells are kept (bounded), so pass 2 rarely reads the file again.
//! Memory is bounded whatever the file: slots go through an external sort (engine/spill.rs),
//! and duplicates are found by sorting, not with a map of every key.

use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::path::Path;

use super::IN_CHUNK;
use super::lookup::find_leads;
use super::row::{TaskRow, TaskSetup};
use super::run::Halt;
use crate::db::{DbConn, DbError};
use crate::domain::task::IdentifierMode;
use crate::engine::csv_file::{RawRow, RowReader};
use crate::engine::planner::{Found, Key, RowInput};
use crate::engine::spill::{ExternalSort, Record, Sorted};

/// What pass 1 hands to pass 2.
pub(super) struct Pass1 {
    /// Every data row's slot, in the order the rows are applied.
    pub slots: Slots,
    /// Data rows read.
    pub rows: u64,
    pub kept: KeptCells,
}

fn io_failed(e: std::io::Error) -> Halt {
    Halt::Db(DbError::File { what: "sorting the task's rows", source: e })
}

/// Reads the file in order; returns every data row's slot, sorted in the order the rows are
/// applied, through sorted runs of at most `run_bytes` (spilled to temporary files in
/// `tmp_dir` past the first). `Halt::Fail` when the file cannot be read.
pub(super) fn read_file(
    conn: &mut DbConn,
    task: &TaskRow,
    setup: &TaskSetup,
    path: &Path,
    tmp_dir: &Path,
    run_bytes: usize,
) -> Result<Pass1, Halt> {
    let mut reader =
        RowReader::open(path, setup.shape.delimiter, setup.shape.data_offset, setup.shape.data_line)
            .map_err(|e| Halt::Fail(e.to_string()))?;
    let text_keys = setup.mode != IdentifierMode::LeadId;
    let first_order: fn(&Slot, &Slot) -> Ordering = if text_keys { Slot::by_key } else { Slot::by_place };
    let mut sort = ExternalSort::new(tmp_dir, run_bytes, first_order);
    let mut kept = KeptCells::default();
    let hasher = KeyHasher::new();
    // Rows with a text key wait here (at most a lookup's worth) until their keys are looked up.
    let mut pending: Vec<Slot> = Vec::new();
    let mut pending_keys: Vec<(usize, Key)> = Vec::new();
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
            key_hash: None,
        };
        match RowInput::new(row.line, setup.mode, cells).parsed {
            Ok(Key::LeadId(id)) => {
                slot.group = 0;
                slot.lead_id = id;
            }
            Ok(key) => {
                slot.key_hash = Some(hasher.hash(&key.stored()));
                pending_keys.push((pending.len(), key));
            }
            Err(_) => {}
        }
        if text_keys {
            pending.push(slot);
            // Rows without a key (unreadable, empty) count too: the rows waiting are bounded.
            if pending.len() >= IN_CHUNK {
                resolve(conn, task, setup.mode, &mut pending_keys, &mut pending)?;
                for slot in pending.drain(..) {
                    sort.push(slot).map_err(io_failed)?;
                }
            }
        } else {
            sort.push(slot).map_err(io_failed)?;
        }
    }
    resolve(conn, task, setup.mode, &mut pending_keys, &mut pending)?;
    for slot in pending.drain(..) {
        sort.push(slot).map_err(io_failed)?;
    }
    let rows = sort.len();
    if text_keys {
        // Sorted by (key hash, line), the rows of one key are adjacent, the first in the file
        // first; the others become its duplicates (and name no lead), then all are sorted again
        // in the order they are applied.
        let mut marks = RepeatedKeys::default();
        sort = sort.resort(Slot::by_place, |slot| marks.mark(slot)).map_err(io_failed)?;
    }
    let sorted = sort.finish().map_err(io_failed)?;
    let repeated = (!text_keys).then(RepeatedLeadIds::default);
    Ok(Pass1 { slots: Slots { sorted, repeated }, rows, kept })
}

/// The slots in the order pass 2 applies them.
pub(super) struct Slots {
    sorted: Sorted<Slot>,
    /// Lead ID mode: repeated lead ids are marked as the slots go by.
    repeated: Option<RepeatedLeadIds>,
}

impl Slots {
    pub fn next_slot(&mut self) -> Result<Option<Slot>, Halt> {
        let Some(mut slot) = self.sorted.next_record().map_err(io_failed)? else { return Ok(None) };
        if let Some(repeated) = self.repeated.as_mut() {
            repeated.mark(&mut slot);
        }
        Ok(Some(slot))
    }
}

/// A 128-bit hash of a normalised text key, for finding repeated keys by sorting instead of
/// with a map of every key: SipHash-1-3 under a secret random key chosen for this run (a
/// pseudo-random function), evaluated on two distinct inputs, `(0, key)` and `(1, key)`. For n
/// distinct keys the chance that any two share all 128 bits is at most n²/2^129 (a 256 MB file
/// has n < 2^28: below 2^-73), and without the secret a file cannot be made to collide. A
/// collision would only mark a row `duplicate_in_file` wrongly; nothing else uses the hash.
struct KeyHasher(std::collections::hash_map::RandomState);

impl KeyHasher {
    fn new() -> Self {
        Self(std::collections::hash_map::RandomState::new())
    }

    fn hash(&self, key: &str) -> u128 {
        (u128::from(self.0.hash_one((0_u8, key))) << 64) | u128::from(self.0.hash_one((1_u8, key)))
    }
}

/// A data row's place in the processing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot {
    /// 0: names a lead (applied in lead id order); 1: names none (applied by line).
    pub group: u8,
    pub lead_id: i64,
    pub line: u64,
    pub offset: u64,
    pub duplicate_of: Option<u64>,
    /// The row's cells, when pass 1 kept them.
    pub kept: Option<Kept>,
    /// The hash of the row's text key, when it has one (`KeyHasher`).
    pub key_hash: Option<u128>,
}

impl Slot {
    /// The order rows are applied in: (group, lead id, line).
    fn by_place(a: &Slot, b: &Slot) -> Ordering {
        (a.group, a.lead_id, a.line).cmp(&(b.group, b.lead_id, b.line))
    }

    /// Rows of one text key together, by line (rows without one first).
    fn by_key(a: &Slot, b: &Slot) -> Ordering {
        (a.key_hash, a.line).cmp(&(b.key_hash, b.line))
    }
}

impl Record for Slot {
    const SIZE: usize = 64;

    fn encode(&self, out: &mut [u8]) {
        let flags = u8::from(self.duplicate_of.is_some())
            | u8::from(self.kept.is_some()) << 1
            | u8::from(self.key_hash.is_some()) << 2;
        let kept = self.kept.unwrap_or(Kept { at: 0, identifier_len: 0, reason_len: 0 });
        out[0] = self.group;
        out[1] = flags;
        out[2..4].fill(0);
        out[4..8].copy_from_slice(&kept.at.to_le_bytes());
        out[8..16].copy_from_slice(&self.lead_id.to_le_bytes());
        out[16..24].copy_from_slice(&self.line.to_le_bytes());
        out[24..32].copy_from_slice(&self.offset.to_le_bytes());
        out[32..40].copy_from_slice(&self.duplicate_of.unwrap_or(0).to_le_bytes());
        out[40..44].copy_from_slice(&kept.identifier_len.to_le_bytes());
        out[44..48].copy_from_slice(&kept.reason_len.to_le_bytes());
        out[48..64].copy_from_slice(&self.key_hash.unwrap_or(0).to_le_bytes());
    }

    fn decode(b: &[u8]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut x = [0_u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(x)
        };
        let mut hash = [0_u8; 16];
        hash.copy_from_slice(&b[48..64]);
        let flags = b[1];
        Slot {
            group: b[0],
            lead_id: i64::from_le_bytes(u64_at(8).to_le_bytes()),
            line: u64_at(16),
            offset: u64_at(24),
            duplicate_of: (flags & 1 != 0).then(|| u64_at(32)),
            kept: (flags & 2 != 0).then(|| Kept {
                at: u32_at(4),
                identifier_len: u32_at(40),
                reason_len: u32_at(44),
            }),
            key_hash: (flags & 4 != 0).then(|| u128::from_le_bytes(hash)),
        }
    }
}

/// Text keys, with the slots sorted by (key hash, line): a row whose key is that of the row
/// before is a duplicate of the key's first row, and names no lead.
#[derive(Default)]
struct RepeatedKeys {
    first: Option<(u128, u64)>,
}

impl RepeatedKeys {
    fn mark(&mut self, slot: &mut Slot) {
        let Some(hash) = slot.key_hash else { return };
        match self.first {
            Some((h, line)) if h == hash => {
                slot.duplicate_of = Some(line);
                slot.group = 1;
                slot.lead_id = 0;
            }
            _ => self.first = Some((hash, slot.line)),
        }
    }
}

/// Lead ID mode, with the slots in the order they are applied: rows naming the same lead id
/// are adjacent, the first in the file first; the others become its duplicates. (Sorting
/// instead of a hash map of every id saves a large file's map: tens of MB.)
#[derive(Default)]
struct RepeatedLeadIds {
    first: Option<(i64, u64)>,
}

impl RepeatedLeadIds {
    fn mark(&mut self, slot: &mut Slot) {
        if slot.group != 0 {
            return;
        }
        match self.first {
            Some((id, line)) if id == slot.lead_id => slot.duplicate_of = Some(line),
            _ => self.first = Some((slot.lead_id, slot.line)),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    use super::{
        KEPT_CELLS_BYTES, KEPT_ROW_BYTES, Kept, KeptCells, Record, RepeatedKeys, RepeatedLeadIds, Slot,
    };

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

    fn slot(group: u8, lead_id: i64, line: u64) -> Slot {
        Slot { group, lead_id, line, offset: 0, duplicate_of: None, kept: None, key_hash: None }
    }

    #[test]
    fn a_repeated_lead_id_points_at_its_first_row() {
        // Sorted as pass 2 applies them: (group, lead id, line).
        let mut slots = [
            slot(0, 5, 3),
            slot(0, 5, 9),
            slot(0, 5, 12),
            slot(0, 7, 2),
            slot(0, 8, 4),
            slot(0, 8, 6),
            slot(1, 0, 5),
        ];
        let mut marks = RepeatedLeadIds::default();
        slots.iter_mut().for_each(|s| marks.mark(s));
        let marks: Vec<Option<u64>> = slots.iter().map(|s| s.duplicate_of).collect();
        assert_eq!(marks, [None, Some(3), Some(3), None, None, Some(4), None]);
    }

    #[test]
    fn a_repeated_text_key_points_at_its_first_row_and_names_no_lead() {
        let keyed = |hash, group, lead_id, line| Slot { key_hash: Some(hash), ..slot(group, lead_id, line) };
        let mut slots =
            [slot(1, 0, 8), keyed(1, 0, 40, 3), keyed(1, 0, 40, 7), keyed(2, 1, 0, 4), keyed(2, 1, 0, 5)];
        slots.sort_by(Slot::by_key);
        let mut marks = RepeatedKeys::default();
        slots.iter_mut().for_each(|s| marks.mark(s));
        slots.sort_by(Slot::by_place);
        let got: Vec<(u8, i64, u64, Option<u64>)> =
            slots.iter().map(|s| (s.group, s.lead_id, s.line, s.duplicate_of)).collect();
        assert_eq!(
            got,
            [(0, 40, 3, None), (1, 0, 4, None), (1, 0, 5, Some(4)), (1, 0, 7, Some(3)), (1, 0, 8, None)]
        );
    }

    #[test]
    fn a_slot_comes_back_from_its_record() {
        let full = Slot {
            group: 1,
            lead_id: -7,
            line: u64::MAX - 1,
            offset: 1 << 40,
            duplicate_of: Some(0),
            kept: Some(Kept { at: u32::MAX, identifier_len: 3, reason_len: 9 }),
            key_hash: Some(u128::MAX - 5),
        };
        for s in [full, slot(0, 12, 2)] {
            let mut bytes = [0_u8; Slot::SIZE];
            s.encode(&mut bytes);
            assert_eq!(Slot::decode(&bytes), s);
        }
    }
}
