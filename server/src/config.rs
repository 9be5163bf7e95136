//! Command line and environment configuration (every flag has an environment variable).

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, clap::Parser)]
#[command(name = "sendback", version, about = "Sendback: send rejected leads back to the supplier")]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Log format.
    #[arg(long, env = "SENDBACK_LOG_FORMAT", value_enum, default_value = "pretty", global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DatabaseArgs {
    /// Database: `postgres://…`, or a SQLite file (`sqlite://path` or a path).
    /// Default: `<data-dir>/sendback.db`.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory for the embedded database and uploaded files.
    #[arg(long, env = "SENDBACK_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// Maximum database connections in the pool.
    #[arg(long, env = "SENDBACK_DB_POOL_SIZE", default_value_t = 8, global = true)]
    pub pool_size: u32,
}

impl DatabaseArgs {
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("sendback.db").display()),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the web app (the default).
    Serve(ServeArgs),
    /// Seed the demo instance into an empty database.
    Seed,
    /// Benchmark the rejection engine on SQLite, or on PostgreSQL with `--database-url
    /// postgres://…` (builds a 5M-lead database; several minutes).
    Bench(crate::bench::BenchArgs),
    /// Measure All leads and lead page latency on a large SQLite database, or PostgreSQL with
    /// `--database-url postgres://…` (builds it once).
    BenchPages(crate::bench_pages::PagesArgs),
    /// Measure lead intake (`POST /api/v1/lead`) on a fresh SQLite database: leads/s and latency.
    #[command(name = "bench-intake")]
    BenchIntake(crate::bench_intake::IntakeArgs),
    /// Measure a bulk lead import on SQLite: rows per second and peak RSS.
    #[command(name = "bench-import")]
    BenchImport(crate::bench_import::ImportArgs),
    /// Measure the single-lead Reject API on a fresh SQLite database: rejects/s and latency.
    #[command(name = "bench-api")]
    BenchApi(crate::bench_api::ApiArgs),
    /// Measure webhook delivery on a fresh SQLite database: events/s to a local receiver.
    #[command(name = "bench-webhooks")]
    BenchWebhooks(crate::bench_webhooks::WebhooksArgs),
    /// Set up instances: `instance add` creates one and its owner (with a one-time password).
    #[command(subcommand)]
    Instance(crate::admin::InstanceCommand),
    /// Set up clients: `client add`.
    #[command(subcommand)]
    Client(crate::admin::ClientCommand),
    /// Set up campaigns: `campaign add`, with their fields.
    #[command(subcommand)]
    Campaign(crate::admin::CampaignCommand),
    /// Set up suppliers: `supplier add`, with the campaigns they may send to.
    #[command(subcommand)]
    Supplier(crate::admin::SupplierCommand),
    /// Supplier intake keys: `supplier-key create` prints a new key.
    #[command(subcommand, name = "supplier-key")]
    SupplierKey(crate::admin::SupplierKeyCommand),
    /// Client users' API keys: `api-key create` prints a new key.
    #[command(subcommand, name = "api-key")]
    ApiKey(crate::admin::ApiKeyCommand),
    /// Webhook endpoints: `webhook add` prints a new endpoint's id and secret; `webhook list`.
    #[command(subcommand)]
    Webhook(crate::admin_webhooks::WebhookCommand),
    /// Write the sample rejection CSV files that match the demo data.
    Samples {
        #[arg(long, default_value = "samples")]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SENDBACK_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Directory holding the built browser bundle (`pkg/sendback.{js,wasm,css}`).
    #[arg(long, env = "SENDBACK_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Do not seed the demo instance into an empty embedded (SQLite) database.
    #[arg(long, env = "SENDBACK_NO_SEED", conflicts_with = "seed_demo")]
    pub no_seed: bool,
    /// Seed the demo instance (accounts with a published password) into an empty PostgreSQL
    /// database. Without it a `postgres://` database is never seeded by `serve`.
    #[arg(long, env = "SENDBACK_SEED_DEMO")]
    pub seed_demo: bool,
    /// A running task or lead import whose server has not renewed its heartbeat for this many
    /// seconds (the server died) is taken over by another server's worker.
    #[arg(long, env = "SENDBACK_TASK_STALE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..=3600))]
    pub task_stale_secs: u32,
    /// A task or lead import whose run ends with the same error this many times in a row is
    /// marked failed (with the error) and frees its campaign.
    #[arg(long, env = "SENDBACK_TASK_MAX_FAILURES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub task_max_failures: u32,
    /// Rows a task applies per batch (one transaction each).
    #[arg(long, env = "SENDBACK_TASK_BATCH_ROWS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub task_batch_rows: u32,
    /// Previews ("Preview outcomes", the lead import's preview) this server runs at once, each on
    /// its own thread with at most one database connection; more wait in the queue.
    #[arg(long, env = "SENDBACK_PREVIEW_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub preview_workers: u32,
    /// Sign users out after this many minutes without a request.
    #[arg(long, env = "SENDBACK_SESSION_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub session_idle_minutes: u32,
    /// Sign users out this many hours after they logged in, however active.
    #[arg(long, env = "SENDBACK_SESSION_MAX_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
    pub session_max_hours: u32,
    /// Mark the session cookie `Secure` (set this when serving over HTTPS).
    #[arg(long, env = "SENDBACK_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Largest CSV file accepted for a rejection task, in MB (1–256).
    #[arg(long, env = "SENDBACK_MAX_UPLOAD_MB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub max_upload_mb: u64,
    /// Delete an uploaded file this many days after every task and lead import using it has
    /// ended (the results stay).
    #[arg(long, env = "SENDBACK_UPLOAD_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub upload_retention_days: u32,
    /// Storage each instance may use for uploaded files and results, in MB; a new upload past
    /// it is refused. 0: no limit.
    #[arg(long, env = "SENDBACK_STORAGE_QUOTA_MB", default_value_t = 10_240)]
    pub storage_quota_mb: u64,
    /// The address users reach the app at (e.g. `https://leads.example.com`). When it is https,
    /// the session cookie is marked `Secure` (as with `--secure-cookies`).
    #[arg(long, env = "SENDBACK_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// A reverse proxy (address or CIDR range, repeatable) whose `X-Forwarded-For` header names
    /// the client. From any other peer the header is ignored.
    #[arg(long = "trusted-proxy", env = "SENDBACK_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests a second one API key may send to `/api/v1/…`, on average.
    #[arg(long, env = "SENDBACK_API_RATE_PER_SECOND", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_rate_per_second: u32,
    /// Requests one API key may send at once after a quiet spell.
    #[arg(long, env = "SENDBACK_API_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_burst: u32,
    /// Let webhooks go to plain `http://` and to loopback, private, link-local and metadata
    /// addresses. For development and tests only: on a real server it lets anyone who can add
    /// an endpoint make this server send requests into its own network.
    #[arg(long, env = "SENDBACK_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Webhook requests this server sends at once (in all), and at most a quarter of them, at
    /// least 4, to one endpoint.
    #[arg(long, env = "SENDBACK_WEBHOOK_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub webhook_concurrency: u32,
}

/// `http://…` or `https://…`, without a trailing slash.
fn parse_public_url(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(s.to_owned()),
        _ => Err("expected an http:// or https:// address, e.g. https://leads.example.com".to_owned()),
    }
}

/// An address (`10.0.0.5`, `::1`) or a CIDR range (`10.0.0.0/8`).
fn parse_proxy(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8)"))
}

impl ServeArgs {
    pub fn session_settings(&self) -> app::state::SessionSettings {
        app::state::SessionSettings {
            idle_timeout: chrono::TimeDelta::minutes(i64::from(self.session_idle_minutes)),
            absolute_lifetime: chrono::TimeDelta::hours(i64::from(self.session_max_hours)),
            secure_cookies: self.secure_cookies
                || self.public_url.as_deref().is_some_and(|u| u.starts_with("https://")),
        }
    }

    /// Refuses a pool too small for the background work: each preview worker may hold one
    /// connection, the task worker one and its heartbeat one, and requests need the rest.
    pub fn check_pool(&self, pool_size: u32) -> anyhow::Result<()> {
        let background = self.preview_workers + 2;
        if pool_size < background + 2 {
            anyhow::bail!(
                "--pool-size {pool_size} is too small for --preview-workers {}: the background \
                 work can hold {background} connections and requests need at least 2 more; use \
                 --pool-size {} or more, or fewer preview workers",
                self.preview_workers,
                background + 2
            );
        }
        Ok(())
    }

    /// How this server's worker shares jobs with the other servers' workers.
    pub fn lease_settings(&self) -> app::engine::lease::LeaseSettings {
        app::engine::lease::LeaseSettings {
            stale_after: chrono::TimeDelta::seconds(i64::from(self.task_stale_secs)),
            max_failures: self.task_max_failures,
        }
    }

    /// Whether `serve` seeds the demo into an empty database at `url`: the embedded database
    /// unless `--no-seed`, PostgreSQL only with `--seed-demo`.
    pub fn seeds_demo(&self, url: &str) -> bool {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            self.seed_demo
        } else {
            !self.no_seed
        }
    }

    pub fn network_settings(&self) -> app::state::NetworkSettings {
        app::state::NetworkSettings {
            trusted_proxies: self.trusted_proxies.clone().into(),
            allow_private_webhooks: self.allow_private_webhooks,
        }
    }
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: PathBuf::from("target/site"),
            no_seed: false,
            seed_demo: false,
            task_stale_secs: 30,
            task_max_failures: 3,
            task_batch_rows: 10_000,
            preview_workers: 2,
            session_idle_minutes: 30,
            session_max_hours: 12,
            secure_cookies: false,
            max_upload_mb: 256,
            upload_retention_days: 30,
            storage_quota_mb: 10_240,
            public_url: None,
            trusted_proxies: Vec::new(),
            api_rate_per_second: 20,
            api_burst: 100,
            allow_private_webhooks: false,
            webhook_concurrency: 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let cli = Cli::try_parse_from([&["sendback", "serve"], args].concat())?;
        match cli.command {
            Some(Command::Serve(args)) => Ok(args),
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn postgres_is_seeded_only_when_asked() {
        let pg = "postgres://u@db/sendback";
        assert!(!serve(&[]).expect("args").seeds_demo(pg));
        assert!(serve(&["--seed-demo"]).expect("args").seeds_demo(pg));
        assert!(serve(&[]).expect("args").seeds_demo("sqlite://data/sendback.db"));
        assert!(!serve(&["--no-seed"]).expect("args").seeds_demo("sqlite://data/sendback.db"));
        assert!(serve(&["--no-seed", "--seed-demo"]).is_err());
    }

    #[test]
    fn task_sharing_flags() {
        let args = serve(&["--task-stale-secs", "5", "--task-max-failures", "2", "--task-batch-rows", "500"])
            .expect("args");
        assert_eq!(args.lease_settings().stale_after, chrono::TimeDelta::seconds(5));
        assert_eq!(args.lease_settings().max_failures, 2);
        assert_eq!(args.task_batch_rows, 500);
        assert!(serve(&["--task-stale-secs", "1"]).is_err());
        assert!(serve(&["--task-max-failures", "0"]).is_err());
    }

    #[test]
    fn two_previews_run_at_once_unless_told_otherwise() {
        assert_eq!(serve(&[]).expect("args").preview_workers, 2);
        assert_eq!(serve(&["--preview-workers", "4"]).expect("args").preview_workers, 4);
        // Each preview worker may hold a connection: the pool must leave room for requests.
        assert!(serve(&[]).expect("args").check_pool(8).is_ok());
        assert!(serve(&["--preview-workers", "4"]).expect("args").check_pool(8).is_ok());
        let refused = serve(&["--preview-workers", "5"]).expect("args").check_pool(8).expect_err("too small");
        assert!(refused.to_string().contains("--pool-size 9 or more"), "{refused}");
        assert!(serve(&["--preview-workers", "0"]).is_err());
    }

    #[test]
    fn an_https_public_url_makes_the_session_cookie_secure() {
        assert!(!serve(&[]).expect("args").session_settings().secure_cookies);
        assert!(
            !serve(&["--public-url", "http://127.0.0.1:3000"])
                .expect("args")
                .session_settings()
                .secure_cookies
        );
        let https = serve(&["--public-url", "https://leads.example.com/"]).expect("args");
        assert_eq!(https.public_url.as_deref(), Some("https://leads.example.com"));
        assert!(https.session_settings().secure_cookies);
        assert!(serve(&["--public-url", "leads.example.com"]).is_err());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let args = serve(&["--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1"]).expect("args");
        let nets: Vec<String> =
            args.network_settings().trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.0/8", "::1/128"]);
        assert!(serve(&["--trusted-proxy", "proxy.example"]).is_err());
        assert!(serve(&[]).expect("args").network_settings().trusted_proxies.is_empty());
    }

    #[test]
    fn api_keys_may_send_20_requests_a_second_in_bursts_of_100_unless_told_otherwise() {
        let default = serve(&[]).expect("args");
        assert_eq!((default.api_rate_per_second, default.api_burst), (20, 100));
        let set = serve(&["--api-rate-per-second", "5", "--api-burst", "10"]).expect("args");
        assert_eq!((set.api_rate_per_second, set.api_burst), (5, 10));
        assert!(serve(&["--api-burst", "0"]).is_err());
    }
}
