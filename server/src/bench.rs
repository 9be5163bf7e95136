//! `sendback bench`: the rejection engine's benchmark on SQLite (issue 4). Builds a database of
//! 5,000,000 leads (2,000,000 in the task's campaign, with affiliate events, caps and email
//! values), writes a 1,000,000-row Lead ID file, runs the task with all options on in a child
//! process (so its peak RSS is the task's own), applies the same status updates with the
//! `sqlite3` shell on another copy of the same database, and prints both and their ratio: three
//! rounds by default, each on fresh copies, and the median ratio (the machines here are noisy:
//! the same run varied by 20%). Each round also runs the task once more with a webhook
//! endpoint (issue 18): the outbox's share of its time and its ratio to the plain run. A last
//! run rejects 200,000 rows by email. With
//! `--database-url postgres://…` the same runs on PostgreSQL instead (`bench_pg.rs`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use app::db::{self, DbConn};
use app::domain::status::LeadStatus;
use app::domain::task::{IdentifierChoice, TaskOptions};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Working directory (databases, files); kept afterwards.
    #[arg(long, default_value = "target/bench")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 5_000_000)]
    pub leads: i64,
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    #[arg(long, default_value_t = 200_000)]
    pub email_rows: usize,
    /// Rows per batch (transaction).
    #[arg(long, default_value_t = app::engine::task::DEFAULT_BATCH_ROWS)]
    pub batch_rows: usize,
    /// Reuse the database built by an earlier run (kept as `pristine.db` in `--dir`) instead of
    /// building it again.
    #[arg(long)]
    pub reuse: bool,
    /// Rounds of (the shell, the Lead ID task), each on a fresh copy of the database; the
    /// median ratio is printed at the end. 0: none (with `--sizes`, only the memory rounds).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Memory rounds (issue 16): after the ratio rounds, a Lead ID task of each of these many
    /// rows (e.g. `1000000,5000000,10000000`), each on a fresh copy of the database, printing
    /// its time and peak RSS. Rows past the campaign's leads name leads that do not exist.
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Internal: run one task in this process and print its figures.
    #[arg(long, hide = true)]
    pub run_task: Option<i64>,
}

/// `database`: the global `--database-url`; a `postgres://…` URL runs the PostgreSQL variant
/// (the URL names the server and a database to connect to for `CREATE DATABASE`).
pub fn main(args: BenchArgs, database: &crate::config::DatabaseArgs) -> anyhow::Result<()> {
    if let Some(task) = args.run_task {
        // The parent names the database of the run with `--database-url`.
        return run_task(&database.url(), &args.dir, task, args.batch_rows);
    }
    if let Some(url) = database.database_url.as_deref().filter(|u| crate::bench_pg::is_postgres(u)) {
        return crate::bench_pg::main(&args, url);
    }
    std::fs::create_dir_all(&args.dir)?;
    let db_path = args.dir.join("bench.db");
    remove_db(&db_path);
    let pristine = args.dir.join("pristine.db");
    let campaign_ids = prepare_database(&args, &db_path, &pristine)?;
    let (ids_file, email_file) = write_files(&args, campaign_ids)?;
    lead_id_rounds(&args, &db_path, &pristine, &ids_file)?;
    memory_rounds(&args, &db_path, &pristine)?;
    if !args.sizes.is_empty() {
        // The email task on a fresh copy too (the rounds above changed their copy).
        copy_synced(&pristine, &db_path)?;
    }
    let url = sqlite_url(&db_path);
    let email_task = submit(&url, &args.dir, &email_file, Some("email"))?;
    let (secs, rss, rows) = child_run(&url, &args.dir, email_task, args.batch_rows)?;
    println!(
        "Emails, all options: {rows} rows in {secs:.1} s = {:.0} rows/s, peak RSS {:.0} MB",
        rows as f64 / secs,
        rss as f64 / 1024.0
    );
    Ok(())
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// The benchmark database at `db_path`: a copy of `pristine` with `--reuse`, else built anew
/// (and kept as `pristine`). Returns the lead ids of the task's campaign.
fn prepare_database(args: &BenchArgs, db_path: &Path, pristine: &Path) -> anyhow::Result<Vec<i64>> {
    Ok(if args.reuse && pristine.exists() {
        copy_synced(pristine, db_path)?;
        let pool = db::connect(&format!("sqlite://{}", db_path.display()), 2)?;
        let mut conn = pool.get()?;
        use app::db::schema::leads;
        let ids: Vec<i64> = leads::table
            .filter(leads::campaign_id.eq(1_i64))
            .select(leads::id)
            .order(leads::id)
            .load(&mut conn)?;
        println!("reusing {} ({} leads in the task's campaign)", pristine.display(), ids.len());
        ids
    } else {
        let started = Instant::now();
        let pool = db::connect(&format!("sqlite://{}", db_path.display()), 2)?;
        let mut conn = pool.get()?;
        let ids = build(&mut conn, args.leads)?;
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
        drop(conn);
        drop(pool);
        println!(
            "built {} leads ({} in the task's campaign) in {:.1} s",
            args.leads,
            ids.len(),
            started.elapsed().as_secs_f64()
        );
        copy_synced(db_path, pristine)?;
        ids
    })
}

/// The rejection files: random leads of the campaign, in random order; returns (the Lead ID
/// file, the email file).
pub(crate) fn write_files(args: &BenchArgs, campaign_ids: Vec<i64>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut ids = campaign_ids;
    ids.shuffle(&mut rng);
    let reasons =
        ["Wrong number", "Duplicate lead", "Not interested", "Fake details", "Outside service area"];
    let ids_file = args.dir.join("reject-1m-lead-ids.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&ids_file)?);
        writeln!(w, "Lead ID,Rejection Reason")?;
        for (i, id) in ids.iter().take(args.rows).enumerate() {
            writeln!(w, "{id},{}", reasons[i % reasons.len()])?;
        }
    }
    let email_file = args.dir.join("reject-200k-emails.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&email_file)?);
        writeln!(w, "email,reason")?;
        // Past the campaign's leads, emails no lead has (`not_found`).
        let past = (0_i64..).map(|k| NO_LEAD_IDS + k);
        for (i, id) in ids.iter().skip(args.rows).copied().chain(past).take(args.email_rows).enumerate() {
            writeln!(w, "User{}@Example.com,{}", id - 1_000_000, reasons[i % reasons.len()])?;
        }
    }
    Ok((ids_file, email_file))
}

/// Lead ids from here on name no lead of the bench database.
const NO_LEAD_IDS: i64 = 100_000_000;

/// A Lead ID file of `rows` rows: the campaign's leads in random order, then ids no lead has.
fn write_sized_file(dir: &Path, campaign_ids: &[i64], rows: usize) -> anyhow::Result<PathBuf> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(16);
    let mut ids = campaign_ids.to_vec();
    ids.shuffle(&mut rng);
    let path = dir.join(format!("reject-{rows}-lead-ids.csv"));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(w, "Lead ID,Rejection Reason")?;
    let past = (0_i64..).map(|k| NO_LEAD_IDS + k);
    for id in ids.into_iter().chain(past).take(rows) {
        writeln!(w, "{id},Wrong number")?;
    }
    w.flush()?;
    Ok(path)
}

/// The memory rounds (`--sizes`): a Lead ID task per size on a fresh copy of the database;
/// prints each one's time and peak RSS.
fn memory_rounds(args: &BenchArgs, db_path: &Path, pristine: &Path) -> anyhow::Result<()> {
    if args.sizes.is_empty() {
        return Ok(());
    }
    copy_synced(pristine, db_path)?;
    let campaign_ids: Vec<i64> = {
        let pool = db::connect(&sqlite_url(db_path), 2)?;
        let mut conn = pool.get()?;
        use app::db::schema::leads;
        leads::table
            .filter(leads::campaign_id.eq(1_i64))
            .select(leads::id)
            .order(leads::id)
            .load(&mut conn)?
    };
    for &rows in &args.sizes {
        let file = write_sized_file(&args.dir, &campaign_ids, rows)?;
        let size_mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
        copy_synced(pristine, db_path)?;
        let url = sqlite_url(db_path);
        let task = submit(&url, &args.dir, &file, None)?;
        let (secs, rss, done) = child_run(&url, &args.dir, task, args.batch_rows)?;
        println!(
            "memory: {rows} Lead ID rows ({size_mb:.0} MB file), all options: {done} rows in {secs:.1} s = {:.0} rows/s, peak RSS {:.0} MB",
            done as f64 / secs,
            rss as f64 / 1024.0
        );
        let _ = std::fs::remove_file(&file);
    }
    Ok(())
}

/// The rounds of the Lead ID task against the sqlite3 shell; prints each and the median ratio.
fn lead_id_rounds(args: &BenchArgs, db_path: &Path, pristine: &Path, ids_file: &Path) -> anyhow::Result<()> {
    // Each round: the sqlite3 shell on one fresh copy of the database, then the task on another.
    // Both copies are flushed to disk first, so neither run pays for the other's copy.
    let mut ratios = Vec::new();
    let mut slowdowns = Vec::new();
    for round in 1..=args.rounds {
        let baseline_db = args.dir.join("baseline.db");
        copy_synced(pristine, &baseline_db)?;
        copy_synced(pristine, db_path)?;
        let shell = shell_baseline(&baseline_db, ids_file)?;
        remove_db(&baseline_db);
        let url = sqlite_url(db_path);
        let lead_task = submit(&url, &args.dir, ids_file, None)?;
        let (secs, rss, rows) = child_run(&url, &args.dir, lead_task, args.batch_rows)?;
        println!(
            "round {round}: Lead IDs, all options: {rows} rows in {secs:.1} s = {:.0} rows/s, peak RSS {:.0} MB",
            rows as f64 / secs,
            rss as f64 / 1024.0
        );
        webhook_round(round, args, db_path, pristine, ids_file, secs, &mut slowdowns)?;
        match shell {
            Some(shell) => {
                println!(
                    "round {round}: sqlite3 shell, the same status changes (import, sort, UPDATE … FROM, commit): {shell:.1} s; ratio {:.2}×",
                    secs / shell
                );
                ratios.push(secs / shell);
            }
            None => println!("sqlite3 shell not found: no baseline (apt-get install sqlite3)"),
        }
    }
    print_median("the sqlite3 shell", &ratios);
    print_median("the same task without a webhook endpoint (issue 18: at most 1.15)", &slowdowns);
    Ok(())
}

/// The round's task again on a fresh copy with a webhook endpoint for Client Rejected and
/// Accepted (the outbox writes an event for each of the task's changes; nothing is sent: no
/// delivery worker runs here).
/// Prints its time, the events written, the outbox's share and the ratio to `plain_secs`.
fn webhook_round(
    round: usize,
    args: &BenchArgs,
    db_path: &Path,
    pristine: &Path,
    ids_file: &Path,
    plain_secs: f64,
    slowdowns: &mut Vec<f64>,
) -> anyhow::Result<()> {
    copy_synced(pristine, db_path)?;
    let url = sqlite_url(db_path);
    {
        let pool = db::connect(&url, 2)?;
        let mut conn = pool.get()?;
        let now = chrono::Utc::now().naive_utc();
        // Every change the task makes: its rejections and its moves to accepted.
        let input = app::db::webhooks::EndpointInput {
            url: "https://hooks.example.com/sendback".into(),
            statuses: vec![LeadStatus::ClientRejected, LeadStatus::Accepted],
            ..Default::default()
        };
        app::db::webhooks::create(&mut conn, app::db::audit::Actor::command_line(1), &input, false, now)
            .map_err(|e| anyhow::anyhow!("endpoint: {e}"))?;
    }
    let task = submit(&url, &args.dir, ids_file, None)?;
    let (secs, _, rows, outbox) = child_run_timed(&url, &args.dir, task, args.batch_rows)?;
    let events: i64 = {
        let pool = db::connect(&url, 2)?;
        let mut conn = pool.get()?;
        app::db::schema::webhook_events::table.count().get_result(&mut conn)?
    };
    let outbox = outbox.unwrap_or(0.0);
    println!(
        "round {round}: with a webhook endpoint: {rows} rows in {secs:.1} s, {events} events written (one per change); \
         the outbox took {outbox:.1} s = {:.1}% of the task; {:.2}× the task without it",
        100.0 * outbox / secs,
        secs / plain_secs
    );
    slowdowns.push(secs / plain_secs);
    Ok(())
}

/// Prints the median of the rounds' ratios (nothing when there are none).
pub(crate) fn print_median(baseline: &str, ratios: &[f64]) {
    if !ratios.is_empty() {
        let mut sorted = ratios.to_vec();
        sorted.sort_by(f64::total_cmp);
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "ratio to {baseline}: median {:.2}× (rounds: {})",
            sorted[sorted.len() / 2],
            shown.join(", ")
        );
    }
}

/// Removes a database file and its WAL and shared-memory files.
fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Copies a database file over `to` (dropping any WAL of the old one) and flushes it to disk.
fn copy_synced(from: &Path, to: &Path) -> anyhow::Result<()> {
    remove_db(to);
    std::fs::copy(from, to)?;
    std::fs::File::open(to)?.sync_all()?;
    Ok(())
}

/// Fills an empty migrated database with SQL (fast: SQLite generates the rows itself).
/// Returns the ids of the task's campaign's leads.
pub(crate) fn build(conn: &mut DbConn, n: i64) -> anyhow::Result<Vec<i64>> {
    let hash = app::auth::password::hash_password("bench-password").map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = hash.as_str();
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S").to_string();
    conn.batch_execute(&format!(
        "BEGIN;
        INSERT INTO instances (id, name, created_at) VALUES (1, 'Bench Leads', '{now}');
        INSERT INTO clients (id, instance_id, name) VALUES (1, 1, 'Bench Client');
        INSERT INTO users (id, instance_id, client_id, email, name, password_hash, role, created_at)
          VALUES (1, 1, 1, 'bench@sendback.test', 'Bench', '{hash}', 'client_user', '{now}');
        INSERT INTO user_permissions (user_id, permission, granted_at) VALUES (1, 'reject_leads', '{now}');
        INSERT INTO suppliers (id, instance_id, name) VALUES (1, 1, 'S1'), (2, 1, 'S2'), (3, 1, 'S3');
        INSERT INTO campaigns (id, instance_id, client_id, name, max_rejection_days, created_at) VALUES
          (1, 1, 1, 'Target', 30, '{now}'), (2, 1, 1, 'Other A', 30, '{now}'), (3, 1, 1, 'Other B', 30, '{now}');
        INSERT INTO campaign_fields (id, campaign_id, field_key, label, kind, dedupe, position)
          VALUES (1, 1, 'email', 'Email', 'email', 1, 0);
        INSERT INTO caps (id, campaign_id, supplier_id, period, cap_limit) VALUES (1, 1, NULL, 'day', 1000000), (2, 1, 1, 'week', 10000000);
        WITH RECURSIVE seq(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM seq WHERE k < {last})
        INSERT INTO leads (id, instance_id, campaign_id, supplier_id, uid, received_at, status, status_reason, cap_released, updated_at)
        SELECT 1000000 + k, 1, CASE WHEN k % 5 < 2 THEN 1 WHEN k % 5 < 4 THEN 2 ELSE 3 END, 1 + k % 3,
               'uid-' || k,
               datetime('{now}', '-' || (k * 7919 % 3888000) || ' seconds'),
               CASE k % 10 WHEN 7 THEN 'accepted' WHEN 8 THEN 'pending' ELSE 'received' END, NULL, 0,
               datetime('{now}', '-' || (k * 7919 % 3888000) || ' seconds')
        FROM seq;
        INSERT INTO lead_values (lead_id, field_id, value, normalized)
          SELECT id, 1, 'User' || (id - 1000000) || '@Example.com', 'user' || (id - 1000000) || '@example.com'
          FROM leads WHERE campaign_id = 1;
        INSERT INTO affiliate_events (lead_id, kind, name, cost_pence, revenue_pence, status, occurred_at)
          SELECT id, 'click', 'Click', 40, 0, 'approved', received_at FROM leads WHERE campaign_id = 1 AND id % 4 = 0;
        INSERT INTO cap_usage (cap_id, period_start, used)
          SELECT 1, date(received_at), COUNT(*) FROM leads WHERE campaign_id = 1 GROUP BY date(received_at);
        INSERT INTO cap_usage (cap_id, period_start, used)
          SELECT 2, date(received_at, '-' || ((CAST(strftime('%w', received_at) AS INTEGER) + 6) % 7) || ' days'), COUNT(*)
          FROM leads WHERE campaign_id = 1 AND supplier_id = 1 GROUP BY 2;
        COMMIT;
        ANALYZE;",
        last = n - 1
    ))?;
    use app::db::schema::leads;
    Ok(leads::table.filter(leads::campaign_id.eq(1_i64)).select(leads::id).order(leads::id).load(conn)?)
}

/// Stores `file` as the bench user's upload and submits a task on it (Lead ID, or the email
/// field); returns the task's id.
pub(crate) fn submit(url: &str, dir: &Path, file: &Path, field: Option<&str>) -> anyhow::Result<i64> {
    let pool = db::connect(url, 2)?;
    let mut conn = pool.get()?;
    let user = db::users::load_context(&mut conn, 1)?.context("bench user")?;
    let req = app::engine::task::TaskRequest {
        campaign_id: 1,
        mode: match field {
            Some(_) => IdentifierChoice::Field(1),
            None => IdentifierChoice::LeadId,
        },
        identifier_column: field.unwrap_or("Lead ID").to_owned(),
        reason_column: if field.is_some() { "reason".into() } else { "Rejection Reason".into() },
        reject_from: None,
        options: TaskOptions::ALL_ON,
        request_key: None,
    };
    let storage = app::engine::uploads::Storage::new(dir.join("uploads"));
    let now = chrono::Utc::now().naive_utc();
    // The app's own path: the file becomes the user's upload, then a task is submitted on it.
    let upload = app::engine::uploads::upload_local_file(&mut conn, &storage, &user, file, now)?;
    app::engine::task::submit_upload(&mut conn, &storage, &user, &req, upload, now)
        .map_err(|e| anyhow::anyhow!("submit: {e}"))
}

/// Runs the task in a child process on the database at `url`; returns (seconds, peak RSS in
/// KiB, rows).
pub(crate) fn child_run(
    url: &str,
    dir: &Path,
    task: i64,
    batch_rows: usize,
) -> anyhow::Result<(f64, u64, i64)> {
    child_run_timed(url, dir, task, batch_rows).map(|(secs, rss, rows, _)| (secs, rss, rows))
}

/// As [`child_run`], with the seconds the task spent writing the webhook outbox (from its
/// timings line).
fn child_run_timed(
    url: &str,
    dir: &Path,
    task: i64,
    batch_rows: usize,
) -> anyhow::Result<(f64, u64, i64, Option<f64>)> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["--data-dir", &dir.to_string_lossy(), "--database-url", url])
        .args(["bench", "--dir", &dir.to_string_lossy(), "--run-task", &task.to_string()])
        .args(["--batch-rows", &batch_rows.to_string()])
        .env("RUST_LOG", "warn,app::engine=info")
        // Plain log lines: the timings line is printed below.
        .env("NO_COLOR", "1")
        .output()?;
    if !out.status.success() {
        bail!("task run failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The task's per-phase timings (logged, so on standard error).
    let mut outbox = None;
    for line in String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("timings")) {
        println!("  {}", line.trim());
        outbox = line.split_whitespace().find_map(|w| w.strip_prefix("outbox=")).and_then(debug_secs);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("TASK ")).context("no figures from the task run")?;
    let parts: Vec<&str> = line.split_whitespace().collect();
    Ok((parts[1].parse()?, parts[2].parse()?, parts[3].parse()?, outbox))
}

/// Seconds of a `Duration` as `{:?}` prints it (`1.5s`, `830.2ms`, `12µs`, `40ns`).
fn debug_secs(text: &str) -> Option<f64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok()?;
    Some(match unit {
        "s" => n,
        "ms" => n / 1e3,
        "µs" | "us" => n / 1e6,
        "ns" => n / 1e9,
        _ => return None,
    })
}

/// In the child: run one task, print `TASK <seconds> <peak RSS KiB> <rows>`.
fn run_task(url: &str, dir: &Path, task: i64, batch_rows: usize) -> anyhow::Result<()> {
    // The worker's connection, its heartbeat's and the checkpointer's.
    let pool = db::connect(url, 3)?;
    // As in `sendback serve` (nothing on PostgreSQL).
    let _checkpointer = db::start_checkpointer(&pool, db::CHECKPOINT_EVERY);
    let storage = app::engine::uploads::Storage::new(dir.join("uploads"));
    let mut worker =
        app::engine::worker::Worker::new(pool.clone(), storage, std::sync::Arc::new(app::clock::SystemClock));
    worker.batch_rows = batch_rows;
    let started = Instant::now();
    let (id, end) = worker.run_one(app::engine::task::RunLimits::default())?.context("no task to run")?;
    let secs = started.elapsed().as_secs_f64();
    if id != task || end != app::engine::task::RunEnd::Completed {
        bail!("task {id} ended {end:?}");
    }
    // The peak so far is the task's own (counting the results below is the benchmark's).
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0_u64);
    let mut conn = pool.get()?;
    let counts = app::engine::task::outcome_counts(&mut conn, task)?;
    let rows: i64 = counts.iter().map(|(_, n)| n).sum();
    eprintln!("outcomes: {counts:?}");
    println!("TASK {secs} {rss} {rows}");
    Ok(())
}

/// The sqlite3 shell applying the same status changes as the task (inside the window → client
/// rejected; outside → accepted; then the campaign's remaining received leads → accepted):
/// import the file, sort by id, `UPDATE … FROM`, commit. No history, outcomes, events or caps.
/// `None` when the shell is not installed.
fn shell_baseline(db: &Path, ids_file: &Path) -> anyhow::Result<Option<f64>> {
    if Command::new("sqlite3").arg("--version").output().is_err() {
        return Ok(None);
    }
    let script = format!(
        ".output /dev/null
PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-2000000;
.output stdout
.mode csv
.import {file} incoming
BEGIN;
CREATE TEMP TABLE sorted AS SELECT CAST(\"Lead ID\" AS INTEGER) AS id, \"Rejection Reason\" AS reason FROM incoming ORDER BY 1;
UPDATE leads SET status = 'client_rejected', status_reason = sorted.reason FROM sorted
  WHERE leads.id = sorted.id AND leads.campaign_id = 1 AND leads.status IN ('received', 'accepted', 'sale')
    AND date(leads.received_at) >= date('now', '-30 days');
UPDATE leads SET status = 'accepted' FROM sorted
  WHERE leads.id = sorted.id AND leads.campaign_id = 1 AND leads.status = 'received';
UPDATE leads SET status = 'accepted' WHERE campaign_id = 1 AND status = 'received' AND received_at < date('now', '+1 day');
COMMIT;",
        file = ids_file.display()
    );
    let started = Instant::now();
    let mut child = Command::new("sqlite3").arg(db).stdin(std::process::Stdio::piped()).spawn()?;
    child.stdin.take().context("stdin")?.write_all(script.as_bytes())?;
    let status = child.wait()?;
    if !status.success() {
        bail!("the sqlite3 shell failed");
    }
    Ok(Some(started.elapsed().as_secs_f64()))
}
