//! Owner reports: what came back from clients over a period, by campaign, supplier and reason,
//! and client rejections per day. Always within one instance.

use chrono::{Days, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::{DbConn, DbError};

/// Statuses of a lead that reached the client (docs/DOMAIN.md §2), plus client rejected (it had).
const DELIVERED: &str = "('received', 'accepted', 'sale', 'client_rejected')";

/// A period of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    fn bounds(self) -> (NaiveDateTime, NaiveDateTime) {
        let start = self.from.and_hms_opt(0, 0, 0).unwrap_or_default();
        let end = self
            .to
            .checked_add_days(Days::new(1))
            .unwrap_or(NaiveDate::MAX)
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default();
        (start, end)
    }
}

/// Leads received in the period: delivered, and of those now client rejected.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct GroupRow {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    #[diesel(sql_type = BigInt)]
    pub client_rejected: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CountRow {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

fn grouped(
    conn: &mut DbConn,
    instance_id: i64,
    period: Period,
    name: &str,
    join: &str,
) -> Result<Vec<GroupRow>, DbError> {
    let (start, end) = period.bounds();
    let sql = format!(
        "SELECT {name} AS name, CAST(COUNT(*) AS BIGINT) AS delivered, \
           CAST(COALESCE(SUM(CASE WHEN l.status = 'client_rejected' THEN 1 ELSE 0 END), 0) AS BIGINT) AS client_rejected \
         FROM leads l {join} \
         WHERE l.instance_id = $1 AND l.received_at >= $2 AND l.received_at < $3 AND l.status IN {DELIVERED} \
         GROUP BY {name} ORDER BY {name}"
    );
    Ok(diesel::sql_query(sql)
        .bind::<BigInt, _>(instance_id)
        .bind::<Timestamp, _>(start)
        .bind::<Timestamp, _>(end)
        .load(conn)?)
}

pub fn by_campaign(conn: &mut DbConn, instance_id: i64, period: Period) -> Result<Vec<GroupRow>, DbError> {
    grouped(conn, instance_id, period, "c.name", "JOIN campaigns c ON c.id = l.campaign_id")
}

pub fn by_supplier(conn: &mut DbConn, instance_id: i64, period: Period) -> Result<Vec<GroupRow>, DbError> {
    grouped(conn, instance_id, period, "s.name", "JOIN suppliers s ON s.id = l.supplier_id")
}

/// Most reasons the report lists.
const REASONS_SHOWN: usize = 50;

/// Client rejected leads received in the period, by the reason the client gave (most first), as
/// people mean it: reasons that differ only in letter case or whitespace are one reason, shown as
/// its most used spelling (see [`merge_reasons`]).
pub fn by_reason(conn: &mut DbConn, instance_id: i64, period: Period) -> Result<Vec<CountRow>, DbError> {
    let (start, end) = period.bounds();
    // The database counts each exact spelling; the merge runs here, as SQLite's LOWER and TRIM
    // fold only ASCII letters and spaces, and neither backend collapses inner whitespace.
    let spellings: Vec<CountRow> = diesel::sql_query(
        "SELECT COALESCE(l.status_reason, '') AS name, CAST(COUNT(*) AS BIGINT) AS n FROM leads l \
         WHERE l.instance_id = $1 AND l.received_at >= $2 AND l.received_at < $3 AND l.status = 'client_rejected' \
         GROUP BY COALESCE(l.status_reason, '')",
    )
    .bind::<BigInt, _>(instance_id)
    .bind::<Timestamp, _>(start)
    .bind::<Timestamp, _>(end)
    .load(conn)?;
    let mut merged = merge_reasons(spellings);
    merged.truncate(REASONS_SHOWN);
    Ok(merged)
}

/// Merges counts per exact spelling into one row per reason. A spelling is the text with its
/// whitespace tidied (trimmed, inner runs one space); spellings equal but for letter case are one
/// reason, named by its most used spelling, and on a tie by the first of them in code-point order
/// ("Duplicate Lead" before "duplicate lead"). Most first, then by name.
pub fn merge_reasons(rows: impl IntoIterator<Item = CountRow>) -> Vec<CountRow> {
    use std::collections::BTreeMap;
    // reason key → (spelling → count)
    let mut reasons: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for row in rows {
        let spelling = row.name.split_whitespace().collect::<Vec<_>>().join(" ");
        *reasons.entry(spelling.to_lowercase()).or_default().entry(spelling).or_default() += row.n;
    }
    let mut merged: Vec<CountRow> = reasons
        .into_values()
        .filter_map(|spellings| {
            let n = spellings.values().sum();
            // The first spelling (in order) with the highest count.
            let (name, _) = spellings.into_iter().rev().max_by_key(|(_, count)| *count)?;
            Some(CountRow { name, n })
        })
        .collect();
    merged.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.name.cmp(&b.name)));
    merged
}

/// Client rejections made on each day of the period (from the status history), `YYYY-MM-DD`.
/// A rejection a later undo took back (the lead has a change by the undo of the task that
/// rejected it) no longer counts.
pub fn per_day(conn: &mut DbConn, instance_id: i64, period: Period) -> Result<Vec<CountRow>, DbError> {
    let (start, end) = period.bounds();
    let day = match conn {
        DbConn::Pg(_) => "to_char(h.changed_at, 'YYYY-MM-DD')",
        DbConn::Sqlite(_) => "substr(h.changed_at, 1, 10)",
    };
    Ok(diesel::sql_query(format!(
        "SELECT {day} AS name, CAST(COUNT(*) AS BIGINT) AS n FROM lead_status_history h \
         JOIN leads l ON l.id = h.lead_id \
         WHERE l.instance_id = $1 AND h.changed_at >= $2 AND h.changed_at < $3 AND h.to_status = 'client_rejected' \
           AND NOT (h.task_id IS NOT NULL AND EXISTS (SELECT 1 FROM lead_status_history u \
             JOIN rejection_tasks t ON t.id = u.task_id WHERE u.lead_id = h.lead_id AND u.id > h.id AND t.undo_of = h.task_id)) \
         GROUP BY {day} ORDER BY {day}"
    ))
    .bind::<BigInt, _>(instance_id)
    .bind::<Timestamp, _>(start)
    .bind::<Timestamp, _>(end)
    .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(list: &[(&str, i64)]) -> Vec<CountRow> {
        list.iter().map(|(name, n)| CountRow { name: (*name).to_owned(), n: *n }).collect()
    }

    #[test]
    fn reasons_differing_in_case_or_whitespace_are_one() {
        let merged = merge_reasons(rows(&[
            ("duplicate lead ", 2),
            ("Duplicate Lead", 3),
            ("DUPLICATE  LEAD", 1),
            ("Wrong\tnumber", 1),
            ("wrong number", 1),
            ("", 1),
            ("  ", 1),
        ]));
        assert_eq!(merged, rows(&[("Duplicate Lead", 6), ("", 2), ("Wrong number", 2)]));
    }

    #[test]
    fn the_most_used_spelling_names_the_reason() {
        // "duplicate lead" and " duplicate lead" are one spelling (3) against "Duplicate Lead" (2).
        let merged =
            merge_reasons(rows(&[("Duplicate Lead", 2), ("duplicate lead", 2), (" duplicate lead", 1)]));
        assert_eq!(merged, rows(&[("duplicate lead", 5)]));
        // A tie goes to the first spelling in code-point order, whatever order the rows came in.
        for list in [[("fake", 2), ("Fake", 2)], [("Fake", 2), ("fake", 2)]] {
            assert_eq!(merge_reasons(rows(&list)), rows(&[("Fake", 4)]));
        }
    }
}
