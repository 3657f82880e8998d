//! The analysis run: the original image started under the sensor, probed once it listens,
//! stopped, and the sensor's report fetched.

use crate::engine::{Engine, LineSplitter, RUN_LABEL};
use crate::error::{Error, Result};
use bollard::models::{ContainerCreateBody, HostConfig, ImageInspect, PortBinding};
use futures_util::StreamExt;
use slim_probes::{ProbeResult, Prober, Target};
use slim_sensor::protocol::{self, Event};
use slim_sensor::report::Report;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How many of the app's last output lines an error message quotes.
const LOG_TAIL: usize = 15;

/// How the analysis run behaves.
#[derive(Clone, Debug)]
pub struct AnalysisOptions {
    /// How long the app may take to listen on every exposed port (and answer HTTP).
    pub start_timeout: Duration,
    /// How long the app may take to stop after its STOPSIGNAL before SIGKILL.
    pub stop_grace: Duration,
    /// The sensor's syscall tracer: `seccomp` or `off`.
    pub tracer: String,
    /// Send the default HTTP probe (`GET /`) to every exposed port.
    pub http_probe: bool,
    /// Echo the app's output lines.
    pub show_app_output: bool,
    /// Keep CA certificates whatever the run did.
    pub include_certs: bool,
    /// Keep name-service files and NSS/resolver libraries whatever the run did.
    pub include_nss: bool,
}

/// What the analysis run learned.
#[derive(Debug)]
pub struct Analysis {
    /// The sensor's report.
    pub report: Report,
    /// Every probe sent, in order.
    pub probes: Vec<ProbeResult>,
    /// Notes for the user (ports that do not speak HTTP, ...).
    pub notes: Vec<String>,
}

/// What the image runs and how, read from its config.
struct AppSpec {
    command: Vec<String>,
    user: String,
    stop_signal: String,
    ports: BTreeSet<u16>,
    volumes: Vec<String>,
    has_home: bool,
}

impl AppSpec {
    fn of(image: &ImageInspect) -> Result<Self> {
        let cfg = image.config.clone().unwrap_or_default();
        let command: Vec<String> = cfg.entrypoint.unwrap_or_default().into_iter().chain(cfg.cmd.unwrap_or_default()).collect();
        if command.is_empty() {
            return Err(Error::Input("the image has neither ENTRYPOINT nor CMD: there is no app to run".into()));
        }
        let ports = cfg
            .exposed_ports
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.strip_suffix("/tcp").or(if p.contains('/') { None } else { Some(p.as_str()) })?.parse().ok())
            .collect();
        Ok(AppSpec {
            command,
            user: cfg.user.unwrap_or_default(),
            stop_signal: cfg.stop_signal.filter(|s| !s.is_empty()).unwrap_or_else(|| "SIGTERM".into()),
            ports,
            volumes: cfg.volumes.unwrap_or_default(),
            has_home: cfg.env.unwrap_or_default().iter().any(|e| e.starts_with("HOME=")),
        })
    }

    fn sensor_entrypoint(&self, opts: &AnalysisOptions) -> Vec<String> {
        let mut args: Vec<String> = vec![
            format!("{}/sensor", slim_sensor::SENSOR_DIR),
            "run".into(),
            "--user".into(),
            self.user.clone(),
            "--stop-signal".into(),
            self.stop_signal.clone(),
            "--grace".into(),
            opts.stop_grace.as_secs_f64().to_string(),
            "--tracer".into(),
            opts.tracer.clone(),
        ];
        if !self.has_home {
            args.push("--set-home".into());
        }
        if opts.include_certs {
            args.push("--include-certs".into());
        }
        if opts.include_nss {
            args.push("--include-nss".into());
        }
        for v in &self.volumes {
            args.extend(["--volume".to_owned(), v.clone()]);
        }
        args.push("--".into());
        args
    }
}

/// The sensor binary as a tar archive holding `.slim/sensor`, for the archive API.
pub fn sensor_archive(sensor: &[u8]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    let name = slim_sensor::SENSOR_DIR.trim_start_matches('/');
    let io = |e: std::io::Error| Error::Engine(format!("packing the sensor: {e}"));
    builder.append_data(&mut dir, format!("{name}/"), std::io::empty()).map_err(io)?;
    let mut file = tar::Header::new_ustar();
    file.set_entry_type(tar::EntryType::Regular);
    file.set_mode(0o755);
    file.set_size(sensor.len() as u64);
    builder.append_data(&mut file, format!("{name}/sensor"), sensor).map_err(io)?;
    builder.into_inner().map_err(io)
}

/// Output of the analysis container, split into sensor events and the app's recent lines.
struct Output {
    events: mpsc::UnboundedReceiver<Event>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Output {
    fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.is_empty() {
            return "(the app printed nothing)".into();
        }
        tail.iter().map(|l| format!("  | {}", l.trim_end())).collect::<Vec<_>>().join("\n")
    }

    /// The next event, or `None` when the container's output ended or `deadline` passed.
    async fn next(&mut self, deadline: Instant) -> Option<Event> {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(left, self.events.recv()).await.ok().flatten()
    }
}

async fn follow_output(engine: &Engine, id: &str, show: bool) -> Result<Output> {
    let attached = engine.attach(id).await?;
    let (tx, events) = mpsc::unbounded_channel();
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let tail_writer = tail.clone();
    let mut stream = attached.output;
    tokio::spawn(async move {
        let mut splitter = LineSplitter::default();
        while let Some(Ok(chunk)) = stream.next().await {
            for (_, line) in splitter.feed(chunk) {
                if let Some(event) = protocol::parse_line(&line) {
                    let _ = tx.send(event);
                } else {
                    if show {
                        eprint!("  app | {line}");
                    }
                    let mut tail = tail_writer.lock().unwrap_or_else(|e| e.into_inner());
                    if tail.len() == LOG_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
        }
    });
    Ok(Output { events, tail })
}

fn exit_text(exit_code: Option<i32>, signal: Option<i32>) -> String {
    match (exit_code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "an unknown status".into(),
    }
}

/// Runs the analysis of `image` (by ID) under the sensor. Every container it creates carries
/// the label `slim.run=<run>`; the caller removes them.
pub async fn analyze(engine: &Engine, image: &ImageInspect, run: &str, sensor: &[u8], opts: &AnalysisOptions) -> Result<Analysis> {
    let spec = AppSpec::of(image)?;
    let image_id = image.id.clone().unwrap_or_default();
    let bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
        .ports
        .iter()
        .map(|p| (format!("{p}/tcp"), Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }])))
        .collect();
    let body = ContainerCreateBody {
        image: Some(image_id),
        entrypoint: Some(spec.sensor_entrypoint(opts)),
        cmd: Some(spec.command.clone()),
        user: Some("0:0".into()),
        labels: Some(HashMap::from([(RUN_LABEL.to_owned(), run.to_owned())])),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(HostConfig {
            cap_add: Some(vec!["SYS_ADMIN".into(), "SYS_PTRACE".into()]),
            port_bindings: Some(bindings),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = engine.create(body).await?;
    engine.upload(&id, "/", sensor_archive(sensor)?).await?;
    let mut output = follow_output(engine, &id, opts.show_app_output).await?;
    engine.start(&id).await?;

    let deadline = Instant::now() + opts.start_timeout;
    let mut completed = false;
    loop {
        match output.next(deadline).await {
            Some(Event::Listening { ports }) if !spec.ports.is_empty() && spec.ports.iter().all(|p| ports.contains(p)) => break,
            Some(Event::Exited { exit_code: Some(0), .. }) if spec.ports.is_empty() => {
                completed = true;
                break;
            }
            Some(Event::Exited { exit_code, signal }) => {
                return Err(Error::App(format!(
                    "the app exited with {} before it was ready (it never listened on {:?}); its last output:\n{}",
                    exit_text(exit_code, signal),
                    spec.ports,
                    output.tail()
                )))
            }
            Some(Event::Failed { message, app: true }) => return Err(Error::App(format!("the app could not start: {message}"))),
            Some(Event::Failed { message, app: false }) => return Err(Error::Engine(format!("the sensor failed: {message}"))),
            Some(_) => {}
            None if Instant::now() >= deadline && spec.ports.is_empty() => break,
            None if Instant::now() >= deadline => {
                return Err(Error::App(format!(
                    "the app did not listen on every exposed port {:?} within {:?} (raise --start-timeout if it starts slowly); its last output:\n{}",
                    spec.ports,
                    opts.start_timeout,
                    output.tail()
                )))
            }
            None => {
                return Err(Error::Engine(format!("the analysis container ended without a word from the sensor; its last output:\n{}", output.tail())))
            }
        }
    }

    let mut probes = Vec::new();
    let mut notes = Vec::new();
    if !completed && opts.http_probe && !spec.ports.is_empty() {
        let published = engine.published_ports(&id).await?;
        let prober = Prober::new(Duration::from_secs(10)).map_err(|e| Error::Engine(e.to_string()))?;
        for port in &spec.ports {
            let Some((host, host_port)) = published.get(port).cloned() else {
                notes.push(format!("port {port} is not published; not probed"));
                continue;
            };
            let target = Target { host, host_port, container_port: *port };
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(5));
            match prober.wait_ready(&target, left).await {
                Ok(first) => probes.push(first),
                Err(e) => notes.push(format!("{e}; treated as a non-HTTP port and not probed")),
            }
        }
    }

    if !completed {
        engine.kill(&id, &slim_sensor::STOP_SIGNAL.to_string()).await?;
    }
    let stop_deadline = Instant::now() + opts.stop_grace + Duration::from_secs(30);
    loop {
        match output.next(stop_deadline).await {
            Some(Event::Done { .. }) => break,
            Some(Event::Failed { message, .. }) => return Err(Error::Engine(format!("the sensor failed: {message}"))),
            Some(_) => {}
            None => return Err(Error::Engine(format!("the sensor did not finish its report; the container's last output:\n{}", output.tail()))),
        }
    }
    engine.wait(&id).await?;
    let raw = engine.read_file(&id, slim_sensor::REPORT_PATH).await?;
    let report: Report = serde_json::from_slice(&raw).map_err(|e| Error::Engine(format!("the sensor's report is unreadable: {e}")))?;
    if !report.app.stopped_by_sensor && !completed {
        return Err(Error::App(format!(
            "the app exited with {} while it was being probed; its last output:\n{}",
            exit_text(report.app.exit_code, report.app.signal),
            output.tail()
        )));
    }
    Ok(Analysis { report, probes, notes })
}
