//! The probe plan: what slim sends to the app while the sensor records, and how the same
//! requests are replayed on the slim image and compared.

use crate::error::{Error, Result};
use slim_probes::{crawl, CrawlLimits, ProbeResult, ProbeSpec, Prober, Target};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What to send.
#[derive(Clone, Debug, Default)]
pub struct ProbePlan {
    /// `GET /` on every exposed port (the default probe).
    pub default_probe: bool,
    /// Crawl same-origin links from `/` with these limits (`None`: no crawl).
    pub crawl: Option<CrawlLimits>,
    /// The user's requests (`--probe`, `--probe-file`, `--http-probe-cmd`).
    pub user: Vec<ProbeSpec>,
    /// The port for user requests that name none (default: the first exposed port).
    pub probe_port: Option<u16>,
    /// Ports the default probe and crawl go to (default: every exposed port).
    pub ports: Option<Vec<u16>>,
}

/// One probe, as it is replayed on the slim image.
#[derive(Clone, Debug)]
pub enum Request {
    /// An HTTP request.
    Http(ProbeSpec),
    /// A command inside the container (`--exec`, the image's HEALTHCHECK), as the image USER.
    Exec {
        /// `exec` or `healthcheck`.
        kind: &'static str,
        /// The command as run on the slim image.
        argv: Vec<String>,
    },
    /// A command on the host (`--host-exec`), pointed at the app by `SLIM_TARGET_*`.
    HostExec(String),
}

/// A probe sent to the original, what it answered, and whether its body was the same when
/// sent twice (only then is the body compared on the slim image).
#[derive(Clone, Debug)]
pub struct RecordedProbe {
    /// The answer of the original.
    pub result: ProbeResult,
    /// True when two identical GETs got identical bodies.
    pub body_stable: bool,
    /// The request, for the replay.
    pub request: Request,
}

/// The record of a command probe.
pub fn command_result(kind: &str, shown: &str, exit_code: Option<i32>, started: Instant, error: Option<String>) -> ProbeResult {
    ProbeResult {
        kind: kind.into(),
        method: String::new(),
        path: shown.into(),
        port: 0,
        status: None,
        body_sha256: None,
        bytes: 0,
        latency_ms: started.elapsed().as_millis() as u64,
        error,
        exit_code,
    }
}

/// Every `published` target, replaced by its `ready` version where there is one, by port.
pub fn command_targets(published: &[Target], ready: &[Target]) -> Vec<Target> {
    let mut out: Vec<Target> =
        published.iter().map(|p| ready.iter().find(|r| r.container_port == p.container_port).unwrap_or(p).clone()).collect();
    out.sort_by_key(|t| t.container_port);
    out
}

/// Runs `command` with `sh -c` on the host, with `SLIM_TARGET_HOST`, `SLIM_TARGET_PORT`,
/// `SLIM_TARGET_URL` for the first target and `SLIM_TARGET_PORT_<container port>` for each.
pub async fn host_exec(command: &str, targets: &[Target]) -> ProbeResult {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command).stdin(std::process::Stdio::null());
    if let Some(first) = targets.first() {
        cmd.env("SLIM_TARGET_HOST", &first.host)
            .env("SLIM_TARGET_PORT", first.host_port.to_string())
            .env("SLIM_TARGET_URL", format!("{}://{}:{}", first.scheme(), first.host, first.host_port));
    }
    for t in targets {
        cmd.env(format!("SLIM_TARGET_PORT_{}", t.container_port), t.host_port.to_string());
    }
    match cmd.status().await {
        Ok(status) => command_result("host-exec", command, status.code(), started, None),
        Err(e) => command_result("host-exec", command, None, started, Some(format!("cannot run sh: {e}"))),
    }
}

/// A prober whose requests time out after 10 s.
pub fn prober() -> Result<Prober> {
    Prober::new(Duration::from_secs(10)).map_err(|e| Error::Engine(e.to_string()))
}

/// Time left until `deadline`, at least 5 s.
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(5))
}

/// Waits for each target to answer HTTP (detecting TLS); ports that never do are dropped with
/// a note (a database or cache port is not an error).
pub async fn ready_targets(prober: &Prober, targets: Vec<Target>, deadline: Instant, notes: &mut Vec<String>) -> Vec<Target> {
    let mut ready = Vec::new();
    for mut target in targets {
        match prober.wait_ready(&mut target, left(deadline)).await {
            Ok(_) => ready.push(target),
            Err(e) => notes.push(format!("{e}; not an HTTP port, not probed")),
        }
    }
    ready
}

/// Sends `spec` and, for GETs that were answered, once more to learn whether the body is
/// stable. Returns the record and the body (the crawl starts from it).
async fn record_one(prober: &Prober, target: &Target, spec: ProbeSpec) -> (RecordedProbe, Vec<u8>) {
    let fetched = prober.fetch(target, &spec).await;
    let result = fetched.result;
    let body_stable = spec.method == "GET" && result.status.is_some() && prober.send(target, &spec).await.body_sha256 == result.body_sha256;
    (RecordedProbe { result, body_stable, request: Request::Http(spec) }, fetched.body)
}

/// Runs the plan against the original's ready `targets`. A user probe that gets no answer, or
/// not the status it expects, is the app's failure.
pub async fn record(prober: &Prober, targets: &[Target], plan: &ProbePlan) -> Result<Vec<RecordedProbe>> {
    let mut recorded = Vec::new();
    let wanted = |t: &&Target| plan.ports.as_ref().is_none_or(|ports| ports.contains(&t.container_port));
    if plan.default_probe {
        for target in targets.iter().filter(wanted) {
            let (root, body) = record_one(prober, target, ProbeSpec::new("GET", "/")).await;
            recorded.push(root);
            if let Some(limits) = plan.crawl {
                for page in crawl(prober, target, &body, limits).await {
                    recorded.push(record_one(prober, target, ProbeSpec::new(page.method.clone(), page.path.clone())).await.0);
                }
            }
        }
    }
    let first_port = targets.first().map(|t| t.container_port);
    for spec in &plan.user {
        let port = spec.port.or(plan.probe_port).or(first_port);
        let Some(target) = targets.iter().find(|t| Some(t.container_port) == port) else {
            return Err(Error::Input(format!(
                "probe {} {}: port {} is not an exposed port that answers HTTP",
                spec.method,
                spec.path,
                port.map(|p| p.to_string()).unwrap_or_else(|| "(none)".into())
            )));
        };
        let (probe, _) = record_one(prober, target, spec.clone()).await;
        let r = &probe.result;
        if r.status.is_none() || !spec.accepts(r) {
            let got = r.status.map(|s| format!("status {s}")).unwrap_or_else(|| r.error.clone().unwrap_or_default());
            return Err(Error::App(format!(
                "probe {} {} on port {} failed on the original image: {got}{}",
                spec.method,
                spec.path,
                r.port,
                spec.expect_status.map(|s| format!(" (expected {s})")).unwrap_or_default()
            )));
        }
        recorded.push(probe);
    }
    Ok(recorded)
}

/// Replays HTTP probes on the slim image: waits for each port once (detecting TLS), then sends.
pub struct Replayer {
    prober: Prober,
    targets: Vec<Target>,
    ready: HashMap<u16, Option<Target>>,
    deadline: Instant,
    /// Ports that never answered.
    pub failures: Vec<String>,
}

impl Replayer {
    /// A replayer for the slim image's published `targets`.
    pub fn new(targets: Vec<Target>, deadline: Instant) -> Result<Self> {
        Ok(Replayer { prober: prober()?, targets, ready: HashMap::new(), deadline, failures: Vec::new() })
    }

    /// Every published port, with what was learned of it (TLS), for host commands.
    pub fn command_targets(&self) -> Vec<Target> {
        let ready: Vec<Target> = self.ready.values().flatten().cloned().collect();
        command_targets(&self.targets, &ready)
    }

    /// Sends `spec` where the original's answer `want` came from.
    pub async fn http(&mut self, want: &ProbeResult, spec: &ProbeSpec) -> ProbeResult {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.ready.entry(want.port) {
            let mut target = self.targets.iter().find(|t| t.container_port == want.port).cloned();
            match target.as_mut() {
                None => self.failures.push(format!("port {} is not published on the slim image", want.port)),
                Some(t) => {
                    if let Err(e) = self.prober.wait_ready(t, left(self.deadline)).await {
                        self.failures.push(format!("port {} of the slim image never answered: {e}", want.port));
                        target = None;
                    }
                }
            }
            slot.insert(target);
        }
        match self.ready.get(&want.port).and_then(Option::as_ref) {
            Some(target) => self.prober.send(target, spec).await,
            None => {
                ProbeResult { status: None, body_sha256: None, bytes: 0, latency_ms: 0, error: Some("not ready".into()), ..want.clone() }
            }
        }
    }
}

/// What differs between the original's answer and the slim image's, if anything.
pub fn compare(probe: &RecordedProbe, got: &ProbeResult) -> Option<String> {
    let want = &probe.result;
    if want.kind.ends_with("exec") || want.kind == "healthcheck" {
        let show = |r: &ProbeResult| r.exit_code.map(|c| format!("exit code {c}")).unwrap_or_else(|| r.error.clone().unwrap_or_default());
        return (got.exit_code != want.exit_code)
            .then(|| format!("{} `{}`: the original gave {}, the slim image {}", want.kind, want.path, show(want), show(got)));
    }
    let what = format!("{} {} on port {}", want.method, want.path, want.port);
    if got.status != want.status {
        let show = |r: &ProbeResult| {
            r.status.map(|s| s.to_string()).unwrap_or_else(|| format!("no answer ({})", r.error.clone().unwrap_or_default()))
        };
        return Some(format!("{what}: the original answered {}, the slim image {}", show(want), show(got)));
    }
    if probe.body_stable && got.body_sha256 != want.body_sha256 {
        return Some(format!("{what}: same status {}, different body ({} bytes, was {})", got.status.unwrap_or(0), got.bytes, want.bytes));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: Option<u16>, digest: &str) -> ProbeResult {
        ProbeResult {
            kind: "http".into(),
            method: "GET".into(),
            path: "/a?b=1".into(),
            port: 80,
            status,
            body_sha256: Some(digest.into()),
            bytes: 3,
            latency_ms: 1,
            error: None,
            exit_code: None,
        }
    }

    #[test]
    fn status_always_body_only_when_stable() {
        let stable =
            RecordedProbe { result: result(Some(200), "aa"), body_stable: true, request: Request::Http(ProbeSpec::new("GET", "/a?b=1")) };
        assert_eq!(compare(&stable, &result(Some(200), "aa")), None);
        assert!(compare(&stable, &result(Some(200), "bb")).unwrap().contains("different body"));
        assert!(compare(&stable, &result(Some(404), "aa")).unwrap().contains("the original answered 200, the slim image 404"));
        let unstable = RecordedProbe { body_stable: false, ..stable };
        assert_eq!(compare(&unstable, &result(Some(200), "bb")), None);
        assert!(compare(&unstable, &result(None, "")).unwrap().contains("no answer"));
    }

    #[test]
    fn commands_compare_exit_codes() {
        let started = Instant::now();
        let want = command_result("exec", "test -f /x", Some(0), started, None);
        let probe = RecordedProbe { result: want, body_stable: false, request: Request::HostExec("true".into()) };
        assert_eq!(compare(&probe, &command_result("exec", "test -f /x", Some(0), started, None)), None);
        let failed = compare(&probe, &command_result("exec", "test -f /x", Some(1), started, None)).unwrap();
        assert!(failed.contains("exit code 0") && failed.contains("exit code 1"), "{failed}");
    }

    #[tokio::test]
    async fn host_commands_see_the_target() {
        let target = Target { host: "127.0.0.1".into(), host_port: 40000, container_port: 80, tls: false };
        let r = host_exec(r#"test "$SLIM_TARGET_URL" = http://127.0.0.1:40000 && test "$SLIM_TARGET_PORT_80" = 40000"#, &[target]).await;
        assert_eq!((r.kind.as_str(), r.exit_code), ("host-exec", Some(0)));
        assert_eq!(host_exec("exit 3", &[]).await.exit_code, Some(3));
    }
}
