//! `slim build`.

use crate::analyze::{AnalysisOptions, ContinueAfter, Surroundings};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::pipeline::{self, human, BuildOptions, Run};
use crate::probing::ProbePlan;
use crate::report::{BuildReport, ImageInfo, Outcome};
use clap::{Args, ValueEnum};
use futures_util::FutureExt;
use slim_probes::{load_probe_file, CrawlLimits, HttpProbeCmd, ProbeSpec};
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `slim build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The image to minify: a local name[:tag], ID or digest (slim never pulls).
    pub image: String,
    /// Tag for the slim image (default: the source's REPO:TAG-slim; required for an ID).
    #[arg(long, short = 't')]
    pub tag: Option<String>,
    /// Seconds the app may take to listen on every exposed port.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub start_timeout: u64,
    /// Seconds the app may take to stop after its STOPSIGNAL before it is killed.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub stop_grace: u64,
    /// The syscall tracer that sees lookups fanotify cannot (stat, access, readlink, ...):
    /// seccomp, ptrace or off.
    #[arg(long, value_enum, default_value_t = Tracer::Seccomp)]
    pub tracer: Tracer,
    /// Do not send the default `GET /` (and crawl) to each exposed port.
    #[arg(long)]
    pub no_default_probe: bool,
    /// Do not follow links from `/`.
    #[arg(long)]
    pub no_crawl: bool,
    /// How many links deep the crawl goes from `/`.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub crawl_depth: usize,
    /// At most this many crawled requests in all.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub crawl_max: usize,
    /// An extra request, `METHOD /path [BODY]`. Repeatable.
    #[arg(long, value_name = "'METHOD /PATH [BODY]'")]
    pub probe: Vec<String>,
    /// Requests from a JSON or YAML file (method, path, port, headers, body or body_file, status).
    #[arg(long, value_name = "FILE")]
    pub probe_file: Vec<PathBuf>,
    /// The port for requests that name none (default: the first exposed port).
    #[arg(long, value_name = "PORT")]
    pub probe_port: Option<u16>,
    /// docker-slim syntax for a request: `[crawl:][PROTO:][METHOD:]PATH`. Repeatable.
    #[arg(long, value_name = "CMD")]
    pub http_probe_cmd: Vec<String>,
    /// docker-slim: the ports the default probe goes to, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "PORTS")]
    pub http_probe_ports: Vec<u16>,
    /// docker-slim: no HTTP probes at all.
    #[arg(long)]
    pub http_probe_off: bool,
    /// Run CMD (with sh -c) inside the container as the image USER once the app is ready; what
    /// it uses is kept, and its exit code must match on the slim image. Repeatable.
    #[arg(long, value_name = "CMD")]
    pub exec: Vec<String>,
    /// Run CMD (with sh -c) on this host once the app is ready, with SLIM_TARGET_HOST,
    /// SLIM_TARGET_PORT, SLIM_TARGET_URL and SLIM_TARGET_PORT_<port> pointing at the app: your
    /// own test suite as the probe. Repeatable.
    #[arg(long, value_name = "CMD")]
    pub host_exec: Vec<String>,
    /// When the analysis stops: after the probes and commands (`probe`, `exec`, the default),
    /// SECONDS after them, or on SIGUSR1 to slim (`signal`).
    #[arg(long, value_name = "probe|exec|SECONDS|signal", default_value = "probe")]
    pub continue_after: String,
    /// Set a variable in the app's environment for the analysis and verification runs (`K=V`,
    /// or `K` to pass the host's value). Repeatable.
    #[arg(long, short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// Read variables from a file of `K=V` lines.
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Join this network (e.g. where the app's database runs).
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    /// Mount `SRC:DST[:ro]` (a volume name or host path) during the runs. Repeatable.
    #[arg(long, value_name = "SRC:DST[:ro]")]
    pub mount: Vec<String>,
    /// Override ENTRYPOINT for the runs (words, or a JSON array); not the slim image's config.
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Override CMD for the runs (words, or a JSON array).
    #[arg(long, value_name = "CMD")]
    pub cmd: Option<String>,
    /// Override USER for the runs.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Override WorkingDir for the runs.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Also wait for and probe this TCP port. Repeatable.
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<u16>,
    /// Container hostname for the runs.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Keep PATH (a directory with everything below it) or every match of GLOB, with its
    /// closure (symlinks, libraries). Repeatable.
    #[arg(long, visible_alias = "include-path", value_name = "PATH|GLOB")]
    pub include: Vec<String>,
    /// Keep the paths and globs listed in FILE, one a line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub include_file: Vec<PathBuf>,
    /// Keep the binary at PATH with the libraries it needs. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub include_bin: Vec<String>,
    /// Keep a shell and the basic utilities (sh, ls, cat, env, ...), for debugging the slim image.
    #[arg(long)]
    pub include_shell: bool,
    /// Do not keep CA certificates unless the app used them.
    #[arg(long)]
    pub no_include_certs: bool,
    /// Do not keep nsswitch.conf and the NSS/resolver libraries unless the app used them.
    #[arg(long)]
    pub no_include_nss: bool,
    /// Do not verify the slim image before tagging it (not recommended).
    #[arg(long)]
    pub no_verify: bool,
    /// How many times a failed verification may be repaired (paths the slim image looked for
    /// are added back from the original).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub repair_rounds: u32,
    /// Keep a slim image that failed verification, tagged TAG-failed.
    #[arg(long)]
    pub keep_failed: bool,
    /// Leave out paths matching GLOB (absolute, or any depth without a leading /); a directory
    /// takes its content with it. Repeatable.
    #[arg(long, visible_alias = "exclude-pattern", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Write the JSON report here (schema: docs/report.schema.json).
    #[arg(long, default_value = "slim.report.json", value_name = "FILE")]
    pub report: PathBuf,
    /// Write no JSON report.
    #[arg(long)]
    pub no_report: bool,
    /// Also write a Markdown summary (for a CI step summary).
    #[arg(long, value_name = "FILE")]
    pub report_md: Option<PathBuf>,
    /// Also write the verified image as an OCI image layout archive: `oci:FILE.tar` (for
    /// skopeo or crane). Written after verification, like the tag.
    #[arg(long, value_name = "oci:FILE.tar")]
    pub output: Option<String>,
    /// Testing aid: drop PATH from the keep-set after analysis, to exercise verification and
    /// repair.
    #[arg(long, hide = true, value_name = "PATH")]
    pub debug_drop_path: Vec<String>,
    /// Use this sensor binary instead of the embedded one.
    #[arg(long, value_name = "PATH")]
    pub sensor: Option<PathBuf>,
}

/// Tracer choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Tracer {
    /// seccomp user notification (default; Linux 5.5+, older kernels fall back to ptrace).
    Seccomp,
    /// The same filter, stopping calls for ptrace (slower; for kernels before 5.5).
    Ptrace,
    /// fanotify only.
    Off,
}

/// `--entrypoint`/`--cmd` values: a JSON array, or whitespace-separated words.
fn command_words(flag: &str, value: &str) -> Result<Vec<String>> {
    if value.trim_start().starts_with('[') {
        serde_json::from_str(value).map_err(|e| Error::Input(format!("{flag} {value:?}: not a JSON array of strings: {e}")))
    } else {
        Ok(value.split_whitespace().map(str::to_owned).collect())
    }
}

/// `K=V` stays, `K` takes the host's value (and is dropped when the host has none).
fn env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        Some(entry.to_owned())
    } else {
        std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
    }
}

/// The `K=V` lines of an env file (blank lines and `#` comments skipped).
fn read_env_file(path: &PathBuf) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Input(format!("--env-file {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match env_entry(line) {
            Some(entry) => out.push(entry),
            None if !line.contains('=') && !line.contains(char::is_whitespace) => {}
            None => return Err(Error::Input(format!("{}:{}: expected K=V, got {line:?}", path.display(), n + 1))),
        }
    }
    Ok(out)
}

/// `--continue-after`.
fn continue_after(value: &str) -> Result<ContinueAfter> {
    match value {
        "probe" | "exec" => Ok(ContinueAfter::Probes),
        "signal" => Ok(ContinueAfter::Signal),
        n => n
            .parse()
            .map(ContinueAfter::Seconds)
            .map_err(|_| Error::Input(format!("--continue-after {value:?}: expected probe, exec, signal or a number of seconds"))),
    }
}

/// `oci:FILE.tar` -> `FILE.tar`.
fn oci_path(value: &str) -> Result<PathBuf> {
    match value.strip_prefix("oci:") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err(Error::Input(format!("--output {value:?}: expected oci:FILE.tar"))),
    }
}

impl BuildArgs {
    fn plan(&self) -> Result<ProbePlan> {
        let mut user = Vec::new();
        for p in &self.probe {
            user.push(ProbeSpec::parse_inline(p).map_err(|e| Error::Input(format!("--probe {p:?}: {e}")))?);
        }
        for file in &self.probe_file {
            user.extend(load_probe_file(file).map_err(|e| Error::Input(e.to_string()))?);
        }
        let mut crawl_requested = false;
        for c in &self.http_probe_cmd {
            let cmd: HttpProbeCmd = c.parse().map_err(|e| Error::Input(format!("--http-probe-cmd {c:?}: {e}")))?;
            crawl_requested |= cmd.crawl;
            user.push(cmd.spec);
        }
        if self.http_probe_off {
            user.clear();
        }
        let crawl = (!self.no_crawl || crawl_requested).then_some(CrawlLimits { depth: self.crawl_depth, max: self.crawl_max });
        Ok(ProbePlan {
            default_probe: !self.no_default_probe && !self.http_probe_off,
            crawl,
            user,
            probe_port: self.probe_port,
            ports: (!self.http_probe_ports.is_empty()).then(|| self.http_probe_ports.clone()),
        })
    }

    fn surroundings(&self) -> Result<Surroundings> {
        let mut env = Vec::new();
        for file in &self.env_file {
            env.extend(read_env_file(file)?);
        }
        env.extend(self.env.iter().filter_map(|e| env_entry(e)));
        Ok(Surroundings {
            env,
            network: self.network.clone(),
            mounts: self.mount.clone(),
            hostname: self.hostname.clone(),
            entrypoint: self.entrypoint.as_deref().map(|v| command_words("--entrypoint", v)).transpose()?,
            cmd: self.cmd.as_deref().map(|v| command_words("--cmd", v)).transpose()?,
            user: self.user.clone(),
            workdir: self.workdir.clone(),
            expose: self.expose.clone(),
        })
    }

    fn includes(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self.include.iter().chain(&self.include_bin).cloned().collect();
        for file in &self.include_file {
            let text = std::fs::read_to_string(file).map_err(|e| Error::Input(format!("--include-file {}: {e}", file.display())))?;
            out.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned));
        }
        if self.include_shell {
            out.extend(slim_sensor::closure::SHELL_TOOLS.iter().map(|t| t.to_string()));
        }
        if let Some(bad) = out.iter().find(|p| !p.starts_with('/')) {
            return Err(Error::Input(format!("include {bad:?}: paths and globs must be absolute")));
        }
        Ok(out)
    }

    fn options(&self, verbose: bool) -> Result<BuildOptions> {
        Ok(BuildOptions {
            image: self.image.clone(),
            tag: self.tag.clone(),
            sensor: self.sensor.clone(),
            analysis: AnalysisOptions {
                start_timeout: Duration::from_secs(self.start_timeout),
                stop_grace: Duration::from_secs(self.stop_grace),
                tracer: match self.tracer {
                    Tracer::Seccomp => "seccomp".into(),
                    Tracer::Ptrace => "ptrace".into(),
                    Tracer::Off => "off".into(),
                },
                plan: self.plan()?,
                surroundings: self.surroundings()?,
                show_app_output: verbose,
                include_certs: !self.no_include_certs,
                include_nss: !self.no_include_nss,
                includes: self.includes()?,
                execs: self.exec.clone(),
                host_execs: self.host_exec.clone(),
                continue_after: continue_after(&self.continue_after)?,
            },
            verify: !self.no_verify,
            repair_rounds: self.repair_rounds,
            keep_failed: self.keep_failed,
            excludes: self.exclude.clone(),
            debug_drop: self.debug_drop_path.clone(),
            oci_output: self.output.as_deref().map(oci_path).transpose()?,
        })
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs `slim build`; everything the run created is removed whatever happens, and the reports
/// are written whatever the outcome.
pub async fn run(args: &BuildArgs, quiet: bool, verbose: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let mut report = BuildReport::new(&args.image);
    let result = build(args, quiet, verbose, &mut report).await;
    report.outcome = match &result {
        Ok(_) => Outcome { exit_code: 0, error: None },
        Err(e) => Outcome { exit_code: e.exit_code(), error: Some(e.to_string()) },
    };
    let written = write_reports(args, &report);
    result?;
    written?;
    let slim = report.slim.as_ref().ok_or_else(|| Error::Engine("the build ended without a slim image".into()))?;
    print_summary(&report, slim, started.elapsed(), quiet);
    println!("{}", slim.name);
    Ok(())
}

async fn build(args: &BuildArgs, quiet: bool, verbose: bool, report: &mut BuildReport) -> Result<()> {
    let opts = args.options(verbose)?;
    let engine = Engine::connect().await?;
    let run = Run::new(engine);
    // A panic must not skip the cleanup below: it becomes an engine error instead.
    let guarded = std::panic::AssertUnwindSafe(pipeline::build(&run, &opts, quiet, report)).catch_unwind();
    let result = tokio::select! {
        r = guarded => r.unwrap_or_else(|panic| {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            Err(Error::Engine(format!("internal error: {}", what.unwrap_or_else(|| "panic".into()))))
        }),
        _ = interrupted() => Err(Error::Interrupted),
    };
    let cleaned = run.cleanup().await;
    result?;
    cleaned
}

fn write_reports(args: &BuildArgs, report: &BuildReport) -> Result<()> {
    let write = |path: &PathBuf, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|e| Error::Input(format!("cannot write the report {}: {e}", path.display())))
    };
    if !args.no_report {
        let json = serde_json::to_vec_pretty(report).map_err(|e| Error::Engine(format!("encoding the report: {e}")))?;
        write(&args.report, &json)?;
    }
    if let Some(md) = &args.report_md {
        write(md, report.to_markdown().as_bytes())?;
    }
    Ok(())
}

fn print_summary(report: &BuildReport, slim: &ImageInfo, elapsed: std::time::Duration, quiet: bool) {
    for warning in &report.warnings {
        eprintln!("slim: note: {warning}");
    }
    if quiet {
        return;
    }
    eprintln!();
    eprintln!("  original  {:>10}", human(report.source.size));
    eprintln!("  slim      {:>10}  ({} files)", human(slim.size), report.files.kept);
    eprintln!("  ratio     {:>9.1}x", report.ratio.unwrap_or(0.0));
    eprintln!("  time      {:>9.1}s", elapsed.as_secs_f64());
    eprintln!("  tag       {}", slim.name);
}
