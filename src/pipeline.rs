//! One `slim build`: inspect, analyze, write the slim image, tag it. Every container the run
//! creates carries `slim.run=<id>`, and [`Run::cleanup`] removes them (and an untagged slim
//! image) on every exit path.

use crate::analyze::{self, AnalysisOptions};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::reference;
use crate::writer::{archive, config, layer};
use bollard::models::{ContainerCreateBody, ImageInspect};
use futures_util::TryStreamExt;
use std::collections::HashMap;
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
}

/// What a finished build produced.
#[derive(Clone, Debug)]
pub struct BuildSummary {
    /// The tag written.
    pub tag: String,
    /// The slim image's ID.
    pub image_id: String,
    /// Size of the original image in bytes.
    pub original_size: u64,
    /// Size of the slim image in bytes.
    pub slim_size: u64,
    /// Paths in the keep-set.
    pub files_kept: u64,
    /// Each phase and how long it took.
    pub phases: Vec<(&'static str, Duration)>,
    /// The whole build.
    pub elapsed: Duration,
    /// Things the user should know.
    pub notes: Vec<String>,
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

struct Phases {
    list: Vec<(&'static str, Duration)>,
    at: Instant,
    quiet: bool,
}

impl Phases {
    fn done(&mut self, name: &'static str, detail: impl std::fmt::Display) {
        let took = self.at.elapsed();
        self.at = Instant::now();
        if !self.quiet {
            eprintln!("slim: {name:<9} {:>6.1}s  {detail}", took.as_secs_f64());
        }
        self.list.push((name, took));
    }
}

/// Runs the whole build. The caller calls [`Run::cleanup`] afterwards, whatever the result.
pub async fn build(run: &Run, opts: &BuildOptions, quiet: bool) -> Result<BuildSummary> {
    let started = Instant::now();
    let engine = &run.engine;
    let mut phases = Phases { list: Vec::new(), at: started, quiet };
    let sensor = crate::sensor_bin::load(opts.sensor.as_deref())?;
    let image = engine.inspect_image(&opts.image).await?;
    let image_id = image.id.clone().unwrap_or_default();
    let tag = reference::slim_tag(&opts.image, &image_id, opts.tag.as_deref())?;
    check_platform(&image)?;
    phases.done("inspect", format_args!("{} ({})", opts.image, short(&image_id)));

    let analysis = analyze::analyze(engine, &image, &run.id, &sensor, &opts.analysis).await?;
    let answered = analysis.probes.iter().filter(|p| p.status.is_some()).count();
    phases.done(
        "analyze",
        format_args!("{} paths kept, {} probe(s) answered, tracer {}", analysis.report.keep.len(), answered, analysis.report.tracer),
    );
    let mut notes = analysis.notes.clone();
    notes.extend(analysis.report.warnings.iter().cloned());

    let (stats, mut spool) = write_layer(engine, &image, &run.id, &analysis.report).await?;
    phases.done("filter", format_args!("{} entries kept, {} dropped, layer {}", stats.kept, stats.dropped, human(stats.size)));
    notes.extend(stats.dangling_links.iter().map(|l| format!("hard link {l} dropped: its target was not kept")));

    let labels = config::SlimLabels { source_image: opts.image.clone(), source_id: image_id.clone() };
    let cfg = config::build(&image, &stats.diff_id, &labels);
    let existed = engine.image_exists(&cfg.id).await?;
    run.set_pending((!existed).then(|| cfg.id.clone()));
    load(engine, &cfg, &stats.diff_id, &mut spool).await?;
    drop(spool);
    phases.done("load", short(&cfg.id));

    engine.tag(&cfg.id, &tag.repo, &tag.tag).await?;
    run.set_pending(None);
    phases.done("tag", &tag);

    let slim = engine.inspect_image(&cfg.id).await?;
    Ok(BuildSummary {
        tag: tag.to_string(),
        image_id: cfg.id,
        original_size: image.size.unwrap_or(0).max(0) as u64,
        slim_size: slim.size.unwrap_or(0).max(0) as u64,
        files_kept: stats.kept,
        phases: phases.list,
        elapsed: started.elapsed(),
        notes,
    })
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
/// layer. Returns the layer's stats and the spool file.
async fn write_layer(engine: &Engine, image: &ImageInspect, run: &str, report: &slim_sensor::report::Report) -> Result<(layer::LayerStats, std::fs::File)> {
    let body = ContainerCreateBody {
        image: image.id.clone(),
        labels: Some(HashMap::from([(crate::engine::RUN_LABEL.to_owned(), run.to_owned())])),
        ..Default::default()
    };
    let pristine = engine.create(body).await?;
    let export = engine.export(&pristine).map_err(std::io::Error::other);
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(export));
    let filter = layer::KeepFilter::new(report.keep.iter().map(|k| k.path.0.as_slice()));
    let io = |e: std::io::Error| Error::Engine(format!("filtering the export into the slim layer: {e}"));
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<(layer::LayerStats, std::fs::File)> {
        let mut spool = tempfile::tempfile()?;
        let stats = layer::write_layer(reader, &filter, std::io::BufWriter::with_capacity(1 << 20, &mut spool))?;
        Ok((stats, spool))
    })
    .await
    .map_err(|e| Error::Engine(format!("the layer writer failed: {e}")))?
    .map_err(io);
    engine.remove_run(run).await?;
    result
}

/// Streams the load archive into the engine.
async fn load(engine: &Engine, cfg: &config::ImageConfig, diff_id: &str, spool: &mut std::fs::File) -> Result<()> {
    let (writer, stream) = archive::channel(8);
    let mut layer_file = spool.try_clone().map_err(|e| Error::Engine(format!("reopening the spooled layer: {e}")))?;
    let (config_bytes, config_id, diff_id) = (cfg.bytes.clone(), cfg.id.clone(), diff_id.to_owned());
    let producer = tokio::task::spawn_blocking(move || {
        let cfg = config::ImageConfig { bytes: config_bytes, id: config_id };
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
