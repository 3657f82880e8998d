//! `slim.report.json`: what a build did, for CI. The schema is `docs/report.schema.json`;
//! [`SCHEMA_VERSION`] changes with it. `--report-md` renders the same data as Markdown.

use crate::probing::RecordedProbe;
use serde::{Deserialize, Serialize};
use slim_probes::ProbeResult;
use std::collections::BTreeMap;

/// Version of the report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// An image the build read or wrote.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageInfo {
    /// The name given (source) or the tag written (slim).
    pub name: String,
    /// Image ID.
    pub id: String,
    /// Size in bytes.
    pub size: u64,
}

/// Files kept and removed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Files {
    /// Entries in the slim layer.
    pub kept: u64,
    /// Entries of the original left out.
    pub removed: u64,
    /// Keep-set paths by the reason they were kept for.
    pub by_reason: BTreeMap<String, u64>,
}

/// The image writer's own work, for throughput: the filter pass over the export, and the load.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Writer {
    /// Bytes of the export streamed through the filter (last write).
    pub export_bytes: u64,
    /// Seconds from the first export byte to the spooled layer (last write).
    pub filter_seconds: f64,
    /// Seconds to stream the image into the engine (last write).
    pub load_seconds: f64,
}

/// One phase of the build.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Phase {
    /// inspect, analyze, filter, load, verify, repair, tag.
    pub name: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A probe on the original and, after verification, on the slim image.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    /// The original's answer.
    pub original: ProbeResult,
    /// True when the original gave the same body twice (bodies are compared only then).
    pub body_stable: bool,
    /// The slim image's answer (absent when verification did not run).
    pub slim: Option<ProbeResult>,
}

/// What the sensor saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Sensor {
    /// `seccomp` or `off`.
    pub tracer: String,
    /// fanotify events read.
    pub fanotify_events: u64,
    /// Syscalls the tracer saw.
    pub traced_syscalls: u64,
    /// Distinct paths recorded.
    pub paths_seen: u64,
}

/// The verdict on the slim image.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    /// `passed`, `failed`, `skipped` (`--no-verify`) or `not-run` (the build stopped earlier).
    pub verdict: String,
    /// What differed, one line per probe, for the last verification.
    pub failures: Vec<String>,
}

/// One repair round.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Repair {
    /// 1, 2, ...
    pub round: u32,
    /// What failed before this round.
    pub failures: Vec<String>,
    /// Paths added back (present in the original, looked up by the slim image).
    pub added: Vec<String>,
    /// Paths the slim image needed but `--exclude` keeps out.
    pub excluded: Vec<String>,
}

/// How the build ended.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// slim's exit code.
    pub exit_code: i32,
    /// The error message, when it failed.
    pub error: Option<String>,
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BuildReport {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// slim's version.
    pub version: String,
    /// The original image.
    pub source: ImageInfo,
    /// The slim image, when one was tagged.
    pub slim: Option<ImageInfo>,
    /// original size / slim size.
    pub ratio: Option<f64>,
    /// Files kept and removed.
    pub files: Files,
    /// Phases in order.
    pub phases: Vec<Phase>,
    /// The writer's throughput figures.
    pub writer: Writer,
    /// Every probe, on the original and on the slim image.
    pub probes: Vec<Probe>,
    /// Sensor statistics and the tracer used.
    pub sensor: Sensor,
    /// The verification verdict.
    pub verification: Verification,
    /// Repair rounds, in order.
    pub repairs: Vec<Repair>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// How the build ended.
    pub outcome: Outcome,
}

impl BuildReport {
    /// An empty report for `source`.
    pub fn new(source: &str) -> Self {
        BuildReport {
            schema: SCHEMA_VERSION,
            version: env!("CARGO_PKG_VERSION").into(),
            source: ImageInfo { name: source.into(), ..Default::default() },
            verification: Verification { verdict: "not-run".into(), failures: Vec::new() },
            ..Default::default()
        }
    }

    /// Records the original's probes.
    pub fn set_probes(&mut self, probes: &[RecordedProbe]) {
        self.probes = probes.iter().map(|p| Probe { original: p.result.clone(), body_stable: p.body_stable, slim: None }).collect();
    }

    /// A Markdown summary for a CI step summary.
    pub fn to_markdown(&self) -> String {
        let mut md = String::from("## slim build\n\n");
        let verdict = match (self.outcome.exit_code, &self.slim) {
            (0, Some(slim)) => format!("**{}** written and verified", slim.name),
            _ => format!(
                "**failed** (exit {}): {}",
                self.outcome.exit_code,
                self.outcome.error.clone().unwrap_or_default().lines().next().unwrap_or("")
            ),
        };
        md.push_str(&format!("{verdict}\n\n| | image | size |\n| --- | --- | --- |\n"));
        md.push_str(&format!("| original | `{}` | {} |\n", self.source.name, crate::pipeline::human(self.source.size)));
        if let Some(slim) = &self.slim {
            md.push_str(&format!("| slim | `{}` | {} |\n", slim.name, crate::pipeline::human(slim.size)));
        }
        if let Some(ratio) = self.ratio {
            md.push_str(&format!("\nRatio **{ratio:.1}x**, {} files kept, {} removed. ", self.files.kept, self.files.removed));
        }
        md.push_str(&format!("Verification: **{}**.\n\n", self.verification.verdict));
        if !self.probes.is_empty() {
            md.push_str("| probe | original | slim |\n| --- | --- | --- |\n");
            for p in &self.probes {
                let status = |r: Option<&ProbeResult>| r.and_then(|r| r.status).map(|s| s.to_string()).unwrap_or_else(|| "-".into());
                md.push_str(&format!(
                    "| `{} {}` :{} | {} | {} |\n",
                    p.original.method,
                    p.original.path,
                    p.original.port,
                    status(Some(&p.original)),
                    status(p.slim.as_ref())
                ));
            }
            md.push('\n');
        }
        for r in &self.repairs {
            md.push_str(&format!("Repair round {}: added {}\n\n", r.round, r.added.join(", ")));
        }
        let phases: Vec<String> = self.phases.iter().map(|p| format!("{} {:.1}s", p.name, p.seconds)).collect();
        md.push_str(&format!("Phases: {}\n", phases.join(" · ")));
        for w in &self.warnings {
            md.push_str(&format!("\n> {w}\n"));
        }
        md
    }
}
