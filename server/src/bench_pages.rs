//! `sendback bench-pages`: latency and throughput of the lead pages (issues 6 and 21).
//!
//! Builds (once, in `--dir`) a database of `--leads` generated leads — or the demo data as
//! `serve` seeds it (`--demo`) — serves the real router on a free local port in this process,
//! logs in as a client user and sends `--requests` page requests per scenario over
//! `--concurrency` keep-alive HTTP/1.1 connections (`Accept: text/html`, as a browser asks for
//! a page). Prints p50/p99/max latency and requests per second for the lead page, All leads
//! (the first page and a deep keyset page) and a search by each kind of identifier (Lead ID,
//! UID, email, phone), each request on a different lead of the client's. Every answer must be
//! HTTP 200 with the lead or the matching row in it.
//!
//! With `--database-url postgres://…` the database is `sendback_bench_pages_<leads|demo>` on
//! that server, built once the same way and kept.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use app::db::{self, DbConn};
use app::state::{AppState, SessionSettings, UploadSettings};
use axum::body::Body;
use axum::http::{Request, header};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use rand::{Rng, SeedableRng};
use tower::ServiceExt;

use crate::bench_intake::{Answer, Client, RequestFn, phase};

/// The page targets of issue 21 at 50 connections: the lead page, then every list and search.
const TARGET_LEAD_PAGE_P99_MS: f64 = 25.0;
const TARGET_LIST_P99_MS: f64 = 50.0;
/// Leads, emails and phones sampled from the client's campaigns for the requests to name.
const SAMPLES: usize = 500;

#[derive(Debug, clap::Args)]
pub struct PagesArgs {
    /// Working directory (the database is built once and kept).
    #[arg(long, default_value = "target/bench-pages")]
    pub dir: PathBuf,
    /// Leads in the generated database (ignored with `--demo`).
    #[arg(long, default_value_t = 1_000_000)]
    pub leads: i64,
    /// Measure the demo data (as `serve` seeds it), as its client user, instead of generated
    /// leads.
    #[arg(long)]
    pub demo: bool,
    /// Requests per scenario (measured; a tenth as many more warm each scenario up first).
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// Only this scenario (lead-page, all-leads, deep-page, lead-id, uid, email, phone), e.g.
    /// to profile it.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Keep-alive connections sending at the same time (1: one request at a time).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,
}

/// The database measured and the client who logs in to it.
struct Prepared {
    url: String,
    shown: String,
    email: &'static str,
    password: &'static str,
}

pub fn main(args: PagesArgs, database: &crate::config::DatabaseArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let prepared = prepare(&args, database)?;
    let pool = db::connect(&prepared.url, database.pool_size)?;
    let samples = {
        let mut conn = pool.get()?;
        let total: i64 = app::db::schema::leads::table.count().get_result(&mut conn)?;
        println!("database: {} ({total} leads), pool size {}", prepared.shown, database.pool_size);
        Samples::load(&mut conn, prepared.email)?
    };
    let state = AppState {
        writer: app::db::group::GroupWriter::new(pool.clone()),
        pool,
        leptos_options: leptos::config::LeptosOptions::builder().output_name("sendback").build(),
        clock: Arc::new(app::clock::SystemClock),
        sessions: SessionSettings::default(),
        uploads: UploadSettings::new(args.dir.join("uploads")),
        network: app::state::NetworkSettings::default(),
    };
    // As `serve` runs it: WAL checkpoints, and the query planner's statistics kept current.
    let _checkpointer = db::start_checkpointer(&state.pool, db::CHECKPOINT_EVERY);
    let router = server::router(state);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(router, &args, &prepared, Arc::new(samples)))
}

async fn run(
    router: axum::Router,
    args: &PagesArgs,
    prepared: &Prepared,
    samples: Arc<Samples>,
) -> anyhow::Result<()> {
    let cookie = log_in(&router, prepared.email, prepared.password).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding a local port")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(server::no_delay(listener), service)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    let concurrency = usize::try_from(args.concurrency)?;
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        clients.push(Client::connect(addr).await?);
    }
    println!(
        "{} requests per scenario over {concurrency} keep-alive connection(s) to http://{addr} (router, \
         session, server-side rendering; logged in as {}):",
        args.requests, prepared.email
    );
    println!("  {:<34} {:>9} {:>9} {:>9} {:>9}", "scenario", "p50 ms", "p99 ms", "max ms", "req/s");
    let warm = (args.requests / 10).max(concurrency);
    let mut missed = Vec::new();
    let mut failures = 0;
    if let Some(only) = &args.scenario
        && !Scenario::ALL.iter().any(|s| s.key() == only)
    {
        let keys: Vec<_> = Scenario::ALL.iter().map(|s| s.key()).collect();
        bail!("no scenario {only:?} (one of {})", keys.join(", "));
    }
    for scenario in Scenario::ALL {
        if args.scenario.as_deref().is_some_and(|only| only != scenario.key()) {
            continue;
        }
        let request = request_fn(scenario, samples.clone(), addr, &cookie);
        let (kept, _) = phase(clients, 0..warm, request.clone(), check).await;
        let (kept, seen) = phase(kept, warm..warm + args.requests, request, check).await;
        clients = kept;
        let mut times = seen.latencies.clone();
        times.sort();
        let pct = |q: f64| {
            times
                .get(
                    ((times.len() as f64 * q).ceil() as usize)
                        .saturating_sub(1)
                        .min(times.len().saturating_sub(1)),
                )
                .map_or(f64::NAN, |d| crate::bench_intake::ms(*d))
        };
        let (p50, p99) = (pct(0.50), pct(0.99));
        println!(
            "  {:<34} {p50:>9.2} {p99:>9.2} {:>9.2} {:>9.0}",
            scenario.name(),
            times.last().map_or(f64::NAN, |d| crate::bench_intake::ms(*d)),
            times.len() as f64 / seen.wall.as_secs_f64()
        );
        let target =
            if scenario == Scenario::LeadPage { TARGET_LEAD_PAGE_P99_MS } else { TARGET_LIST_P99_MS };
        if p99 > target {
            missed.push(format!("{}: p99 {p99:.1} ms > {target} ms", scenario.name()));
        }
        for failure in seen.failures.iter().take(3) {
            eprintln!("failed: {}: {failure}", scenario.name());
        }
        failures += seen.failures.len() + seen.unsent;
        if clients.is_empty() {
            break;
        }
    }
    drop(clients);
    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), server).await;
    if concurrency == 50 {
        if missed.is_empty() {
            println!(
                "issue 21 targets at 50 connections (lead page p99 ≤ {TARGET_LEAD_PAGE_P99_MS} ms, lists and \
                 searches ≤ {TARGET_LIST_P99_MS} ms): met"
            );
        } else {
            println!("issue 21 targets at 50 connections missed: {}", missed.join("; "));
        }
    }
    if failures > 0 {
        bail!("{failures} requests failed or were not sent");
    }
    Ok(())
}

/// Builds the database once (or finds it built) and says who logs in.
fn prepare(args: &PagesArgs, database: &crate::config::DatabaseArgs) -> anyhow::Result<Prepared> {
    let label = if args.demo { "demo".to_owned() } else { args.leads.to_string() };
    let (url, shown, built) =
        match database.database_url.as_deref().filter(|u| crate::bench_pg::is_postgres(u)) {
            Some(admin) => {
                let name = format!("sendback_bench_pages_{label}");
                let url = crate::bench_pg::database_url(admin, &name);
                let missing = crate::bench_pg::create_if_missing(admin, &name)?;
                (url, format!("PostgreSQL database {name}"), !missing)
            }
            None => {
                let db_path = args.dir.join(format!("pages-{label}.db"));
                let exists = db_path.exists();
                (format!("sqlite://{}", db_path.display()), db_path.display().to_string(), exists)
            }
        };
    if !built {
        let started = Instant::now();
        let pool = db::connect(&url, 1)?;
        let mut conn = pool.get()?;
        if args.demo {
            db::seed::seed_demo(&mut conn, chrono::Utc::now().naive_utc())?;
        } else {
            if matches!(*conn, DbConn::Pg(_)) {
                crate::bench_pg::build(&mut conn, args.leads)?;
            } else {
                crate::bench::build(&mut conn, args.leads)?;
            }
            add_phone_field(&mut conn)?;
        }
        println!("built {label} leads in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(if args.demo {
        Prepared { url, shown, email: "client@sendback.test", password: app::db::seed::DEMO_PASSWORD }
    } else {
        Prepared { url, shown, email: "bench@sendback.test", password: "bench-password" }
    })
}

/// The generated database has an email field on its first campaign; a phone field on the second
/// lets the benchmark search by phone too.
fn add_phone_field(conn: &mut DbConn) -> anyhow::Result<()> {
    conn.batch_execute(
        "INSERT INTO campaign_fields (id, campaign_id, field_key, label, kind, dedupe, position)
           VALUES (2, 2, 'phone', 'Phone', 'phone', TRUE, 0);
         INSERT INTO lead_values (lead_id, field_id, value, normalized)
           SELECT id, 2, '07' || CAST(100000000 + id - 1000000 AS TEXT), '07' || CAST(100000000 + id - 1000000 AS TEXT)
           FROM leads WHERE campaign_id = 2;
         ANALYZE;",
    )?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    LeadPage,
    AllLeads,
    DeepPage,
    ByLeadId,
    ByUid,
    ByEmail,
    ByPhone,
}

impl Scenario {
    const ALL: [Scenario; 7] = [
        Scenario::LeadPage,
        Scenario::AllLeads,
        Scenario::DeepPage,
        Scenario::ByLeadId,
        Scenario::ByUid,
        Scenario::ByEmail,
        Scenario::ByPhone,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::LeadPage => "lead page /leads/{id}",
            Scenario::AllLeads => "All leads /leads",
            Scenario::DeepPage => "All leads, deep page (?after=)",
            Scenario::ByLeadId => "search by Lead ID",
            Scenario::ByUid => "search by UID",
            Scenario::ByEmail => "search by email",
            Scenario::ByPhone => "search by phone",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Scenario::LeadPage => "lead-page",
            Scenario::AllLeads => "all-leads",
            Scenario::DeepPage => "deep-page",
            Scenario::ByLeadId => "lead-id",
            Scenario::ByUid => "uid",
            Scenario::ByEmail => "email",
            Scenario::ByPhone => "phone",
        }
    }

    /// The address of request `i`.
    fn path(self, samples: &Samples, i: usize) -> String {
        let pick = |n: usize| (i.wrapping_mul(7919)) % n.max(1);
        let (id, uid) = &samples.leads[pick(samples.leads.len())];
        match self {
            Scenario::LeadPage => format!("/leads/{id}"),
            Scenario::AllLeads => "/leads".to_owned(),
            Scenario::DeepPage => format!("/leads?sort=id_desc&after={id}"),
            Scenario::ByLeadId => format!("/leads?q={id}"),
            Scenario::ByUid => format!("/leads?q={}", encode(uid)),
            Scenario::ByEmail => format!("/leads?q={}", encode(&samples.emails[pick(samples.emails.len())])),
            Scenario::ByPhone => format!("/leads?q={}", encode(&samples.phones[pick(samples.phones.len())])),
        }
    }
}

fn request_fn(scenario: Scenario, samples: Arc<Samples>, addr: SocketAddr, cookie: &str) -> RequestFn {
    let head = format!("Host: {addr}\r\nAccept: text/html\r\nCookie: {cookie}\r\n\r\n");
    Arc::new(move |i| format!("GET {} HTTP/1.1\r\n{head}", scenario.path(&samples, i)).into_bytes())
}

/// A page with a lead in it: the lead page's heading, or a row of the list below its header.
fn check(answer: &Answer, seen: &mut BTreeMap<String, usize>) -> anyhow::Result<()> {
    if answer.status != 200 {
        bail!("HTTP {}", answer.status);
    }
    let html = String::from_utf8_lossy(&answer.body);
    if !(html.contains("<h1>Lead ") || html.matches("<tr>").count() > 1) {
        bail!("the page has no lead in it ({} bytes)", answer.body.len());
    }
    *seen.entry("ok".to_owned()).or_default() += 1;
    Ok(())
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the requests name: leads, emails and phones of the client's campaigns, spread over the
/// whole id range.
struct Samples {
    leads: Vec<(i64, String)>,
    emails: Vec<String>,
    phones: Vec<String>,
}

impl Samples {
    fn load(conn: &mut DbConn, email: &str) -> anyhow::Result<Self> {
        use app::db::schema::{campaign_fields, campaigns, lead_values, leads, users};
        let (instance_id, client_id): (i64, Option<i64>) = users::table
            .filter(users::email.eq(email))
            .select((users::instance_id, users::client_id))
            .first(conn)
            .with_context(|| format!("no user {email}"))?;
        let client_id = client_id.context("the benchmark logs in as a client user")?;
        let (low, high): (Option<i64>, Option<i64>) =
            leads::table.select((diesel::dsl::min(leads::id), diesel::dsl::max(leads::id))).first(conn)?;
        let (low, high) = (low.context("no leads")?, high.context("no leads")?);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        let (mut found, mut emails, mut phones) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..SAMPLES {
            let from = rng.random_range(low..=high);
            let lead: Option<(i64, String)> = leads::table
                .inner_join(campaigns::table)
                .filter(leads::id.ge(from))
                .filter(campaigns::instance_id.eq(instance_id).and(campaigns::client_id.eq(client_id)))
                .select((leads::id, leads::uid))
                .order(leads::id)
                .first(conn)
                .optional()?;
            found.extend(lead);
            for (kind, into) in [("email", &mut emails), ("phone", &mut phones)] {
                let value: Option<String> = lead_values::table
                    .inner_join(campaign_fields::table.inner_join(campaigns::table))
                    .filter(lead_values::lead_id.ge(from).and(campaign_fields::kind.eq(kind)))
                    .filter(campaigns::instance_id.eq(instance_id).and(campaigns::client_id.eq(client_id)))
                    .select(lead_values::value)
                    .order(lead_values::lead_id)
                    .first(conn)
                    .optional()?;
                into.extend(value);
            }
        }
        if found.is_empty() || emails.is_empty() || phones.is_empty() {
            bail!(
                "the client's campaigns need leads with an email and a phone ({} leads, {} emails, {} phones)",
                found.len(),
                emails.len(),
                phones.len()
            );
        }
        Ok(Self { leads: found, emails, phones })
    }
}

async fn log_in(router: &axum::Router, email: &str, password: &str) -> anyhow::Result<String> {
    let body = format!("email={}&password={}", encode(email), encode(password));
    let req = Request::post("/api/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "127.0.0.1:3000")
        .body(Body::from(body))?;
    let res = router.clone().oneshot(req).await?;
    let cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(server::SESSION_COOKIE))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    cookie.with_context(|| format!("log-in failed: HTTP {}", res.status()))
}
