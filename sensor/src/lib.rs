//! slim's sensor: everything that runs inside the analysis container.
//!
//! The binary (`slim-sensor`, linked statically) is PID 1 of the analysis container. It
//! supervises the app, records every file the app opens (fanotify) or looks up (seccomp user
//! notification), reports the app's LISTEN sockets, and when told to stop computes the keep-set
//! closure and writes `/.slim/report.json`. The library half holds what `slim` shares with it:
//! the report schema, the event protocol, and the pure keep-set closure.

pub mod closure;
pub mod elf;
pub mod listen;
pub mod paths;
pub mod protocol;
pub mod report;
pub mod supervise;
pub mod sys;
pub mod trace;
pub mod users;

/// The signal `slim` sends (through the engine's kill API) to ask the sensor to stop the app
/// and write its report: SIGRTMIN+3 in glibc's numbering, which Docker uses too. The sensor never
/// forwards it to the app.
pub const STOP_SIGNAL: i32 = 37;

/// Where the sensor lives inside the analysis container.
pub const SENSOR_DIR: &str = "/.slim";

/// Where the sensor writes its report inside the analysis container.
pub const REPORT_PATH: &str = "/.slim/report.json";
