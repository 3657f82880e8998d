//! slim's probes: HTTP requests that exercise the app under analysis, and what they answered.
//!
//! Knows nothing of Docker: callers give a host address and port. Requests carry
//! `Host: localhost:<container port>`, so answers do not depend on the random host port.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Where a probe goes: the published address of one container port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host (IP) the container port is published on.
    pub host: String,
    /// Host port.
    pub host_port: u16,
    /// The container's own port (for the Host header and reports).
    pub container_port: u16,
}

/// One recorded probe result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// `http`.
    pub kind: String,
    /// HTTP method.
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// The container port probed.
    pub port: u16,
    /// HTTP status, when the app answered.
    pub status: Option<u16>,
    /// sha256 of the body, hex.
    pub body_sha256: Option<String>,
    /// Body length.
    pub bytes: u64,
    /// Time to the full answer.
    pub latency_ms: u64,
    /// What went wrong, when nothing was answered.
    pub error: Option<String>,
}

/// Why probing could not start.
#[derive(Debug, Error)]
pub enum ProbeError {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(String),
    /// The port never answered HTTP within the time allowed.
    #[error("port {port} did not answer HTTP within {waited:?}: {last_error}")]
    NotReady {
        /// The container port.
        port: u16,
        /// How long slim waited.
        waited: Duration,
        /// The last error seen.
        last_error: String,
    },
}

/// Sends HTTP probes.
pub struct Prober {
    client: reqwest::Client,
}

impl Prober {
    /// A prober whose requests time out after `timeout` each.
    pub fn new(timeout: Duration) -> Result<Self, ProbeError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| ProbeError::Client(e.to_string()))?;
        Ok(Prober { client })
    }

    /// Sends `method path` to `target` and records the answer (errors included).
    pub async fn request(&self, target: &Target, method: &str, path: &str) -> ProbeResult {
        let started = Instant::now();
        let url = format!("http://{}:{}{}", target.host, target.host_port, path);
        let mut result = ProbeResult {
            kind: "http".into(),
            method: method.to_owned(),
            path: path.to_owned(),
            port: target.container_port,
            status: None,
            body_sha256: None,
            bytes: 0,
            latency_ms: 0,
            error: None,
        };
        let method_parsed = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let sent = self
            .client
            .request(method_parsed, &url)
            .header(reqwest::header::HOST, format!("localhost:{}", target.container_port))
            .send()
            .await;
        match sent {
            Ok(response) => {
                result.status = Some(response.status().as_u16());
                match response.bytes().await {
                    Ok(body) => {
                        result.bytes = body.len() as u64;
                        result.body_sha256 = Some(hex::encode(Sha256::digest(&body)));
                    }
                    Err(e) => result.error = Some(format!("reading the body: {e}")),
                }
            }
            Err(e) => result.error = Some(error_chain(&e)),
        }
        result.latency_ms = started.elapsed().as_millis() as u64;
        result
    }

    /// Sends `GET /` until the port answers HTTP (any status), backing off from 50 ms to 1 s,
    /// for at most `timeout`. Returns the first answer.
    pub async fn wait_ready(&self, target: &Target, timeout: Duration) -> Result<ProbeResult, ProbeError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            let result = self.request(target, "GET", "/").await;
            if result.status.is_some() {
                return Ok(result);
            }
            if started.elapsed() + backoff > timeout {
                return Err(ProbeError::NotReady {
                    port: target.container_port,
                    waited: started.elapsed(),
                    last_error: result.error.unwrap_or_default(),
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot HTTP server on 127.0.0.1 that answers every request with `Host` echoed back.
    async fn serve(requests: usize) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for _ in 0..requests {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                let host = req.lines().find_map(|l| l.strip_prefix("host: ")).unwrap_or("").trim().to_owned();
                let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}", host.len(), host);
                sock.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        port
    }

    #[tokio::test]
    async fn records_status_digest_and_host_header() {
        let port = serve(1).await;
        let prober = Prober::new(Duration::from_secs(5)).unwrap();
        let target = Target { host: "127.0.0.1".into(), host_port: port, container_port: 8080 };
        let r = prober.request(&target, "GET", "/x?y=1").await;
        assert_eq!(r.status, Some(200));
        assert_eq!(r.bytes, "localhost:8080".len() as u64);
        assert_eq!(r.body_sha256.unwrap(), hex::encode(Sha256::digest(b"localhost:8080")));
        assert_eq!((r.port, r.path.as_str()), (8080, "/x?y=1"));
    }

    #[tokio::test]
    async fn not_ready_when_nothing_answers() {
        let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let prober = Prober::new(Duration::from_secs(1)).unwrap();
        let target = Target { host: "127.0.0.1".into(), host_port: unused, container_port: 80 };
        let err = prober.wait_ready(&target, Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(err, ProbeError::NotReady { port: 80, .. }), "{err}");
    }
}
