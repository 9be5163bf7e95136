//! Webhooks end to end with real processes: `sendback webhook add` on the command line, a
//! rejection task sent to `sendback serve --allow-private-webhooks` through the API, a receiver
//! in this test verifying each Standard Webhooks signature, and the server killed (`SIGKILL`)
//! mid-delivery. A second server on the same database delivers the rest: every rejected lead's
//! event arrives, at least once, with one `webhook-id` per event; nothing is lost. Then a server
//! without the flag refuses to deliver to the (private) receiver.

#![allow(clippy::expect_used, reason = "test fixtures; clippy only exempts #[test] functions")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::db::schema::{campaigns, leads, webhook_events};
use axum::http::{HeaderMap, StatusCode};
use diesel::prelude::*;
use parking_lot::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_sendback");
const LEADS: usize = 300;

/// One `sendback serve` on the data directory; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(data: &Path, log: PathBuf, flags: &[&str]) -> Self {
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(BIN)
            .env_clear()
            .env("RUST_LOG", "info,tower_http=warn")
            .env("NO_COLOR", "1")
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0", "--no-seed", "--site-root", "/nonexistent"])
            .args(["--api-rate-per-second", "10000", "--api-burst", "10000"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start sendback serve");
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
            lines.for_each(drop);
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(addr)) => addr,
            _ => panic!("the server did not start: {}", std::fs::read_to_string(&log).unwrap_or_default()),
        };
        Self { child, addr, log }
    }

    /// `kill -9`.
    fn kill(&mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}

fn sendback(data: &Path, args: &[&str]) -> String {
    let out =
        Command::new(BIN).env_clear().arg("--data-dir").arg(data).args(args).output().expect("run sendback");
    assert!(out.status.success(), "sendback {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[derive(Debug, Clone)]
struct Got {
    id: String,
    lead: i64,
    verified: bool,
}

/// A receiver on 127.0.0.1 that takes `delay` to answer 200 to each request.
fn receiver(
    rt: &tokio::runtime::Runtime,
    secret: Arc<Mutex<String>>,
    delay: Duration,
) -> (u16, Arc<Mutex<Vec<Got>>>) {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (g, secret) = (g.clone(), secret.clone());
            async move {
                tokio::time::sleep(delay).await;
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
                let verified = app::engine::webhooks::sign::verify(
                    &secret.lock(),
                    &h("webhook-id"),
                    ts,
                    &body,
                    &h("webhook-signature"),
                );
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let lead = json["data"]["lead_id"].as_i64().unwrap_or(0);
                g.lock().push(Got { id: h("webhook-id"), lead, verified });
                StatusCode::OK
            }
        }),
    );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(async move { axum::serve(listener, app).await });
    (port, got)
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn event_states(conn: &mut app::db::DbConn) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = webhook_events::table
        .group_by(webhook_events::state)
        .select((webhook_events::state, diesel::dsl::count_star()))
        .load(conn)
        .expect("states");
    rows.into_iter().collect()
}

#[test]
fn a_server_killed_mid_delivery_loses_no_event_and_private_receivers_need_the_flag() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    sendback(&data, &["seed"]);
    let key = sendback(&data, &["api-key", "create", "--email", "client@sendback.test", "--name", "test"]);
    let key = key.trim().to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let secret: Arc<Mutex<String>> = Arc::default();
    let (port, received) = receiver(&rt, secret.clone(), Duration::from_millis(40));
    let url = format!("http://127.0.0.1:{port}/hook");
    let added = sendback(
        &data,
        &["webhook", "add", "--instance", "Demo Leads Ltd", "--url", &url, "--status", "client_rejected"],
    );
    let lines: Vec<&str> = added.lines().collect();
    assert_eq!(lines.len(), 2, "the id, then the secret: {added}");
    assert!(lines[0].parse::<i64>().is_ok() && lines[1].starts_with("whsec_"), "{added}");
    *secret.lock() = lines[1].to_owned();
    let listed = sendback(&data, &["webhook", "list", "--instance", "Demo Leads Ltd"]);
    assert!(listed.contains(&url) && listed.contains("enabled"), "{listed}");

    // The leads to reject: received ones of Home Insurance UK inside its 7-day window.
    let pool = app::db::connect(&format!("sqlite://{}", data.join("sendback.db").display()), 2).expect("db");
    let mut conn = pool.get().expect("conn");
    let campaign: i64 = campaigns::table
        .filter(campaigns::name.eq("Home Insurance UK"))
        .select(campaigns::id)
        .first(&mut conn)
        .expect("c");
    let since = chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(6);
    let mut ids: Vec<i64> = leads::table
        .filter(
            leads::campaign_id
                .eq(campaign)
                .and(leads::status.eq("received"))
                .and(leads::received_at.gt(since)),
        )
        .select(leads::id)
        .order(leads::id)
        .limit(LEADS as i64 + 10)
        .load(&mut conn)
        .expect("leads");
    assert_eq!(ids.len(), LEADS + 10);
    let later = ids.split_off(LEADS);

    // Server 1: four requests at once to the endpoint, 40 ms each: ~100 events a second.
    let mut first = Server::start(
        &data,
        dir.path().join("first.log"),
        &["--allow-private-webhooks", "--webhook-concurrency", "4"],
    );
    assert_eq!(submit(&rt, first.addr, &key, campaign, &ids, "webhooks-kill"), 202);
    wait_until("a third of the deliveries", Duration::from_secs(60), || received.lock().len() >= LEADS / 3);
    first.kill();
    let at_kill = received.lock().len();
    assert!(at_kill < LEADS, "the server was killed before it delivered everything ({at_kill})");
    let states = event_states(&mut conn);
    assert_eq!(states.values().sum::<i64>(), LEADS as i64, "one event per rejected lead: {states:?}");

    // Server 2 on the same database: the claims of the dead one run out (30 s), the rest goes out.
    let mut second = Server::start(&data, dir.path().join("second.log"), &["--allow-private-webhooks"]);
    wait_until("every event delivered", Duration::from_secs(90), || {
        event_states(&mut conn).get("delivered").copied() == Some(LEADS as i64)
    });
    let got = received.lock().clone();
    assert!(got.iter().all(|g| g.verified), "every signature verifies");
    let leads: BTreeSet<i64> = got.iter().map(|g| g.lead).collect();
    assert_eq!(leads, ids.iter().copied().collect(), "every rejected lead's event arrived");
    let per_id: BTreeMap<&str, usize> = got.iter().fold(BTreeMap::new(), |mut m, g| {
        *m.entry(g.id.as_str()).or_default() += 1;
        m
    });
    assert_eq!(per_id.len(), LEADS, "one webhook-id per event");
    // At least once: only the requests in flight at the kill may have come twice.
    let twice = per_id.values().filter(|n| **n > 1).count();
    assert!(twice <= 8, "{twice} events came more than once");
    let attempts: i64 =
        app::db::schema::webhook_attempts::table.count().get_result(&mut conn).expect("attempts");
    assert!(attempts >= (LEADS - twice) as i64, "{attempts}");
    second.kill();

    // A server without --allow-private-webhooks refuses the same (private, plain http) receiver.
    let third = Server::start(&data, dir.path().join("third.log"), &[]);
    assert_eq!(submit(&rt, third.addr, &key, campaign, &later, "webhooks-private"), 202);
    wait_until("the refused attempts", Duration::from_secs(60), || {
        let errors: Vec<Option<String>> = webhook_events::table
            .filter(webhook_events::state.eq("pending").and(webhook_events::attempts.gt(0)))
            .select(webhook_events::last_error)
            .load(&mut conn)
            .expect("errors");
        errors.len() == later.len()
            && errors.iter().all(|e| e.as_deref().is_some_and(|e| e.contains("https")))
    });
    assert_eq!(received.lock().len(), got.len(), "nothing more reached the receiver");
    drop(third);
}

/// Sends a rejection task of `ids` through the API; the answer's status.
fn submit(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    key: &str,
    campaign: i64,
    ids: &[i64],
    idem: &str,
) -> u16 {
    let mut csv = String::from("Lead ID,Reason\n");
    for id in ids {
        csv.push_str(&format!("{id},Not interested\n"));
    }
    let url = format!(
        "http://{addr}/api/v1/rejection-tasks?campaign_id={campaign}&identifier=lead_id&identifier_column=Lead%20ID&reason_column=Reason"
    );
    app::engine::webhooks::send::install_tls_provider();
    rt.block_on(async {
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(key)
            .header("content-type", "text/csv")
            .header("idempotency-key", idem)
            .body(csv)
            .send()
            .await
            .expect("submit")
            .status()
            .as_u16()
    })
}
