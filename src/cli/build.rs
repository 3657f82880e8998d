//! `slim build`.

use crate::analyze::AnalysisOptions;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::pipeline::{self, human, BuildOptions, BuildSummary, Run};
use crate::report::{BuildReport, Outcome};
use clap::{Args, ValueEnum};
use futures_util::FutureExt;
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
    /// The syscall tracer that sees lookups fanotify cannot (stat, access, readlink, ...).
    #[arg(long, value_enum, default_value_t = Tracer::Seccomp)]
    pub tracer: Tracer,
    /// Do not send the default `GET /` to each exposed port.
    #[arg(long)]
    pub no_default_probe: bool,
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
    /// seccomp user notification (default).
    Seccomp,
    /// fanotify only.
    Off,
}

impl BuildArgs {
    fn options(&self, verbose: bool) -> BuildOptions {
        BuildOptions {
            image: self.image.clone(),
            tag: self.tag.clone(),
            sensor: self.sensor.clone(),
            analysis: AnalysisOptions {
                start_timeout: Duration::from_secs(self.start_timeout),
                stop_grace: Duration::from_secs(self.stop_grace),
                tracer: match self.tracer {
                    Tracer::Seccomp => "seccomp".into(),
                    Tracer::Off => "off".into(),
                },
                http_probe: !self.no_default_probe,
                show_app_output: verbose,
                include_certs: !self.no_include_certs,
                include_nss: !self.no_include_nss,
            },
            verify: !self.no_verify,
            repair_rounds: self.repair_rounds,
            keep_failed: self.keep_failed,
            excludes: self.exclude.clone(),
            debug_drop: self.debug_drop_path.clone(),
        }
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
    let mut report = BuildReport::new(&args.image);
    let result = build(args, quiet, verbose, &mut report).await;
    report.outcome = match &result {
        Ok(_) => Outcome { exit_code: 0, error: None },
        Err(e) => Outcome { exit_code: e.exit_code(), error: Some(e.to_string()) },
    };
    let written = write_reports(args, &report);
    let summary = result?;
    written?;
    print_summary(&summary, &report.warnings, quiet);
    println!("{}", summary.tag);
    Ok(())
}

async fn build(args: &BuildArgs, quiet: bool, verbose: bool, report: &mut BuildReport) -> Result<BuildSummary> {
    let engine = Engine::connect().await?;
    let run = Run::new(engine);
    let opts = args.options(verbose);
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
    let summary = result?;
    cleaned?;
    Ok(summary)
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

fn print_summary(s: &BuildSummary, warnings: &[String], quiet: bool) {
    for warning in warnings {
        eprintln!("slim: note: {warning}");
    }
    if quiet {
        return;
    }
    let ratio = if s.slim_size > 0 { s.original_size as f64 / s.slim_size as f64 } else { 0.0 };
    eprintln!();
    eprintln!("  original  {:>10}", human(s.original_size));
    eprintln!("  slim      {:>10}  ({} files)", human(s.slim_size), s.files_kept);
    eprintln!("  ratio     {:>9.1}x", ratio);
    eprintln!("  time      {:>9.1}s", s.elapsed.as_secs_f64());
    eprintln!("  tag       {}", s.tag);
}
