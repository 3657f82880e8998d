//! Probe specifications: one HTTP request to send, and the inline `--probe` syntax.

use crate::ProbeResult;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use thiserror::Error;

/// One HTTP request to send to the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// The container port to probe; `None` means every probed port. Choosing the [`Target`]
    /// is the caller's job: [`Prober::send`] does not look at it.
    ///
    /// [`Target`]: crate::Target
    /// [`Prober::send`]: crate::Prober::send
    pub port: Option<u16>,
    /// Extra request headers. A `Host` header here replaces the default `localhost:<port>`.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<Vec<u8>>,
    /// The status the app must answer with; `None` accepts any answer.
    pub expect_status: Option<u16>,
}

/// Why a probe specification is malformed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    /// Nothing to parse.
    #[error("empty probe: expected `METHOD /path`")]
    Empty,
    /// The method is not an HTTP token.
    #[error("`{0}` is not an HTTP method")]
    Method(String),
    /// The path is missing or does not start with `/`.
    #[error("path `{0}` does not start with /")]
    Path(String),
    /// A header name or value is not valid HTTP.
    #[error("header `{0}` is not a valid HTTP header")]
    Header(String),
    /// A `--http-probe-cmd` protocol slim does not speak.
    #[error("protocol `{0}` is not supported (http or https)")]
    Proto(String),
    /// A `--http-probe-cmd` prefix that is neither `crawl`, a protocol nor a method.
    #[error("`{0}` is not `crawl`, a protocol or a method: expected [crawl:][PROTO:][METHOD:]/PATH")]
    Prefix(String),
}

impl ProbeSpec {
    /// A request with no headers, body, port or expectation. Not validated: see
    /// [`ProbeSpec::validate`].
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        ProbeSpec { method: method.into(), path: path.into(), port: None, headers: Vec::new(), body: None, expect_status: None }
    }

    /// Parses `--probe 'METHOD /path [BODY]'`: the method (any case, sent upper-cased), the path
    /// with its query, then optionally the body: the rest of the line after the whitespace that
    /// follows the path.
    pub fn parse_inline(line: &str) -> Result<Self, SpecError> {
        let line = line.trim_start();
        let (method, rest) =
            line.split_once(char::is_whitespace).ok_or(if line.is_empty() { SpecError::Empty } else { SpecError::Path(String::new()) })?;
        let rest = rest.trim_start();
        let (path, body) = match rest.split_once(char::is_whitespace) {
            Some((path, body)) => (path, Some(body.trim_start())),
            None => (rest, None),
        };
        let spec = ProbeSpec {
            body: body.filter(|b| !b.is_empty()).map(|b| b.as_bytes().to_vec()),
            ..ProbeSpec::new(method.to_ascii_uppercase(), path)
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks that the method is an HTTP token, the path starts with `/`, and the headers are
    /// valid HTTP.
    pub fn validate(&self) -> Result<(), SpecError> {
        if reqwest::Method::from_bytes(self.method.as_bytes()).is_err() {
            return Err(SpecError::Method(self.method.clone()));
        }
        if !self.path.starts_with('/') {
            return Err(SpecError::Path(self.path.clone()));
        }
        self.header_map().map(drop)
    }

    /// The headers as an HTTP header map, in order (repeated names are all kept).
    pub(crate) fn header_map(&self) -> Result<HeaderMap, SpecError> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let bad = || SpecError::Header(name.clone());
            map.append(HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?, HeaderValue::from_str(value).map_err(|_| bad())?);
        }
        Ok(map)
    }

    /// Whether `result` meets this probe's expectation: an answer, with the expected status if
    /// there is one.
    pub fn accepts(&self, result: &ProbeResult) -> bool {
        match (result.status, self.expect_status) {
            (Some(got), Some(want)) => got == want,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_method_path_and_body() {
        let spec = ProbeSpec::parse_inline("post /api/items?x=1  {\"name\": \"a b\"} ").unwrap();
        assert_eq!((spec.method.as_str(), spec.path.as_str()), ("POST", "/api/items?x=1"));
        assert_eq!(spec.body.as_deref(), Some(&b"{\"name\": \"a b\"} "[..]));
        let spec = ProbeSpec::parse_inline("GET /health").unwrap();
        assert_eq!(spec, ProbeSpec::new("GET", "/health"));
    }

    #[test]
    fn inline_errors() {
        assert_eq!(ProbeSpec::parse_inline("  "), Err(SpecError::Empty));
        assert_eq!(ProbeSpec::parse_inline("GET"), Err(SpecError::Path(String::new())));
        assert_eq!(ProbeSpec::parse_inline("GET health"), Err(SpecError::Path("health".into())));
        assert_eq!(ProbeSpec::parse_inline("G(T /"), Err(SpecError::Method("G(T".into())));
    }

    #[test]
    fn validates_headers() {
        let mut spec = ProbeSpec::new("GET", "/");
        spec.headers.push(("bad name".into(), "v".into()));
        assert_eq!(spec.validate(), Err(SpecError::Header("bad name".into())));
    }

    #[test]
    fn accepts_by_status() {
        let result = |status| ProbeResult {
            kind: "http".into(),
            method: "GET".into(),
            path: "/".into(),
            port: 80,
            status,
            body_sha256: None,
            bytes: 0,
            latency_ms: 0,
            error: None,
            exit_code: None,
        };
        let mut spec = ProbeSpec::new("GET", "/");
        assert!(spec.accepts(&result(Some(500))));
        assert!(!spec.accepts(&result(None)));
        spec.expect_status = Some(204);
        assert!(spec.accepts(&result(Some(204))));
        assert!(!spec.accepts(&result(Some(200))));
    }
}
