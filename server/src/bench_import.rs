//! `sendback bench-import`: throughput of a bulk lead import on SQLite (issue 14): a fresh
//! database with the intake benchmark's campaign (email deduplicated, phone, first name) and
//! supplier, a generated CSV of `--rows` leads (unique emails, phones, names and received
//! times), imported as owner staff through the same submit and runner the worker uses. Prints
//! rows per second and the peak RSS; checks every row became a lead.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use app::db::{self, DbError};
use app::domain::lead_import::{ColumnUse, ImportForm};
use app::engine::lead_import::{self, ImportRunner};
use app::engine::task::RunEnd;
use app::engine::uploads::{Storage, upload_local_file};
use diesel::prelude::*;

use crate::bench_intake::{WorkDir, set_up};

/// Target of issue 14 on this machine.
const TARGET_ROWS_PER_SEC: f64 = 50_000.0;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Rows in the generated file.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub rows: u64,
    /// Rows per batch (one transaction each).
    #[arg(long, default_value_t = lead_import::DEFAULT_BATCH_ROWS as u64)]
    pub batch_rows: u64,
    /// Directory for the database and the file (replaced and kept). Default: a temporary
    /// directory, removed afterwards.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn main(database: &crate::config::DatabaseArgs, args: ImportArgs) -> anyhow::Result<()> {
    if database.database_url.as_deref().is_some_and(|u| !u.trim().is_empty()) {
        eprintln!(
            "note: --database-url (DATABASE_URL) is ignored: the benchmark makes its own SQLite database"
        );
    }
    let pool_size = database.pool_size;
    tokio::task::spawn_blocking(move || run(pool_size, args)).await?
}

fn run(pool_size: u32, args: ImportArgs) -> anyhow::Result<()> {
    let dir = WorkDir::new(args.dir.clone())?;
    let db_path = dir.path.join("bench-import.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db_path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(&p));
    }
    let pool =
        db::connect(&format!("sqlite://{}", db_path.display()), pool_size).context("opening the database")?;
    let _checkpointer = db::start_checkpointer(&pool, db::CHECKPOINT_EVERY);
    let mut conn = pool.get().context("a database connection")?;
    let target = set_up(&mut conn, None)?;
    let owner = {
        use app::db::schema::users;
        let id: i64 = users::table
            .filter(users::email.eq("owner@bench-intake.test"))
            .select(users::id)
            .first(&mut conn)
            .context("the owner")?;
        app::db::users::load_context(&mut conn, id)?.context("the owner's context")?
    };

    let file = dir.path.join("bench-import.csv");
    let started = Instant::now();
    write_file(&file, args.rows).context("writing the file")?;
    let size = std::fs::metadata(&file)?.len();
    println!(
        "bench-import: {} rows ({:.1} MB) generated in {:.2} s: {}",
        args.rows,
        size as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        file.display()
    );

    let now = chrono::Utc::now().naive_utc();
    let storage = Storage::new(dir.path.join("uploads"));
    let upload = upload_local_file(&mut conn, &storage, &owner, &file, now)?;
    let fields: Vec<(i64, String)> = {
        use app::db::schema::campaign_fields;
        campaign_fields::table
            .filter(campaign_fields::campaign_id.eq(target.campaign_id))
            .select((campaign_fields::id, campaign_fields::field_key))
            .load(&mut conn)?
    };
    let field =
        |key: &str| fields.iter().find(|f| f.1 == key).map(|f| ColumnUse::Field(f.0)).context("a field");
    let form = ImportForm {
        upload_id: upload,
        campaign_id: Some(target.campaign_id),
        supplier_id: Some(target.supplier_id),
        columns: vec![field("email")?, field("phone")?, field("first_name")?, ColumnUse::ReceivedAt],
        apply_caps: false,
    };
    let import_id = lead_import::submit(&mut conn, &storage, &owner, &form, now)?;

    let clock = Arc::new(app::clock::SystemClock);
    let worker = "bench-import";
    let started = Instant::now();
    let claimed = lead_import::claim_next(
        &mut conn,
        worker,
        now,
        app::engine::lease::LeaseSettings::default().stale_after,
    )?
    .context("the import was not claimed")?;
    if claimed != import_id {
        bail!("claimed import {claimed}, expected {import_id}");
    }
    let mut runner = ImportRunner::new(&storage, worker, &*clock);
    runner.batch_rows = usize::try_from(args.batch_rows)?;
    let end = runner.run(&mut conn, import_id, None)?;
    let secs = started.elapsed().as_secs_f64();
    if end != RunEnd::Completed {
        bail!("the import ended {end:?}");
    }
    let rss_kb = peak_rss_kb();
    let (created, refused): (i64, i64) = {
        use app::db::schema::lead_imports;
        lead_imports::table
            .find(import_id)
            .select((lead_imports::leads_created, lead_imports::rows_refused))
            .first(&mut conn)?
    };
    let stored: i64 = {
        use app::db::schema::leads;
        leads::table.count().get_result(&mut conn).map_err(DbError::from)?
    };
    let rate = args.rows as f64 / secs;
    let met = if rate >= TARGET_ROWS_PER_SEC { "met" } else { "MISSED" };
    println!("import: {} rows in {secs:.2} s, batches of {}", args.rows, args.batch_rows);
    println!("throughput: {rate:.0} rows/s (target ≥ {TARGET_ROWS_PER_SEC:.0}: {met})");
    println!("peak RSS: {:.0} MB", rss_kb as f64 / 1024.0);
    println!("database: {created} leads created, {refused} rows refused, {stored} leads stored");
    if u64::try_from(created).ok() != Some(args.rows) || refused != 0 || created != stored {
        bail!("expected {} leads created and none refused", args.rows);
    }
    Ok(())
}

/// Unique emails, phones and names, received over the last 30 days.
fn write_file(path: &std::path::Path, rows: u64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "email,phone,first_name,received_at")?;
    let start = chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(30);
    for i in 0..rows {
        let at = start + chrono::TimeDelta::seconds(i64::try_from(i % (29 * 86_400)).unwrap_or(0));
        writeln!(
            out,
            "lead{i}@bench-import.example,07{:09},Name {i},{}",
            i % 1_000_000_000,
            at.format("%Y-%m-%d %H:%M:%S")
        )?;
    }
    out.flush()
}

pub(crate) fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
