//! `sendback bench-intake`: throughput and latency of `POST /api/v1/lead` on SQLite (issue 14):
//! a fresh database with one campaign, supplier and key, the real router served on a free local
//! port in this process, and `--leads` posts over `--concurrency` keep-alive HTTP/1.1 connections
//! (a small client over `TcpStream`); every answer and the stored lead count are checked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use app::db::audit::Actor;
use app::db::setup::{campaigns, caps, clients, instances, suppliers};
use app::db::{self, DbError};
use app::domain::caps::CapPeriod;
use app::domain::identifiers::FieldKind;
use app::domain::setup::FieldSpec;
use app::state::{AppState, NetworkSettings, SessionSettings, UploadSettings};
use diesel::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Targets of issue 14 on this machine.
const TARGET_LEADS_PER_SEC: f64 = 2000.0;
const TARGET_P99_MS: f64 = 50.0;
/// A request that takes longer than this fails the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed answers shown in full (the rest are only counted).
const SHOWN_FAILURES: usize = 5;

#[derive(Debug, clap::Args)]
pub struct IntakeArgs {
    /// Leads posted and measured (each with a unique email and a phone).
    #[arg(long, default_value_t = 20_000)]
    pub leads: usize,
    /// Keep-alive HTTP/1.1 connections posting at the same time.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Leads posted first over the same connections and not measured.
    #[arg(long, default_value_t = 500)]
    pub warm_up: usize,
    /// A daily cap on the campaign (all suppliers); none by default.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub cap: Option<i64>,
    /// Directory for the database (`bench-intake.db`, replaced and kept). Default: a temporary
    /// directory, removed afterwards. (`--data-dir` and `--database-url` are not used; the pool
    /// size is the global `--pool-size`, 8 by default as for serve.)
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn main(database: &crate::config::DatabaseArgs, args: IntakeArgs) -> anyhow::Result<()> {
    let pool_size = database.pool_size;
    if database.database_url.as_deref().is_some_and(|u| !u.trim().is_empty()) {
        eprintln!(
            "note: --database-url (DATABASE_URL) is ignored: the benchmark makes its own SQLite database"
        );
    }
    let dir = WorkDir::new(args.dir.clone())?;
    let db_path = dir.path.join("bench-intake.db");
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
    let cap = args.cap;
    let target = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Target> {
            let mut conn = pool.get().context("a database connection")?;
            set_up(&mut conn, cap)
        })
        .await??
    };

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
        "bench-intake: POST /api/v1/lead on SQLite ({}), pool size {pool_size}, served on http://{addr} in this process",
        db_path.display()
    );
    println!(
        "campaign {}: email (deduplicated), phone, first_name (text); cap: {}",
        target.campaign_id,
        cap.map_or_else(|| "none".to_owned(), |c| format!("{c} a day"))
    );
    let concurrency = usize::try_from(args.concurrency)?;
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        clients.push(Client::connect(addr).await?);
    }
    let parts = Arc::new(RequestParts::new(&target, addr));
    let request: RequestFn = Arc::new(move |i| parts.request(i));

    let (clients, warm) = phase(clients, 0..args.warm_up, request.clone(), check).await;
    if args.warm_up > 0 {
        println!(
            "warm-up: {} leads over the same connections in {:.2} s (not measured)",
            args.warm_up,
            warm.wall.as_secs_f64()
        );
    }
    let (clients, run) = phase(clients, args.warm_up..args.warm_up + args.leads, request, check).await;
    drop(clients);
    let _ = stop.send(());
    // Every connection is closed, so the server stops at once (unless a request is stuck).
    tokio::time::timeout(REQUEST_TIMEOUT, server)
        .await
        .context("the server did not stop")??
        .context("serving HTTP")?;

    let stored: i64 = db::run(&pool, |conn| {
        use app::db::schema::leads;
        leads::table.count().get_result(conn).map_err(DbError::from)
    })
    .await
    .context("counting the stored leads")?;

    report(&args, concurrency, &run);
    let expected = args.warm_up + args.leads;
    println!(
        "database: {stored} leads stored ({} warm-up + {} measured; expected {expected})",
        args.warm_up, args.leads
    );
    let failures = warm.failures.len() + run.failures.len() + warm.unsent + run.unsent;
    for failure in warm.failures.iter().chain(&run.failures).take(SHOWN_FAILURES) {
        eprintln!("failed: {failure}");
    }
    if failures > 0 {
        bail!("{failures} of {expected} requests failed or were not sent");
    }
    if usize::try_from(stored).ok() != Some(expected) {
        bail!("{stored} leads stored, expected {expected}");
    }
    Ok(())
}

fn report(args: &IntakeArgs, concurrency: usize, run: &PhaseResult) {
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
    println!("leads: {} measured ({} answered)", args.leads, run.latencies.len());
    println!("concurrency: {concurrency} keep-alive HTTP/1.1 connections");
    println!("wall time: {secs:.2} s");
    println!(
        "throughput: {rate:.0} leads/s (target ≥ {TARGET_LEADS_PER_SEC:.0}: {})",
        met(rate >= TARGET_LEADS_PER_SEC)
    );
    println!(
        "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms (target p99 ≤ {TARGET_P99_MS:.0} ms: {})",
        pct(0.50),
        pct(0.90),
        times.last().map_or(0.0, |d| ms(*d)),
        met(p99 <= TARGET_P99_MS)
    );
    let http: Vec<String> = run.http.iter().map(|(code, n)| format!("{code} × {n}")).collect();
    println!("HTTP statuses: {}", http.join(", "));
    let statuses: Vec<String> = run.statuses.iter().map(|(s, n)| format!("{s} × {n}")).collect();
    println!("lead statuses: {}", if statuses.is_empty() { "none".to_owned() } else { statuses.join(", ") });
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Where the database lives: `--dir` (kept), or a fresh temporary directory removed on drop.
pub(crate) struct WorkDir {
    pub(crate) path: PathBuf,
    remove: bool,
}

impl WorkDir {
    pub(crate) fn new(dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let (path, remove) = match dir {
            Some(dir) => (dir, false),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let name = format!("sendback-bench-intake-{}-{nanos}", std::process::id());
                (std::env::temp_dir().join(name), true)
            }
        };
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, remove })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The campaign, supplier and key the leads are posted with.
pub(crate) struct Target {
    pub(crate) campaign_id: i64,
    pub(crate) supplier_id: i64,
    key: String,
}

/// Sets up an instance, client, campaign (email deduplicated, phone, first_name), a supplier
/// linked to it, the optional daily cap and an intake key, as the command line would.
pub(crate) fn set_up(conn: &mut db::DbConn, cap: Option<i64>) -> anyhow::Result<Target> {
    let now = chrono::Utc::now().naive_utc();
    let hash = app::auth::password::hash_password("bench-intake-password")
        .map_err(|e| anyhow::anyhow!("hashing the owner's password: {e}"))?;
    let new = instances::NewInstance {
        name: "Bench Intake",
        owner_email: "owner@bench-intake.test",
        owner_name: "Owner",
        password_hash: hash.as_str(),
    };
    let (instance_id, _) = instances::create(conn, &new, now).context("creating the instance")?;
    let actor = Actor::command_line(instance_id);
    let client_id = clients::create(conn, actor, "Bench Client", now).context("creating the client")?;
    let fields = [
        FieldSpec { key: "email".into(), label: "Email".into(), kind: FieldKind::Email, dedupe: true },
        FieldSpec { key: "phone".into(), label: "Phone".into(), kind: FieldKind::Phone, dedupe: false },
        FieldSpec {
            key: "first_name".into(),
            label: "First name".into(),
            kind: FieldKind::Text,
            dedupe: false,
        },
    ];
    let new = campaigns::NewCampaign {
        client_id,
        name: "Bench Intake",
        max_rejection_days: Some(30),
        fields: &fields,
    };
    let campaign_id = campaigns::create(conn, actor, &new, now).context("creating the campaign")?;
    let supplier_id =
        suppliers::create(conn, actor, "Bench Supplier", now).context("creating the supplier")?;
    suppliers::set_campaigns(conn, actor, supplier_id, &[campaign_id], now)
        .context("linking the supplier to the campaign")?;
    if let Some(limit) = cap {
        caps::add(conn, actor, campaign_id, None, CapPeriod::Day, limit, now).context("adding the cap")?;
    }
    let (_, key) = app::db::keys::create_supplier_key(conn, actor, supplier_id, now)
        .context("creating the intake key")?;
    Ok(Target { campaign_id, supplier_id, key })
}

/// What every request shares: the address's `Host` and the form's fixed part.
struct RequestParts {
    host: String,
    fixed: String,
}

impl RequestParts {
    fn new(target: &Target, addr: SocketAddr) -> Self {
        Self {
            host: addr.to_string(),
            fixed: format!("cid={}&sid={}&key={}", target.campaign_id, target.supplier_id, target.key),
        }
    }

    /// Lead `i`: a unique email and phone.
    fn request(&self, i: usize) -> Vec<u8> {
        let body = format!("{}&email=bench.{i}%40example.com&phone=07{i:09}&first_name=Bench", self.fixed);
        let mut req = format!(
            "POST /api/v1/lead HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body.as_bytes());
        req
    }
}

/// One keep-alive HTTP/1.1 connection: a request is written whole; an answer is its head, then
/// exactly Content-Length bytes of body, or a chunked body (bytes read past an answer stay in
/// `buf`).
pub(crate) struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// An answer: the status code and the body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Client {
    pub(crate) async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, buf: Vec::with_capacity(4096) })
    }

    async fn send(&mut self, request: &[u8]) -> anyhow::Result<Answer> {
        self.stream.write_all(request).await.context("sending the request")?;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).context("an answer head that is not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("an unexpected status line {status_line:?}"))?;
        let (mut length, mut chunked) = (None, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("a Content-Length that is not a number")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                if !value.eq_ignore_ascii_case("chunked") {
                    bail!("an answer with Transfer-Encoding {value:?} (this client reads chunked only)");
                }
                chunked = true;
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                bail!("the server closes the connection (HTTP {status})");
            }
        }
        self.buf.drain(..head_end);
        if chunked {
            return Ok(Answer { status, body: self.chunks().await? });
        }
        let length = length.context("an answer without Content-Length")?;
        while self.buf.len() < length {
            self.fill().await?;
        }
        let body = self.buf[..length].to_vec();
        self.buf.drain(..length);
        Ok(Answer { status, body })
    }

    /// A chunked body (the head already read): chunks until the empty one, no trailers.
    async fn chunks(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill().await?;
            };
            let size_line =
                std::str::from_utf8(&self.buf[..line_end]).context("a chunk size that is not text")?;
            let size_hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .with_context(|| format!("a chunk size {size_hex:?} that is not hexadecimal"))?;
            while self.buf.len() < line_end + 2 + size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
            self.buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                return Ok(body);
            }
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let n = self.stream.read_buf(&mut self.buf).await.context("reading the answer")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}

/// What a phase's connections saw.
#[derive(Default)]
pub(crate) struct PhaseResult {
    pub(crate) wall: Duration,
    /// One per answered request (HTTP 200 or not).
    pub(crate) latencies: Vec<Duration>,
    pub(crate) http: BTreeMap<u16, usize>,
    /// The `status` of each lead answered for.
    pub(crate) statuses: BTreeMap<String, usize>,
    pub(crate) failures: Vec<String>,
    /// Requests of the phase no connection sent (their connection failed, and so did every
    /// other).
    pub(crate) unsent: usize,
}

impl PhaseResult {
    fn merge(&mut self, other: PhaseResult) {
        self.latencies.extend(other.latencies);
        for (code, n) in other.http {
            *self.http.entry(code).or_default() += n;
        }
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.failures.extend(other.failures);
    }
}

/// Request `i` of a phase, whole (head and body).
pub(crate) type RequestFn = Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync>;
/// Checks an answer (an error is a failure) and counts its lead status.
pub(crate) type CheckFn = fn(&Answer, &mut BTreeMap<String, usize>) -> anyhow::Result<()>;

/// Sends requests `range` over the connections, each taking the next request when its answer is
/// in. Returns the connections still usable and what was seen.
pub(crate) async fn phase(
    clients: Vec<Client>,
    range: Range<usize>,
    request: RequestFn,
    check: CheckFn,
) -> (Vec<Client>, PhaseResult) {
    let next = Arc::new(AtomicUsize::new(range.start));
    let end = range.end;
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let (next, build) = (next.clone(), request.clone());
            tokio::spawn(async move {
                let mut seen = PhaseResult::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        return (Some(client), seen);
                    }
                    let request = build(i);
                    let sent = Instant::now();
                    let answer = match tokio::time::timeout(REQUEST_TIMEOUT, client.send(&request)).await {
                        Ok(Ok(answer)) => answer,
                        Ok(Err(e)) => {
                            seen.failures.push(format!("lead {i}: {e:#}"));
                            return (None, seen);
                        }
                        Err(_) => {
                            seen.failures.push(format!("lead {i}: no answer in {REQUEST_TIMEOUT:?}"));
                            return (None, seen);
                        }
                    };
                    seen.latencies.push(sent.elapsed());
                    *seen.http.entry(answer.status).or_default() += 1;
                    if let Err(e) = check(&answer, &mut seen.statuses) {
                        seen.failures.push(format!("lead {i}: {e:#}"));
                    }
                }
            })
        })
        .collect();
    let mut result = PhaseResult::default();
    let mut clients = Vec::new();
    for task in tasks {
        match task.await {
            Ok((client, seen)) => {
                clients.extend(client);
                result.merge(seen);
            }
            Err(e) => result.failures.push(format!("a connection's task failed: {e}")),
        }
    }
    result.wall = started.elapsed();
    // A failed request counts as a failure; leads past the counter's end were never sent.
    let taken = next.load(Ordering::Relaxed).min(end);
    result.unsent = end - taken;
    (clients, result)
}

/// An answer is HTTP 200 with `"result":"created"` and a lead id; counts its `status`.
fn check(answer: &Answer, statuses: &mut BTreeMap<String, usize>) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(&answer.body);
    if answer.status != 200 {
        bail!("HTTP {}: {text}", answer.status);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&answer.body).with_context(|| format!("not JSON: {text}"))?;
    if json["result"] != "created" || json["lead_id"].as_i64().is_none() {
        bail!("not created: {text}");
    }
    let status = json["status"].as_str().context("an answer without a status")?;
    *statuses.entry(status.to_owned()).or_default() += 1;
    Ok(())
}
