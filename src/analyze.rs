//! Running an image under the sensor: the analysis of the original (recording what the app
//! uses while probes exercise it), the verification of the slim image (supervise-only, the same
//! probes replayed), and the repair run (recording what the slim image misses).

use crate::engine::{Engine, LineSplitter, RUN_LABEL};
use crate::error::{Error, Result};
use crate::probing::{self, ProbePlan, RecordedProbe, Replayer, Request};
use bollard::models::{ContainerCreateBody, HostConfig, ImageInspect, PortBinding};
use futures_util::StreamExt;
use slim_probes::{ProbeResult, Target};
use slim_sensor::protocol::{self, Event};
use slim_sensor::report::Report;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How many of the app's last output lines an error message quotes.
const LOG_TAIL: usize = 15;

/// How the runs behave.
#[derive(Clone, Debug)]
pub struct AnalysisOptions {
    /// How long the app may take to listen on every exposed port (and answer HTTP).
    pub start_timeout: Duration,
    /// How long the app may take to stop after its STOPSIGNAL before SIGKILL.
    pub stop_grace: Duration,
    /// The sensor's syscall tracer: `seccomp` or `off`.
    pub tracer: String,
    /// What to send to the app.
    pub plan: ProbePlan,
    /// The app's surroundings, the same for every run of the build.
    pub surroundings: Surroundings,
    /// Echo the app's output lines.
    pub show_app_output: bool,
    /// Keep CA certificates whatever the run did.
    pub include_certs: bool,
    /// Keep name-service files and NSS/resolver libraries whatever the run did.
    pub include_nss: bool,
    /// The user's includes (paths with their subtrees, or globs), kept with their closure.
    pub includes: Vec<String>,
    /// `--exec` commands, run inside the container (traced) once the app is ready.
    pub execs: Vec<String>,
    /// `--host-exec` commands, run on the host once the app is ready.
    pub host_execs: Vec<String>,
    /// When the analysis stops after the probes.
    pub continue_after: ContinueAfter,
}

/// When the analysis run stops once every probe and command is done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContinueAfter {
    /// At once (`probe`, `exec`, the default).
    #[default]
    Probes,
    /// After this many more seconds (lazy work, background jobs).
    Seconds(u64),
    /// When slim gets SIGUSR1 (someone exercised the app by hand).
    Signal,
}

impl ContinueAfter {
    async fn wait(self) {
        match self {
            ContinueAfter::Probes => {}
            ContinueAfter::Seconds(n) => tokio::time::sleep(Duration::from_secs(n)).await,
            ContinueAfter::Signal => {
                eprintln!("slim: the app is ready; send SIGUSR1 to slim (pid {}) to finish the analysis", std::process::id());
                if let Ok(mut usr1) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) {
                    usr1.recv().await;
                }
            }
        }
    }
}

/// What the analysis run learned.
#[derive(Debug)]
pub struct Analysis {
    /// The sensor's report.
    pub report: Report,
    /// Every probe sent, in order.
    pub probes: Vec<RecordedProbe>,
    /// True when the app ran to completion by itself (an image without exposed ports).
    pub completed: bool,
    /// Notes for the user (ports that do not speak HTTP, ...).
    pub notes: Vec<String>,
}

/// What the app needs around it while it runs (`--env`, `--network`, `--mount`, ...). Applied
/// to the analysis, verification and repair runs alike; never to the slim image's config.
#[derive(Clone, Debug, Default)]
pub struct Surroundings {
    /// Extra `K=V` variables (merged over the image's Env by the engine).
    pub env: Vec<String>,
    /// A network to join (e.g. one where the app's database runs).
    pub network: Option<String>,
    /// Binds and volumes, `SRC:DST[:ro]`.
    pub mounts: Vec<String>,
    /// Container hostname.
    pub hostname: Option<String>,
    /// ENTRYPOINT override.
    pub entrypoint: Option<Vec<String>>,
    /// CMD override.
    pub cmd: Option<Vec<String>>,
    /// USER override.
    pub user: Option<String>,
    /// WorkingDir override.
    pub workdir: Option<String>,
    /// Extra TCP ports to wait for and probe.
    pub expose: Vec<u16>,
}

/// What the image runs and how, read from the original image's config.
pub struct AppSpec {
    command: Vec<String>,
    user: String,
    stop_signal: String,
    ports: BTreeSet<u16>,
    volumes: Vec<String>,
    has_home: bool,
    healthcheck: Option<Vec<String>>,
    surroundings: Surroundings,
}

impl AppSpec {
    /// Reads the spec of `image` with the user's overrides; an image with nothing to run is an
    /// input error.
    pub fn of(image: &ImageInspect, surroundings: &Surroundings) -> Result<Self> {
        let cfg = image.config.clone().unwrap_or_default();
        let sur = surroundings.clone();
        // As with `docker run --entrypoint`, a new ENTRYPOINT drops the image's CMD.
        let (entrypoint, cmd) = match (sur.entrypoint.clone(), sur.cmd.clone()) {
            (Some(e), c) => (e, c.unwrap_or_default()),
            (None, Some(c)) => (cfg.entrypoint.unwrap_or_default(), c),
            (None, None) => (cfg.entrypoint.unwrap_or_default(), cfg.cmd.unwrap_or_default()),
        };
        let command: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if command.is_empty() {
            return Err(Error::Input(
                "the image has neither ENTRYPOINT nor CMD: there is no app to run (or give --entrypoint/--cmd)".into(),
            ));
        }
        let mut ports: BTreeSet<u16> = cfg
            .exposed_ports
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.strip_suffix("/tcp").or(if p.contains('/') { None } else { Some(p.as_str()) })?.parse().ok())
            .collect();
        ports.extend(sur.expose.iter().copied());
        let env = cfg.env.unwrap_or_default();
        Ok(AppSpec {
            command,
            user: sur.user.clone().unwrap_or_else(|| cfg.user.unwrap_or_default()),
            stop_signal: cfg.stop_signal.filter(|s| !s.is_empty()).unwrap_or_else(|| "SIGTERM".into()),
            ports,
            volumes: cfg.volumes.unwrap_or_default(),
            has_home: env.iter().chain(&sur.env).any(|e| e.starts_with("HOME=")),
            healthcheck: cfg.healthcheck.and_then(|h| healthcheck_argv(h.test.unwrap_or_default())),
            surroundings: sur,
        })
    }

    /// The user the app (and `--exec` commands) run as; root when the image names none.
    fn exec_user(&self) -> String {
        if self.user.is_empty() {
            "0:0".into()
        } else {
            self.user.clone()
        }
    }

    /// The app's command line (ENTRYPOINT + CMD).
    pub fn command(&self) -> &[String] {
        &self.command
    }
}

/// The command of a HEALTHCHECK test: `["CMD", args...]` or `["CMD-SHELL", "cmd"]`; none for
/// `["NONE"]` or an inherited empty test.
fn healthcheck_argv(test: Vec<String>) -> Option<Vec<String>> {
    match test.split_first() {
        Some((kind, args)) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
        Some((kind, args)) if kind == "CMD-SHELL" && !args.is_empty() => Some(vec!["/bin/sh".into(), "-c".into(), args.join(" ")]),
        _ => None,
    }
}

/// An `--exec` command as run in the container: through the shell.
fn shell(command: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), command.into()]
}

/// What the sensor does in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// fanotify and the tracer record (needs SYS_ADMIN and SYS_PTRACE); `report_missing`
    /// lists recorded paths that do not exist.
    Record {
        /// List paths the app looked for and did not find.
        report_missing: bool,
    },
    /// Supervision only: readiness, output and exit; no extra capabilities.
    SuperviseOnly,
}

fn sensor_entrypoint(spec: &AppSpec, opts: &AnalysisOptions, mode: Mode) -> Vec<String> {
    let mut args: Vec<String> = vec![
        format!("{}/sensor", slim_sensor::SENSOR_DIR),
        "run".into(),
        "--user".into(),
        spec.user.clone(),
        "--stop-signal".into(),
        spec.stop_signal.clone(),
        "--grace".into(),
        opts.stop_grace.as_secs_f64().to_string(),
        "--wait-ports".into(),
        spec.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
    ];
    if !spec.has_home {
        args.push("--set-home".into());
    }
    match mode {
        Mode::Record { report_missing } => {
            args.extend(["--tracer".to_owned(), opts.tracer.clone()]);
            for v in &spec.volumes {
                args.extend(["--volume".to_owned(), v.clone()]);
            }
            if opts.include_certs {
                args.push("--include-certs".into());
            }
            if opts.include_nss {
                args.push("--include-nss".into());
            }
            if report_missing {
                args.push("--report-missing".into());
            }
            for include in &opts.includes {
                args.extend(["--include".to_owned(), include.clone()]);
            }
        }
        Mode::SuperviseOnly => args.extend(["--tracer".to_owned(), "off".to_owned(), "--no-fanotify".to_owned()]),
    }
    args.push("--".into());
    args
}

/// A tar archive holding `.slim/` and the given files in it, for the archive API.
pub fn slim_dir_archive(files: &[(&str, &[u8], u32)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let name = slim_sensor::SENSOR_DIR.trim_start_matches('/');
    let io = |e: std::io::Error| Error::Engine(format!("packing {}: {e}", slim_sensor::SENSOR_DIR));
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    builder.append_data(&mut dir, format!("{name}/"), std::io::empty()).map_err(io)?;
    for (file, data, mode) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(*mode);
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, format!("{name}/{file}"), *data).map_err(io)?;
    }
    builder.into_inner().map_err(io)
}

/// Output of a sensor container, split into sensor events and the app's recent lines.
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
                    continue;
                }
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

/// What every sensor run of one build shares.
#[derive(Clone, Copy)]
pub struct Runner<'a> {
    /// The engine.
    pub engine: &'a Engine,
    /// What the app runs and how.
    pub spec: &'a AppSpec,
    /// The run's label value.
    pub run: &'a str,
    /// The sensor binary.
    pub sensor: &'a [u8],
    /// The run options.
    pub opts: &'a AnalysisOptions,
}

/// One image running under the sensor. `blame` makes the error for a failing app: the app's
/// fault (exit 4) on the original, a verification failure (exit 3) on the slim image.
pub struct Session<'a> {
    engine: &'a Engine,
    id: String,
    output: Output,
    spec: &'a AppSpec,
    opts: &'a AnalysisOptions,
    blame: fn(String) -> Error,
    deadline: Instant,
    completed: bool,
    exited: bool,
}

impl<'a> Session<'a> {
    /// Creates, prepares and starts a container of `image_id` under the sensor.
    pub async fn start(runner: Runner<'a>, image_id: &str, mode: Mode, blame: fn(String) -> Error) -> Result<Session<'a>> {
        let Runner { engine, spec, run, sensor, opts } = runner;
        let bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
            .ports
            .iter()
            .map(|p| (format!("{p}/tcp"), Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }])))
            .collect();
        let cap_add = matches!(mode, Mode::Record { .. }).then(|| vec!["SYS_ADMIN".to_owned(), "SYS_PTRACE".to_owned()]);
        let sur = &spec.surroundings;
        let body = ContainerCreateBody {
            image: Some(image_id.to_owned()),
            entrypoint: Some(sensor_entrypoint(spec, opts, mode)),
            cmd: Some(spec.command.clone()),
            user: Some("0:0".into()),
            env: (!sur.env.is_empty()).then(|| sur.env.clone()),
            working_dir: sur.workdir.clone(),
            hostname: sur.hostname.clone(),
            exposed_ports: Some(spec.ports.iter().map(|p| format!("{p}/tcp")).collect()),
            labels: Some(HashMap::from([(RUN_LABEL.to_owned(), run.to_owned())])),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            host_config: Some(HostConfig {
                cap_add,
                port_bindings: Some(bindings),
                network_mode: sur.network.clone(),
                binds: (!sur.mounts.is_empty()).then(|| sur.mounts.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = engine.create(body).await?;
        engine.upload(&id, "/", slim_dir_archive(&[("sensor", sensor, 0o755)])?).await?;
        let output = follow_output(engine, &id, opts.show_app_output).await?;
        engine.start(&id).await?;
        let deadline = Instant::now() + opts.start_timeout;
        Ok(Session { engine, id, output, spec, opts, blame, deadline, completed: false, exited: false })
    }

    /// Waits until the app listens on every exposed port, or (without exposed ports) until it
    /// exits 0 or the start timeout passes.
    pub async fn ready(&mut self) -> Result<()> {
        let ports = &self.spec.ports;
        loop {
            match self.output.next(self.deadline).await {
                Some(Event::Listening { ports: now }) if !ports.is_empty() && ports.iter().all(|p| now.contains(p)) => return Ok(()),
                Some(Event::Exited { exit_code: Some(0), .. }) if ports.is_empty() => {
                    self.completed = true;
                    return Ok(());
                }
                Some(Event::Exited { exit_code, signal }) => {
                    self.exited = true;
                    return Err((self.blame)(format!(
                        "the app exited with {} before it was ready (it never listened on {ports:?}); its last output:\n{}",
                        exit_text(exit_code, signal),
                        self.output.tail()
                    )))
                }
                Some(Event::Failed { message, app: true }) => return Err((self.blame)(format!("the app could not start: {message}"))),
                Some(Event::Failed { message, app: false }) => return Err(Error::Engine(format!("the sensor failed: {message}"))),
                Some(_) => {}
                None if Instant::now() >= self.deadline && ports.is_empty() => return Ok(()),
                None if Instant::now() >= self.deadline => {
                    return Err((self.blame)(format!(
                        "the app did not listen on every exposed port {ports:?} within {:?} (raise --start-timeout if it starts slowly); its last output:\n{}",
                        self.opts.start_timeout,
                        self.output.tail()
                    )))
                }
                None => {
                    return Err(Error::Engine(format!(
                        "the container ended without a word from the sensor; its last output:\n{}",
                        self.output.tail()
                    )))
                }
            }
        }
    }

    /// True when the app ran to completion by itself.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// Where each exposed port is published.
    pub async fn targets(&self) -> Result<Vec<Target>> {
        let published = self.engine.published_ports(&self.id).await?;
        Ok(self
            .spec
            .ports
            .iter()
            .filter_map(|port| {
                let (host, host_port) = published.get(port).cloned()?;
                Some(Target { host, host_port, container_port: *port, tls: false })
            })
            .collect())
    }

    /// The container's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the start timeout ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Stops the app (unless it completed), waits for the sensor's report and returns it, with a
    /// message when the app had exited by itself before it was asked to stop.
    pub async fn finish(mut self) -> Result<(Report, Option<String>)> {
        if !self.completed && !self.exited {
            self.engine.kill(&self.id, &slim_sensor::STOP_SIGNAL.to_string()).await?;
        }
        let deadline = Instant::now() + self.opts.stop_grace + Duration::from_secs(30);
        loop {
            match self.output.next(deadline).await {
                Some(Event::Done { .. }) => break,
                Some(Event::Failed { message, .. }) => return Err(Error::Engine(format!("the sensor failed: {message}"))),
                Some(_) => {}
                None => {
                    return Err(Error::Engine(format!(
                        "the sensor did not finish its report; the container's last output:\n{}",
                        self.output.tail()
                    )))
                }
            }
        }
        self.engine.wait(&self.id).await?;
        let raw = self.engine.read_file(&self.id, slim_sensor::REPORT_PATH).await?;
        let report: Report = serde_json::from_slice(&raw).map_err(|e| Error::Engine(format!("the sensor's report is unreadable: {e}")))?;
        let early = (!report.app.stopped_by_sensor && !self.completed && !self.exited).then(|| {
            format!(
                "the app exited with {} while it was being probed; its last output:\n{}",
                exit_text(report.app.exit_code, report.app.signal),
                self.output.tail()
            )
        });
        Ok((report, early))
    }
}

/// Runs the analysis of the original image (by ID) under the recording sensor.
pub async fn analyze(engine: &Engine, image: &ImageInspect, run: &str, sensor: &[u8], opts: &AnalysisOptions) -> Result<Analysis> {
    let spec = AppSpec::of(image, &opts.surroundings)?;
    let image_id = image.id.clone().unwrap_or_default();
    let runner = Runner { engine, spec: &spec, run, sensor, opts };
    let mut session = Session::start(runner, &image_id, Mode::Record { report_missing: false }, Error::App).await?;
    session.ready().await?;
    let mut probes = Vec::new();
    let mut notes = Vec::new();
    if !session.completed() {
        let plan = &opts.plan;
        let published = session.targets().await?;
        let prober = probing::prober()?;
        let targets = match plan.default_probe || !plan.user.is_empty() {
            true => probing::ready_targets(&prober, published.clone(), session.deadline(), &mut notes).await,
            false => Vec::new(),
        };
        probes = probing::record(&prober, &targets, plan).await?;
        let execs = opts
            .execs
            .iter()
            .map(|c| ("exec", c.clone(), shell(c)))
            .chain(spec.healthcheck.clone().map(|argv| ("healthcheck", argv.join(" "), argv)));
        for (n, (kind, shown, argv)) in execs.enumerate() {
            let started = Instant::now();
            let record = format!("{}/exec-{n}.json", slim_sensor::SENSOR_DIR);
            let traced: Vec<String> = [
                format!("{}/sensor", slim_sensor::SENSOR_DIR),
                "exec".into(),
                "--user".into(),
                spec.user.clone(),
                "--record".into(),
                record,
                "--".into(),
            ]
            .into_iter()
            .chain(argv.iter().cloned())
            .collect();
            let (code, output) = engine.exec(session.id(), traced, "0:0").await?;
            if code != 0 {
                notes.push(format!("{kind} `{shown}` exited with {code} on the original: {output}"));
            }
            let result = probing::command_result(kind, &shown, Some(code as i32), started, None);
            probes.push(RecordedProbe { result, body_stable: false, request: Request::Exec { kind, argv } });
        }
        for command in &opts.host_execs {
            let result = probing::host_exec(command, &probing::command_targets(&published, &targets)).await;
            probes.push(RecordedProbe { result, body_stable: false, request: Request::HostExec(command.clone()) });
        }
        opts.continue_after.wait().await;
    }
    let completed = session.completed();
    let (report, early_exit) = session.finish().await?;
    if let Some(message) = early_exit {
        return Err(Error::App(message));
    }
    Ok(Analysis { report, probes, completed, notes })
}

/// How a replay of the recorded probes went on the slim image.
#[derive(Debug, Default)]
pub struct Replay {
    /// The slim image's answers, in the order of the recorded probes.
    pub results: Vec<ProbeResult>,
    /// What differed from the original, one line per probe.
    pub failures: Vec<String>,
    /// Paths the slim image looked for and lacked (repair runs only).
    pub missing: Vec<slim_sensor::paths::PathBytes>,
}

/// Runs `image_id` (a slim image) with the same surroundings and replays `probes`. `mode` is
/// supervise-only for verification, recording with `report_missing` for a repair run.
pub async fn replay(runner: Runner<'_>, image_id: &str, mode: Mode, probes: &[RecordedProbe]) -> Result<Replay> {
    let mut session = Session::start(runner, image_id, mode, Error::Verification).await?;
    let mut replay = Replay::default();
    match session.ready().await {
        Ok(()) => {}
        Err(Error::Verification(message)) => replay.failures.push(message),
        Err(other) => return Err(other),
    }
    if replay.failures.is_empty() && !probes.is_empty() {
        let mut replayer = Replayer::new(session.targets().await?, session.deadline())?;
        for probe in probes {
            let started = Instant::now();
            let got = match &probe.request {
                Request::Http(spec) => replayer.http(&probe.result, spec).await,
                Request::Exec { kind, argv } => match runner.engine.exec(session.id(), argv.clone(), &runner.spec.exec_user()).await {
                    Ok((code, _)) => probing::command_result(kind, &probe.result.path, Some(code as i32), started, None),
                    Err(e) => probing::command_result(kind, &probe.result.path, None, started, Some(e.to_string())),
                },
                Request::HostExec(command) => probing::host_exec(command, &replayer.command_targets()).await,
            };
            replay.failures.extend(probing::compare(probe, &got));
            replay.results.push(got);
        }
        replay.failures.append(&mut replayer.failures);
    }
    let (report, early_exit) = session.finish().await?;
    replay.failures.extend(early_exit);
    replay.missing = report.missing;
    Ok(replay)
}
