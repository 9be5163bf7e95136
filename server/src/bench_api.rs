//! `sendback bench-api`: throughput and latency of the single-lead Reject API
//! (`POST /api/v1/lead-status/reject/{lead_id}`, issue 19) on SQLite: a fresh database with one
//! client campaign of delivered leads inside the rejection window and a client user's API key,
//! the real router served on a free local port in this process, and `--rejects` rejections of
//! distinct leads over `--concurrency` keep-alive HTTP/1.1 connections (the client of
//! `bench-intake`); every answer and the rejected lead count in the database are checked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use app::api::auth::{ApiLimits, set_api_limits};
use app::db::audit::Actor;
use app::db::setup::{campaigns, caps, clients, instances, suppliers};
use app::db::users::{self, NewClientUser};
use app::db::{self, DbConn, DbError};
use app::domain::caps::CapPeriod;
use app::domain::identifiers::FieldKind;
use app::domain::setup::FieldSpec;
use app::state::{AppState, NetworkSettings, SessionSettings, UploadSettings};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;

use crate::bench_intake::{Answer, Client, PhaseResult, RequestFn, WorkDir, ms, phase};

/// Targets of issue 19 on this machine.
const TARGET_REJECTS_PER_SEC: f64 = 1000.0;
const TARGET_P99_MS: f64 = 50.0;
/// Failed answers shown in full (the rest are only counted).
const SHOWN_FAILURES: usize = 5;
/// The campaign's maximum rejection days; leads are received within the last 29 days.
const MAX_REJECTION_DAYS: i32 = 30;

#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Rejections sent and measured, each of a different lead.
    #[arg(long, default_value_t = 20_000)]
    pub rejects: usize,
    /// Keep-alive HTTP/1.1 connections rejecting at the same time.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Rejections sent first over the same connections and not measured.
    #[arg(long, default_value_t = 500)]
    pub warm_up: usize,
    /// Delivered leads in the campaign (the rejected ones are picked among them at random); at
    /// least warm-up + rejects.
    #[arg(long, default_value_t = 100_000)]
    pub leads: usize,
    /// Send `reject_affiliate_events=true`: each rejection also rejects the lead's approved
    /// affiliate events (a quarter of the leads have one).
    #[arg(long)]
    pub reject_affiliate_events: bool,
    /// Send `count_towards_cap=true`: each rejection gives a unit back to the campaign's daily
    /// cap and the supplier's weekly cap.
    #[arg(long)]
    pub count_towards_cap: bool,
    /// The key's rate limit in requests a second (the limiter still runs). Default: lifted, so
    /// the benchmark's one key is not refused (`serve` uses 20 a second, bursts of 100).
    #[arg(long, default_value_t = u32::MAX)]
    pub rate_per_second: u32,
    /// The key's burst. Default: lifted, as `--rate-per-second`.
    #[arg(long, default_value_t = u32::MAX)]
    pub burst: u32,
    /// Directory for the database (`bench-api.db`, replaced and kept). Default: a temporary
    /// directory, removed afterwards. (`--data-dir` and `--database-url` are not used; the pool
    /// size is the global `--pool-size`, 8 by default as for serve.)
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn main(database: &crate::config::DatabaseArgs, args: ApiArgs) -> anyhow::Result<()> {
    let pool_size = database.pool_size;
    if database.database_url.as_deref().is_some_and(|u| !u.trim().is_empty()) {
        eprintln!(
            "note: --database-url (DATABASE_URL) is ignored: the benchmark makes its own SQLite database"
        );
    }
    let total = args.warm_up + args.rejects;
    if args.leads < total.max(1) {
        bail!("--leads {} is fewer than warm-up + rejects ({total})", args.leads);
    }
    let dir = WorkDir::new(args.dir.clone())?;
    let db_path = dir.path.join("bench-api.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db_path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(PathBuf::from(&p)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", PathBuf::from(p).display()));
            }
            _ => {}
        }
    }
    let url = format!("sqlite://{}", db_path.display());
    let pool = tokio::task::spawn_blocking(move || db::connect(&url, pool_size))
        .await?
        .context("opening the benchmark database")?;
    let leads = args.leads;
    let target = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Target> {
            let mut conn = pool.get().context("a database connection")?;
            set_up(&mut conn, leads)
        })
        .await??
    };
    // The lead ids rejected, in a fixed random order: request i rejects `ids[i]`.
    let mut ids = target.lead_ids.clone();
    ids.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(19));
    ids.truncate(total);
    let ids = Arc::new(ids);

    let limits = ApiLimits { per_second: args.rate_per_second, burst: args.burst };
    set_api_limits(limits);

    // As in `sendback serve`: the same router, pool and WAL checkpointer (no rejection worker:
    // it has no task to run here).
    let state = AppState {
        writer: app::db::group::GroupWriter::new(pool.clone()),
        pool: pool.clone(),
        leptos_options: leptos::config::LeptosOptions::builder().output_name("sendback").build(),
        clock: Arc::new(app::clock::SystemClock),
        sessions: SessionSettings::default(),
        uploads: UploadSettings::new(dir.path.join("uploads")),
        network: NetworkSettings::default(),
    };
    let _checkpointer = db::start_checkpointer(&pool, db::CHECKPOINT_EVERY);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding a local port")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = server::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(server::no_delay(listener), service)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });

    println!(
        "bench-api: POST /api/v1/lead-status/reject/{{lead_id}} on SQLite ({}), pool size {pool_size}, served on http://{addr} in this process",
        db_path.display()
    );
    println!(
        "campaign {}: {} delivered leads received in the last 29 days (max rejection days {MAX_REJECTION_DAYS}), a quarter with an approved affiliate event, a daily campaign cap and a weekly supplier cap",
        target.campaign_id, args.leads
    );
    println!(
        "options sent: reason{}{}",
        if args.reject_affiliate_events { ", reject_affiliate_events=true" } else { "" },
        if args.count_towards_cap { ", count_towards_cap=true" } else { "" }
    );
    let lifted = |n: u32| if n == u32::MAX { "lifted (u32::MAX)".to_owned() } else { n.to_string() };
    println!(
        "rate limit: set for the key in this process (set_api_limits), not by serve flags: per second {}, burst {} (serve's default: 20 a second, burst 100); the limiter still runs for every request",
        lifted(limits.per_second),
        lifted(limits.burst)
    );
    let concurrency = usize::try_from(args.concurrency)?;
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        connections.push(Client::connect(addr).await?);
    }
    let parts = Arc::new(RequestParts {
        host: addr.to_string(),
        key: target.key.clone(),
        options: format!(
            "{}{}",
            if args.reject_affiliate_events { "&reject_affiliate_events=true" } else { "" },
            if args.count_towards_cap { "&count_towards_cap=true" } else { "" }
        ),
        ids,
    });
    let request: RequestFn = Arc::new(move |i| parts.request(i));

    let (connections, warm) = phase(connections, 0..args.warm_up, request.clone(), check).await;
    if args.warm_up > 0 {
        println!(
            "warm-up: {} rejects over the same connections in {:.2} s (not measured)",
            args.warm_up,
            warm.wall.as_secs_f64()
        );
    }
    let (connections, run) = phase(connections, args.warm_up..total, request, check).await;
    drop(connections);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .context("the server did not stop")??
        .context("serving HTTP")?;
    let rss_kb = crate::bench_import::peak_rss_kb();

    let stored = db::run(&pool, stored).await.context("counting the rejected leads")?;

    report(&args, concurrency, &run);
    println!("peak RSS: {:.0} MB (the whole process: server, database and client)", rss_kb as f64 / 1024.0);
    println!(
        "database: {} leads client_rejected, {} status history rows by the key's user, {} affiliate events rejected ({} warm-up + {} measured; expected {total})",
        stored.rejected, stored.history, stored.events_rejected, args.warm_up, args.rejects
    );
    let non_200: usize =
        warm.http.iter().chain(&run.http).filter(|(code, _)| **code != 200).map(|(_, n)| n).sum();
    let failures = warm.failures.len() + run.failures.len() + warm.unsent + run.unsent;
    for failure in warm.failures.iter().chain(&run.failures).take(SHOWN_FAILURES) {
        eprintln!("failed: {failure}");
    }
    if non_200 > 0 || failures > 0 {
        bail!(
            "{non_200} non-200 answers; {failures} of {total} requests failed (any answer but a successful rejection) or were not sent"
        );
    }
    let expected = i64::try_from(total)?;
    if stored.rejected != expected || stored.history != expected {
        bail!(
            "{} leads client_rejected and {} history rows, expected {expected} of each",
            stored.rejected,
            stored.history
        );
    }
    Ok(())
}

fn report(args: &ApiArgs, concurrency: usize, run: &PhaseResult) {
    let mut times = run.latencies.clone();
    times.sort();
    let secs = run.wall.as_secs_f64();
    let rate = if secs > 0.0 { run.latencies.len() as f64 / secs } else { 0.0 };
    let pct = |q: f64| -> f64 {
        if times.is_empty() {
            return 0.0;
        }
        let i = ((times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(times.len() - 1);
        ms(times[i])
    };
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let p99 = pct(0.99);
    println!("rejects: {} measured ({} answered)", args.rejects, run.latencies.len());
    println!("concurrency: {concurrency} keep-alive HTTP/1.1 connections");
    println!("wall time: {secs:.2} s");
    println!(
        "throughput: {rate:.0} rejects/s (target ≥ {TARGET_REJECTS_PER_SEC:.0}: {})",
        met(rate >= TARGET_REJECTS_PER_SEC)
    );
    println!(
        "latency: p50 {:.2} ms, p95 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms (target p99 ≤ {TARGET_P99_MS:.0} ms: {})",
        pct(0.50),
        pct(0.95),
        times.last().map_or(0.0, |d| ms(*d)),
        met(p99 <= TARGET_P99_MS)
    );
    let http: Vec<String> = run.http.iter().map(|(code, n)| format!("{code} × {n}")).collect();
    let non_200: usize = run.http.iter().filter(|(code, _)| **code != 200).map(|(_, n)| n).sum();
    println!("HTTP statuses: {} (non-200: {non_200})", http.join(", "));
}

/// The client campaign, its leads and the API key.
struct Target {
    campaign_id: i64,
    /// Every lead of the campaign, by id.
    lead_ids: Vec<i64>,
    key: String,
}

/// Sets up, as the command line and pages would, an instance, a client with a campaign
/// (`max_rejection_days` 30, an email field, a daily campaign cap and a weekly supplier cap), a
/// supplier, and a client user holding "Reject Leads as a Client" with an API key; then fills the
/// campaign with `leads` delivered leads (`received`, `accepted` or `sale`) received over the
/// last 29 days, their cap usage and an approved affiliate event on every fourth, with SQL.
fn set_up(conn: &mut DbConn, leads: usize) -> anyhow::Result<Target> {
    let now = chrono::Utc::now().naive_utc();
    let hash = app::auth::password::hash_password("bench-api-password")
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    let new = instances::NewInstance {
        name: "Bench API",
        owner_email: "owner@bench-api.test",
        owner_name: "Owner",
        password_hash: hash.as_str(),
    };
    let (instance_id, owner_id) = instances::create(conn, &new, now).context("creating the instance")?;
    let owner = users::load_context(conn, owner_id)?.context("the owner just created")?;
    let actor = Actor::command_line(instance_id);
    let client_id = clients::create(conn, actor, "Bench Client", now).context("creating the client")?;
    let fields =
        [FieldSpec { key: "email".into(), label: "Email".into(), kind: FieldKind::Email, dedupe: true }];
    let new = campaigns::NewCampaign {
        client_id,
        name: "Bench API",
        max_rejection_days: Some(MAX_REJECTION_DAYS),
        fields: &fields,
    };
    let campaign_id = campaigns::create(conn, actor, &new, now).context("creating the campaign")?;
    let supplier_id =
        suppliers::create(conn, actor, "Bench Supplier", now).context("creating the supplier")?;
    suppliers::set_campaigns(conn, actor, supplier_id, &[campaign_id], now)
        .context("linking the supplier to the campaign")?;
    let limit = i64::try_from(leads)?.max(1) * 10;
    let day_cap = caps::add(conn, actor, campaign_id, None, CapPeriod::Day, limit, now)
        .context("adding the daily cap")?;
    let week_cap = caps::add(conn, actor, campaign_id, Some(supplier_id), CapPeriod::Week, limit, now)
        .context("adding the weekly cap")?;
    let new = NewClientUser {
        email: "client@bench-api.test",
        name: "Bench Client User",
        client_id,
        password_hash: hash.as_str(),
    };
    let user_id = users::create_client_user(conn, &owner, &new, now).context("creating the client user")?;
    if !users::set_reject_permission(conn, &owner, user_id, true, now)? {
        bail!("granting Reject Leads as a Client: the user was not found");
    }
    let holder = users::load_context(conn, user_id)?.context("the client user just created")?;
    let (_, key) = app::db::keys::create_client_key(conn, actor, &holder, "Bench", now)
        .context("creating the API key")?;

    // One statement generates the leads (fast: SQLite makes the rows itself).
    let at = now.format("%Y-%m-%d %H:%M:%S").to_string();
    let window_secs = 29 * 86_400;
    conn.batch_execute(&format!(
        "BEGIN;
        WITH RECURSIVE seq(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM seq WHERE k < {last})
        INSERT INTO leads (id, instance_id, campaign_id, supplier_id, uid, received_at, status, status_reason, cap_released, updated_at)
        SELECT 1000000 + k, {instance_id}, {campaign_id}, {supplier_id}, 'bench-api-' || k,
               datetime('{at}', '-' || (k * 7919 % {window_secs}) || ' seconds'),
               CASE k % 10 WHEN 7 THEN 'accepted' WHEN 8 THEN 'sale' ELSE 'received' END, NULL, 0,
               datetime('{at}', '-' || (k * 7919 % {window_secs}) || ' seconds')
        FROM seq;
        INSERT INTO lead_values (lead_id, field_id, value, normalized)
          SELECT l.id, f.id, 'lead' || l.id || '@Bench-Api.example', 'lead' || l.id || '@bench-api.example'
          FROM leads l JOIN campaign_fields f ON f.campaign_id = l.campaign_id WHERE l.campaign_id = {campaign_id};
        INSERT INTO affiliate_events (lead_id, kind, name, cost_pence, revenue_pence, status, occurred_at)
          SELECT id, 'click', 'Click', 40, 0, 'approved', received_at FROM leads
          WHERE campaign_id = {campaign_id} AND id % 4 = 0;
        INSERT INTO cap_usage (cap_id, period_start, used)
          SELECT {day_cap}, date(received_at), COUNT(*) FROM leads WHERE campaign_id = {campaign_id}
          GROUP BY date(received_at);
        INSERT INTO cap_usage (cap_id, period_start, used)
          SELECT {week_cap}, date(received_at, '-' || ((CAST(strftime('%w', received_at) AS INTEGER) + 6) % 7) || ' days'), COUNT(*)
          FROM leads WHERE campaign_id = {campaign_id} AND supplier_id = {supplier_id} GROUP BY 2;
        COMMIT;
        ANALYZE;",
        last = leads - 1
    ))
    .context("generating the leads")?;
    use app::db::schema::leads as l;
    let lead_ids: Vec<i64> =
        l::table.filter(l::campaign_id.eq(campaign_id)).select(l::id).order(l::id).load(conn)?;
    if lead_ids.len() != leads {
        bail!("{} leads generated, expected {leads}", lead_ids.len());
    }
    Ok(Target { campaign_id, lead_ids, key })
}

/// What every request shares, and the lead each rejects.
struct RequestParts {
    host: String,
    key: String,
    /// `&reject_affiliate_events=true` and/or `&count_towards_cap=true`, or nothing.
    options: String,
    ids: Arc<Vec<i64>>,
}

impl RequestParts {
    /// Rejection `i`: lead `ids[i]` with a reason, the key as `Authorization: Bearer`.
    fn request(&self, i: usize) -> Vec<u8> {
        let body = format!("reason=Bench+reject+{i}{}", self.options);
        let mut req = format!(
            "POST /api/v1/lead-status/reject/{} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            self.ids[i],
            self.host,
            self.key,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body.as_bytes());
        req
    }
}

/// An answer is HTTP 200 with `"result":"success"`; counts its `status`.
fn check(answer: &Answer, statuses: &mut BTreeMap<String, usize>) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(&answer.body);
    if answer.status != 200 {
        bail!("HTTP {}: {text}", answer.status);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&answer.body).with_context(|| format!("not JSON: {text}"))?;
    if json["result"] != "success" {
        bail!("not rejected: {text}");
    }
    let status = json["status"].as_str().context("an answer without a status")?;
    *statuses.entry(status.to_owned()).or_default() += 1;
    Ok(())
}

/// What the database holds after the run.
struct Stored {
    rejected: i64,
    history: i64,
    events_rejected: i64,
}

fn stored(conn: &mut DbConn) -> Result<Stored, DbError> {
    use app::db::schema::{affiliate_events, lead_status_history, leads};
    let rejected = leads::table.filter(leads::status.eq("client_rejected")).count().get_result(conn)?;
    let history = lead_status_history::table
        .filter(
            lead_status_history::to_status
                .eq("client_rejected")
                .and(lead_status_history::source.eq("user"))
                .and(lead_status_history::actor_user_id.is_not_null()),
        )
        .count()
        .get_result(conn)?;
    let events_rejected =
        affiliate_events::table.filter(affiliate_events::status.eq("rejected")).count().get_result(conn)?;
    Ok(Stored { rejected, history, events_rejected })
}
