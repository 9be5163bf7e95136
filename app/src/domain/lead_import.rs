//! A bulk lead import (docs/DOMAIN.md §10), the pure part shared with the browser: the form, what
//! each file column is used for, how one row becomes a lead or a refusal, and the import page's
//! view. Unit-tested; the database part is `engine::lead_import`.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::intake::{FieldDef, MAX_VALUE_CHARS, Value, invalid_reason};
use super::status::LeadStatus;
use super::task::TaskStatus;

/// Longest status reason taken from a file, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// What one column of the file is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "use", content = "field")]
pub enum ColumnUse {
    /// Not imported.
    Ignore,
    /// The value of this campaign field (its id).
    Field(i64),
    /// When the lead was received.
    ReceivedAt,
    /// The lead's status (empty: Received).
    Status,
    /// The reason of the lead's status.
    Reason,
}

impl ColumnUse {
    /// The value of a `<select>` option for this use.
    pub fn to_option(self) -> String {
        match self {
            ColumnUse::Ignore => String::new(),
            ColumnUse::Field(id) => format!("field:{id}"),
            ColumnUse::ReceivedAt => "received_at".to_owned(),
            ColumnUse::Status => "status".to_owned(),
            ColumnUse::Reason => "reason".to_owned(),
        }
    }

    /// The use a `<select>` option value stands for (unknown values: not imported).
    pub fn from_option(value: &str) -> Self {
        match value {
            "received_at" => ColumnUse::ReceivedAt,
            "status" => ColumnUse::Status,
            "reason" => ColumnUse::Reason,
            other => other
                .strip_prefix("field:")
                .and_then(|id| id.parse().ok())
                .map_or(ColumnUse::Ignore, ColumnUse::Field),
        }
    }
}

/// The import form as sent by the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportForm {
    pub upload_id: i64,
    pub campaign_id: Option<i64>,
    pub supplier_id: Option<i64>,
    /// One use per column of the file, in the file's column order.
    pub columns: Vec<ColumnUse>,
    /// Whether the leads take units of the campaign's caps (historical imports usually do not).
    pub apply_caps: bool,
}

/// Where each use's column is in the file, checked: every field at most once, the other uses at
/// most once, at least one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// (column index, index into the campaign's fields)
    pub fields: Vec<(usize, usize)>,
    pub received_at: Option<usize>,
    pub status: Option<usize>,
    pub reason: Option<usize>,
}

impl Layout {
    /// The layout of `columns` for a campaign with `fields`; `Err` is the message to show.
    pub fn new(fields: &[FieldDef], columns: &[ColumnUse]) -> Result<Self, String> {
        let mut layout = Layout { fields: Vec::new(), received_at: None, status: None, reason: None };
        for (column, use_) in columns.iter().enumerate() {
            let once = |slot: &mut Option<usize>, what: &str| {
                if slot.replace(column).is_some() {
                    Err(format!("Only one column can be used as {what}."))
                } else {
                    Ok(())
                }
            };
            match *use_ {
                ColumnUse::Ignore => {}
                ColumnUse::ReceivedAt => once(&mut layout.received_at, "Received at")?,
                ColumnUse::Status => once(&mut layout.status, "Status")?,
                ColumnUse::Reason => once(&mut layout.reason, "Status reason")?,
                ColumnUse::Field(id) => {
                    let Some(field) = fields.iter().position(|f| f.id == id) else {
                        return Err("A column is mapped to a field this campaign does not have.".to_owned());
                    };
                    if layout.fields.iter().any(|(_, f)| *f == field) {
                        return Err(format!("Only one column can fill the field {}.", fields[field].label));
                    }
                    layout.fields.push((column, field));
                }
            }
        }
        if layout.fields.is_empty() {
            return Err("Map at least one column to a field of the campaign.".to_owned());
        }
        Ok(layout)
    }

    /// The columns as stored with the import: (column, field id) pairs.
    pub fn field_columns(&self, fields: &[FieldDef]) -> Vec<(usize, i64)> {
        self.fields.iter().map(|(c, f)| (*c, fields[*f].id)).collect()
    }
}

/// A row that becomes a lead (before dedupe and caps, which need the database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLead {
    pub values: Vec<Value>,
    pub received_at: NaiveDateTime,
    pub status: LeadStatus,
    pub reason: Option<String>,
}

impl PlannedLead {
    /// Whether the lead holds its deduplicated values (a lead refused at intake does not).
    pub fn holds_values(&self) -> bool {
        self.status != LeadStatus::Rejected
    }
}

/// Turns one row into a lead, or the reason it is refused. `cell(i)` is column `i`'s text (or
/// why it cannot be read); `now` is when the import runs (the received time when the file has
/// none, and the latest one allowed).
pub fn plan_row<'a>(
    fields: &[FieldDef],
    layout: &Layout,
    cell: impl Fn(usize) -> Result<&'a str, String>,
    now: NaiveDateTime,
) -> Result<PlannedLead, String> {
    let mut values = Vec::with_capacity(layout.fields.len());
    for &(column, field) in &layout.fields {
        let def = &fields[field];
        let raw = cell(column).map_err(|e| format!("{}: {e}", def.label))?.trim();
        if raw.is_empty() {
            continue;
        }
        if raw.chars().count() > MAX_VALUE_CHARS {
            return Err(format!("{} is longer than {MAX_VALUE_CHARS} characters.", def.label));
        }
        values.push(Value { field, raw: raw.to_owned(), normalized: def.kind.normalize(raw) });
    }
    if values.is_empty() {
        return Err("The row has no value in any field.".to_owned());
    }
    let status = match layout.status {
        None => LeadStatus::Received,
        Some(column) => parse_status(cell(column).map_err(|e| format!("Status: {e}"))?)?,
    };
    let received_at = match layout.received_at {
        None => now,
        Some(column) => {
            let text = cell(column).map_err(|e| format!("Received at: {e}"))?;
            let at = parse_received_at(text)?;
            if at > now {
                return Err(format!("Received at ({}) is in the future.", text.trim()));
            }
            at
        }
    };
    let reason = match layout.reason {
        None => None,
        Some(column) => {
            let text = cell(column).map_err(|e| format!("Status reason: {e}"))?.trim();
            if text.chars().count() > MAX_REASON_CHARS {
                return Err(format!("The status reason is longer than {MAX_REASON_CHARS} characters."));
            }
            (!text.is_empty()).then(|| text.to_owned())
        }
    };
    let lead = PlannedLead { values, received_at, status, reason };
    if lead.holds_values()
        && let Some(invalid) = invalid_reason(fields, &lead.values)
    {
        return Err(format!("{invalid}: the value is not one a lead can be received with."));
    }
    Ok(lead)
}

/// A status as a file may give it: the label ("Client Rejected") or the stored name
/// ("client_rejected"), any case; empty means Received.
pub fn parse_status(text: &str) -> Result<LeadStatus, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(LeadStatus::Received);
    }
    let wanted = text.to_lowercase().replace(['_', '-'], " ");
    LeadStatus::ALL
        .into_iter()
        .find(|s| s.label().to_lowercase() == wanted || s.as_str().replace('_', " ") == wanted)
        .ok_or_else(|| {
            let names: Vec<&str> = LeadStatus::ALL.iter().map(|s| s.label()).collect();
            format!("Unknown status \"{text}\": use one of {}.", names.join(", "))
        })
}

/// The formats a received time may take, besides RFC 3339 with an offset: ISO dates with or
/// without a time, and day-first dates (as UK spreadsheets write them).
const DATE_TIME_FORMATS: [&str; 6] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
];
const DATE_FORMATS: [&str; 2] = ["%Y-%m-%d", "%d/%m/%Y"];

/// A received time (UTC): `2026-11-30 14:05:00`, `2026-11-30T14:05:00Z` (any offset, converted),
/// `2026-11-30`, `30/11/2026 14:05` or `30/11/2026` (midnight).
pub fn parse_received_at(text: &str) -> Result<NaiveDateTime, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Received at is empty.".to_owned());
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.naive_utc());
    }
    if let Some(at) = DATE_TIME_FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(text, f).ok()) {
        return Ok(at);
    }
    if let Some(day) = DATE_FORMATS.iter().find_map(|f| NaiveDate::parse_from_str(text, f).ok()) {
        return Ok(day.and_time(chrono::NaiveTime::MIN));
    }
    Err(format!(
        "Received at \"{}\" is not a date: write it as 2026-11-30 14:05:00, 2026-11-30 or 30/11/2026.",
        shorter(text, 40)
    ))
}

/// `text` cut to `max` characters, with "…" when cut.
fn shorter(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// A campaign leads can be imported into: its fields and the suppliers that send to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCampaign {
    pub id: i64,
    pub name: String,
    pub client: String,
    pub fields: Vec<ImportField>,
    pub supplier_ids: Vec<i64>,
}

/// A campaign field, as the column mapping offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportField {
    pub id: i64,
    pub key: String,
    pub label: String,
    pub dedupe: bool,
}

/// What the import page starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSetup {
    pub campaigns: Vec<ImportCampaign>,
    /// (id, name)
    pub suppliers: Vec<(i64, String)>,
    pub max_upload_bytes: u64,
    pub recent: Vec<ImportSummary>,
}

/// The use a column named `header` most likely has: a field whose key or label it names, or
/// received at / status / reason.
pub fn guess_column_use(header: &str, fields: &[ImportField]) -> ColumnUse {
    let h: String = header.trim().to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
    let squash = |s: &str| -> String { s.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect() };
    if let Some(f) = fields.iter().find(|f| squash(&f.key) == h || squash(&f.label) == h) {
        return ColumnUse::Field(f.id);
    }
    match h.as_str() {
        "receivedat" | "received" | "datereceived" | "receiveddate" | "createdat" | "date" => {
            ColumnUse::ReceivedAt
        }
        "status" | "leadstatus" => ColumnUse::Status,
        "reason" | "statusreason" | "rejectionreason" => ColumnUse::Reason,
        "emailaddress" => fields
            .iter()
            .find(|f| squash(&f.key) == "email")
            .map_or(ColumnUse::Ignore, |f| ColumnUse::Field(f.id)),
        "phonenumber" | "telephone" | "mobile" => fields
            .iter()
            .find(|f| squash(&f.key) == "phone")
            .map_or(ColumnUse::Ignore, |f| ColumnUse::Field(f.id)),
        _ => ColumnUse::Ignore,
    }
}

/// What an import would do with the start of its file (nothing is written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPreview {
    /// Rows read.
    pub rows: i64,
    /// Whether the file has rows after those read.
    pub more_rows: bool,
    pub would_create: i64,
    /// Leads per status, most first.
    pub statuses: Vec<(LeadStatus, i64)>,
    pub refused: i64,
    /// Refusals per kind ("Duplicate Email"), most first.
    pub reasons: Vec<(String, i64)>,
}

/// One import as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportView {
    pub id: i64,
    pub file_name: String,
    pub campaign: String,
    pub supplier: String,
    pub started_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub status: TaskStatus,
    pub failure_reason: Option<String>,
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    pub leads_created: i64,
    pub rows_refused: i64,
    pub apply_caps: bool,
}

impl ImportView {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// One import in the list of recent imports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub id: i64,
    pub file_name: String,
    pub campaign: String,
    pub supplier: String,
    pub created_at: String,
    pub status: TaskStatus,
    pub rows_done: i64,
    pub leads_created: i64,
    pub rows_refused: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identifiers::FieldKind;

    fn fields() -> Vec<FieldDef> {
        let f = |id, key: &str, label: &str, kind, dedupe| FieldDef {
            id,
            key: key.into(),
            label: label.into(),
            kind,
            dedupe,
        };
        vec![
            f(11, "email", "Email", FieldKind::Email, true),
            f(12, "phone", "Phone", FieldKind::Phone, false),
            f(13, "first_name", "First name", FieldKind::Text, false),
        ]
    }

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap().and_hms_opt(12, 0, 0).unwrap()
    }

    fn layout(columns: &[ColumnUse]) -> Layout {
        Layout::new(&fields(), columns).expect("valid layout")
    }

    fn plan(columns: &[ColumnUse], row: &[&'static str]) -> Result<PlannedLead, String> {
        let cells: Vec<&'static str> = row.to_vec();
        plan_row(
            &fields(),
            &layout(columns),
            move |i| cells.get(i).copied().ok_or_else(|| "the cell is missing".to_owned()),
            now(),
        )
    }

    use ColumnUse::{Field, Ignore, Reason, ReceivedAt, Status};

    #[test]
    fn layouts_need_a_field_and_refuse_repeats() {
        let f = fields();
        assert_eq!(
            Layout::new(&f, &[Ignore, ReceivedAt]).unwrap_err(),
            "Map at least one column to a field of the campaign."
        );
        assert!(Layout::new(&f, &[Field(11), Field(11)]).unwrap_err().contains("field Email"));
        assert!(Layout::new(&f, &[Field(11), Status, Status]).unwrap_err().contains("Status"));
        assert!(Layout::new(&f, &[Field(99)]).unwrap_err().contains("does not have"));
        let l = Layout::new(&f, &[Ignore, Field(13), ReceivedAt, Field(11), Status, Reason]).unwrap();
        assert_eq!(l.fields, vec![(1, 2), (3, 0)]);
        assert_eq!((l.received_at, l.status, l.reason), (Some(2), Some(4), Some(5)));
        assert_eq!(l.field_columns(&f), vec![(1, 13), (3, 11)]);
    }

    #[test]
    fn columns_are_guessed_from_their_headers() {
        let fields = vec![
            ImportField { id: 11, key: "email".into(), label: "Email".into(), dedupe: true },
            ImportField { id: 13, key: "first_name".into(), label: "First name".into(), dedupe: false },
            ImportField { id: 12, key: "phone".into(), label: "Phone".into(), dedupe: false },
        ];
        assert_eq!(guess_column_use("Email", &fields), Field(11));
        assert_eq!(guess_column_use(" first_name ", &fields), Field(13));
        assert_eq!(guess_column_use("First Name", &fields), Field(13));
        assert_eq!(guess_column_use("Email address", &fields), Field(11));
        assert_eq!(guess_column_use("Phone number", &fields), Field(12));
        assert_eq!(guess_column_use("Received at", &fields), ReceivedAt);
        assert_eq!(guess_column_use("STATUS", &fields), Status);
        assert_eq!(guess_column_use("Reason", &fields), Reason);
        assert_eq!(guess_column_use("Shoe size", &fields), Ignore);
    }

    #[test]
    fn column_uses_round_trip_through_select_values() {
        for u in [Ignore, Field(42), ReceivedAt, Status, Reason] {
            assert_eq!(ColumnUse::from_option(&u.to_option()), u);
        }
        assert_eq!(ColumnUse::from_option("field:x"), Ignore);
        assert_eq!(ColumnUse::from_option("nonsense"), Ignore);
    }

    #[test]
    fn a_plain_row_becomes_a_received_lead_now() {
        let lead = plan(&[Field(11), Field(13)], &[" Jo@Example.com ", "Jo"]).unwrap();
        assert_eq!(lead.status, LeadStatus::Received);
        assert_eq!(lead.received_at, now());
        assert_eq!(lead.values.len(), 2);
        assert_eq!(lead.values[0].raw, "Jo@Example.com");
        assert_eq!(lead.values[0].normalized.as_deref(), Some("jo@example.com"));
        assert_eq!(lead.reason, None);
    }

    #[test]
    fn empty_cells_are_left_out_but_a_row_needs_one_value() {
        let lead = plan(&[Field(11), Field(12)], &["jo@example.com", "  "]).unwrap();
        assert_eq!(lead.values.len(), 1);
        assert_eq!(
            plan(&[Field(11), Field(12)], &["", ""]).unwrap_err(),
            "The row has no value in any field."
        );
    }

    #[test]
    fn invalid_values_are_refused_unless_the_lead_was_rejected() {
        let err = plan(&[Field(11)], &["not-an-email"]).unwrap_err();
        assert!(err.starts_with("Invalid Email"), "{err}");
        let lead = plan(&[Field(11), Status], &["not-an-email", "Rejected"]).unwrap();
        assert_eq!(lead.status, LeadStatus::Rejected);
        assert!(!lead.holds_values());
        let err = plan(&[Field(12)], &["12"]).unwrap_err();
        assert!(err.starts_with("Invalid Phone"), "{err}");
    }

    #[test]
    fn long_values_and_reasons_are_refused() {
        let long: &'static str = Box::leak("x".repeat(MAX_VALUE_CHARS + 1).into_boxed_str());
        assert!(plan(&[Field(13)], &[long]).unwrap_err().contains("longer than 1000"));
        let reason: &'static str = Box::leak("r".repeat(MAX_REASON_CHARS + 1).into_boxed_str());
        assert!(plan(&[Field(13), Reason], &["Jo", reason]).unwrap_err().contains("reason is longer"));
    }

    #[test]
    fn a_missing_cell_names_its_field() {
        let err = plan(&[Field(13), Field(11)], &["Jo"]).unwrap_err();
        assert_eq!(err, "Email: the cell is missing");
    }

    #[test]
    fn statuses_by_label_or_name_in_any_case() {
        assert_eq!(parse_status("Client Rejected"), Ok(LeadStatus::ClientRejected));
        assert_eq!(parse_status("client_rejected"), Ok(LeadStatus::ClientRejected));
        assert_eq!(parse_status(" SALE "), Ok(LeadStatus::Sale));
        assert_eq!(parse_status(""), Ok(LeadStatus::Received));
        let err = parse_status("Won").unwrap_err();
        assert!(err.contains("Unknown status \"Won\"") && err.contains("Client Rejected"), "{err}");
    }

    #[test]
    fn status_and_reason_come_from_their_columns() {
        let lead =
            plan(&[Field(11), Status, Reason], &["jo@example.com", "Client Rejected", " Wrong number "])
                .unwrap();
        assert_eq!(lead.status, LeadStatus::ClientRejected);
        assert_eq!(lead.reason.as_deref(), Some("Wrong number"));
        let lead = plan(&[Field(11), Reason], &["jo@example.com", ""]).unwrap();
        assert_eq!(lead.reason, None);
    }

    #[test]
    fn received_times_in_the_usual_formats() {
        let at = |s| parse_received_at(s).unwrap().to_string();
        assert_eq!(at("2026-11-20 09:30:15"), "2026-11-20 09:30:15");
        assert_eq!(at("2026-11-20T09:30:15.250"), "2026-11-20 09:30:15.250");
        assert_eq!(at("2026-11-20T09:30:15+01:00"), "2026-11-20 08:30:15");
        assert_eq!(at("2026-11-20T09:30:15Z"), "2026-11-20 09:30:15");
        assert_eq!(at("2026-11-20 09:30"), "2026-11-20 09:30:00");
        assert_eq!(at("2026-11-20"), "2026-11-20 00:00:00");
        assert_eq!(at("20/11/2026 09:30"), "2026-11-20 09:30:00");
        assert_eq!(at("20/11/2026"), "2026-11-20 00:00:00");
        assert!(parse_received_at("11/20/2026").unwrap_err().contains("is not a date"));
        assert_eq!(parse_received_at(" ").unwrap_err(), "Received at is empty.");
    }

    #[test]
    fn received_times_cannot_be_in_the_future() {
        let err = plan(&[Field(11), ReceivedAt], &["jo@example.com", "2026-12-01"]).unwrap_err();
        assert_eq!(err, "Received at (2026-12-01) is in the future.");
        let lead = plan(&[Field(11), ReceivedAt], &["jo@example.com", "2026-11-01 08:00:00"]).unwrap();
        assert_eq!(lead.received_at.to_string(), "2026-11-01 08:00:00");
    }
}
