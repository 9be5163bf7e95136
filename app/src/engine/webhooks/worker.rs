//! The delivery worker every server process runs: one loop per enabled endpoint claims that
//! endpoint's due events, sends them (at most `per_endpoint` at once, and at most `total` for
//! the whole process), and records each attempt. A supervisor starts and ends the loops as
//! endpoints are enabled and disabled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use parking_lot::RwLock;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{Semaphore, watch};

use super::send::Sender;
use super::store::{self, Outgoing, Recorded};
use crate::clock::SharedClock;
use crate::db::{DbError, Pool, run_background};
use crate::domain::webhooks::REQUEST_TIMEOUT_SECS;

/// How often an idle endpoint loop looks for due events, and the supervisor for endpoints.
const IDLE_POLL: Duration = Duration::from_millis(500);
const SUPERVISE_EVERY: Duration = Duration::from_secs(2);

/// Settings of a server's delivery worker.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Requests in flight at once, in all.
    pub total: usize,
    /// Requests in flight at once to one endpoint.
    pub per_endpoint: usize,
    pub allow_private: bool,
}

impl DeliverySettings {
    /// `total` requests at once, a quarter of them (at least 4) per endpoint.
    pub fn with_total(total: usize, allow_private: bool) -> Self {
        let total = total.max(1);
        Self { total, per_endpoint: (total / 4).max(4).min(total), allow_private }
    }
}

/// A server's delivery worker.
#[derive(Clone)]
pub struct DeliveryWorker {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    clock: SharedClock,
    sender: Sender,
    id: String,
    settings: DeliverySettings,
    permits: Arc<Semaphore>,
    enabled: RwLock<HashSet<i64>>,
}

impl DeliveryWorker {
    pub fn new(pool: Pool, clock: SharedClock, settings: DeliverySettings) -> Result<Self, String> {
        let sender = Sender::new(settings.allow_private)?;
        let id = format!("webhooks-{}-{:08x}", std::process::id(), rand::random::<u32>());
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                clock,
                sender,
                id,
                settings,
                permits: Arc::new(Semaphore::new(settings.total)),
                enabled: RwLock::new(HashSet::new()),
            }),
        })
    }

    /// Runs until `shutdown` turns true; a loop's batch in flight then finishes first.
    pub async fn run_forever(self, mut shutdown: watch::Receiver<bool>) {
        let mut loops: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            match run_background(&self.inner.pool, store::enabled_endpoints).await {
                Ok(ids) => {
                    *self.inner.enabled.write() = ids.iter().copied().collect();
                    loops.retain(|_, h| !h.is_finished());
                    for id in ids {
                        loops.entry(id).or_insert_with(|| {
                            tokio::spawn(self.clone().endpoint_loop(id, shutdown.clone()))
                        });
                    }
                }
                Err(err) => tracing::warn!(error = %err, "webhook worker: listing endpoints"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SUPERVISE_EVERY) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        for (_, handle) in loops {
            let _ = handle.await;
        }
    }

    /// Sends one endpoint's due events until the endpoint is disabled or the server stops.
    async fn endpoint_loop(self, endpoint_id: i64, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() || !self.inner.enabled.read().contains(&endpoint_id) {
                return;
            }
            let sent = match self.deliver_batch(endpoint_id).await {
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(endpoint_id, error = %err, "webhook delivery");
                    0
                }
            };
            if sent == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
    }

    /// Claims, sends and records one batch of the endpoint's due events; how many.
    pub async fn deliver_batch(&self, endpoint_id: i64) -> Result<usize, DbError> {
        let inner = &self.inner;
        let limit = inner.settings.per_endpoint * 2;
        let worker = inner.id.clone();
        let now = inner.clock.now();
        let batch = run_background(&inner.pool, move |conn| {
            let ids = store::claim(conn, endpoint_id, &worker, limit, now)?;
            store::outgoing(conn, &ids)
        })
        .await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        let results: Vec<Recorded> = futures_util::stream::iter(batch)
            .map(|out| self.send(out, now))
            .buffer_unordered(inner.settings.per_endpoint)
            .filter_map(|r| async move { r })
            .collect()
            .await;
        let worker = inner.id.clone();
        run_background(&inner.pool, move |conn| store::record(conn, endpoint_id, &worker, &results)).await?;
        Ok(n)
    }

    /// Sends one claimed event; `None` when its claim (made at `claimed_at`) would run out
    /// before the request could time out — it is left for the next claim, so it is neither sent
    /// twice at once nor after a later event of its lead.
    async fn send(&self, out: Outgoing, claimed_at: chrono::NaiveDateTime) -> Option<Recorded> {
        let inner = &self.inner;
        let _permit = inner.permits.acquire().await;
        let at = inner.clock.now();
        let timeout = chrono::TimeDelta::seconds(i64::try_from(REQUEST_TIMEOUT_SECS).unwrap_or(10));
        if at + timeout + chrono::TimeDelta::seconds(5) > claimed_at + store::LEASE {
            return None;
        }
        let timestamp = at.and_utc().timestamp();
        let msg_id = out.msg_id();
        let body = out.body();
        let signature = super::sign::header(&out.secrets(at), &msg_id, timestamp, &body);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        put("webhook-id", msg_id);
        put("webhook-timestamp", timestamp.to_string());
        put("webhook-signature", signature);
        let attempt = inner.sender.post(&out.url, headers, body).await;
        Some(Recorded {
            event_id: out.event_id,
            attempts_before: out.attempts,
            attempt,
            at,
            jitter: rand::random::<f64>(),
        })
    }
}
