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
    /// Benchmark the rejection engine on SQLite (builds a 5M-lead database; several minutes).
    Bench(crate::bench::BenchArgs),
    /// Measure All leads and lead page latency on a large SQLite database (builds it once).
    BenchPages(crate::bench_pages::PagesArgs),
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
    /// Do not seed the demo instance into an empty database.
    #[arg(long, env = "SENDBACK_NO_SEED")]
    pub no_seed: bool,
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
}

impl ServeArgs {
    pub fn session_settings(&self) -> app::state::SessionSettings {
        app::state::SessionSettings {
            idle_timeout: chrono::TimeDelta::minutes(i64::from(self.session_idle_minutes)),
            absolute_lifetime: chrono::TimeDelta::hours(i64::from(self.session_max_hours)),
            secure_cookies: self.secure_cookies,
        }
    }
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: PathBuf::from("target/site"),
            no_seed: false,
            session_idle_minutes: 30,
            session_max_hours: 12,
            secure_cookies: false,
            max_upload_mb: 256,
        }
    }
}
