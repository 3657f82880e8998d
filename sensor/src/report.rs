//! The sensor's report: a versioned schema written to `/.slim/report.json` and read by `slim`.

use crate::paths::PathBytes;
use serde::{Deserialize, Serialize};

/// Version of the report schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a path is in the keep-set. When a path has several reasons the first in this order wins:
/// what the app did comes before what the closure derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The app opened it (fanotify or the tracer saw an open).
    Opened,
    /// The app executed it.
    Exec,
    /// The app looked it up (stat, access, readlink, mkdir of an existing path, ...).
    LookedUp,
    /// Kept whatever the run did: user database, working directory, entrypoint.
    Essential,
    /// The user asked for it (`--include`, `--include-bin`, `--include-shell`).
    Include,
    /// A shared library or interpreter a kept ELF file needs.
    ElfDep,
    /// A script's `#!` interpreter.
    Interpreter,
    /// A symlink on the way to a kept path.
    Symlink,
    /// Another name of a kept inode.
    Hardlink,
    /// A directory on the way to a kept path.
    Dir,
}

/// One kept path and the first reason it was kept for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptPath {
    /// Absolute path inside the image.
    pub path: PathBytes,
    /// Why it is kept.
    pub reason: Reason,
}

/// How the app's run ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppOutcome {
    /// Exit code, if the app exited.
    pub exit_code: Option<i32>,
    /// Signal number, if the app was killed by a signal.
    pub signal: Option<i32>,
    /// True when the sensor stopped the app because `slim` asked it to.
    pub stopped_by_sensor: bool,
}

/// Counters that describe what the sensor saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorStats {
    /// fanotify events read.
    pub fanotify_events: u64,
    /// Syscalls the tracer saw.
    pub traced_syscalls: u64,
    /// Distinct paths recorded before the closure.
    pub paths_seen: u64,
}

/// The report the sensor writes when it is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    /// The sensor's crate version.
    pub sensor_version: String,
    /// The tracer that ran: `seccomp` or `off`.
    pub tracer: String,
    /// How the app ended.
    pub app: AppOutcome,
    /// What the sensor saw.
    pub stats: SensorStats,
    /// The keep-set, sorted by path.
    pub keep: Vec<KeptPath>,
    /// Paths the app looked up or opened that do not exist here (filled only on request: a
    /// repair run of the slim image lists what it missed).
    #[serde(default)]
    pub missing: Vec<PathBytes>,
    /// Things a user should know (a tracer that could not start, a queue overflow, ...).
    pub warnings: Vec<String>,
}

impl Report {
    /// A report that holds only a keep-set (the sensor's `closure` subcommand).
    pub fn closure_only(keep: Vec<KeptPath>) -> Report {
        Report {
            schema: SCHEMA_VERSION,
            sensor_version: env!("CARGO_PKG_VERSION").to_owned(),
            tracer: "off".into(),
            app: AppOutcome::default(),
            stats: SensorStats::default(),
            keep,
            missing: Vec::new(),
            warnings: Vec::new(),
        }
    }
}
