//! One webhook request: reqwest over rustls, no redirects followed, no proxy, 10 s in all, at
//! most 4 KB of the answer read. Unless private addresses are allowed, the address is checked
//! when the request is made: `https://` only, a literal IP must be public, and a host name must
//! resolve to public addresses only (the resolver refuses otherwise, so the connection can only
//! go to an address that was checked; a name that once resolved publicly cannot be switched to
//! an internal one afterwards).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhooks::{MAX_RESPONSE_BYTES, REQUEST_TIMEOUT_SECS, is_forbidden_ip};

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's status code, if it answered.
    pub status: Option<u16>,
    pub latency_ms: i32,
    /// Why it failed: no answer (timeout, connection, refused address), or the start of a non-2xx
    /// answer's body.
    pub error: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Resolves host names, keeping only the addresses a webhook may go to.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.iter().copied().filter(|a| !is_forbidden_ip(a.ip())).collect();
            if public.is_empty() {
                // One message whether the name resolved or not: the page must not become a way
                // to probe which internal names exist.
                return Err(format!("{host} does not resolve to a public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// reqwest is built without a default TLS provider: rustls's ring provider, installed once per
/// process (a later call, or a provider installed first by someone else, changes nothing).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Sends webhook requests; one per server process (it keeps connections alive).
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(allow_private: bool) -> Result<Self, String> {
        install_tls_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!(
                "Sendback-Webhooks/",
                env!("CARGO_PKG_VERSION"),
                " (+https://www.standardwebhooks.com)"
            ))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .http1_only();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver)).https_only(true);
        }
        let client = builder.build().map_err(|e| format!("cannot build the webhook client: {e}"))?;
        Ok(Self { client, allow_private })
    }

    /// Why `url` may not be sent to now, before any connection: not https, or a literal
    /// private address. Host names are checked by the resolver.
    fn refusal(&self, url: &reqwest::Url) -> Option<String> {
        if self.allow_private {
            return None;
        }
        if url.scheme() != "https" {
            return Some("the address is not https".into());
        }
        let host = url.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<std::net::IpAddr>() {
            Ok(ip) if is_forbidden_ip(ip) => {
                Some(format!("{ip} is a private address; webhooks only go to public addresses"))
            }
            _ => None,
        }
    }

    /// POSTs `body` with `headers` to `url` and reads at most 4 KB of the answer.
    pub async fn post(&self, url: &str, headers: reqwest::header::HeaderMap, body: Vec<u8>) -> Attempt {
        let started = Instant::now();
        let elapsed = |started: Instant| i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => {
                return Attempt { status: None, latency_ms: 0, error: Some(format!("bad address: {e}")) };
            }
        };
        if let Some(refused) = self.refusal(&parsed) {
            return Attempt { status: None, latency_ms: 0, error: Some(refused) };
        }
        let sent = self.client.post(parsed).headers(headers).body(body).send().await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Attempt { status: None, latency_ms: elapsed(started), error: Some(describe(&e)) };
            }
        };
        let status = response.status().as_u16();
        // Read a little of the answer (kept when it is an error), never all of it.
        let mut excerpt = Vec::new();
        while excerpt.len() < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    excerpt.extend_from_slice(&chunk[..chunk.len().min(MAX_RESPONSE_BYTES - excerpt.len())])
                }
                Ok(None) | Err(_) => break,
            }
        }
        let latency_ms = elapsed(started);
        let error = (!(200..300).contains(&status)).then(|| {
            let text = printable(&String::from_utf8_lossy(&excerpt));
            if text.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {text}") }
        });
        Attempt { status: Some(status), latency_ms, error }
    }
}

/// A receiver's text as it is stored and shown: control characters (NUL cannot even be stored in
/// PostgreSQL text) become spaces, runs of spaces one, at most 500 characters.
pub fn printable(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(500) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

/// A failed request as the Webhooks page shows it: the innermost cause says the most.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    printable(&match last {
        Some(cause) => format!("{kind}: {cause}"),
        None => format!("{kind}: {err}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_s_text_is_stored_printable_and_short() {
        assert_eq!(printable("bad\0 gateway\r\n\t<html>"), "bad gateway <html>");
        let long = "x".repeat(600);
        let cut = printable(&long);
        assert_eq!(cut.chars().count(), 501);
        assert!(cut.ends_with('…'));
    }
}
