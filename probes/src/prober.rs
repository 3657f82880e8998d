//! The prober: sends requests over HTTP or HTTPS and records what the app answered.
//!
//! Which scheme a port speaks is settled once per port, by a TLS handshake: a handshake that
//! succeeds means `https`, anything else `http` ([`Prober::detect_tls`]). [`Prober::wait_ready`]
//! does it on every attempt, so it also copes with an app that starts slowly, and records the
//! answer in [`Target::tls`]; every other request just follows [`Target::tls`].

use crate::spec::ProbeSpec;
use crate::{tls, ProbeError, ProbeResult, Target};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST, LOCATION};
use rustls::ClientConfig;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a TLS handshake may take before the port is taken for plain HTTP. A TLS server
/// answers a ClientHello at once; a plain one answers `400` or waits for a line that never comes.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Sends HTTP probes.
pub struct Prober {
    client: reqwest::Client,
    tls: Arc<ClientConfig>,
    timeout: Duration,
}

/// A request's recorded result, with what the crawler needs of the answer.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The recorded result.
    pub result: ProbeResult,
    /// The body (empty when nothing was answered).
    pub body: Vec<u8>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Location` header.
    pub location: Option<String>,
}

impl Prober {
    /// A prober whose requests time out after `timeout` each. It accepts any server certificate
    /// (the app's own, often self-signed) and follows no redirects.
    pub fn new(timeout: Duration) -> Result<Self, ProbeError> {
        let tls = tls::client_config()?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_backend_preconfigured(tls.clone())
            .build()?;
        Ok(Prober { client, tls: Arc::new(tls), timeout })
    }

    /// Whether `target`'s port completes a TLS handshake (with any certificate). Waits at most
    /// the request timeout, and no more than 3 s, for the handshake. Fails only when no TCP
    /// connection can be made.
    pub async fn detect_tls(&self, target: &Target) -> Result<bool, ProbeError> {
        tls::speaks_tls(self.tls.clone(), &target.host, target.host_port, self.timeout.min(HANDSHAKE_TIMEOUT)).await.map_err(|source| {
            ProbeError::Connect { host: target.host.clone(), host_port: target.host_port, port: target.container_port, source }
        })
    }

    /// Sends `method path` to `target` and records the answer (errors included).
    pub async fn request(&self, target: &Target, method: &str, path: &str) -> ProbeResult {
        self.send(target, &ProbeSpec::new(method, path)).await
    }

    /// Sends `spec` (method, path, headers, body) to `target` and records the answer.
    pub async fn send(&self, target: &Target, spec: &ProbeSpec) -> ProbeResult {
        self.fetch(target, spec).await.result
    }

    /// Sends `spec` to `target` and keeps the body and the headers the crawler reads.
    pub async fn fetch(&self, target: &Target, spec: &ProbeSpec) -> Fetched {
        let started = Instant::now();
        let mut fetched = Fetched {
            result: ProbeResult {
                kind: target.scheme().into(),
                method: spec.method.clone(),
                path: spec.path.clone(),
                port: target.container_port,
                status: None,
                body_sha256: None,
                bytes: 0,
                latency_ms: 0,
                error: None,
                exit_code: None,
            },
            body: Vec::new(),
            content_type: None,
            location: None,
        };
        match self.exchange(target, spec, &mut fetched).await {
            Ok(()) => {
                fetched.result.bytes = fetched.body.len() as u64;
                fetched.result.body_sha256 = Some(hex::encode(Sha256::digest(&fetched.body)));
            }
            Err(e) => fetched.result.error = Some(e),
        }
        fetched.result.latency_ms = started.elapsed().as_millis() as u64;
        fetched
    }

    /// The request itself: fills in status, headers and body, or says what went wrong.
    async fn exchange(&self, target: &Target, spec: &ProbeSpec, fetched: &mut Fetched) -> Result<(), String> {
        let method = reqwest::Method::from_bytes(spec.method.as_bytes()).map_err(|e| format!("method `{}`: {e}", spec.method))?;
        let mut request = self.client.request(method, target.url(&spec.path)).headers(headers(target, spec)?);
        if let Some(body) = &spec.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(|e| error_chain(&e))?;
        fetched.result.status = Some(response.status().as_u16());
        let header = |name| response.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
        fetched.content_type = header(CONTENT_TYPE);
        fetched.location = header(LOCATION);
        let body = response.bytes().await.map_err(|e| format!("reading the body: {}", error_chain(&e)))?;
        fetched.body = body.to_vec();
        Ok(())
    }

    /// Waits until `target`'s port answers HTTP or HTTPS (any status) to `GET /`, backing off from
    /// 50 ms to 1 s, for at most `timeout`. Each attempt first settles the scheme with
    /// [`Prober::detect_tls`] and records it in `target.tls`. Returns the first answer.
    pub async fn wait_ready(&self, target: &mut Target, timeout: Duration) -> Result<ProbeResult, ProbeError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            let last_error = match self.detect_tls(target).await {
                Ok(tls) => {
                    target.tls = tls;
                    tracing::debug!(port = target.container_port, scheme = target.scheme(), "TLS handshake tried");
                    let result = self.request(target, "GET", "/").await;
                    if result.status.is_some() {
                        return Ok(result);
                    }
                    result.error.unwrap_or_default()
                }
                Err(e) => e.to_string(),
            };
            if started.elapsed() + backoff > timeout {
                return Err(ProbeError::NotReady { port: target.container_port, waited: started.elapsed(), last_error });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
}

/// The request headers: `spec`'s own, plus `Host: localhost:<container port>` unless `spec` sets
/// `Host`.
fn headers(target: &Target, spec: &ProbeSpec) -> Result<HeaderMap, String> {
    let mut map = spec.header_map().map_err(|e| e.to_string())?;
    if !map.contains_key(HOST) {
        let host = HeaderValue::from_str(&target.host_header()).map_err(|e| e.to_string())?;
        map.insert(HOST, host);
    }
    Ok(map)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{target, Reply, Server};

    #[tokio::test]
    async fn records_status_digest_and_host_header() {
        let server = Server::plain(|req| Reply::ok("text/plain", req.header("host").unwrap_or_default())).await;
        let prober = Prober::new(Duration::from_secs(5)).unwrap();
        let r = prober.request(&target(&server, 8080), "GET", "/x?y=1").await;
        assert_eq!(r.status, Some(200));
        assert_eq!(r.bytes, "localhost:8080".len() as u64);
        assert_eq!(r.body_sha256.unwrap(), hex::encode(Sha256::digest(b"localhost:8080")));
        assert_eq!((r.kind.as_str(), r.port, r.path.as_str()), ("http", 8080, "/x?y=1"));
        assert_eq!(server.paths(), ["/x?y=1"]);
    }

    #[tokio::test]
    async fn send_carries_method_headers_and_body() {
        let server = Server::plain(|_| Reply::ok("text/plain", "done")).await;
        let prober = Prober::new(Duration::from_secs(5)).unwrap();
        let mut spec = ProbeSpec::new("PUT", "/items/1");
        spec.headers = vec![("X-Token".into(), "abc".into()), ("Host".into(), "app.example".into())];
        spec.body = Some(b"{\"a\":1}".to_vec());
        let r = prober.send(&target(&server, 80), &spec).await;
        assert_eq!(r.status, Some(200));
        let got = &server.requests()[0];
        assert_eq!((got.method.as_str(), got.target.as_str()), ("PUT", "/items/1"));
        assert_eq!(got.header("x-token").as_deref(), Some("abc"));
        assert_eq!(got.header("host").as_deref(), Some("app.example"));
        assert_eq!(got.body, b"{\"a\":1}");
    }

    #[tokio::test]
    async fn detects_tls_and_speaks_https_with_a_self_signed_certificate() {
        let server = Server::tls(|req| Reply::ok("text/plain", format!("secure {}", req.target))).await;
        let prober = Prober::new(Duration::from_secs(5)).unwrap();
        let mut target = target(&server, 8443);
        assert!(prober.detect_tls(&target).await.unwrap());
        let first = prober.wait_ready(&mut target, Duration::from_secs(5)).await.unwrap();
        assert!(target.tls);
        assert_eq!((first.kind.as_str(), first.status), ("https", Some(200)));
        let fetched = prober.fetch(&target, &ProbeSpec::new("GET", "/a?b=1")).await;
        assert_eq!(fetched.body, b"secure /a?b=1");
    }

    #[tokio::test]
    async fn a_plain_server_is_not_tls() {
        let server = Server::plain(|_| Reply::ok("text/plain", "plain")).await;
        let prober = Prober::new(Duration::from_secs(5)).unwrap();
        let mut target = target(&server, 80);
        target.tls = true;
        assert!(!prober.detect_tls(&target).await.unwrap());
        let first = prober.wait_ready(&mut target, Duration::from_secs(5)).await.unwrap();
        assert!(!target.tls);
        assert_eq!((first.kind.as_str(), first.status), ("http", Some(200)));
    }

    #[tokio::test]
    async fn a_silent_server_is_not_tls_after_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(conn);
        });
        let prober = Prober::new(Duration::from_millis(300)).unwrap();
        let target = Target { host: "127.0.0.1".into(), host_port: port, container_port: 80, tls: false };
        assert!(!prober.detect_tls(&target).await.unwrap());
        held.abort();
    }

    #[tokio::test]
    async fn not_ready_when_nothing_answers() {
        let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let prober = Prober::new(Duration::from_secs(1)).unwrap();
        let mut target = Target { host: "127.0.0.1".into(), host_port: unused, container_port: 80, tls: false };
        assert!(matches!(prober.detect_tls(&target).await, Err(ProbeError::Connect { port: 80, .. })));
        let err = prober.wait_ready(&mut target, Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(err, ProbeError::NotReady { port: 80, .. }), "{err}");
    }
}
