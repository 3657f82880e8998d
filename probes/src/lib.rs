//! slim's probes: HTTP requests that exercise the app under analysis, and what they answered.
//!
//! Knows nothing of Docker: callers give a host address and port. Requests carry
//! `Host: localhost:<container port>`, so answers do not depend on the random host port.
//!
//! - [`Prober`] sends requests over plain HTTP or HTTPS; [`Prober::wait_ready`] (or
//!   [`Prober::detect_tls`]) settles which one a port speaks.
//! - [`crawl()`] follows the same-origin links of HTML pages, breadth first.
//! - [`ProbeSpec`] describes one request; it comes from `--probe 'METHOD /path [BODY]'`
//!   ([`ProbeSpec::parse_inline`]), from a probe file ([`load_probe_file`]) or from docker-slim's
//!   `--http-probe-cmd` syntax ([`HttpProbeCmd`]).

mod cmd;
mod crawl;
mod file;
mod html;
mod prober;
mod spec;
#[cfg(test)]
mod testing;
mod tls;

pub use cmd::{HttpProbeCmd, Proto};
pub use crawl::{crawl, CrawlLimits};
pub use file::{load_probe_file, FileLocation, ProbeFileError};
pub use prober::{Fetched, Prober};
pub use spec::{ProbeSpec, SpecError};

use serde::{Deserialize, Serialize};
use std::time::Duration;
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
    /// Whether the port speaks TLS (requests then use `https`). Start with `false`:
    /// [`Prober::wait_ready`] sets it, or set it from [`Prober::detect_tls`] or a `--http-probe-cmd`
    /// protocol.
    pub tls: bool,
}

impl Target {
    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The URL of `path` (path and query, starting with `/`) as slim reaches it:
    /// `SCHEME://HOST:HOSTPORT/path`.
    pub fn url(&self, path: &str) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{}://{}:{}{}", self.scheme(), host, self.host_port, path)
    }

    /// The `Host` header every request carries: `localhost:<container port>`.
    pub fn host_header(&self) -> String {
        format!("localhost:{}", self.container_port)
    }
}

/// One recorded probe result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The scheme used: `http` or `https`.
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
    /// Exit code, for command probes (`exec`, `healthcheck`, `host-exec`); `None` for HTTP.
    #[serde(default)]
    pub exit_code: Option<i32>,
}

/// Why probing could not start.
#[derive(Debug, Error)]
pub enum ProbeError {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The TLS configuration could not be built.
    #[error("configuring TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// Nothing accepted a TCP connection on the port.
    #[error("connecting to {host}:{host_port} (port {port}): {source}")]
    Connect {
        /// The host address.
        host: String,
        /// The host port.
        host_port: u16,
        /// The container port.
        port: u16,
        /// What the connection attempt said.
        source: std::io::Error,
    },
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
