//! The rejection planner (docs/DOMAIN.md §3): a pure function from rows, the leads they match and the
//! task's settings to one outcome per row and the changes to apply. No I/O: the database layer
//! fetches the leads and applies the plan.

use std::collections::{HashMap, HashSet};

use chrono::{Days, NaiveDate, NaiveDateTime};

use crate::domain::status::LeadStatus;
pub use crate::domain::task::IdentifierMode;
use crate::domain::task::{Outcome, TaskOptions};

/// Longest identifier accepted.
pub const MAX_IDENTIFIER_CHARS: usize = 256;
/// Longest rejection reason accepted.
pub const MAX_REASON_CHARS: usize = 1000;

/// An identifier as matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    LeadId(i64),
    Text(String),
}

impl Key {
    /// The form stored with the row's outcome (for "duplicate in file" after a restart).
    pub fn stored(&self) -> String {
        match self {
            Key::LeadId(id) => id.to_string(),
            Key::Text(t) => t.clone(),
        }
    }
}

/// Parses a raw identifier cell for `mode`; `Err` says what is wrong.
pub fn parse_identifier(mode: IdentifierMode, raw: &str) -> Result<Key, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("the identifier is empty".into());
    }
    if t.chars().count() > MAX_IDENTIFIER_CHARS {
        return Err(format!("the identifier is longer than {MAX_IDENTIFIER_CHARS} characters"));
    }
    match mode {
        IdentifierMode::LeadId => match t.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Key::LeadId(id)),
            _ => Err(format!("\"{t}\" is not a Lead ID (a whole number)")),
        },
        IdentifierMode::Uid => Ok(Key::Text(t.to_owned())),
        IdentifierMode::Field { kind, .. } => kind
            .normalize(t)
            .map(Key::Text)
            .ok_or_else(|| format!("\"{t}\" is not a usable {}", kind.as_str())),
    }
}

/// A data row, read and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowInput {
    /// Spreadsheet row number (line of the file).
    pub line: u64,
    /// The identifier cell as written (trimmed), for the results file.
    pub identifier: String,
    pub reason: String,
    /// The match key, or why the row is invalid.
    pub parsed: Result<Key, String>,
    /// Set by a caller that already knows the identifier is on an earlier row (that row's line).
    pub duplicate_of: Option<u64>,
}

impl RowInput {
    /// Builds a row from its cells; `cells` fails when the row itself is malformed.
    pub fn new(line: u64, mode: IdentifierMode, cells: Result<(&str, &str), String>) -> Self {
        match cells {
            Err(why) => Self {
                line,
                identifier: String::new(),
                reason: String::new(),
                parsed: Err(why),
                duplicate_of: None,
            },
            Ok((identifier, reason)) => {
                let reason = reason.trim();
                let parsed = parse_identifier(mode, identifier).and_then(|key| {
                    if reason.is_empty() {
                        Err("the rejection reason is empty".to_owned())
                    } else if reason.chars().count() > MAX_REASON_CHARS {
                        Err(format!("the rejection reason is longer than {MAX_REASON_CHARS} characters"))
                    } else {
                        Ok(key)
                    }
                });
                Self {
                    line,
                    identifier: truncate(identifier.trim(), MAX_IDENTIFIER_CHARS),
                    reason: truncate(reason, MAX_REASON_CHARS),
                    parsed,
                    duplicate_of: None,
                }
            }
        }
    }
}

/// `s` cut to `max` characters, with "…" when it was longer.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// A lead's state as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadState {
    pub id: i64,
    pub status: LeadStatus,
    pub received_at: NaiveDateTime,
    pub supplier_id: i64,
    pub cap_released: bool,
}

/// What a key matched among the campaign's leads (absent from the map: nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    One(LeadState),
    Many(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSettings {
    /// R: the reject-from date, or today (UTC).
    pub reference_date: NaiveDate,
    /// N: the campaign's maximum rejection days.
    pub max_rejection_days: u32,
    pub options: TaskOptions,
}

impl PlanSettings {
    /// The first day inside the window: R − N days.
    pub fn window_start(&self) -> NaiveDate {
        self.reference_date
            .checked_sub_days(Days::new(u64::from(self.max_rejection_days)))
            .unwrap_or(NaiveDate::MIN)
    }

    /// A lead is inside the window when the UTC date it was received is on or after R − N.
    pub fn inside_window(&self, received_at: NaiveDateTime) -> bool {
        received_at.date() >= self.window_start()
    }
}

/// Identifiers and leads already handled by this task (across batches and restarts).
/// A key is held as a 128-bit hash of its stored form (SipHash under this `Seen`'s secret
/// random key, on two distinct inputs), 24 bytes an entry instead of its text: a preview of
/// a large file holds one per distinct key. For n keys the chance that two share a hash is at
/// most n²/2^129, and a collision would only call a row `duplicate_in_file`.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    keys: HashMap<(u64, u64), u64>,
    leads: HashSet<i64>,
    hasher: std::collections::hash_map::RandomState,
}

impl Seen {
    /// Records a key first seen on `line` (rebuilding after a restart).
    pub fn remember(&mut self, key: &str, line: u64, lead_id: Option<i64>) {
        let hash = self.hash(key);
        self.keys.entry(hash).or_insert(line);
        if let Some(id) = lead_id {
            self.leads.insert(id);
        }
    }

    fn hash(&self, key: &str) -> (u64, u64) {
        use std::hash::BuildHasher;
        (self.hasher.hash_one((0_u8, key)), self.hasher.hash_one((1_u8, key)))
    }

    /// The line a key was first seen on.
    fn first_line(&self, key: &str) -> Option<u64> {
        self.keys.get(&self.hash(key)).copied()
    }
}

/// The outcome of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowResult {
    pub line: u64,
    pub identifier: String,
    pub reason: String,
    pub outcome: Outcome,
    pub lead_id: Option<i64>,
    pub message: String,
}

/// A status change to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadChange {
    pub lead_id: i64,
    pub from: LeadStatus,
    pub to: LeadStatus,
    /// The reason stored on the lead and in its history.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchPlan {
    pub rows: Vec<RowResult>,
    pub changes: Vec<LeadChange>,
    /// Leads whose approved affiliate events become rejected (option 3).
    pub reject_events_of: Vec<i64>,
    /// Leads that give their cap unit back (option 5).
    pub release_caps_of: Vec<LeadState>,
}

/// Plans a batch of rows. `found` holds every key of the batch that matched a lead of the
/// campaign; `seen` carries what earlier rows and batches handled.
pub fn plan_batch(
    settings: &PlanSettings,
    rows: Vec<RowInput>,
    found: &HashMap<Key, Found>,
    seen: &mut Seen,
) -> BatchPlan {
    let mut plan = BatchPlan::default();
    for row in rows {
        let RowInput { line, identifier, reason, parsed, duplicate_of } = row;
        let result = |outcome, lead_id, message: String| RowResult {
            line,
            identifier: identifier.clone(),
            reason: reason.clone(),
            outcome,
            lead_id,
            message,
        };
        let key = match parsed {
            Err(why) => {
                plan.rows.push(result(Outcome::Invalid, None, why));
                continue;
            }
            Ok(key) => key,
        };
        let stored = key.stored();
        if let Some(first) = duplicate_of.or_else(|| seen.first_line(&stored)) {
            let msg = format!("the same identifier is on row {first}");
            plan.rows.push(result(Outcome::DuplicateInFile, None, msg));
            continue;
        }
        let lead = match found.get(&key) {
            None => {
                seen.remember(&stored, line, None);
                let msg = "no lead of this campaign matches".to_owned();
                plan.rows.push(result(Outcome::NotFound, None, msg));
                continue;
            }
            Some(Found::Many(n)) => {
                seen.remember(&stored, line, None);
                let msg = format!("matches {n} leads; use the Lead ID instead");
                plan.rows.push(result(Outcome::Ambiguous, None, msg));
                continue;
            }
            Some(Found::One(lead)) => lead,
        };
        if seen.leads.contains(&lead.id) {
            let msg = "this lead is on an earlier row".to_owned();
            plan.rows.push(result(Outcome::DuplicateInFile, Some(lead.id), msg));
            continue;
        }
        seen.remember(&stored, line, Some(lead.id));
        let (outcome, message) = decide(settings, lead, &reason, &mut plan);
        plan.rows.push(result(outcome, Some(lead.id), message));
    }
    plan
}

fn decide(
    settings: &PlanSettings,
    lead: &LeadState,
    reason: &str,
    plan: &mut BatchPlan,
) -> (Outcome, String) {
    let received = lead.received_at.date();
    if lead.status == LeadStatus::ClientRejected {
        return (Outcome::AlreadyRejected, "already Client Rejected".into());
    }
    if !lead.status.is_delivered() {
        return (Outcome::NotDelivered, format!("not delivered: the lead is {}", lead.status.label()));
    }
    if settings.inside_window(lead.received_at) {
        plan.changes.push(LeadChange {
            lead_id: lead.id,
            from: lead.status,
            to: LeadStatus::ClientRejected,
            reason: Some(reason.to_owned()),
        });
        if settings.options.reject_affiliate_events {
            plan.reject_events_of.push(lead.id);
        }
        if settings.options.count_towards_cap && !lead.cap_released {
            plan.release_caps_of.push(lead.clone());
        }
        return (Outcome::Rejected, String::new());
    }
    let outside = format!("received {received}, before the window opened on {}", settings.window_start());
    if !settings.options.move_outside_to_accepted {
        return (Outcome::OutsideWindow, outside);
    }
    if lead.status == LeadStatus::Received {
        plan.changes.push(LeadChange {
            lead_id: lead.id,
            from: LeadStatus::Received,
            to: LeadStatus::Accepted,
            reason: Some("Older than the maximum rejection time".to_owned()),
        });
        (Outcome::AcceptedOutsideWindow, format!("{outside}; moved to Accepted"))
    } else {
        (Outcome::AcceptedOutsideWindow, format!("{outside}; already {}", lead.status.label()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identifiers::FieldKind;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    /// N = 7, R = 2026-11-26: the docs/DOMAIN.md example.
    fn settings(options: TaskOptions) -> PlanSettings {
        PlanSettings { reference_date: date("2026-11-26"), max_rejection_days: 7, options }
    }

    fn lead(id: i64, status: LeadStatus, received: &str) -> LeadState {
        LeadState { id, status, received_at: at(received), supplier_id: 1, cap_released: false }
    }

    fn row(line: u64, id: &str, reason: &str) -> RowInput {
        RowInput::new(line, IdentifierMode::LeadId, Ok((id, reason)))
    }

    fn one(leads: &[LeadState]) -> HashMap<Key, Found> {
        leads.iter().map(|l| (Key::LeadId(l.id), Found::One(l.clone()))).collect()
    }

    fn outcomes(plan: &BatchPlan) -> Vec<Outcome> {
        plan.rows.iter().map(|r| r.outcome).collect()
    }

    #[test]
    fn window_boundary_is_the_design_example() {
        let s = settings(TaskOptions::default());
        assert_eq!(s.window_start(), date("2026-11-19"));
        assert!(s.inside_window(at("2026-11-19 00:00:00")));
        assert!(s.inside_window(at("2026-11-26 23:59:59")));
        assert!(!s.inside_window(at("2026-11-18 23:59:59")));
    }

    #[test]
    fn every_outcome_from_one_batch() {
        let leads = [
            lead(1, LeadStatus::Received, "2026-11-19 00:00:00"),
            lead(2, LeadStatus::Received, "2026-11-18 23:59:59"),
            lead(3, LeadStatus::ClientRejected, "2026-11-25 10:00:00"),
            lead(4, LeadStatus::Pending, "2026-11-25 10:00:00"),
            lead(5, LeadStatus::Flagged, "2026-11-25 10:00:00"),
            lead(6, LeadStatus::Rejected, "2026-11-25 10:00:00"),
            lead(7, LeadStatus::Quarantine, "2026-11-25 10:00:00"),
            lead(8, LeadStatus::Accepted, "2026-11-25 10:00:00"),
            lead(9, LeadStatus::Sale, "2026-11-25 10:00:00"),
        ];
        let rows = vec![
            row(2, "1", "Wrong number"),
            row(3, "2", "Too old"),
            row(4, "3", "Again"),
            row(5, "4", "r"),
            row(6, "5", "r"),
            row(7, "6", "r"),
            row(8, "7", "r"),
            row(9, "8", "Accepted one"),
            row(10, "9", "Sold one"),
            row(11, "999", "Unknown"),
            row(12, "1", "Repeat"),
            row(13, "abc", "Not a number"),
            row(14, "", "No id"),
            row(15, "10", "  "),
            RowInput::new(16, IdentifierMode::LeadId, Err("the row has 1 column(s)".into())),
        ];
        let n = rows.len();
        let plan = plan_batch(&settings(TaskOptions::default()), rows, &one(&leads), &mut Seen::default());
        use Outcome::*;
        assert_eq!(
            outcomes(&plan),
            [
                Rejected,
                OutsideWindow,
                AlreadyRejected,
                NotDelivered,
                NotDelivered,
                NotDelivered,
                NotDelivered,
                Rejected,
                Rejected,
                NotFound,
                DuplicateInFile,
                Invalid,
                Invalid,
                Invalid,
                Invalid
            ]
        );
        assert_eq!(plan.rows.len(), n, "rows read = sum of outcomes");
        let changed: Vec<(i64, LeadStatus, LeadStatus)> =
            plan.changes.iter().map(|c| (c.lead_id, c.from, c.to)).collect();
        assert_eq!(
            changed,
            [
                (1, LeadStatus::Received, LeadStatus::ClientRejected),
                (8, LeadStatus::Accepted, LeadStatus::ClientRejected),
                (9, LeadStatus::Sale, LeadStatus::ClientRejected)
            ]
        );
        assert_eq!(plan.changes[0].reason.as_deref(), Some("Wrong number"));
        assert!(plan.reject_events_of.is_empty(), "option 3 off");
        assert!(plan.release_caps_of.is_empty(), "option 5 off");
        assert_eq!(plan.rows[10].message, "the same identifier is on row 2");
        assert!(plan.rows[11].message.contains("not a Lead ID"));
        assert_eq!(plan.rows[13].message, "the rejection reason is empty");
        assert!(plan.rows[3].message.contains("Pending"));
    }

    #[test]
    fn option_2_moves_received_leads_outside_the_window_to_accepted() {
        let leads = [
            lead(1, LeadStatus::Received, "2026-11-01 09:00:00"),
            lead(2, LeadStatus::Accepted, "2026-11-01 09:00:00"),
            lead(3, LeadStatus::Received, "2026-11-20 09:00:00"),
        ];
        let opts = TaskOptions { move_outside_to_accepted: true, ..TaskOptions::default() };
        let plan = plan_batch(
            &settings(opts),
            vec![row(2, "1", "x"), row(3, "2", "x"), row(4, "3", "x")],
            &one(&leads),
            &mut Seen::default(),
        );
        use Outcome::*;
        assert_eq!(outcomes(&plan), [AcceptedOutsideWindow, AcceptedOutsideWindow, Rejected]);
        let changed: Vec<(i64, LeadStatus)> = plan.changes.iter().map(|c| (c.lead_id, c.to)).collect();
        assert_eq!(changed, [(1, LeadStatus::Accepted), (3, LeadStatus::ClientRejected)]);
        assert!(plan.rows[1].message.contains("already Accepted"));
    }

    #[test]
    fn options_3_and_5_follow_the_rejected_leads() {
        let mut released = lead(2, LeadStatus::Received, "2026-11-25 09:00:00");
        released.cap_released = true;
        let leads = [
            lead(1, LeadStatus::Received, "2026-11-25 09:00:00"),
            released,
            lead(3, LeadStatus::Received, "2026-11-01 00:00:00"),
        ];
        let opts =
            TaskOptions { reject_affiliate_events: true, count_towards_cap: true, ..TaskOptions::default() };
        let plan = plan_batch(
            &settings(opts),
            vec![row(2, "1", "x"), row(3, "2", "x"), row(4, "3", "x")],
            &one(&leads),
            &mut Seen::default(),
        );
        assert_eq!(plan.reject_events_of, [1, 2]);
        assert_eq!(plan.release_caps_of.iter().map(|l| l.id).collect::<Vec<_>>(), [1], "never twice");
        let off = plan_batch(
            &settings(TaskOptions::default()),
            vec![row(2, "1", "x")],
            &one(&leads),
            &mut Seen::default(),
        );
        assert!(off.reject_events_of.is_empty() && off.release_caps_of.is_empty());
    }

    #[test]
    fn ambiguous_and_duplicate_keys_across_batches() {
        let mode = IdentifierMode::Field { field_id: 7, kind: FieldKind::Phone };
        let mut found = HashMap::new();
        found.insert(Key::Text("07700900123".into()), Found::Many(2));
        found.insert(
            Key::Text("07700900999".into()),
            Found::One(lead(5, LeadStatus::Received, "2026-11-25 00:00:00")),
        );
        let mut seen = Seen::default();
        let s = settings(TaskOptions::default());
        let first = plan_batch(
            &s,
            vec![
                RowInput::new(2, mode, Ok(("+44 7700 900123", "r"))),
                RowInput::new(3, mode, Ok(("07700 900999", "r"))),
            ],
            &found,
            &mut seen,
        );
        assert_eq!(outcomes(&first), [Outcome::Ambiguous, Outcome::Rejected]);
        // The next batch: the same numbers written differently.
        let second = plan_batch(
            &s,
            vec![
                RowInput::new(4, mode, Ok(("447700900999", "r"))),
                RowInput::new(5, mode, Ok(("0044 7700 900123", "r"))),
            ],
            &found,
            &mut seen,
        );
        assert_eq!(outcomes(&second), [Outcome::DuplicateInFile, Outcome::DuplicateInFile]);
        assert_eq!(second.rows[0].message, "the same identifier is on row 3");
    }

    #[test]
    fn a_lead_reached_by_two_keys_is_a_duplicate() {
        let mut seen = Seen::default();
        seen.remember("a@x.com", 2, Some(9));
        let mut found = HashMap::new();
        found.insert(
            Key::Text("b@x.com".into()),
            Found::One(lead(9, LeadStatus::Received, "2026-11-25 00:00:00")),
        );
        let mode = IdentifierMode::Field { field_id: 1, kind: FieldKind::Email };
        let plan = plan_batch(
            &settings(TaskOptions::default()),
            vec![RowInput::new(3, mode, Ok(("b@x.com", "r")))],
            &found,
            &mut seen,
        );
        assert_eq!(outcomes(&plan), [Outcome::DuplicateInFile]);
        assert!(plan.changes.is_empty());
    }

    #[test]
    fn an_invalid_row_does_not_claim_its_identifier() {
        let leads = [lead(1, LeadStatus::Received, "2026-11-25 00:00:00")];
        let plan = plan_batch(
            &settings(TaskOptions::default()),
            vec![row(2, "1", ""), row(3, "1", "now with a reason")],
            &one(&leads),
            &mut Seen::default(),
        );
        assert_eq!(outcomes(&plan), [Outcome::Invalid, Outcome::Rejected]);
    }

    #[test]
    fn parses_identifiers_per_mode() {
        assert_eq!(parse_identifier(IdentifierMode::LeadId, " 1020069 "), Ok(Key::LeadId(1_020_069)));
        for bad in ["0", "-5", "12.5", "1e6", "ABC-123", "99999999999999999999"] {
            assert!(parse_identifier(IdentifierMode::LeadId, bad).is_err(), "{bad}");
        }
        assert_eq!(parse_identifier(IdentifierMode::Uid, "  abc-DEF "), Ok(Key::Text("abc-DEF".into())));
        let email = IdentifierMode::Field { field_id: 1, kind: FieldKind::Email };
        assert_eq!(parse_identifier(email, " Jane@Example.COM "), Ok(Key::Text("jane@example.com".into())));
        let phone = IdentifierMode::Field { field_id: 2, kind: FieldKind::Phone };
        assert_eq!(parse_identifier(phone, "+44 7700 900123"), Ok(Key::Text("07700900123".into())));
        assert!(parse_identifier(phone, "n/a").is_err());
        assert!(parse_identifier(IdentifierMode::Uid, &"x".repeat(300)).unwrap_err().contains("longer than"));
    }

    #[test]
    fn long_reasons_are_invalid_and_shown_truncated() {
        let r = RowInput::new(2, IdentifierMode::LeadId, Ok(("5", &"y".repeat(5000))));
        assert!(r.parsed.unwrap_err().contains("longer than 1000"));
        assert_eq!(r.reason.chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn reference_date_moves_the_window() {
        let s = PlanSettings {
            reference_date: date("2026-11-10"),
            max_rejection_days: 30,
            options: TaskOptions::default(),
        };
        assert_eq!(s.window_start(), date("2026-10-11"));
        assert!(s.inside_window(at("2026-10-11 00:00:00")));
        assert!(!s.inside_window(at("2026-10-10 23:59:59")));
    }
}
