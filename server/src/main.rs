//! The Sendback binary: configuration, logging, database start-up (migrate, seed the demo when
//! empty), serving the router from `lib.rs`, and graceful shutdown.

mod admin;
mod admin_webhooks;
mod bench;
mod bench_api;
mod bench_import;
mod bench_intake;
mod bench_pages;
mod bench_pg;
mod bench_webhooks;
mod config;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use app::db;
use app::state::AppState;

/// mimalloc rather than glibc's malloc: a page view allocates and frees many small objects on
/// several threads, where glibc's arenas spent a quarter of the CPU (see ARCHITECTURE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::Parser as _;
use leptos::config::LeptosOptions;

use config::{Cli, Command, LogFormat, ServeArgs};

/// Runs the command; a failure is one readable line on stderr (its causes after colons) and exit
/// status 1, so scripts can check it.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    init_tracing(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => runtime.block_on(serve(cli.database, args)),
        Command::Seed => runtime.block_on(seed(cli.database)),
        Command::Bench(args) => bench::main(args, &cli.database),
        Command::BenchPages(args) => bench_pages::main(args, &cli.database),
        Command::BenchIntake(args) => runtime.block_on(bench_intake::main(&cli.database, args)),
        Command::BenchImport(args) => runtime.block_on(bench_import::main(&cli.database, args)),
        Command::BenchApi(args) => runtime.block_on(bench_api::main(&cli.database, args)),
        Command::BenchWebhooks(args) => runtime.block_on(bench_webhooks::main(args)),
        Command::Instance(admin::InstanceCommand::Add(args)) => {
            runtime.block_on(admin::add_instance(&cli.database, args))
        }
        Command::Client(admin::ClientCommand::Add(args)) => {
            runtime.block_on(admin::add_client(&cli.database, args))
        }
        Command::Campaign(admin::CampaignCommand::Add(args)) => {
            runtime.block_on(admin::add_campaign(&cli.database, args))
        }
        Command::Supplier(admin::SupplierCommand::Add(args)) => {
            runtime.block_on(admin::add_supplier(&cli.database, args))
        }
        Command::SupplierKey(admin::SupplierKeyCommand::Create(args)) => {
            runtime.block_on(admin::create_supplier_key(&cli.database, args))
        }
        Command::ApiKey(admin::ApiKeyCommand::Create(args)) => {
            runtime.block_on(admin::create_api_key(&cli.database, args))
        }
        Command::Webhook(admin_webhooks::WebhookCommand::Add(args)) => {
            runtime.block_on(admin_webhooks::add(&cli.database, args))
        }
        Command::Webhook(admin_webhooks::WebhookCommand::List(args)) => {
            runtime.block_on(admin_webhooks::list(&cli.database, args))
        }
        Command::Samples { out } => {
            let files = db::seed::write_samples(&out, chrono::Utc::now().naive_utc())
                .with_context(|| format!("writing samples to {}", out.display()))?;
            println!("wrote {} sample files to {}", files.len(), out.display());
            Ok(())
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    // Logs go to standard error: what a command prints for scripts is alone on standard output.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

async fn open_pool(database: &config::DatabaseArgs) -> anyhow::Result<db::Pool> {
    let url = database.url();
    let target = db::DatabaseTarget::parse(&url).map_err(anyhow::Error::msg)?;
    tracing::info!(database = %target.redacted(), "opening database");
    let pool_size = database.pool_size;
    tokio::task::spawn_blocking(move || db::connect(&url, pool_size)).await?.context("opening the database")
}

async fn seed(database: config::DatabaseArgs) -> anyhow::Result<()> {
    let pool = open_pool(&database).await?;
    let report = db::run(&pool, |conn| db::seed::seed_demo(conn, chrono::Utc::now().naive_utc())).await?;
    print_seed_report(&report);
    print_demo_accounts();
    Ok(())
}

fn print_seed_report(report: &db::seed::SeedReport) {
    println!(
        "seeded the demo: {} instances, {} users, {} campaigns, {} leads, {} affiliate events, {} history rows in {:.2} s",
        report.instances,
        report.users,
        report.campaigns,
        report.leads,
        report.affiliate_events,
        report.history_rows,
        report.elapsed.as_secs_f64()
    );
}

fn print_demo_accounts() {
    println!("demo accounts (password: {}):", db::seed::DEMO_PASSWORD);
    for (email, who) in db::seed::DEMO_USERS {
        println!("  {email:<24} {who}");
    }
}

async fn serve(database: config::DatabaseArgs, args: ServeArgs) -> anyhow::Result<()> {
    args.check_pool(database.pool_size)?;
    let pool = open_pool(&database).await?;
    if args.seeds_demo(&database.url()) {
        let seeded =
            db::run(&pool, |conn| db::seed::seed_if_empty(conn, chrono::Utc::now().naive_utc())).await?;
        if let Some(report) = seeded {
            print_seed_report(&report);
        }
        print_demo_accounts();
    }

    let pkg_dir = server::pkg_dir(&args.site_root);
    let leptos_options = LeptosOptions::builder()
        .output_name("sendback")
        .site_root(args.site_root.to_string_lossy().into_owned())
        .site_pkg_dir(pkg_dir.clone())
        .site_addr(args.listen)
        .env(leptos::config::Env::PROD)
        .build();
    if !args.site_root.join(&pkg_dir).join("sendback.wasm").exists() {
        tracing::warn!(
            site_root = %args.site_root.display(),
            "the browser bundle is missing: pages render but will not become interactive (run `make build`)"
        );
    }
    app::api::auth::set_api_limits(app::api::auth::ApiLimits {
        per_second: args.api_rate_per_second,
        burst: args.api_burst,
    });
    let mut uploads = app::state::UploadSettings::new(database.data_dir.join("uploads"));
    uploads.max_bytes = args.max_upload_mb * 1024 * 1024;
    uploads.storage.quota_bytes =
        (args.storage_quota_mb > 0).then(|| args.storage_quota_mb.saturating_mul(1024 * 1024));
    uploads.retention = chrono::TimeDelta::days(i64::from(args.upload_retention_days));
    // The first log-in with an unknown email must not pay for building the dummy hash.
    tokio::task::spawn_blocking(app::auth::login::warm_up);
    let state = AppState {
        writer: app::db::group::GroupWriter::new(pool.clone()),
        pool,
        leptos_options,
        clock: std::sync::Arc::new(app::clock::SystemClock),
        sessions: args.session_settings(),
        uploads,
        network: args.network_settings(),
    };
    tokio::spawn(server::clean_up_periodically(state.clone(), Duration::from_secs(600)));
    // SQLite: the WAL is copied back in the background, not inside the worker's or a page's commit.
    let _checkpointer = app::db::start_checkpointer(&state.pool, app::db::CHECKPOINT_EVERY);
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let storage = state.uploads.storage.clone();
    let mut worker = app::engine::worker::Worker::new(state.pool.clone(), storage, state.clock.clone());
    worker.lease = args.lease_settings();
    worker.batch_rows =
        usize::try_from(args.task_batch_rows).unwrap_or(app::engine::task::DEFAULT_BATCH_ROWS);
    let worker = tokio::spawn(worker.run_forever(worker_stopped.clone()));
    // Previews run in the background on their own threads: at most this many at once here.
    let previews = app::engine::preview_jobs::PreviewWorkers::start(
        state.pool.clone(),
        state.uploads.storage.clone(),
        state.clock.clone(),
        usize::try_from(args.preview_workers).unwrap_or(app::engine::preview_jobs::DEFAULT_WORKERS),
    );
    // Webhooks: this server's delivery worker sends due events (every server runs one).
    let deliveries = app::engine::webhooks::DeliveryWorker::new(
        state.pool.clone(),
        state.clock.clone(),
        app::engine::webhooks::DeliverySettings::with_total(
            usize::try_from(args.webhook_concurrency).unwrap_or(32),
            args.allow_private_webhooks,
        ),
    )
    .map_err(anyhow::Error::msg)?;
    if args.allow_private_webhooks {
        tracing::warn!("--allow-private-webhooks: webhooks may go to plain http and private addresses");
    }
    let deliveries = tokio::spawn(deliveries.run_forever(worker_stopped));
    let router = server::router(state);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    println!("Sendback is running on http://{addr}");
    // The peer address reaches server functions (log-in throttling per IP).
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(server::no_delay(listener), service)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    // Let the worker finish its current batch; an unfinished task resumes at the next start.
    let _ = stop_worker.send(true);
    let _ = worker.await;
    let _ = deliveries.await;
    // A running preview is handed back at its next chunk (another server may run it).
    tokio::task::spawn_blocking(move || previews.stop()).await.ok();
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish before the server exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
