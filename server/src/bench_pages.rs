//! `sendback bench-pages`: latency of All leads and the lead page on a large SQLite database
//! (issue 6). Builds (once) a database of `--leads` leads with the engine benchmark's generator,
//! then sends `--requests` page requests per scenario through the whole application (router,
//! session, server-side rendering) in this process, one at a time, and prints p50/p99/max.
//! With `--database-url postgres://…` the database is `sendback_bench_pages_<leads>` on that
//! server, built once the same way (`bench_pg::build`) and kept.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use app::db;
use app::state::{AppState, SessionSettings, UploadSettings};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use diesel::prelude::*;
use rand::{Rng, SeedableRng};
use tower::ServiceExt;

#[derive(Debug, clap::Args)]
pub struct PagesArgs {
    /// Working directory (the database is built once and kept).
    #[arg(long, default_value = "target/bench-pages")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 1_000_000)]
    pub leads: i64,
    /// Requests per scenario.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
}

pub fn main(args: PagesArgs, database: &crate::config::DatabaseArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let (url, shown) = match database.database_url.as_deref().filter(|u| crate::bench_pg::is_postgres(u)) {
        Some(admin) => {
            let name = format!("sendback_bench_pages_{}", args.leads);
            let url = crate::bench_pg::database_url(admin, &name);
            if crate::bench_pg::create_if_missing(admin, &name)? {
                let started = Instant::now();
                let pool = db::connect(&url, 1)?;
                let mut conn = pool.get()?;
                crate::bench_pg::build(&mut conn, args.leads)?;
                println!("built {} leads in {:.1} s", args.leads, started.elapsed().as_secs_f64());
            }
            (url, format!("PostgreSQL database {name}"))
        }
        None => {
            let db_path = args.dir.join(format!("pages-{}.db", args.leads));
            let url = format!("sqlite://{}", db_path.display());
            if !db_path.exists() {
                let started = Instant::now();
                let pool = db::connect(&url, 2)?;
                let mut conn = pool.get()?;
                crate::bench::build(&mut conn, args.leads)?;
                println!("built {} leads in {:.1} s", args.leads, started.elapsed().as_secs_f64());
            }
            (url, db_path.display().to_string())
        }
    };
    let pool = db::connect(&url, 8)?;
    let (total, max_id): (i64, Option<i64>) = {
        use app::db::schema::leads;
        let mut conn = pool.get()?;
        (
            leads::table.count().get_result(&mut conn)?,
            leads::table.select(diesel::dsl::max(leads::id)).first(&mut conn)?,
        )
    };
    println!("database: {shown} ({total} leads)");
    let state = AppState {
        pool,
        leptos_options: leptos::config::LeptosOptions::builder().output_name("sendback").build(),
        clock: std::sync::Arc::new(app::clock::SystemClock),
        sessions: SessionSettings::default(),
        uploads: UploadSettings::new(args.dir.join("uploads")),
        network: app::state::NetworkSettings::default(),
    };
    let router = server::router(state);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let cookie = log_in(&router).await?;
        let first = 1_000_000_i64;
        let last = max_id.context("no leads")?;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        let scenarios: Vec<(&str, PathFn)> = vec![
            ("All leads, first page", Box::new(|_| "/leads".to_owned())),
            (
                "All leads, a page deep in the list (keyset cursor)",
                Box::new(move |rng| format!("/leads?sort=id_desc&after={}", rng.random_range(first..=last))),
            ),
            (
                "All leads, search by email",
                Box::new(move |rng| {
                    // Emails exist for the first campaign's leads (every k with k % 5 < 2).
                    let k = rng.random_range(0..(last - first) / 5) * 5;
                    format!("/leads?q=User{k}%40Example.com")
                }),
            ),
            ("Lead page", Box::new(move |rng| format!("/leads/{}", rng.random_range(first..=last)))),
        ];
        println!(
            "{} requests per scenario, one at a time, through the router (session, SSR):",
            args.requests
        );
        for (name, mut path) in scenarios {
            let mut times = Vec::with_capacity(args.requests);
            for _ in 0..args.requests {
                let p = path(&mut rng);
                let started = Instant::now();
                let status = get(&router, &p, &cookie).await?;
                times.push(started.elapsed());
                if status != StatusCode::OK {
                    bail!("{p}: HTTP {status}");
                }
            }
            times.sort();
            let pct = |q: f64| {
                times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(times.len() - 1)]
            };
            println!(
                "  {name:<52} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
                ms(pct(0.50)),
                ms(pct(0.99)),
                ms(*times.last().unwrap_or(&Duration::ZERO))
            );
        }
        Ok(())
    })
}

/// Makes the address of the next request of a scenario.
type PathFn = Box<dyn FnMut(&mut rand::rngs::SmallRng) -> String>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn log_in(router: &axum::Router) -> anyhow::Result<String> {
    let req = Request::post("/api/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "127.0.0.1:3000")
        .body(Body::from("email=bench%40sendback.test&password=bench-password"))?;
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

async fn get(router: &axum::Router, path: &str, cookie: &str) -> anyhow::Result<StatusCode> {
    let req = Request::get(path)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::ACCEPT, "text/html")
        .header(header::COOKIE, cookie)
        .body(Body::empty())?;
    let res = router.clone().oneshot(req).await?;
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
    // A real page, not an error or a redirect: the lead page's heading or the list's rows.
    let html = String::from_utf8_lossy(&body);
    if status == StatusCode::OK && !(html.contains("<h1>Lead ") || html.matches("<tr>").count() > 1) {
        bail!("{path}: the page has no lead in it ({} bytes)", body.len());
    }
    Ok(status)
}
