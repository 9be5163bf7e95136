//! Running a claimed task to its end, phase by phase (docs/DOMAIN.md §3, durability): rows (pass
//! 1 reads, pass 2 applies batches), results, remaining leads (option 4), then `completed`.
//! Every phase resumes from what the task has committed, so a restarted run applies nothing twice.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::apply::{BatchError, Claim, accept_remaining_batch, commit_batch};
use super::claim::{holds_claim, release, set_phase};
use super::lookup::remaining_until;
use super::pass1::{self, KeptCells, Slot};
use super::progress::{Timings, timed};
use super::results::{committed_rows, finish_results};
use super::row::{TaskRow, TaskSetup};
use super::undo::{UndoJob, undo_batch};
use crate::clock::Clock;
use crate::db::schema::{leads, rejection_task_chunks, rejection_tasks};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::task::{TaskPhase, TaskStatus};
use crate::engine::csv_file::RowAt;
use crate::engine::planner::RowInput;
use crate::engine::uploads::{CopyError, Storage};

/// Stops a run early (tests of crash recovery).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunLimits {
    /// Return after this many committed batches, leaving the task `running`, as a crash would.
    pub max_batches: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Completed,
    Failed,
    /// Stopped by `RunLimits` or a shutdown (or lost its claim) with work left.
    Stopped,
}

/// Why a run ends before the task is complete.
#[derive(Debug)]
pub(super) enum Halt {
    /// The task cannot go on (its file is unreadable, its campaign lost its maximum rejection
    /// time): it is marked failed with this reason.
    Fail(String),
    /// Asked to stop, or another worker holds the task now: it stays `running` for a worker to
    /// resume.
    Stop,
    Db(DbError),
}

impl From<DbError> for Halt {
    fn from(e: DbError) -> Self {
        Halt::Db(e)
    }
}

impl From<CopyError> for Halt {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::Unreadable(refusal) => Halt::Fail(refusal.to_string()),
            CopyError::Db(e) => Halt::Db(e),
        }
    }
}

impl From<diesel::result::Error> for Halt {
    fn from(e: diesel::result::Error) -> Self {
        Halt::Db(e.into())
    }
}

/// Runs a claimed task to its end (or until `limits` stop it). Resumes from the task's cursor.
pub struct Runner<'a> {
    pub storage: &'a Storage,
    pub worker_id: &'a str,
    pub batch_rows: usize,
    pub clock: &'a dyn Clock,
    /// Set when the server is shutting down: stop after the current batch.
    pub stop: Option<&'a AtomicBool>,
    /// Set by the run's heartbeat when another worker has taken the task over: stop at once.
    pub lost: Option<&'a AtomicBool>,
    /// The most memory pass 1's sorted runs take (`engine::spill`); more spills to disk.
    pub run_bytes: usize,
}

impl Runner<'_> {
    pub fn run(&self, conn: &mut DbConn, task_id: i64, limits: RunLimits) -> Result<RunEnd, DbError> {
        Timings::reset();
        // SQLite: no foreign key checks while the task runs (three lookups per history row, a
        // tenth of a large task's time). Every row the task inserts references the lead it has
        // just updated in the same transaction (the update's count is checked), its own task
        // and that task's user; the engine tests check `PRAGMA foreign_key_check` after their
        // runs. Enforcement comes back on below and on the connection's next check-out.
        let sqlite = matches!(conn, DbConn::Sqlite(_));
        if sqlite {
            conn.batch_execute("PRAGMA foreign_keys = OFF")?;
        }
        let end = self.run_to_end(conn, task_id, limits);
        if sqlite {
            conn.batch_execute("PRAGMA foreign_keys = ON")?;
        }
        let t = Timings::current();
        tracing::info!(task_id, ?end, read = ?t.read, lookup = ?t.lookup, apply = ?t.apply, outcomes = ?t.outcomes, commit = ?t.commit, remaining = ?t.remaining, results = ?t.results, outbox = ?t.outbox, "rejection task timings");
        end
    }

    /// Runs the phases, then records how the run ended: the one place a task is completed or
    /// failed.
    fn run_to_end(&self, conn: &mut DbConn, task_id: i64, limits: RunLimits) -> Result<RunEnd, DbError> {
        let task = TaskRow::load(conn, task_id)?;
        let phases = match task.undo_of {
            Some(original) => self.run_undo(conn, &task, original, limits),
            None => self.run_phases(conn, &task, limits),
        };
        match phases {
            Ok(()) => Ok(if complete(conn, task_id, self.worker_id, self.clock.now())? {
                RunEnd::Completed
            } else {
                RunEnd::Stopped
            }),
            Err(Halt::Fail(reason)) => {
                Ok(if fail(conn, task_id, self.worker_id, self.clock, self.storage, &reason)? {
                    RunEnd::Failed
                } else {
                    RunEnd::Stopped
                })
            }
            Err(Halt::Stop) => Ok(RunEnd::Stopped),
            Err(Halt::Db(e)) => Err(e),
        }
    }

    fn run_phases(&self, conn: &mut DbConn, task: &TaskRow, limits: RunLimits) -> Result<(), Halt> {
        let path = self.storage.local_copy(conn, &task.storage_key)?;
        let setup = task.setup(conn, &path)?;
        let mut phase = task.phase;
        if phase == TaskPhase::Rows {
            self.apply_rows(conn, task, &setup, &path, limits)?;
            phase = TaskPhase::Results;
            if !set_phase(conn, task.id, self.worker_id, self.clock.now(), phase)? {
                return Err(Halt::Stop);
            }
        }
        if phase == TaskPhase::Results {
            phase = TaskPhase::after_results(task.options());
            let now = || self.clock.now();
            if !timed(
                |t| &mut t.results,
                || finish_results(conn, task.id, self.worker_id, &now, phase, &self.storage.dir),
            )? {
                return Err(Halt::Stop);
            }
        }
        if phase == TaskPhase::Remaining {
            self.accept_remaining(conn, task, &setup, limits)?;
        }
        Ok(())
    }

    /// An undo (engine/task/undo.rs): its batches over the original's changes from the cursor
    /// (the last lead id done), then its results file.
    fn run_undo(
        &self,
        conn: &mut DbConn,
        task: &TaskRow,
        original: i64,
        limits: RunLimits,
    ) -> Result<(), Halt> {
        if task.phase == TaskPhase::Rows {
            let mut cursor = task.remaining_cursor;
            let mut chunk = next_chunk(conn, task.id)?;
            let mut conflicts = 0;
            for batches in 0.. {
                self.before_batch(conn, task.id, batches, limits)?;
                let undo = UndoJob { id: task.id, original, campaign_id: task.campaign_id };
                let rows = i64::try_from(self.batch_rows).unwrap_or(i64::MAX);
                match undo_batch(conn, (self.worker_id, self.clock.now()), undo, (cursor, rows), chunk) {
                    Ok(Some(last)) => (cursor, conflicts) = (last, 0),
                    Ok(None) => break,
                    // A lead changed between the read and the write: the page is read again.
                    Err(BatchError::Conflict) if conflicts < 3 => {
                        conflicts += 1;
                        continue;
                    }
                    Err(BatchError::Conflict) => {
                        return Err(DbError::Inconsistent("leads keep changing under the undo".into()).into());
                    }
                    Err(BatchError::LostClaim) => return Err(Halt::Stop),
                    Err(BatchError::Db(e)) => return Err(e.into()),
                }
                chunk += 1;
            }
            if !set_phase(conn, task.id, self.worker_id, self.clock.now(), TaskPhase::Results)? {
                return Err(Halt::Stop);
            }
        }
        if task.phase != TaskPhase::Done {
            let now = || self.clock.now();
            if !finish_results(conn, task.id, self.worker_id, &now, TaskPhase::Done, &self.storage.dir)? {
                return Err(Halt::Stop);
            }
        }
        Ok(())
    }

    /// Before each batch: `Halt::Stop` when `limits` says so (leaving the task as a crash would)
    /// or the server is shutting down (handing the task back at once).
    fn before_batch(
        &self,
        conn: &mut DbConn,
        task_id: i64,
        batches: usize,
        limits: RunLimits,
    ) -> Result<(), Halt> {
        if limits.max_batches.is_some_and(|max| batches >= max) {
            return Err(Halt::Stop);
        }
        if self.lost.is_some_and(|l| l.load(Ordering::Relaxed)) {
            return Err(Halt::Stop);
        }
        if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            release(conn, task_id, self.worker_id)?;
            return Err(Halt::Stop);
        }
        Ok(())
    }

    fn claim(&self) -> Claim<'_> {
        Claim { worker_id: self.worker_id, now: self.clock.now() }
    }

    /// The rows phase: pass 1 in file order, then pass 2 in lead id order (neighbouring leads
    /// share database pages). The task's chunks are its cursor: a row whose outcome was
    /// committed before a restart is not applied again.
    fn apply_rows(
        &self,
        conn: &mut DbConn,
        task: &TaskRow,
        setup: &TaskSetup,
        path: &Path,
        limits: RunLimits,
    ) -> Result<(), Halt> {
        let mut pass1 = timed(
            |t| &mut t.read,
            || pass1::read_file(conn, task, setup, path, &self.storage.dir, self.run_bytes),
        )?;
        if task.rows_total.is_none() {
            diesel::update(
                rejection_tasks::table
                    .find(task.id)
                    .filter(rejection_tasks::claimed_by.eq(self.worker_id))
                    .filter(rejection_tasks::status.eq(TaskStatus::Running.as_str())),
            )
            .set(rejection_tasks::rows_total.eq(Some(i64::try_from(pass1.rows).unwrap_or(i64::MAX))))
            .execute(conn)?;
        }
        let (committed, mut chunk) = committed_rows(conn, task.id)?;
        let mut at = RowAt::open(path, setup.shape.delimiter).map_err(|e| Halt::Fail(e.to_string()))?;
        let batch_rows = self.batch_rows.max(1);
        let mut batch: Vec<Slot> = Vec::with_capacity(batch_rows.min(1 << 20));
        for batches in 0.. {
            batch.clear();
            while batch.len() < batch_rows {
                let Some(slot) = pass1.slots.next_slot()? else { break };
                if !committed.contains(slot.line) {
                    batch.push(slot);
                }
            }
            if batch.is_empty() {
                break;
            }
            self.before_batch(conn, task.id, batches, limits)?;
            let inputs = batch_inputs(&batch, &pass1.kept, &mut at, setup)?;
            // Retry a batch once if a lead changed under it; the re-read sees the change.
            let mut retried = false;
            loop {
                match commit_batch(conn, self.claim(), task, setup, inputs.clone(), chunk) {
                    Ok(()) => break,
                    Err(BatchError::Conflict) if !retried => retried = true,
                    Err(BatchError::Conflict) => {
                        return Err(DbError::Inconsistent("leads keep changing under the task".into()).into());
                    }
                    Err(BatchError::LostClaim) => return Err(Halt::Stop),
                    Err(BatchError::Db(e)) => return Err(e.into()),
                }
            }
            chunk += 1;
        }
        Ok(())
    }

    /// Option 4: the campaign's remaining `received` leads (received on or before R) move to
    /// accepted, in windows of lead ids sized to move about one batch each.
    fn accept_remaining(
        &self,
        conn: &mut DbConn,
        task: &TaskRow,
        setup: &TaskSetup,
        limits: RunLimits,
    ) -> Result<(), Halt> {
        let until = remaining_until(setup.settings.reference_date);
        let mut cursor = task.remaining_cursor;
        // The campaign's leads as the phase starts; later ones are not this task's.
        let max_id: Option<i64> = leads::table
            .filter(leads::campaign_id.eq(task.campaign_id))
            .select(diesel::dsl::max(leads::id))
            .first(conn)?;
        let max_id = max_id.unwrap_or(0);
        let target = i64::try_from(self.batch_rows.max(1)).unwrap_or(5000);
        let mut window = target.saturating_mul(2);
        let mut batches = 0_usize;
        while cursor < max_id {
            self.before_batch(conn, task.id, batches, limits)?;
            let last = cursor.saturating_add(window).min(max_id);
            match timed(
                |t| &mut t.remaining,
                || accept_remaining_batch(conn, self.claim(), task, until, cursor, last),
            ) {
                Ok(moved) => {
                    cursor = last;
                    window = next_window(window, target, moved);
                }
                Err(BatchError::LostClaim) => return Err(Halt::Stop),
                Err(BatchError::Conflict) => continue,
                Err(BatchError::Db(e)) => return Err(e.into()),
            }
            batches += 1;
        }
        Ok(())
    }
}

/// The next id window of option 4: scaled so it moves about `target` leads, bounded so that a
/// campaign with few received leads left does not scan half the table inside one write
/// transaction.
fn next_window(window: i64, target: i64, moved: usize) -> i64 {
    let moved = i64::try_from(moved).unwrap_or(i64::MAX);
    let scaled = if moved == 0 {
        window.saturating_mul(2)
    } else {
        i64::try_from(i128::from(window) * i128::from(target) / i128::from(moved)).unwrap_or(i64::MAX)
    };
    scaled.clamp(64, target.saturating_mul(50))
}

/// A batch's rows as the planner reads them: from the cells pass 1 kept, or from the file.
fn batch_inputs(
    batch: &[Slot],
    kept: &KeptCells,
    at: &mut RowAt,
    setup: &TaskSetup,
) -> Result<Vec<RowInput>, Halt> {
    let mut inputs = Vec::with_capacity(batch.len());
    for slot in batch {
        let mut input = match slot.kept.and_then(|k| kept.get(k)) {
            Some(cells) => RowInput::new(slot.line, setup.mode, Ok(cells)),
            None => {
                let row = timed(|t| &mut t.read, || at.read_at(slot.offset, slot.line))
                    .map_err(|e| Halt::Fail(e.to_string()))?;
                pass1::row_input(&row, setup)
            }
        };
        input.duplicate_of = slot.duplicate_of;
        inputs.push(input);
    }
    Ok(inputs)
}

/// The number of a task's next results chunk.
fn next_chunk(conn: &mut DbConn, task_id: i64) -> Result<i64, DbError> {
    let last: Option<i64> = rejection_task_chunks::table
        .filter(rejection_task_chunks::task_id.eq(task_id))
        .select(diesel::dsl::max(rejection_task_chunks::chunk))
        .first(conn)?;
    Ok(last.map_or(0, |c| c + 1))
}

/// Marks the task completed if `worker_id` still holds it; `false` when it does not.
fn complete(conn: &mut DbConn, task_id: i64, worker_id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    write_transaction(conn, |conn| {
        if !holds_claim(conn, task_id, worker_id, now)? {
            return Ok(false);
        }
        diesel::update(rejection_tasks::table.find(task_id))
            .set((
                rejection_tasks::status.eq(TaskStatus::Completed.as_str()),
                rejection_tasks::phase.eq(TaskPhase::Done.as_str()),
                rejection_tasks::finished_at.eq(Some(now)),
                rejection_tasks::heartbeat_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// Marks the task failed with `reason` if `worker_id` still holds it (the rows applied before
/// the failure keep their outcomes in the results file); `false` when it does not.
pub fn fail(
    conn: &mut DbConn,
    task_id: i64,
    worker_id: &str,
    clock: &dyn Clock,
    storage: &Storage,
    reason: &str,
) -> Result<bool, DbError> {
    if !finish_results(conn, task_id, worker_id, &|| clock.now(), TaskPhase::Done, &storage.dir)? {
        return Ok(false);
    }
    let now = clock.now();
    write_transaction(conn, |conn| {
        if !holds_claim(conn, task_id, worker_id, now)? {
            return Ok(false);
        }
        diesel::update(rejection_tasks::table.find(task_id))
            .set((
                rejection_tasks::status.eq(TaskStatus::Failed.as_str()),
                rejection_tasks::failure_reason.eq(Some(reason)),
                rejection_tasks::finished_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(true)
    })
}
