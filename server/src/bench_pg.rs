//! `sendback bench --database-url postgres://…`: the rejection engine's benchmark on PostgreSQL
//! (issue 15). Builds the SQLite benchmark's data set (`bench::build`'s shape) once into
//! `sendback_bench_pristine` with set-based SQL, then each round copies it twice
//! (`CREATE DATABASE … TEMPLATE`), runs the 1M-row Lead ID task with all options on in a child
//! process against one copy and the raw baseline with `psql` against the other (`\copy` into a
//! temporary table, history `INSERT … SELECT`, `UPDATE … FROM`, commit), and prints both, their
//! ratio, the median ratio and the task's peak RSS; a last run rejects rows by email.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use app::db::{self, DbConn};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::bench::{BenchArgs, child_run, print_median, submit, write_files};

/// The data set, built once (kept, reused with `--reuse`).
pub const PRISTINE: &str = "sendback_bench_pristine";
/// A round's copy the task runs on.
const ROUND_TASK: &str = "sendback_bench_round_task";
/// A round's copy the `psql` baseline runs on.
const ROUND_RAW: &str = "sendback_bench_round_raw";

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with its database name replaced by `name` (query string kept).
pub fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_start..].find('/').map_or(base.len(), |i| host_start + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A plain connection to the database the URL names (no migrations: this is the maintenance
/// database the bench creates and drops its databases from).
fn admin(url: &str) -> anyhow::Result<diesel::PgConnection> {
    diesel::PgConnection::establish(url).with_context(|| format!("connecting to {}", redact(url)))
}

fn redact(url: &str) -> String {
    db::DatabaseTarget::Postgres(url.to_owned()).redacted()
}

fn exists(admin: &mut diesel::PgConnection, name: &str) -> anyhow::Result<bool> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result(admin)?;
    Ok(n.n > 0)
}

/// Creates the database `name` on the server `admin_url` names unless it exists; true when
/// it was created (empty).
pub fn create_if_missing(admin_url: &str, name: &str) -> anyhow::Result<bool> {
    let mut admin = admin(admin_url)?;
    if exists(&mut admin, name)? {
        return Ok(false);
    }
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    Ok(true)
}

fn drop_database(admin: &mut diesel::PgConnection, name: &str) -> anyhow::Result<()> {
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}

/// A fresh copy of the pristine database under `name`. The template may not have other
/// sessions: a pool just dropped can take a moment to close its connections, so this retries.
fn copy_pristine(admin: &mut diesel::PgConnection, name: &str) -> anyhow::Result<()> {
    drop_database(admin, name)?;
    let mut tries = 0;
    loop {
        // FILE_COPY copies the files (and checkpoints) rather than WAL-logging every block.
        match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {PRISTINE} STRATEGY FILE_COPY")) {
            Ok(()) => return Ok(()),
            Err(e) if tries < 20 && e.to_string().contains("being accessed by other users") => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e).context(format!("CREATE DATABASE {name} TEMPLATE {PRISTINE}")),
        }
    }
}

pub fn main(args: &BenchArgs, url: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let mut admin = admin(url)?;
    let campaign_ids = prepare_pristine(args, url, &mut admin)?;
    let (ids_file, email_file) = write_files(args, campaign_ids)?;
    let task_url = database_url(url, ROUND_TASK);
    let raw_url = database_url(url, ROUND_RAW);
    let mut ratios = Vec::new();
    let rounds = args.rounds.max(1);
    for round in 1..=rounds {
        // Both copies are made (and checkpointed) before either run, so neither pays for a copy.
        copy_pristine(&mut admin, ROUND_RAW)?;
        copy_pristine(&mut admin, ROUND_TASK)?;
        admin.batch_execute("CHECKPOINT")?;
        let raw = psql_baseline(&raw_url, &args.dir, &ids_file)?;
        drop_database(&mut admin, ROUND_RAW)?;
        admin.batch_execute("CHECKPOINT")?;
        let task = submit(&task_url, &args.dir, &ids_file, None)?;
        let (secs, rss, rows) = child_run(&task_url, &args.dir, task, args.batch_rows)?;
        println!(
            "round {round}: Lead IDs, all options: {rows} rows in {secs:.1} s = {:.0} rows/s, peak RSS {:.0} MB",
            rows as f64 / secs,
            rss as f64 / 1024.0
        );
        println!(
            "round {round}: psql, the same status changes and history (\\copy, INSERT … SELECT, UPDATE … FROM, commit): {raw:.1} s; ratio {:.2}×",
            secs / raw
        );
        ratios.push(secs / raw);
        if round < rounds {
            drop_database(&mut admin, ROUND_TASK)?;
        }
    }
    print_median("psql", &ratios);
    // The email run goes on the last round's copy, as on SQLite.
    let email_task = submit(&task_url, &args.dir, &email_file, Some("email"))?;
    let (secs, rss, rows) = child_run(&task_url, &args.dir, email_task, args.batch_rows)?;
    println!(
        "Emails, all options: {rows} rows in {secs:.1} s = {:.0} rows/s, peak RSS {:.0} MB",
        rows as f64 / secs,
        rss as f64 / 1024.0
    );
    drop_database(&mut admin, ROUND_TASK)?;
    Ok(())
}

/// The pristine database: reused with `--reuse` when it exists, else dropped and built anew.
/// Returns the lead ids of the task's campaign.
fn prepare_pristine(
    args: &BenchArgs,
    url: &str,
    admin: &mut diesel::PgConnection,
) -> anyhow::Result<Vec<i64>> {
    let pristine_url = database_url(url, PRISTINE);
    if args.reuse && exists(admin, PRISTINE)? {
        let mut conn = diesel::PgConnection::establish(&pristine_url)?;
        let ids = campaign_lead_ids(&mut conn)?;
        println!("reusing database {PRISTINE} ({} leads in the task's campaign)", ids.len());
        return Ok(ids);
    }
    drop_database(admin, PRISTINE)?;
    admin.batch_execute(&format!("CREATE DATABASE {PRISTINE}"))?;
    let started = Instant::now();
    let ids = {
        // The app's own migrations make the schema.
        let pool = db::connect(&pristine_url, 1)?;
        let mut conn = pool.get()?;
        build(&mut conn, args.leads)?
    };
    println!(
        "built {} leads ({} in the task's campaign) in database {PRISTINE} in {:.1} s",
        args.leads,
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

fn campaign_lead_ids(conn: &mut diesel::PgConnection) -> anyhow::Result<Vec<i64>> {
    use app::db::schema::leads;
    Ok(leads::table.filter(leads::campaign_id.eq(1_i64)).select(leads::id).order(leads::id).load(conn)?)
}

/// Fills an empty migrated PostgreSQL database with the SQLite benchmark's data set
/// (`bench::build`: the same ids, campaigns, statuses, received times, emails, events and cap
/// usage), generated by the server (`generate_series`), then vacuums it (frozen, hint bits
/// set, statistics) so copies of it start alike. Returns the ids of the task's campaign's leads.
pub(crate) fn build(conn: &mut DbConn, n: i64) -> anyhow::Result<Vec<i64>> {
    let DbConn::Pg(pg) = conn else { bail!("not a PostgreSQL connection") };
    let hash = app::auth::password::hash_password("bench-password").map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = hash.as_str();
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S").to_string();
    pg.batch_execute(&format!(
        "SET synchronous_commit = off; SET maintenance_work_mem = '512MB';
        BEGIN;
        INSERT INTO instances (id, name, created_at) VALUES (1, 'Bench Leads', '{now}');
        INSERT INTO clients (id, instance_id, name) VALUES (1, 1, 'Bench Client');
        INSERT INTO users (id, instance_id, client_id, email, name, password_hash, role, created_at)
          VALUES (1, 1, 1, 'bench@sendback.test', 'Bench', '{hash}', 'client_user', '{now}');
        INSERT INTO user_permissions (user_id, permission, granted_at) VALUES (1, 'reject_leads', '{now}');
        INSERT INTO suppliers (id, instance_id, name) VALUES (1, 1, 'S1'), (2, 1, 'S2'), (3, 1, 'S3');
        INSERT INTO campaigns (id, instance_id, client_id, name, max_rejection_days, created_at) VALUES
          (1, 1, 1, 'Target', 30, '{now}'), (2, 1, 1, 'Other A', 30, '{now}'), (3, 1, 1, 'Other B', 30, '{now}');
        INSERT INTO campaign_fields (id, campaign_id, field_key, label, kind, dedupe, position)
          VALUES (1, 1, 'email', 'Email', 'email', TRUE, 0);
        INSERT INTO caps (id, campaign_id, supplier_id, period, cap_limit) VALUES (1, 1, NULL, 'day', 1000000), (2, 1, 1, 'week', 10000000);
        INSERT INTO leads (id, instance_id, campaign_id, supplier_id, uid, received_at, status, status_reason, cap_released, updated_at)
        SELECT 1000000 + k, 1, CASE WHEN k % 5 < 2 THEN 1 WHEN k % 5 < 4 THEN 2 ELSE 3 END, 1 + k % 3,
               'uid-' || k,
               TIMESTAMP '{now}' - (k * 7919 % 3888000) * INTERVAL '1 second',
               CASE k % 10 WHEN 7 THEN 'accepted' WHEN 8 THEN 'pending' ELSE 'received' END, NULL, FALSE,
               TIMESTAMP '{now}' - (k * 7919 % 3888000) * INTERVAL '1 second'
        FROM generate_series(0::BIGINT, {last}) AS k;
        INSERT INTO lead_values (lead_id, field_id, value, normalized)
          SELECT id, 1, 'User' || (id - 1000000) || '@Example.com', 'user' || (id - 1000000) || '@example.com'
          FROM leads WHERE campaign_id = 1;
        INSERT INTO affiliate_events (lead_id, kind, name, cost_pence, revenue_pence, status, occurred_at)
          SELECT id, 'click', 'Click', 40, 0, 'approved', received_at FROM leads WHERE campaign_id = 1 AND id % 4 = 0;
        INSERT INTO cap_usage (cap_id, period_start, used)
          SELECT 1, received_at::DATE, COUNT(*) FROM leads WHERE campaign_id = 1 GROUP BY 2;
        INSERT INTO cap_usage (cap_id, period_start, used)
          SELECT 2, date_trunc('week', received_at)::DATE, COUNT(*)
          FROM leads WHERE campaign_id = 1 AND supplier_id = 1 GROUP BY 2;
        COMMIT;",
        last = n - 1
    ))?;
    // Identity columns the rows above set explicitly: the next default id follows them.
    for table in
        ["instances", "clients", "users", "suppliers", "campaigns", "campaign_fields", "caps", "leads"]
    {
        pg.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(max(id), 0) + 1 FROM {table}), false);"
        ))?;
    }
    pg.batch_execute("VACUUM (FREEZE, ANALYZE);")?;
    campaign_lead_ids(pg)
}

/// The raw baseline: `psql` applies the task's status changes to the copy at `url` in one
/// transaction — the file `\copy`'d into a temporary table; inside the window (received on or
/// after R − 30 days, R = today UTC, as the task's) a delivered lead becomes client_rejected
/// with the file's reason (and its cap unit marked given back), outside it a received lead
/// becomes accepted; then the campaign's remaining received leads become accepted; each change
/// with its history row (`INSERT … SELECT` before the `UPDATE … FROM`). No outcomes, affiliate
/// events or cap usage. Returns the seconds `psql` took.
fn psql_baseline(url: &str, dir: &Path, ids_file: &Path) -> anyhow::Result<f64> {
    let today = chrono::Utc::now().date_naive();
    let window = today - chrono::Days::new(30);
    let until = today + chrono::Days::new(1);
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S");
    let file = ids_file.canonicalize()?.display().to_string().replace('\'', "''");
    let script = format!(
        "\\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE incoming (id BIGINT, reason TEXT) ON COMMIT DROP;
\\copy incoming FROM '{file}' WITH (FORMAT csv, HEADER true)
ANALYZE incoming;
INSERT INTO lead_status_history (lead_id, from_status, to_status, reason, source, actor_user_id, changed_at)
  SELECT l.id, l.status, 'client_rejected', i.reason, 'rejection_task', 1, '{now}' FROM incoming i JOIN leads l ON l.id = i.id
  WHERE l.campaign_id = 1 AND l.status IN ('received', 'accepted', 'sale') AND l.received_at >= '{window}' ORDER BY l.id;
UPDATE leads SET status = 'client_rejected', status_reason = i.reason, updated_at = '{now}', cap_released = TRUE FROM incoming i
  WHERE leads.id = i.id AND leads.campaign_id = 1 AND leads.status IN ('received', 'accepted', 'sale') AND leads.received_at >= '{window}';
INSERT INTO lead_status_history (lead_id, from_status, to_status, reason, source, actor_user_id, changed_at)
  SELECT l.id, 'received', 'accepted', 'Older than the maximum rejection time', 'rejection_task', 1, '{now}' FROM incoming i JOIN leads l ON l.id = i.id
  WHERE l.campaign_id = 1 AND l.status = 'received' AND l.received_at < '{window}' ORDER BY l.id;
UPDATE leads SET status = 'accepted', status_reason = 'Older than the maximum rejection time', updated_at = '{now}' FROM incoming i
  WHERE leads.id = i.id AND leads.campaign_id = 1 AND leads.status = 'received' AND leads.received_at < '{window}';
INSERT INTO lead_status_history (lead_id, from_status, to_status, reason, source, actor_user_id, changed_at)
  SELECT id, 'received', 'accepted', 'Moved to accepted by the baseline', 'rejection_task', 1, '{now}' FROM leads
  WHERE campaign_id = 1 AND status = 'received' AND received_at < '{until}' ORDER BY id;
UPDATE leads SET status = 'accepted', status_reason = 'Moved to accepted by the baseline', updated_at = '{now}'
  WHERE campaign_id = 1 AND status = 'received' AND received_at < '{until}';
COMMIT;
"
    );
    let script_path = dir.join("pg-baseline.sql");
    std::fs::File::create(&script_path)?.write_all(script.as_bytes())?;
    let started = Instant::now();
    let out = Command::new("psql")
        .args(["-X", "-q", "-d", url, "-f"])
        .arg(&script_path)
        .output()
        .context("running psql (is it installed?)")?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_name_another_database_on_the_same_server() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            database_url("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(database_url("postgresql://h:5432", "x"), "postgresql://h:5432/x");
    }
}
