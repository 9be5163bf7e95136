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

/// Client rejected leads received in the period, by the reason the client gave (most first).
pub fn by_reason(conn: &mut DbConn, instance_id: i64, period: Period) -> Result<Vec<CountRow>, DbError> {
    let (start, end) = period.bounds();
    Ok(diesel::sql_query(
        "SELECT COALESCE(l.status_reason, '') AS name, CAST(COUNT(*) AS BIGINT) AS n FROM leads l \
         WHERE l.instance_id = $1 AND l.received_at >= $2 AND l.received_at < $3 AND l.status = 'client_rejected' \
         GROUP BY COALESCE(l.status_reason, '') ORDER BY n DESC, name LIMIT 50",
    )
    .bind::<BigInt, _>(instance_id)
    .bind::<Timestamp, _>(start)
    .bind::<Timestamp, _>(end)
    .load(conn)?)
}

/// Client rejections made on each day of the period (from the status history), `YYYY-MM-DD`.
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
         GROUP BY {day} ORDER BY {day}"
    ))
    .bind::<BigInt, _>(instance_id)
    .bind::<Timestamp, _>(start)
    .bind::<Timestamp, _>(end)
    .load(conn)?)
}
