//! "Preview outcomes": the file-level checks and the planner over the whole file, reading leads
//! and changing nothing. Leads may still change before the task runs; the task decides again.

use std::collections::HashMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::lookup::{cap_give_backs, find_leads, load_caps, remaining_until};
use super::pass1::read_input;
use super::row::CampaignRef;
use super::submit::{SubmitError, TaskRequest, validate};
use crate::db::DbConn;
use crate::db::schema::leads;
use crate::db::users::UserContext;
use crate::domain::status::LeadStatus;
use crate::domain::task::Outcome;
use crate::engine::csv_file::{FileRefusal, RowReader};
use crate::engine::planner::{self, Found, Key, PlanSettings, RowInput, Seen};

/// What a task would do, worked out without writing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Data rows read (= the sum of `counts`).
    pub rows: i64,
    pub counts: Vec<(Outcome, i64)>,
    /// R: the reject-from date, or today.
    pub reference_date: NaiveDate,
    /// The first day inside the window (R − N).
    pub window_start: NaiveDate,
    /// Option 4: `received` leads of the campaign that would move to accepted.
    pub remaining_to_accept: i64,
    /// Option 5: cap units that would be given back.
    pub cap_units: i64,
}

/// Rows per lookup while previewing.
const PREVIEW_CHUNK: usize = 5000;

/// Running totals of a preview.
#[derive(Default)]
struct Tally {
    counts: HashMap<Outcome, i64>,
    rows: i64,
    /// `received` leads the rows change that option 4 would otherwise move.
    received_changed: i64,
    cap_units: i64,
}

/// Runs the file-level checks and the planner over the whole file, reading leads but changing
/// nothing.
pub fn preview(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    file: &Path,
    today: NaiveDate,
) -> Result<Preview, SubmitError> {
    preview_with_progress(conn, user, req, file, today, &mut |_, _| Ok(()))
}

/// Called after each chunk with the connection and the rows read so far; an error stops the
/// preview (a background preview: cancelled, or its worker stopping) and is returned.
pub type PreviewProgress<'a> = dyn FnMut(&mut DbConn, i64) -> Result<(), SubmitError> + 'a;

/// [`preview`], calling `progress` after every chunk of rows.
pub fn preview_with_progress(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    file: &Path,
    today: NaiveDate,
    progress: &mut PreviewProgress<'_>,
) -> Result<Preview, SubmitError> {
    let v = validate(conn, user, req, file, today)?;
    let settings = PlanSettings {
        reference_date: req.reject_from.unwrap_or(today),
        max_rejection_days: v.max_rejection_days,
        options: req.options,
    };
    let caps = load_caps(conn, v.campaign_id)?;
    let campaign = CampaignRef { instance_id: v.instance_id, campaign_id: v.campaign_id };
    let until = remaining_until(settings.reference_date);
    let refuse = |e: FileRefusal| SubmitError::refused("file", e.to_string());
    let mut reader =
        RowReader::open(file, v.shape.delimiter, v.shape.data_offset, v.shape.data_line).map_err(refuse)?;
    let mut seen = Seen::default();
    let mut tally = Tally::default();
    let mut batch: Vec<RowInput> = Vec::with_capacity(PREVIEW_CHUNK);
    loop {
        let row = reader.next_row().map_err(refuse)?;
        let at_end = row.is_none();
        if let Some(row) = row {
            batch.push(read_input(&row, v.mode, v.identifier_index, v.reason_index));
        }
        if batch.len() >= PREVIEW_CHUNK || (at_end && !batch.is_empty()) {
            let keys: Vec<&Key> = batch.iter().filter_map(|r| r.parsed.as_ref().ok()).collect();
            let found = find_leads(conn, campaign, v.mode, &keys)?;
            let received_at: HashMap<i64, NaiveDateTime> = found
                .values()
                .filter_map(|f| if let Found::One(l) = f { Some((l.id, l.received_at)) } else { None })
                .collect();
            let plan = planner::plan_batch(&settings, std::mem::take(&mut batch), &found, &mut seen);
            for r in &plan.rows {
                *tally.counts.entry(r.outcome).or_default() += 1;
                tally.rows += 1;
            }
            tally.received_changed += plan
                .changes
                .iter()
                .filter(|c| {
                    c.from == LeadStatus::Received && received_at.get(&c.lead_id).is_some_and(|t| *t < until)
                })
                .count() as i64;
            tally.cap_units += cap_give_backs(&caps, &plan.release_caps_of).values().sum::<i64>();
            progress(conn, tally.rows)?;
        }
        if at_end {
            break;
        }
    }
    let remaining_to_accept = if req.options.move_remaining_to_accepted {
        let received: i64 = leads::table
            .filter(
                leads::campaign_id
                    .eq(v.campaign_id)
                    .and(leads::status.eq(LeadStatus::Received.as_str()))
                    .and(leads::received_at.lt(until)),
            )
            .count()
            .get_result(conn)?;
        (received - tally.received_changed).max(0)
    } else {
        0
    };
    Ok(Preview {
        rows: tally.rows,
        counts: Outcome::ALL.iter().map(|o| (*o, tally.counts.get(o).copied().unwrap_or(0))).collect(),
        reference_date: settings.reference_date,
        window_start: settings.window_start(),
        remaining_to_accept,
        cap_units: tally.cap_units,
    })
}
