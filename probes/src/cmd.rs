//! docker-slim's `--http-probe-cmd` syntax: `[crawl:][PROTO:][METHOD:]PATH`.

use crate::{ProbeSpec, SpecError};
use std::str::FromStr;

/// The protocol a `--http-probe-cmd` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Proto {
    /// Whether this protocol runs over TLS (what [`Target::tls`](crate::Target::tls) records).
    pub fn is_tls(self) -> bool {
        self == Proto::Https
    }
}

/// One parsed `--http-probe-cmd`, e.g. `crawl:/`, `post:/api`, `http:get:/x`, `https:/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpProbeCmd {
    /// The request (method defaults to `GET`).
    pub spec: ProbeSpec,
    /// Whether to crawl the page's links after the request.
    pub crawl: bool,
    /// The protocol, when one was given; otherwise the prober detects it.
    pub proto: Option<Proto>,
}

/// Methods docker-slim accepts in a probe command.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Protocols docker-slim knows that slim does not probe.
const UNSUPPORTED_PROTOS: [&str; 4] = ["http2", "h2c", "ws", "wss"];

impl FromStr for HttpProbeCmd {
    type Err = SpecError;

    /// Prefixes come in order (`crawl`, then a protocol, then a method), each at most once and
    /// case-insensitive; the path is everything from the first `/` on, colons included.
    fn from_str(text: &str) -> Result<Self, SpecError> {
        let mut rest = text.trim();
        let mut cmd = HttpProbeCmd { spec: ProbeSpec::new("GET", ""), crawl: false, proto: None };
        // Which prefixes may still come: 0 = crawl, 1 = protocol, 2 = method.
        let mut next = 0;
        while !rest.starts_with('/') {
            let Some((prefix, after)) = rest.split_once(':') else {
                return Err(if text.trim().is_empty() { SpecError::Empty } else { SpecError::Path(rest.to_owned()) });
            };
            let lower = prefix.to_ascii_lowercase();
            let upper = prefix.to_ascii_uppercase();
            next = match lower.as_str() {
                "crawl" if next == 0 => {
                    cmd.crawl = true;
                    1
                }
                "http" | "https" if next <= 1 => {
                    cmd.proto = Some(if lower == "https" { Proto::Https } else { Proto::Http });
                    2
                }
                p if next <= 1 && UNSUPPORTED_PROTOS.contains(&p) => return Err(SpecError::Proto(prefix.to_owned())),
                _ if next <= 2 && METHODS.contains(&upper.as_str()) => {
                    cmd.spec.method = upper;
                    3
                }
                _ => return Err(SpecError::Prefix(prefix.to_owned())),
            };
            rest = after;
        }
        cmd.spec.path = rest.to_owned();
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(bool, Option<Proto>, String, String), SpecError> {
        text.parse::<HttpProbeCmd>().map(|c| (c.crawl, c.proto, c.spec.method, c.spec.path))
    }

    #[test]
    fn docker_slim_examples() {
        assert_eq!(parse("crawl:/"), Ok((true, None, "GET".into(), "/".into())));
        assert_eq!(parse("post:/api"), Ok((false, None, "POST".into(), "/api".into())));
        assert_eq!(parse("http:get:/x"), Ok((false, Some(Proto::Http), "GET".into(), "/x".into())));
        assert_eq!(parse("https:/"), Ok((false, Some(Proto::Https), "GET".into(), "/".into())));
        assert_eq!(parse("crawl:https:PUT:/a:b?c=1"), Ok((true, Some(Proto::Https), "PUT".into(), "/a:b?c=1".into())));
        assert_eq!(parse("/plain"), Ok((false, None, "GET".into(), "/plain".into())));
    }

    #[test]
    fn rejects_bad_commands() {
        assert_eq!(parse(""), Err(SpecError::Empty));
        assert_eq!(parse("get:"), Err(SpecError::Path(String::new())));
        assert_eq!(parse("get:x"), Err(SpecError::Path("x".into())));
        assert_eq!(parse("ws:/chat"), Err(SpecError::Proto("ws".into())));
        assert_eq!(parse("get:crawl:/"), Err(SpecError::Prefix("crawl".into())));
        assert_eq!(parse("get:https:/"), Err(SpecError::Prefix("https".into())));
        assert_eq!(parse("fetch:/"), Err(SpecError::Prefix("fetch".into())));
    }

    #[test]
    fn https_means_tls() {
        assert!(Proto::Https.is_tls() && !Proto::Http.is_tls());
    }
}
