//! A task as the worker reads it (its row and its upload), and what a run works out from it
//! before touching any row: the identifier, the file's shape, the plan settings, the caps.

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::lookup::{CapRef, load_caps};
use super::run::Halt;
use crate::db::schema::{campaign_fields, campaigns, rejection_tasks, uploads};
use crate::db::{DbConn, DbError};
use crate::domain::identifiers::FieldKind;
use crate::domain::task::{IdentifierChoice, IdentifierMode, TaskOptions, TaskPhase};
use crate::engine::csv_file;
use crate::engine::planner::PlanSettings;

/// The identifier as stored: `identifier_mode` and `identifier_field_id`, read back into an
/// [`IdentifierChoice`] (a combination this version never writes fails the load).
pub(super) type StoredIdentifier = (String, Option<i64>);

/// The task's options, as stored in four columns.
#[derive(Debug, Clone, Copy, Queryable, Selectable)]
#[diesel(table_name = rejection_tasks)]
pub(super) struct StoredOptions {
    move_outside_to_accepted: bool,
    reject_affiliate_events: bool,
    move_remaining_to_accepted: bool,
    count_towards_cap: bool,
}

impl From<StoredOptions> for TaskOptions {
    fn from(o: StoredOptions) -> Self {
        TaskOptions {
            move_outside_to_accepted: o.move_outside_to_accepted,
            reject_affiliate_events: o.reject_affiliate_events,
            move_remaining_to_accepted: o.move_remaining_to_accepted,
            count_towards_cap: o.count_towards_cap,
        }
    }
}

/// The task as the worker needs it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rejection_tasks)]
pub(super) struct TaskRow {
    pub id: i64,
    pub instance_id: i64,
    pub campaign_id: i64,
    pub user_id: i64,
    #[diesel(select_expression = (rejection_tasks::identifier_mode, rejection_tasks::identifier_field_id))]
    #[diesel(select_expression_type = (rejection_tasks::identifier_mode, rejection_tasks::identifier_field_id))]
    #[diesel(deserialize_as = StoredIdentifier)]
    pub identifier: IdentifierChoice,
    pub identifier_column: String,
    pub reason_column: String,
    pub reject_from: Option<NaiveDate>,
    #[diesel(embed)]
    options: StoredOptions,
    pub rows_total: Option<i64>,
    #[diesel(deserialize_as = String)]
    pub phase: TaskPhase,
    pub remaining_cursor: i64,
    pub created_at: NaiveDateTime,
    /// An undo: the task it undoes.
    pub undo_of: Option<i64>,
    #[diesel(select_expression = uploads::storage_key)]
    #[diesel(select_expression_type = uploads::storage_key)]
    pub storage_key: String,
}

impl TaskRow {
    pub fn load(conn: &mut DbConn, task_id: i64) -> Result<Self, DbError> {
        Ok(rejection_tasks::table
            .inner_join(uploads::table)
            .filter(rejection_tasks::id.eq(task_id))
            .select(TaskRow::as_select())
            .first(conn)?)
    }

    pub fn options(&self) -> TaskOptions {
        self.options.into()
    }

    pub fn campaign(&self) -> CampaignRef {
        CampaignRef { instance_id: self.instance_id, campaign_id: self.campaign_id }
    }

    /// What the run needs before it reads a row; `Halt::Fail` when the task can no longer run
    /// (the campaign lost its maximum rejection time, the file changed).
    pub fn setup(&self, conn: &mut DbConn, path: &Path) -> Result<TaskSetup, Halt> {
        let max_days: Option<i32> =
            campaigns::table.find(self.campaign_id).select(campaigns::max_rejection_days).first(conn)?;
        let Some(max_days) = max_days.and_then(|d| u32::try_from(d).ok()) else {
            return Err(Halt::Fail("the campaign no longer has a maximum rejection time".into()));
        };
        let mode = match self.identifier {
            IdentifierChoice::LeadId => IdentifierMode::LeadId,
            IdentifierChoice::Uid => IdentifierMode::Uid,
            IdentifierChoice::Field(field_id) => {
                let kind: String =
                    campaign_fields::table.find(field_id).select(campaign_fields::kind).first(conn)?;
                IdentifierMode::Field { field_id, kind: FieldKind::parse(&kind).unwrap_or(FieldKind::Text) }
            }
        };
        let shape = csv_file::inspect(path).map_err(|e| Halt::Fail(e.to_string()))?;
        let identifier_index =
            shape.column(&self.identifier_column).map_err(|e| Halt::Fail(e.to_string()))?;
        let reason_index = shape.column(&self.reason_column).map_err(|e| Halt::Fail(e.to_string()))?;
        let caps = load_caps(conn, self.campaign_id)?;
        let settings = PlanSettings {
            reference_date: self.reject_from.unwrap_or(self.created_at.date()),
            max_rejection_days: max_days,
            options: self.options(),
        };
        Ok(TaskSetup { mode, shape, identifier_index, reason_index, settings, caps })
    }
}

/// The campaign a task works on, and its instance.
#[derive(Debug, Clone, Copy)]
pub(super) struct CampaignRef {
    pub instance_id: i64,
    pub campaign_id: i64,
}

/// What a run works out from the task before touching any row.
pub(super) struct TaskSetup {
    pub mode: IdentifierMode,
    pub shape: csv_file::FileShape,
    pub identifier_index: usize,
    pub reason_index: usize,
    pub settings: PlanSettings,
    pub caps: Vec<CapRef>,
}
