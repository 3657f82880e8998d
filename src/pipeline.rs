//! One `slim build`: inspect, analyze, write the slim image, tag it. Every container the run
//! creates carries `slim.run=<id>`, and [`Run::cleanup`] removes them (and an untagged slim
//! image) on every exit path.

use crate::analyze::{self, AnalysisOptions, AppSpec, Mode, Runner};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::exclude::Excludes;
use crate::reference::{self, Tagged};
use crate::repair;
use crate::report::{BuildReport, ImageInfo, Phase, Repair, Sensor};
use crate::writer::{archive, config, layer};
use bollard::models::{ContainerCreateBody, ImageInspect};
use slim_sensor::report::{KeptPath, Reason};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What `slim build` was asked to do.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The image to minify (name, ID or digest).
    pub image: String,
    /// The slim image's tag (default `REPO:TAG-slim`).
    pub tag: Option<String>,
    /// The sensor binary (default: the embedded one).
    pub sensor: Option<PathBuf>,
    /// The analysis run.
    pub analysis: AnalysisOptions,
    /// Verify the slim image before tagging it.
    pub verify: bool,
    /// How many repair rounds a failed verification may trigger.
    pub repair_rounds: u32,
    /// Keep a failed slim image, tagged `<tag>-failed`.
    pub keep_failed: bool,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// Also write the verified image as an OCI layout archive here.
    pub oci_output: Option<PathBuf>,
    /// Paths dropped from the keep-set after analysis (a hidden fault-injection option for
    /// testing verification and repair).
    pub debug_drop: Vec<String>,
}

/// One build's identity and the debris it may leave: removed by [`Run::cleanup`].
pub struct Run {
    /// The value of the `slim.run` label on everything this run creates.
    pub id: String,
    engine: Engine,
    /// A loaded slim image not tagged yet (removed on failure).
    pending_image: Mutex<Option<String>>,
}

impl Run {
    /// A new run with a fresh ID.
    pub fn new(engine: Engine) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let id = format!("{:x}-{:x}", nanos, std::process::id());
        Run { id, engine, pending_image: Mutex::new(None) }
    }

    /// Removes every container of this run and an untagged slim image. Called on every exit path.
    pub async fn cleanup(&self) -> Result<()> {
        self.engine.remove_run(&self.id).await?;
        let pending = self.pending_image.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(image) = pending {
            self.engine.remove_image(&image).await?;
        }
        Ok(())
    }

    fn set_pending(&self, image: Option<String>) {
        *self.pending_image.lock().unwrap_or_else(|e| e.into_inner()) = image;
    }
}

/// Times the phases, prints one line per phase (under a spinner when stderr is a terminal),
/// and records them in the report.
struct Phases {
    at: Instant,
    quiet: bool,
    spinner: Option<indicatif::ProgressBar>,
}

impl Phases {
    fn new(quiet: bool) -> Self {
        let spinner = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Phases { at: Instant::now(), quiet, spinner }
    }

    /// Shows what is being done now (terminal only).
    fn working(&self, what: &str) {
        if let Some(spinner) = &self.spinner {
            spinner.set_message(what.to_owned());
        }
    }

    fn done(&mut self, report: &mut BuildReport, name: &'static str, detail: impl std::fmt::Display) {
        let took = self.at.elapsed();
        self.at = Instant::now();
        if !self.quiet {
            let line = format!("slim: {name:<9} {:>6.1}s  {detail}", took.as_secs_f64());
            match &self.spinner {
                Some(spinner) => spinner.println(line),
                None => eprintln!("{line}"),
            }
        }
        report.phases.push(Phase { name: name.into(), seconds: took.as_secs_f64() });
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }
}

/// A slim image loaded into the engine (untagged).
struct Built {
    id: String,
    stats: layer::LayerStats,
    timing: crate::report::Writer,
    config: config::ImageConfig,
    spool: std::fs::File,
}

/// Runs the whole build, filling `report` as it goes (on success, `report.slim` names the
/// image written). The caller calls [`Run::cleanup`] afterwards and writes the report,
/// whatever the result.
pub async fn build(run: &Run, opts: &BuildOptions, quiet: bool, report: &mut BuildReport) -> Result<()> {
    let engine = &run.engine;
    let mut phases = Phases::new(quiet);
    if !quiet {
        eprintln!("slim: run       {} (label {}={0})", run.id, crate::engine::RUN_LABEL);
    }
    let sensor = crate::sensor_bin::load(opts.sensor.as_deref())?;
    let excludes = Excludes::new(&opts.excludes)?;
    let image = engine.inspect_image(&opts.image).await?;
    let image_id = image.id.clone().unwrap_or_default();
    report.source.id = image_id.clone();
    report.source.size = image.size.unwrap_or(0).max(0) as u64;
    let tag = reference::slim_tag(&opts.image, &image_id, opts.tag.as_deref())?;
    check_platform(&image)?;
    let spec = AppSpec::of(&image, &opts.analysis.surroundings)?;
    phases.done(report, "inspect", format_args!("{} ({})", opts.image, short(&image_id)));

    phases.working("analyzing: the app runs under the sensor while probes exercise it");
    let analysis = analyze::analyze(engine, &image, &run.id, &sensor, &opts.analysis).await?;
    report.set_probes(&analysis.probes);
    let stats = &analysis.report.stats;
    report.sensor = Sensor {
        tracer: analysis.report.tracer.clone(),
        fanotify_events: stats.fanotify_events,
        traced_syscalls: stats.traced_syscalls,
        paths_seen: stats.paths_seen,
    };
    report.warnings.extend(analysis.notes.iter().cloned());
    report.warnings.extend(analysis.report.warnings.iter().cloned());
    let answered = analysis.probes.iter().filter(|p| p.result.status.is_some()).count();
    phases.done(
        report,
        "analyze",
        format_args!("{} paths kept, {} probe(s) answered, tracer {}", analysis.report.keep.len(), answered, analysis.report.tracer),
    );

    let mut keep: Vec<KeptPath> =
        analysis.report.keep.iter().filter(|k| !opts.debug_drop.iter().any(|d| d.as_bytes() == k.path.0.as_slice())).cloned().collect();
    warn_excluded_entrypoint(&keep, &spec, &excludes, report);
    let labels = config::SlimLabels { source_image: opts.image.clone(), source_id: image_id.clone() };
    let mut round = 0;
    let built = loop {
        phases.working("writing the slim image");
        let built = write_image(run, &image, &keep, &excludes, &labels).await?;
        report.files.kept = built.stats.kept;
        report.files.removed = built.stats.dropped;
        report.files.by_reason = by_reason(&keep);
        report.writer = built.timing.clone();
        report.warnings.extend(built.stats.dangling_links.iter().map(|l| format!("hard link {l} dropped: its target was not kept")));
        phases.done(
            report,
            "write",
            format_args!("{} entries kept, {} dropped, {}", built.stats.kept, built.stats.dropped, short(&built.id)),
        );
        if !opts.verify {
            report.verification.verdict = "skipped".into();
            break built;
        }
        let runner = Runner { engine, spec: &spec, run: &run.id, sensor: &sensor, opts: &opts.analysis };
        phases.working("verifying: the slim image answers the same probes");
        let replay = analyze::replay(runner, &built.id, Mode::SuperviseOnly, &analysis.probes).await?;
        for (probe, result) in report.probes.iter_mut().zip(&replay.results) {
            probe.slim = Some(result.clone());
        }
        report.verification.failures = replay.failures.clone();
        if replay.failures.is_empty() {
            report.verification.verdict = "passed".into();
            phases.done(report, "verify", "passed: the slim image answered as the original did");
            break built;
        }
        report.verification.verdict = "failed".into();
        phases.done(report, "verify", format_args!("failed: {}", replay.failures[0].lines().next().unwrap_or("")));
        if round == opts.repair_rounds {
            return Err(give_up(run, opts, &tag, &built, &replay.failures, report).await);
        }
        round += 1;
        phases.working("repairing: looking for what the slim image misses");
        let probe = analyze::replay(runner, &built.id, Mode::Record { report_missing: true }, &analysis.probes).await?;
        let found = repair::candidates(&probe.missing, &built.stats.original_paths, &excludes);
        report.repairs.push(Repair {
            round,
            failures: replay.failures.clone(),
            added: found.add.iter().map(|p| p.to_string()).collect(),
            excluded: found.excluded.iter().map(|(p, pattern)| format!("{p} (--exclude {pattern})")).collect(),
        });
        if found.add.is_empty() {
            return Err(give_up(run, opts, &tag, &built, &replay.failures, report).await);
        }
        engine.remove_run(&run.id).await?;
        engine.remove_image(&built.id).await?;
        run.set_pending(None);
        let seeds = repair::next_seeds(&keep, &found.add);
        keep = repair::closure_on_original(
            engine,
            &image_id,
            &run.id,
            &sensor,
            &seeds,
            opts.analysis.include_certs,
            opts.analysis.include_nss,
        )
        .await?;
        phases.done(
            report,
            "repair",
            format_args!("round {round}: added {}", report.repairs.last().map(|r| r.added.join(", ")).unwrap_or_default()),
        );
    };

    engine.tag(&built.id, &tag.repo, &tag.tag).await?;
    run.set_pending(None);
    phases.done(report, "tag", &tag);
    let mut built = built;
    if let Some(path) = &opts.oci_output {
        write_oci(path, &mut built, &tag).await?;
        phases.done(report, "output", path.display());
    }

    let slim = engine.inspect_image(&built.id).await?;
    let slim_size = slim.size.unwrap_or(0).max(0) as u64;
    report.slim = Some(ImageInfo { name: tag.to_string(), id: built.id.clone(), size: slim_size });
    report.ratio = (slim_size > 0).then(|| report.source.size as f64 / slim_size as f64);
    Ok(())
}

/// The verification error, after the failed image is removed (or kept as `<tag>-failed`).
async fn give_up(run: &Run, opts: &BuildOptions, tag: &Tagged, built: &Built, failures: &[String], report: &BuildReport) -> Error {
    let mut message = format!("the slim image failed verification; no tag was written.\n{}", failures.join("\n"));
    for excluded in report.repairs.iter().flat_map(|r| &r.excluded) {
        message.push_str(&format!("\nthe slim image needs {excluded}, which you excluded"));
    }
    if opts.keep_failed {
        let failed_tag = format!("{}-failed", tag.tag);
        match run.engine.tag(&built.id, &tag.repo, &failed_tag).await {
            Ok(()) => {
                run.set_pending(None);
                message.push_str(&format!("\nthe failed image is kept as {}:{failed_tag}", tag.repo));
            }
            Err(e) => message.push_str(&format!("\n(keeping the failed image failed: {e})")),
        }
    }
    Error::Verification(message)
}

/// Writes the OCI layout archive of `built` to `path`, through a temporary file renamed into
/// place, so a failure never leaves a half-written archive.
async fn write_oci(path: &std::path::Path, built: &mut Built, tag: &Tagged) -> Result<()> {
    let io = |e: std::io::Error| Error::Input(format!("writing {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut layer = built.spool.try_clone().map_err(io)?;
    let (config, diff_id, reference) = (built.config.clone(), built.stats.diff_id.clone(), tag.to_string());
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    let temp = tokio::task::spawn_blocking(move || -> std::io::Result<tempfile::NamedTempFile> {
        let mut out = std::io::BufWriter::new(temp.as_file());
        crate::writer::oci::write(&mut out, &config, &diff_id, &mut layer, &reference)?;
        std::io::Write::flush(&mut out)?;
        drop(out);
        Ok(temp)
    })
    .await
    .map_err(|e| Error::Engine(format!("the OCI writer failed: {e}")))?
    .map_err(io)?;
    // A named temporary file is private (0600); the archive is an ordinary output file.
    std::fs::set_permissions(temp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Warns when an exclude removes what the app executed or the entrypoint itself.
fn warn_excluded_entrypoint(keep: &[KeptPath], spec: &AppSpec, excludes: &Excludes, report: &mut BuildReport) {
    let entry = spec.command().first().map(String::as_bytes).unwrap_or_default();
    for k in keep {
        let executed = k.reason == Reason::Exec || k.path.0 == entry;
        if let (true, Some(pattern)) = (executed, excludes.matching(&k.path.0)) {
            let warning = format!("--exclude {pattern} removes {}, which the app executed", k.path);
            eprintln!("slim: warning: {warning}");
            report.warnings.push(warning);
        }
    }
}

fn by_reason(keep: &[KeptPath]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for k in keep {
        let name = serde_json::to_value(k.reason).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

/// Filters the pristine export into a layer and loads the image (untagged, registered as
/// pending so a failure removes it).
async fn write_image(
    run: &Run,
    image: &ImageInspect,
    keep: &[KeptPath],
    excludes: &Excludes,
    labels: &config::SlimLabels,
) -> Result<Built> {
    let (stats, mut spool, filter_seconds) = write_layer(&run.engine, image, &run.id, keep, excludes).await?;
    let cfg = config::build(image, &stats.diff_id, labels);
    let existed = run.engine.image_exists(&cfg.id).await?;
    run.set_pending((!existed).then(|| cfg.id.clone()));
    let loading = Instant::now();
    load(&run.engine, &cfg, &stats.diff_id, &mut spool).await?;
    let timing = crate::report::Writer { export_bytes: stats.export_bytes, filter_seconds, load_seconds: loading.elapsed().as_secs_f64() };
    Ok(Built { id: cfg.id.clone(), stats, timing, config: cfg, spool })
}

fn check_platform(image: &ImageInspect) -> Result<()> {
    let os = image.os.as_deref().unwrap_or("linux");
    let arch = image.architecture.as_deref().unwrap_or("amd64");
    if os != "linux" || arch != "amd64" {
        return Err(Error::Input(format!("unsupported platform {os}/{arch}: slim's sensor runs on linux/amd64 images")));
    }
    Ok(())
}

/// Exports a never-started container of the original image and filters it into a spooled
/// layer. Returns the layer's stats, the spool file, and the seconds the filter pass took.
async fn write_layer(
    engine: &Engine,
    image: &ImageInspect,
    run: &str,
    keep: &[KeptPath],
    excludes: &Excludes,
) -> Result<(layer::LayerStats, std::fs::File, f64)> {
    let body = ContainerCreateBody {
        image: image.id.clone(),
        labels: Some(HashMap::from([(crate::engine::RUN_LABEL.to_owned(), run.to_owned())])),
        ..Default::default()
    };
    let pristine = engine.create(body).await?;
    let filtering = Instant::now();
    let reader = archive::chunk_reader(engine.export(&pristine), 64);
    let created = config::epoch_seconds(image.created.as_deref().unwrap_or_default());
    let filter = layer::KeepFilter::new(keep.iter().map(|k| k.path.0.as_slice()), excludes.clone(), created);
    let io = |e: std::io::Error| Error::Engine(format!("filtering the export into the slim layer: {e}"));
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<(layer::LayerStats, std::fs::File)> {
        let mut spool = tempfile::tempfile()?;
        let stats = layer::write_layer(reader, &filter, std::io::BufWriter::with_capacity(1 << 20, &mut spool))?;
        Ok((stats, spool))
    })
    .await
    .map_err(|e| Error::Engine(format!("the layer writer failed: {e}")))?
    .map_err(io);
    let filter_seconds = filtering.elapsed().as_secs_f64();
    engine.remove_run(run).await?;
    result.map(|(stats, spool)| (stats, spool, filter_seconds))
}

/// Streams the load archive into the engine.
async fn load(engine: &Engine, cfg: &config::ImageConfig, diff_id: &str, spool: &mut std::fs::File) -> Result<()> {
    let (writer, stream) = archive::channel(8);
    let mut layer_file = spool.try_clone().map_err(|e| Error::Engine(format!("reopening the spooled layer: {e}")))?;
    let (cfg, diff_id) = (cfg.clone(), diff_id.to_owned());
    let producer = tokio::task::spawn_blocking(move || {
        let mut writer = writer;
        match archive::write(&mut writer, &cfg, &diff_id, &mut layer_file) {
            Ok(()) => Ok(()),
            Err(e) => {
                let message = e.to_string();
                writer.fail(e);
                Err(message)
            }
        }
    });
    let loaded = engine.load(stream).await;
    let produced = producer.await.map_err(|e| Error::Engine(format!("the archive writer failed: {e}")))?;
    produced.map_err(|e| Error::Engine(format!("writing the image archive: {e}")))?;
    loaded
}

/// The first 12 hex digits of an image ID.
pub fn short(id: &str) -> &str {
    let hex = id.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

/// Bytes for people: `161.2 MB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
