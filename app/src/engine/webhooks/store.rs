//! The delivery worker's database side: claim an endpoint's due events (each lead's oldest
//! pending one only, so one lead's events go out in order), read what each request carries,
//! and record each attempt with the event's next state.

use chrono::{NaiveDateTime, SecondsFormat, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use serde::Serialize;

use crate::db::schema::{webhook_attempts, webhook_endpoints, webhook_events};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::webhooks::retry_delay_ms;

/// How long a claimed event is this worker's: two rounds of requests and their 10 s timeouts, and a
/// margin. A worker that dies holding events frees them when this runs out.
pub const LEASE: TimeDelta = TimeDelta::seconds(30);

#[derive(Debug, QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Claims up to `limit` due events of the endpoint (if it is enabled) for `worker`: each is the
/// oldest pending event of its lead. Their due time moves to the end of the lease. On
/// PostgreSQL, rows another worker is claiming are skipped (`FOR UPDATE SKIP LOCKED`); SQLite's
/// write transaction runs one claim at a time.
pub fn claim(
    conn: &mut DbConn,
    endpoint_id: i64,
    worker: &str,
    limit: usize,
    now: NaiveDateTime,
) -> Result<Vec<i64>, DbError> {
    // A read first: an idle endpoint's loop never takes SQLite's write lock. 'pending' is
    // written into the SQL, not bound: only then can SQLite, whose plans never depend on a bound
    // value (`SQLITE_ENABLE_QPSG`, .cargo/config.toml), use the partial index of pending events
    // (`webhook_events_due`) rather than read every event the endpoint ever had.
    let due: i64 = webhook_events::table
        .filter(
            webhook_events::endpoint_id
                .eq(endpoint_id)
                .and(webhook_events::state.eq(diesel::dsl::sql::<Text>("'pending'")))
                .and(webhook_events::next_attempt_at.le(now)),
        )
        .select(webhook_events::id)
        .first(conn)
        .optional()?
        .unwrap_or(0);
    if due == 0 {
        return Ok(Vec::new());
    }
    let lock = if matches!(conn, DbConn::Pg(_)) { "FOR UPDATE OF ev SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE webhook_events SET claimed_by = $1, next_attempt_at = $2 \
         WHERE id IN (\
           SELECT ev.id FROM webhook_events ev \
           JOIN webhook_endpoints e ON e.id = ev.endpoint_id AND e.enabled \
           WHERE ev.endpoint_id = {endpoint_id} AND ev.state = 'pending' AND ev.next_attempt_at <= $3 \
             AND NOT EXISTS (SELECT 1 FROM webhook_events p WHERE p.endpoint_id = ev.endpoint_id \
                             AND p.lead_id = ev.lead_id AND p.state = 'pending' AND p.id < ev.id) \
           ORDER BY ev.next_attempt_at, ev.id LIMIT {limit} {lock}) \
         RETURNING id"
    );
    let rows: Vec<ClaimedRow> = write_transaction(conn, |conn| {
        diesel::sql_query(&sql)
            .bind::<Text, _>(worker)
            .bind::<Timestamp, _>(now + LEASE)
            .bind::<Timestamp, _>(now)
            .load(conn)
    })?;
    let mut ids: Vec<i64> = rows.into_iter().map(|r| r.id).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// What one event's request carries, read when it is sent (so a retry or a resend carries the
/// same body). No `Debug`: it holds the signing secrets.
#[derive(QueryableByName)]
pub struct Outgoing {
    #[diesel(sql_type = BigInt)]
    pub event_id: i64,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = Nullable<Text>)]
    previous_secret: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    previous_secret_until: Option<NaiveDateTime>,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = BigInt)]
    lead_id: i64,
    #[diesel(sql_type = Text)]
    uid: String,
    #[diesel(sql_type = Text)]
    instance: String,
    #[diesel(sql_type = BigInt)]
    campaign_id: i64,
    #[diesel(sql_type = Text)]
    campaign: String,
    #[diesel(sql_type = BigInt)]
    supplier_id: i64,
    #[diesel(sql_type = Text)]
    supplier: String,
    #[diesel(sql_type = Nullable<Text>)]
    from_status: Option<String>,
    #[diesel(sql_type = Text)]
    to_status: String,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = Timestamp)]
    received_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    changed_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<BigInt>)]
    task_id: Option<i64>,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
}

/// The request body (docs/DOMAIN.md §7).
#[derive(Debug, Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: Data<'a>,
}

#[derive(Debug, Serialize)]
struct Data<'a> {
    lead_id: i64,
    uid: &'a str,
    instance: &'a str,
    campaign_id: i64,
    campaign: &'a str,
    supplier_id: i64,
    supplier: &'a str,
    previous_status: Option<&'a str>,
    status: &'a str,
    reason: Option<&'a str>,
    received_at: String,
    changed_at: String,
    task_id: Option<i64>,
    changed_by: &'a str,
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Outgoing {
    /// `webhook-id`: the same for every attempt of the event.
    pub fn msg_id(&self) -> String {
        format!("msg_{}", self.event_id)
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let body = Body {
            kind: "lead.status_changed",
            timestamp: rfc3339(self.changed_at),
            data: Data {
                lead_id: self.lead_id,
                uid: &self.uid,
                instance: &self.instance,
                campaign_id: self.campaign_id,
                campaign: &self.campaign,
                supplier_id: self.supplier_id,
                supplier: &self.supplier,
                previous_status: self.from_status.as_deref(),
                status: &self.to_status,
                reason: self.reason.as_deref(),
                received_at: rfc3339(self.received_at),
                changed_at: rfc3339(self.changed_at),
                task_id: self.task_id,
                // The user's email, else who the change came from ("intake", "system", …).
                changed_by: self.actor.as_deref().unwrap_or(&self.source),
            },
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The secrets that sign now: the current one, and the one it replaced while that still
    /// signs.
    pub fn secrets(&self, now: NaiveDateTime) -> Vec<String> {
        let mut secrets = vec![self.secret.clone()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && until > now
        {
            secrets.push(old.clone());
        }
        secrets
    }
}

/// The requests of the claimed events, in event order.
pub fn outgoing(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<Outgoing>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT ev.id AS event_id, e.url, e.secret, e.previous_secret, e.previous_secret_until, ev.attempts, \
           l.id AS lead_id, l.uid, i.name AS instance, l.campaign_id, c.name AS campaign, l.supplier_id, \
           s.name AS supplier, h.from_status, h.to_status, h.reason, l.received_at, h.changed_at, h.task_id, \
           h.source, u.email AS actor \
         FROM webhook_events ev \
         JOIN webhook_endpoints e ON e.id = ev.endpoint_id \
         JOIN lead_status_history h ON h.id = ev.history_id \
         JOIN leads l ON l.id = ev.lead_id \
         JOIN instances i ON i.id = l.instance_id \
         JOIN campaigns c ON c.id = l.campaign_id \
         JOIN suppliers s ON s.id = l.supplier_id \
         LEFT JOIN users u ON u.id = h.actor_user_id \
         WHERE ev.id IN ({list}) ORDER BY ev.id"
    );
    Ok(diesel::sql_query(sql).load(conn)?)
}

/// One attempt's result, to record.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub event_id: i64,
    /// Attempts before this one.
    pub attempts_before: i32,
    pub attempt: super::send::Attempt,
    pub at: NaiveDateTime,
    /// In [0, 1): spreads the retry.
    pub jitter: f64,
}

/// Records the attempts and moves each event on: delivered (2xx), failed (410 Gone — which also
/// disables the endpoint — or no retry left), or pending until its next retry. An event another
/// worker claimed meanwhile (this worker's lease ran out) keeps that worker's state; its attempt
/// is still recorded.
pub fn record(
    conn: &mut DbConn,
    endpoint_id: i64,
    worker: &str,
    results: &[Recorded],
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        for r in results {
            let a = &r.attempt;
            let code = a.status.map(i32::from);
            diesel::insert_into(webhook_attempts::table)
                .values((
                    webhook_attempts::event_id.eq(r.event_id),
                    webhook_attempts::attempted_at.eq(r.at),
                    webhook_attempts::status_code.eq(code),
                    webhook_attempts::latency_ms.eq(a.latency_ms),
                    webhook_attempts::error.eq(a.error.as_deref()),
                ))
                .execute(conn)?;
            let attempts = r.attempts_before + 1;
            let gone = a.status == Some(410);
            let (state, next, delivered_at) = if a.succeeded() {
                ("delivered", r.at, Some(r.at))
            } else if gone {
                ("failed", r.at, None)
            } else {
                match retry_delay_ms(attempts, r.jitter) {
                    Some(ms) => ("pending", r.at + TimeDelta::milliseconds(ms), None),
                    None => ("failed", r.at, None),
                }
            };
            let updated = diesel::update(
                webhook_events::table
                    .filter(webhook_events::id.eq(r.event_id).and(webhook_events::claimed_by.eq(worker))),
            )
            .set((
                webhook_events::state.eq(state),
                webhook_events::attempts.eq(attempts),
                webhook_events::next_attempt_at.eq(next),
                webhook_events::claimed_by.eq(None::<String>),
                webhook_events::last_status_code.eq(code),
                webhook_events::last_latency_ms.eq(a.latency_ms),
                webhook_events::last_error.eq(a.error.as_deref()),
                webhook_events::delivered_at.eq(delivered_at),
            ))
            .execute(conn)?;
            if updated == 1 {
                park_or_release_followers(conn, r.event_id, state, next, r.at)?;
            }
            if gone {
                diesel::update(webhook_endpoints::table.find(endpoint_id))
                    .set((
                        webhook_endpoints::enabled.eq(false),
                        webhook_endpoints::disabled_reason
                            .eq(Some("The receiver answered 410 Gone: it no longer wants these events.")),
                        webhook_endpoints::updated_at.eq(r.at),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// The lead's later pending events of the endpoint wait behind this one (one lead's events go
/// in order): while it waits for a retry they are not due before it (so claims do not walk
/// them again and again), and once it is delivered or failed they are due now.
fn park_or_release_followers(
    conn: &mut DbConn,
    event_id: i64,
    state: &str,
    next: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let (endpoint_id, lead_id): (i64, i64) = webhook_events::table
        .find(event_id)
        .select((webhook_events::endpoint_id, webhook_events::lead_id))
        .first(conn)?;
    let followers = webhook_events::table.filter(
        webhook_events::endpoint_id
            .eq(endpoint_id)
            .and(webhook_events::lead_id.eq(lead_id))
            .and(webhook_events::state.eq("pending"))
            .and(webhook_events::id.gt(event_id))
            .and(webhook_events::claimed_by.is_null()),
    );
    if state == "pending" {
        diesel::update(followers.filter(webhook_events::next_attempt_at.lt(next)))
            .set(webhook_events::next_attempt_at.eq(next))
            .execute(conn)?;
    } else {
        diesel::update(followers.filter(webhook_events::next_attempt_at.gt(now)))
            .set(webhook_events::next_attempt_at.eq(now))
            .execute(conn)?;
    }
    Ok(())
}

/// The ids of the enabled endpoints (of every instance).
pub fn enabled_endpoints(conn: &mut DbConn) -> Result<Vec<i64>, DbError> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .order(webhook_endpoints::id)
        .select(webhook_endpoints::id)
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "test set-up fails loudly")]
    use std::sync::{Arc, Mutex};

    use diesel::connection::InstrumentationEvent;

    use super::*;

    /// SQLite's plans never depend on a bound value here (QPSG, `.cargo/config.toml`), so the
    /// claim's first read names 'pending' in its SQL. Its plan, as SQLite makes it for the SQL
    /// the claim really sends, reads the partial index of pending events: an idle endpoint's
    /// poll does not walk every event the endpoint ever had.
    #[test]
    fn the_claims_read_uses_the_index_of_pending_events() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pool = crate::db::connect(&format!("sqlite://{}", dir.path().join("w.db").display()), 1)
            .expect("the pool");
        let mut conn = pool.get().expect("a connection");
        crate::db::run_migrations(&mut conn).expect("migrations");
        let sent = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = sent.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                log.lock().expect("the log").push(query.to_string());
            }
        });
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .expect("a date");
        assert!(claim(&mut conn, 1, "worker", 10, now).expect("the claim").is_empty());
        let read = sent
            .lock()
            .expect("the log")
            .iter()
            .find(|q| q.contains("FROM `webhook_events`"))
            .cloned()
            .expect("the claim reads webhook_events");
        let sql = read.split(" -- binds:").next().expect("the SQL");
        assert!(sql.contains("'pending'"), "{sql}");
        #[derive(QueryableByName, Debug)]
        struct Step {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        let plan: Vec<Step> =
            diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(&mut conn).expect("the plan");
        assert!(plan.iter().any(|s| s.detail.contains("webhook_events_due")), "{sql}\n{plan:?}");
    }
}
