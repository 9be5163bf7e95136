//! Several app servers on one PostgreSQL database (issue 15): three `sendback serve` processes,
//! each with its own data directory, share log-in sessions and run six rejection tasks on three
//! campaigns sent through different servers; the server running a task is killed (`SIGKILL`)
//! mid-way and another takes the task over. Every task completes exactly once: no lead has two
//! history rows from one task, and the counts, results files, history rows and leads equal those
//! of a one-server run of the same files on a copy of the same database. Needs
//! `TEST_POSTGRES_URL` (a note on stderr and nothing else without it).

// Test set-up fails loudly: a helper that cannot build its fixture panics with the reason.
#![allow(clippy::expect_used, reason = "test fixtures; clippy only exempts #[test] functions")]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use app::db::schema::{campaigns, lead_status_history, leads, rejection_tasks};
use diesel::prelude::*;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;

const BIN: &str = env!("CARGO_BIN_EXE_sendback");
/// Data rows of each task's file: most name no lead, so a task takes seconds, not minutes.
const ROWS: usize = 40_000;
/// Rows a worker applies per transaction: small, so a task is caught between two batches.
const BATCH_ROWS: &str = "500";
/// Seconds without a heartbeat after which another server takes a task over.
const STALE_SECS: &str = "5";
/// All six tasks of a run end within this.
const FINISH_WITHIN: Duration = Duration::from_secs(150);
/// The demo's client users who may reject leads; each gets an API key.
const USERS: [&str; 2] = ["client@sendback.test", "bolt@sendback.test"];
/// The three campaigns of the demo that take rejections, and whose key (in [`USERS`]) sends them.
const CAMPAIGNS: [(&str, usize); 3] =
    [("Home Insurance UK", 0), ("Car Insurance UK", 0), ("Energy Switch UK", 1)];

fn admin_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL").ok().filter(|url| !url.trim().is_empty())
}

/// A database made for this test on the `TEST_POSTGRES_URL` server; dropped with this guard,
/// whatever connections are still open.
struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    /// A new database: empty, or a copy of `template` (which nobody may be connected to).
    fn create(admin: &str, template: Option<&PgDb>) -> Self {
        let name = format!("sendback_multi_{}_{:08x}", std::process::id(), rand::random::<u32>());
        let mut conn = PgConnection::establish(admin).expect("connect to TEST_POSTGRES_URL");
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {}", t.name),
            None => format!("CREATE DATABASE {name}"),
        };
        diesel::sql_query(sql).execute(&mut conn).expect("create the test database");
        let (base, _) = admin.rsplit_once('/').expect("TEST_POSTGRES_URL has a database path");
        let url = format!("{base}/{name}");
        Self { admin: admin.to_owned(), name, url }
    }

    fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }

    /// Runs `sendback <args>` on this database, as an operator would; its standard output.
    fn sendback(&self, args: &[&str]) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new(BIN)
            .env_clear()
            .args(["--database-url", &self.url, "--data-dir"])
            .arg(dir.path())
            .args(args)
            .output()
            .expect("run sendback");
        assert!(out.status.success(), "sendback {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut conn);
        }
    }
}

/// One `sendback serve` process with its own data directory; killed when dropped. Its log is
/// printed when the test fails.
struct Server {
    name: String,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    alive: bool,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(name: &str, db: &PgDb, site_root: &Path, flags: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(BIN)
            .env_clear()
            .env("RUST_LOG", "info,tower_http=warn")
            .env("NO_COLOR", "1")
            .args(["--database-url", &db.url, "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["serve", "--listen", "127.0.0.1:0", "--no-seed", "--site-root"])
            .arg(site_root)
            // The per-key rate limit would only slow the polling down.
            .args(["--api-rate-per-second", "10000", "--api-burst", "10000"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start sendback serve");
        // The address is the line `Sendback is running on http://…` on standard output.
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("Sendback is running on http://") {
                    let _ = tx.send(addr.parse::<SocketAddr>().ok());
                    break;
                }
            }
            // Keep reading so the server never blocks on a full pipe.
            lines.for_each(drop);
        });
        let mut server = Self {
            name: name.to_owned(),
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            alive: true,
            _dir: dir,
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(addr)) => server.addr = addr,
            _ => panic!("{name} did not say where it listens: {}", server.log_tail()),
        }
        server
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no graceful shutdown, the task is not handed back.
    fn kill(&mut self) {
        self.child.kill().expect("kill the server");
        let status = self.child.wait().expect("wait for the server");
        assert!(!status.success(), "{} was killed: {status}", self.name);
        self.alive = false;
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.alive {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- the end of {}'s log ---\n{}", self.name, self.log_tail());
        }
    }
}

/// An answer: status, the session cookie it sets (`name=value`), body.
struct Reply {
    status: StatusCode,
    cookie: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("a JSON answer: {} {}", self.status, self.body))
    }
}

/// An HTTP/1.1 client over hyper: one connection per request.
struct Http {
    rt: tokio::runtime::Runtime,
}

impl Http {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Self { rt }
    }

    fn try_send(
        &self,
        addr: SocketAddr,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Reply, String> {
        let mut req = Request::builder().method(method).uri(path).header(header::HOST, addr.to_string());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned()))).map_err(|e| e.to_string())?;
        let exchange = async move {
            let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = res.status();
            let cookie = res
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with(server::SESSION_COOKIE))
                .and_then(|c| c.split(';').next())
                .map(str::to_owned);
            let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(Reply { status, cookie, body: String::from_utf8_lossy(&bytes).into_owned() })
        };
        self.rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(60), exchange).await })
            .unwrap_or_else(|_| Err("no answer within 60 s".to_owned()))
    }

    fn send(&self, to: &Server, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        self.try_send(to.addr, method.clone(), path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", to.name))
    }

    /// A server function called as the browser's form does.
    fn call(&self, to: &Server, name: &str, form: &str, cookie: Option<&str>) -> Reply {
        let mut headers = vec![(header::CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded")];
        if let Some(cookie) = cookie {
            headers.push((header::COOKIE.as_str(), cookie));
        }
        self.send(to, Method::POST, &format!("/api/{name}"), &headers, form)
    }

    fn api_get(&self, to: &Server, key: &str, path: &str) -> Reply {
        let auth = format!("Bearer {key}");
        self.send(to, Method::GET, path, &[(header::AUTHORIZATION.as_str(), &auth)], "")
    }

    /// Waits until `/health` answers 200.
    fn wait_healthy(&self, server: &Server) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.try_send(server.addr, Method::GET, "/health", &[], "") {
                Ok(r) if r.status == StatusCode::OK => return,
                _ if Instant::now() > deadline => {
                    panic!("{} is not healthy: {}", server.name, server.log_tail())
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// A rejection file of one campaign and how it is sent.
struct TaskFile {
    campaign_id: i64,
    /// The user sending it (an index into [`USERS`] and the keys).
    key: usize,
    rows: usize,
    csv: String,
    query: String,
    idempotency: String,
}

/// Two files per campaign, in submit order: the first task of each campaign, then the second.
/// Each names about 60% of the campaign's leads (the second overlaps the first), some of them
/// twice, leads of another campaign and values that are not lead ids, padded to [`ROWS`] rows
/// with ids no lead has, in a shuffled (but fixed) order. The second file of a campaign also asks
/// for options 2, 4 and 5; the reference date is fixed so both runs share the window.
fn task_files(db: &PgDb) -> Vec<TaskFile> {
    let mut conn = db.conn();
    let today = chrono::Utc::now().date_naive();
    let mut per_campaign = Vec::new();
    for (ci, (name, user)) in CAMPAIGNS.iter().enumerate() {
        let campaign_id: i64 = campaigns::table
            .filter(campaigns::name.eq(name))
            .select(campaigns::id)
            .first(&mut conn)
            .expect("campaign");
        let mut ids: Vec<i64> = leads::table
            .filter(leads::campaign_id.eq(campaign_id))
            .select(leads::id)
            .order(leads::id)
            .load(&mut conn)
            .expect("leads");
        let others: Vec<i64> = leads::table
            .filter(leads::campaign_id.ne(campaign_id))
            .select(leads::id)
            .order(leads::id)
            .limit(50)
            .load(&mut conn)
            .expect("other leads");
        let mut rng = rand::rngs::SmallRng::seed_from_u64(ci as u64);
        ids.shuffle(&mut rng);
        per_campaign.push((campaign_id, *user, ids, others, rng));
    }
    let mut files = Vec::new();
    for round in 0..2 {
        for (ci, (campaign_id, user, ids, others, rng)) in per_campaign.iter_mut().enumerate() {
            let n = ids.len();
            let named = if round == 0 { &ids[..n * 6 / 10] } else { &ids[n * 4 / 10..] };
            let mut cells: Vec<String> = named.iter().map(i64::to_string).collect();
            cells.extend(named.iter().step_by(10).map(i64::to_string));
            cells.extend(others.iter().map(i64::to_string));
            cells.extend((0..20).map(|k| format!("lead-{k}")));
            let unknown = 900_000_000 + 1_000_000 * (2 * ci + round) as i64;
            while cells.len() < ROWS {
                cells.push((unknown + cells.len() as i64).to_string());
            }
            cells.shuffle(rng);
            let mut csv = String::from("Lead ID,Reason\n");
            for (i, cell) in cells.iter().enumerate() {
                csv.push_str(&format!("{cell},Reason {}\n", i % 7));
            }
            let mut query = format!(
                "campaign_id={campaign_id}&identifier=lead_id&identifier_column=Lead%20ID&reason_column=Reason&reject_from={today}&name=task-{round}-{ci}.csv"
            );
            if round == 1 {
                query.push_str(
                    "&move_outside_to_accepted=true&move_remaining_to_accepted=true&count_towards_cap=true",
                );
            } else {
                query.push_str("&reject_affiliate_events=true");
            }
            files.push(TaskFile {
                campaign_id: *campaign_id,
                key: *user,
                rows: cells.len(),
                csv,
                query,
                idempotency: format!("multi-server-{round}-{ci}"),
            });
        }
    }
    files
}

/// Sends a task's file through `server`; the task id.
fn submit(http: &Http, server: &Server, key: &str, file: &TaskFile) -> (StatusCode, i64) {
    let auth = format!("Bearer {key}");
    let headers = [
        (header::AUTHORIZATION.as_str(), auth.as_str()),
        (header::CONTENT_TYPE.as_str(), "text/csv"),
        ("idempotency-key", file.idempotency.as_str()),
    ];
    let path = format!("/api/v1/rejection-tasks?{}", file.query);
    let r = http.send(server, Method::POST, &path, &headers, &file.csv);
    assert!(
        r.status == StatusCode::ACCEPTED || r.status == StatusCode::OK,
        "submit on {}: {} {}",
        server.name,
        r.status,
        r.body
    );
    (r.status, r.json()["task_id"].as_i64().expect("task id"))
}

/// Polls the tasks through the live servers (in turn) until all have ended; their JSON.
fn wait_all_ended(
    http: &Http,
    servers: &[&Server],
    keys: &[String],
    tasks: &[(i64, usize)],
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + FINISH_WITHIN;
    let mut turn = 0;
    loop {
        let mut views = Vec::new();
        for (task, key) in tasks {
            turn += 1;
            let server = servers[turn % servers.len()];
            let r = http.api_get(server, &keys[*key], &format!("/api/v1/rejection-tasks/{task}"));
            assert_eq!(r.status, StatusCode::OK, "task {task} on {}: {}", server.name, r.body);
            views.push(r.json());
        }
        let ended = |v: &serde_json::Value| v["status"] == "completed" || v["status"] == "failed";
        if views.iter().all(ended) {
            return views;
        }
        if Instant::now() > deadline {
            let states: Vec<String> = views
                .iter()
                .map(|v| {
                    format!("task {} {} {}/{}", v["task_id"], v["status"], v["rows_done"], v["rows_total"])
                })
                .collect();
            panic!("the tasks did not end within {FINISH_WITHIN:?}: {states:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What a run left for one task, compared between the two runs.
#[derive(Debug, PartialEq)]
struct TaskEnd {
    status: String,
    rows_total: i64,
    rows_done: i64,
    counts: serde_json::Value,
    remaining_accepted: i64,
    cap_units_released: i64,
    /// The results file's records, in file order.
    results: Vec<Vec<String>>,
    /// The task's history rows: lead, from, to, reason; sorted.
    history: Vec<(i64, Option<String>, String, Option<String>)>,
}

/// Reads a task's end: its JSON, its results file through `server`, its history rows; checks
/// what holds within one run (rows, counts, row numbers, one history row per lead).
fn task_end(
    http: &Http,
    server: &Server,
    key: &str,
    db: &mut PgConnection,
    view: &serde_json::Value,
    file: &TaskFile,
) -> TaskEnd {
    let task = view["task_id"].as_i64().expect("task id");
    assert_eq!(
        view["status"], "completed",
        "task {task} did not complete: {}; {view}",
        view["failure_reason"]
    );
    assert_eq!(view["campaign"]["id"], file.campaign_id, "{view}");
    let int = |v: &serde_json::Value| v.as_i64().unwrap_or_else(|| panic!("a number: {view}"));
    assert_eq!(
        (int(&view["rows_total"]), int(&view["rows_done"])),
        (file.rows as i64, file.rows as i64),
        "{view}"
    );
    let counts = view["counts"].clone();
    let counted: i64 = counts.as_object().expect("counts").values().map(int).sum();
    assert_eq!(counted, file.rows as i64, "every row has one outcome: {view}");

    let r = http.api_get(server, key, &format!("/api/v1/rejection-tasks/{task}/results.csv"));
    assert_eq!(r.status, StatusCode::OK, "results of {task}: {}", r.body);
    let mut reader = csv::Reader::from_reader(r.body.as_bytes());
    let header = reader.headers().expect("results header").clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        ["row", "identifier", "reason", "outcome", "lead_id", "message"]
    );
    let results: Vec<Vec<String>> = reader
        .records()
        .map(|rec| rec.expect("a results record").iter().map(str::to_owned).collect())
        .collect();
    // Every data row once, in file order: line numbers 2..=rows+1 (the header is line 1).
    let rows: Vec<usize> = results.iter().map(|r| r[0].parse().expect("a row number")).collect();
    assert!(
        rows.iter().copied().eq(2..=file.rows + 1),
        "task {task}: the results file's rows are not 2..={}",
        file.rows + 1
    );
    let mut by_outcome: BTreeMap<&str, i64> = BTreeMap::new();
    for record in &results {
        *by_outcome.entry(record[3].as_str()).or_default() += 1;
    }
    for (outcome, n) in counts.as_object().expect("counts") {
        assert_eq!(
            by_outcome.get(outcome.as_str()).copied().unwrap_or(0),
            int(n),
            "task {task}: {outcome} in the results file"
        );
    }

    let mut history: Vec<(i64, Option<String>, String, Option<String>)> = lead_status_history::table
        .filter(lead_status_history::task_id.eq(task))
        .select((
            lead_status_history::lead_id,
            lead_status_history::from_status,
            lead_status_history::to_status,
            lead_status_history::reason,
        ))
        .load(db)
        .expect("history");
    history.sort();
    let twice: Vec<i64> = history.windows(2).filter(|w| w[0].0 == w[1].0).map(|w| w[0].0).collect();
    assert!(twice.is_empty(), "task {task}: leads with two history rows from the task: {twice:?}");
    assert!(!history.is_empty(), "task {task} changed no lead");

    TaskEnd {
        status: view["status"].as_str().unwrap_or_default().to_owned(),
        rows_total: int(&view["rows_total"]),
        rows_done: int(&view["rows_done"]),
        counts,
        remaining_accepted: int(&view["remaining_accepted"]),
        cap_units_released: int(&view["cap_units_released"]),
        results,
        history,
    }
}

/// Every lead of the database: id, status, reason, whether its cap unit was given back.
fn lead_states(db: &mut PgConnection) -> Vec<(i64, String, Option<String>, bool)> {
    leads::table
        .select((leads::id, leads::status, leads::status_reason, leads::cap_released))
        .order(leads::id)
        .load(db)
        .expect("leads")
}

/// The `serve` flags that make the test quick: small batches and a short heartbeat timeout.
fn serve_flags() -> Vec<String> {
    ["--task-batch-rows", BATCH_ROWS, "--task-stale-secs", STALE_SECS].map(str::to_owned).to_vec()
}

/// Logs in on one server and uses the session on the others; logs out on a third.
fn sessions_are_shared(http: &Http, servers: &[Server]) {
    let form = format!("email=client%40sendback.test&password={}", app::db::seed::DEMO_PASSWORD);
    let r = http.call(&servers[0], "login", &form, None);
    assert!(r.status.is_success() || r.status.is_redirection(), "login: {} {}", r.status, r.body);
    let cookie = r.cookie.expect("a session cookie");
    for server in &servers[1..] {
        let me = http.call(server, "me", "", Some(&cookie));
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(
            me.json()["email"],
            "client@sendback.test",
            "the session of {} on {}",
            servers[0].name,
            server.name
        );
    }
    let r = http.call(&servers[2], "logout", "", Some(&cookie));
    assert!(r.status.is_success() || r.status.is_redirection(), "logout: {} {}", r.status, r.body);
    let me = http.call(&servers[0], "me", "", Some(&cookie));
    assert_eq!(
        me.json(),
        serde_json::Value::Null,
        "logged out on {}, still in on {}",
        servers[2].name,
        servers[0].name
    );
}

/// Waits until some server is applying a task (rows done, rows left), kills it with `SIGKILL`;
/// (the task, the killed worker's id).
fn kill_a_server_mid_task(db: &mut PgConnection, servers: &mut [Server]) -> (i64, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running: Vec<(i64, Option<String>, i64, Option<i64>)> = rejection_tasks::table
            .filter(rejection_tasks::status.eq("running").and(rejection_tasks::rows_done.gt(0)))
            .select((
                rejection_tasks::id,
                rejection_tasks::claimed_by,
                rejection_tasks::rows_done,
                rejection_tasks::rows_total,
            ))
            .load(db)
            .expect("tasks");
        for (task, claimed_by, done, total) in running {
            let (Some(worker), Some(total)) = (claimed_by, total) else { continue };
            let pid: Option<u32> = worker.split('-').next().and_then(|p| p.parse().ok());
            let Some(server) = servers.iter_mut().find(|s| s.alive && Some(s.pid()) == pid) else { continue };
            if done >= total {
                continue;
            }
            server.kill();
            eprintln!(
                "killed {} (pid {}) while it ran task {task} at row {done} of {total}",
                server.name,
                server.pid()
            );
            // Dead, it holds the task where it stopped: between two batches, not finished.
            let (status, by, done_now): (String, Option<String>, i64) = rejection_tasks::table
                .find(task)
                .select((rejection_tasks::status, rejection_tasks::claimed_by, rejection_tasks::rows_done))
                .first(db)
                .expect("task");
            assert!(
                status == "running" && by.as_deref() == Some(worker.as_str()) && done_now < total,
                "task {task} was not caught mid-way: {status}, {by:?}, {done_now} of {total} rows"
            );
            return (task, worker);
        }
        assert!(Instant::now() < deadline, "no task was seen mid-way within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_servers_share_sessions_and_finish_every_task_exactly_once_when_one_is_killed() {
    let Some(admin) = admin_url() else {
        eprintln!("TEST_POSTGRES_URL is not set: skipping the multi-server test (it needs PostgreSQL)");
        return;
    };
    let started = Instant::now();
    let http = Http::new();
    let site_root = tempfile::tempdir().expect("temp dir");
    let flags = serve_flags();

    // One seeded database with the API keys; the one-server run gets an exact copy of it.
    let multi_db = PgDb::create(&admin, None);
    multi_db.sendback(&["seed"]);
    let keys: Vec<String> = USERS
        .iter()
        .map(|email| {
            multi_db.sendback(&["api-key", "create", "--email", email, "--name", "CRM"]).trim().to_owned()
        })
        .collect();
    let files = task_files(&multi_db);
    let single_db = PgDb::create(&admin, Some(&multi_db));
    assert_eq!(lead_states(&mut multi_db.conn()), lead_states(&mut single_db.conn()));
    eprintln!("seeded and copied in {:.1} s", started.elapsed().as_secs_f64());

    // Three servers on one database.
    let mut servers: Vec<Server> =
        (1..=3).map(|n| Server::start(&format!("server {n}"), &multi_db, site_root.path(), &flags)).collect();
    for server in &servers {
        http.wait_healthy(server);
    }
    sessions_are_shared(&http, &servers);

    // Six tasks through different servers; a resend of the first through another server is the
    // same task.
    let mut tasks = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let (status, task) = submit(&http, &servers[i % 3], &keys[file.key], file);
        assert_eq!(status, StatusCode::ACCEPTED);
        tasks.push((task, file.key));
    }
    let (status, again) = submit(&http, &servers[2], &keys[files[0].key], &files[0]);
    assert_eq!((status, again), (StatusCode::OK, tasks[0].0), "a resend through another server");
    let submitted = Instant::now();

    let mut multi_conn = multi_db.conn();
    let (killed_task, killed_worker) = kill_a_server_mid_task(&mut multi_conn, &mut servers);
    let survivors: Vec<&Server> = servers.iter().filter(|s| s.alive).collect();
    let views = wait_all_ended(&http, &survivors, &keys, &tasks);
    eprintln!(
        "three servers: the six tasks ended {:.1} s after submitting",
        submitted.elapsed().as_secs_f64()
    );
    let taken_over_by: Option<String> = rejection_tasks::table
        .find(killed_task)
        .select(rejection_tasks::claimed_by)
        .first(&mut multi_conn)
        .expect("task");
    let taker =
        taken_over_by.as_deref().and_then(|w| w.split('-').next()).and_then(|p| p.parse::<u32>().ok());
    assert!(
        taken_over_by.as_deref() != Some(killed_worker.as_str())
            && survivors.iter().any(|s| Some(s.pid()) == taker),
        "task {killed_task} was finished by {taken_over_by:?}, not by a surviving server"
    );
    let multi: Vec<TaskEnd> = views
        .iter()
        .zip(&files)
        .enumerate()
        .map(|(i, (view, file))| {
            task_end(&http, survivors[i % survivors.len()], &keys[file.key], &mut multi_conn, view, file)
        })
        .collect();
    drop(survivors);
    drop(servers);

    // The same files through one server, in the same order, on the copy.
    let single = Server::start("the single server", &single_db, site_root.path(), &flags);
    http.wait_healthy(&single);
    let mut single_tasks = Vec::new();
    for file in &files {
        let (status, task) = submit(&http, &single, &keys[file.key], file);
        assert_eq!(status, StatusCode::ACCEPTED);
        single_tasks.push((task, file.key));
    }
    let submitted = Instant::now();
    let views = wait_all_ended(&http, &[&single], &keys, &single_tasks);
    eprintln!("one server: the six tasks ended {:.1} s after submitting", submitted.elapsed().as_secs_f64());
    let mut single_conn = single_db.conn();
    let baseline: Vec<TaskEnd> = views
        .iter()
        .zip(&files)
        .map(|(view, file)| task_end(&http, &single, &keys[file.key], &mut single_conn, view, file))
        .collect();
    drop(single);

    for (i, (m, s)) in multi.iter().zip(&baseline).enumerate() {
        assert_eq!(m.counts, s.counts, "file {i}: outcome counts, three servers vs one");
        assert_eq!(
            (m.status.as_str(), m.rows_total, m.rows_done, m.remaining_accepted, m.cap_units_released),
            (s.status.as_str(), s.rows_total, s.rows_done, s.remaining_accepted, s.cap_units_released),
            "file {i}"
        );
        if let Some(k) =
            (0..m.results.len().max(s.results.len())).find(|&k| m.results.get(k) != s.results.get(k))
        {
            panic!(
                "file {i}: results differ at record {k}: {:?} vs {:?}",
                m.results.get(k),
                s.results.get(k)
            );
        }
        assert!(
            m.history == s.history,
            "file {i}: history rows differ ({} vs {})",
            m.history.len(),
            s.history.len()
        );
    }
    let (after_multi, after_single) = (lead_states(&mut multi_conn), lead_states(&mut single_conn));
    if let Some(k) =
        (0..after_multi.len().max(after_single.len())).find(|&k| after_multi.get(k) != after_single.get(k))
    {
        panic!("the leads differ: {:?} vs {:?}", after_multi.get(k), after_single.get(k));
    }
    eprintln!("multi-server test done in {:.1} s", started.elapsed().as_secs_f64());
}
