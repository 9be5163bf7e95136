//! `sendback bench-webhooks`: the delivery worker's rate (issue 18) on SQLite. A fresh database
//! (the engine benchmark's shape, `--leads` leads), one endpoint pointing at a receiver served in
//! this process on a local port, `--events` pending events written as a task's outbox writes
//! them (one per status change, from history rows), then the server's delivery worker — the
//! same code `sendback serve` runs, with `--concurrency` requests at once (a quarter of them per
//! endpoint) — until every event is delivered. Prints events/s, the receiver's count and that
//! every signature verified, and peak RSS.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use app::db::audit::Actor;
use app::db::schema::lead_status_history;
use app::db::webhooks::{self, EndpointInput};
use app::engine::webhooks::{DeliverySettings, DeliveryWorker, sign};
use axum::http::{HeaderMap, StatusCode};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;

use crate::bench_intake::WorkDir;

/// The target on this machine.
const TARGET_EVENTS_PER_SEC: f64 = 1000.0;

#[derive(Debug, clap::Args)]
pub struct WebhooksArgs {
    /// Events to deliver.
    #[arg(long, default_value_t = 50_000)]
    pub events: i64,
    /// Leads in the database (the events are spread over the task campaign's leads).
    #[arg(long, default_value_t = 200_000)]
    pub leads: i64,
    /// Requests in flight at once (a quarter, at least 4, to the one endpoint), as
    /// `serve --webhook-concurrency`.
    #[arg(long, default_value_t = 32)]
    pub concurrency: u32,
    /// Working directory; default: a temporary one, removed afterwards.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn main(args: WebhooksArgs) -> anyhow::Result<()> {
    let dir = WorkDir::new(args.dir.clone())?;
    let db_path = dir.path.join("bench-webhooks.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    let url = format!("sqlite://{}", db_path.display());
    let pool = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || app::db::connect(&url, 8)).await??
    };

    // The receiver: counts requests and checks each signature.
    let secret: Arc<std::sync::Mutex<String>> = Arc::default();
    let (received, verified) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (s, r, v) = (secret.clone(), received.clone(), verified.clone());
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (s, r, v) = (s.clone(), r.clone(), v.clone());
            async move {
                let h = |n: &str| headers.get(n).and_then(|x| x.to_str().ok()).unwrap_or("").to_owned();
                let ts = h("webhook-timestamp").parse().unwrap_or(0);
                if sign::verify(
                    &s.lock().map(|g| g.clone()).unwrap_or_default(),
                    &h("webhook-id"),
                    ts,
                    &body,
                    &h("webhook-signature"),
                ) {
                    v.fetch_add(1, Ordering::Relaxed);
                }
                r.fetch_add(1, Ordering::Relaxed);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let started = Instant::now();
    let (events, leads) = (args.events, args.leads);
    let made_secret = app::db::run(&pool, move |conn| {
        crate::bench::build(conn, leads).map_err(|e| app::db::DbError::Inconsistent(e.to_string()))?;
        let now = chrono::Utc::now().naive_utc();
        let input = EndpointInput { url: hook, ..EndpointInput::default() };
        let made = webhooks::create(conn, Actor::command_line(1), &input, true, now)
            .map_err(|e| app::db::DbError::Inconsistent(e.to_string()))?;
        // One change per event, spread over the campaign's leads (a lead changes again only
        // after every lead has changed once), and its event, as the outbox writes them.
        let stamp = now.format("%Y-%m-%d %H:%M:%S");
        let mut left = events;
        conn.batch_execute("BEGIN;")?;
        while left > 0 {
            // (Rounds past the campaign's leads give a lead a second change; its events then
            // go out in order.)
            let n = conn.batch_execute(&format!(
                "INSERT INTO lead_status_history (lead_id, from_status, to_status, reason, source, changed_at)
                 SELECT id, 'received', 'client_rejected', 'Bench', 'rejection_task', '{stamp}'
                 FROM leads WHERE campaign_id = 1 ORDER BY id LIMIT {left};"
            ));
            n?;
            let written: i64 = lead_status_history::table.count().get_result(conn)?;
            left = events - written;
        }
        conn.batch_execute(&format!(
            "INSERT INTO webhook_events (endpoint_id, history_id, lead_id, state, attempts, next_attempt_at, created_at)
             SELECT {endpoint}, id, lead_id, 'pending', 0, '{stamp}', '{stamp}' FROM lead_status_history ORDER BY id;
             COMMIT;
             ANALYZE;",
            endpoint = made.id,
        ))?;
        Ok(made.secret)
    })
    .await?;
    if let Ok(mut guard) = secret.lock() {
        *guard = made_secret;
    }
    let written: i64 = count(&pool, "SELECT COUNT(*) AS n FROM webhook_events").await?;
    println!(
        "built {leads} leads and {written} pending events in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        db_path.display()
    );
    if written != events {
        bail!("expected {events} events, wrote {written}");
    }

    let settings = DeliverySettings::with_total(usize::try_from(args.concurrency).unwrap_or(32), true);
    let worker = DeliveryWorker::new(pool.clone(), Arc::new(app::clock::SystemClock), settings)
        .map_err(anyhow::Error::msg)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn(worker.run_forever(stopped));
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let delivered =
            count(&pool, "SELECT COUNT(*) AS n FROM webhook_events WHERE state = 'delivered'").await?;
        if delivered == events {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {delivered} of {events} events delivered in 10 minutes");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = running.await;
    let (got, ok) = (received.load(Ordering::Relaxed), verified.load(Ordering::Relaxed));
    let rate = events as f64 / secs;
    println!(
        "delivered {events} events in {secs:.1} s = {rate:.0} events/s ({} at once, {} per endpoint); \
         the receiver got {got} requests, {ok} with a valid signature; peak RSS {:.0} MB",
        settings.total,
        settings.per_endpoint,
        crate::bench_import::peak_rss_kb() as f64 / 1024.0
    );
    println!(
        "target: at least {TARGET_EVENTS_PER_SEC:.0} events/s: {}",
        if rate >= TARGET_EVENTS_PER_SEC { "met" } else { "NOT met" }
    );
    if got < events as u64 || ok < got {
        bail!("the receiver got {got} requests for {events} events, {ok} verified");
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(pool: &app::db::Pool, sql: &'static str) -> anyhow::Result<i64> {
    let rows: Vec<Count> =
        app::db::run(pool, move |conn| Ok(diesel::sql_query(sql).load(conn)?)).await.context("counting")?;
    Ok(rows.first().map_or(0, |c| c.n))
}
