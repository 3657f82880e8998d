//! The sensor as PID 1: starts the app as the image USER under the watchers, relays its output
//! line by line, forwards signals, stops it on request, and writes the report.

use crate::closure;
use crate::listen;
use crate::paths::PathBytes;
use crate::protocol::Event;
use crate::report::{AppOutcome, Reason, Report, SensorStats, SCHEMA_VERSION};
use crate::sys::caps::{self, CAP_SYS_ADMIN, CAP_SYS_PTRACE};
use crate::sys::fanotify::{FileWatch, WatchError};
use crate::sys::{ptrace, seccomp, signals};
use crate::trace::{self, Record, TracerMode};
use crate::users::{self, UserError};
use crate::STOP_SIGNAL;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How to run and watch the app.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The app's command line (ENTRYPOINT + CMD).
    pub command: Vec<OsString>,
    /// The image USER spec.
    pub user: String,
    /// Signal that asks the app to stop (the image's STOPSIGNAL).
    pub stop_signal: i32,
    /// How long the app may take to stop before SIGKILL.
    pub grace: Duration,
    /// Set HOME from the user's passwd entry (the image's Env does not set it).
    pub set_home: bool,
    /// The syscall tracer.
    pub tracer: TracerMode,
    /// Watch opens with fanotify (off only for a supervise-only run).
    pub fanotify: bool,
    /// The image's VOLUMEs: each gets a mount mark of its own.
    pub volumes: Vec<PathBuf>,
    /// Where to write the report.
    pub report_path: PathBuf,
    /// Keep CA certificates whatever the run did.
    pub include_certs: bool,
    /// Keep name-service configuration and NSS/resolver libraries whatever the run did.
    pub include_nss: bool,
    /// List recorded paths that do not exist (for repairing a slim image).
    pub report_missing: bool,
    /// The user's includes: paths (with their subtrees) or globs.
    pub includes: Vec<String>,
    /// The ports whose LISTEN ends the watch (`None`: watch all along).
    pub wait_ports: Option<Vec<u16>>,
}

/// Why the sensor could not do its job.
#[derive(Debug, Error)]
pub enum SuperviseError {
    /// The image USER does not resolve.
    #[error("USER: {0}")]
    User(#[from] UserError),
    /// fanotify failed.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The app could not be started.
    #[error("cannot start the app {command:?}: {source}")]
    Spawn {
        /// argv[0].
        command: String,
        /// The error.
        source: io::Error,
    },
    /// Anything else the sensor needed from the system.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> SuperviseError {
    move |source| SuperviseError::Io { what, source }
}

/// Serializes whole lines onto the sensor's stdout and stderr, so event lines never land in
/// the middle of an app line.
#[derive(Default)]
pub struct Output {
    lock: Mutex<()>,
}

impl Output {
    fn write(&self, to_stderr: bool, bytes: &[u8]) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = if to_stderr { io::stderr().write_all(bytes) } else { io::stdout().write_all(bytes) };
    }

    /// Writes an event line on stderr.
    pub fn event(&self, event: &Event) {
        self.write(true, event.to_line().as_bytes());
    }
}

/// Runs the app to completion under the sensor and returns the sensor's exit code: 0 when the
/// sensor stopped the app on request, the app's own code (128+signal) when it ended by itself,
/// 125 when the sensor failed (a `failed` event says why).
pub fn run(opts: &RunOptions) -> i32 {
    let out = Arc::new(Output::default());
    match supervise(opts, &out) {
        Ok(code) => code,
        Err(e) => {
            let app = matches!(e, SuperviseError::User(_) | SuperviseError::Spawn { .. });
            out.event(&Event::Failed { message: e.to_string(), app });
            125
        }
    }
}

fn supervise(opts: &RunOptions, out: &Arc<Output>) -> Result<i32, SuperviseError> {
    signals::block_all().map_err(|e| SuperviseError::Io { what: "blocking signals", source: e.into() })?;
    let mut warnings = Vec::new();
    let mut opts = opts.clone();
    if opts.tracer == TracerMode::Seccomp && !ptrace::kernel_has_notify_continue() {
        warnings.push("this kernel lacks SECCOMP_USER_NOTIF_FLAG_CONTINUE (Linux 5.5+): traced with ptrace instead".to_owned());
        opts.tracer = TracerMode::Ptrace;
    }
    let opts = &opts;
    let identity = users::resolve(&opts.user, Path::new("/"))?;
    let watch = if opts.fanotify {
        let watch = FileWatch::new()?;
        watch.watch_mount(Path::new("/"))?;
        for volume in &opts.volumes {
            watch.watch_mount(volume)?;
        }
        Some(watch)
    } else {
        None
    };
    let record = Arc::new(Record::default());
    let stop = Arc::new(AtomicBool::new(false));

    let launch = Launch { command: &opts.command, identity: &identity, set_home: opts.set_home, tracer: opts.tracer, piped: true };
    let (spawned, tracer) = launch.spawn(&record, &stop)?;
    let mut child = match spawned {
        Ok(child) => child,
        Err(source) => {
            // Still report: a repair run learns from it which entrypoint the image lacks.
            let error = SuperviseError::Spawn { command: opts.command[0].to_string_lossy().into_owned(), source };
            for candidate in program_candidates(opts) {
                record.add(candidate.0, Reason::Exec);
            }
            stop.store(true, Ordering::Relaxed);
            out.event(&Event::Failed { message: error.to_string(), app: true });
            let outcome = AppOutcome { exit_code: Some(127), ..AppOutcome::default() };
            return finish(opts, out, &record, outcome, warnings);
        }
    };
    let app_pid = child.id() as i32;
    let mut ptracer = ptrace::Tracer::default();
    if opts.tracer == TracerMode::Ptrace {
        ptracer.adopt(nix::unistd::Pid::from_raw(app_pid)).map_err(io_err("taking over the app with ptrace"))?;
    }
    out.event(&Event::Started { pid: app_pid });

    let (relay_done, relays_finished) = mpsc::channel::<()>();
    let relays = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>).map(|s| (s, false)),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>).map(|s| (s, true)),
    ];
    let relay_count = relays.iter().flatten().count();
    for (stream, to_stderr) in relays.into_iter().flatten() {
        let (out, done) = (out.clone(), relay_done.clone());
        thread::spawn(move || {
            relay(stream, &out, to_stderr);
            let _ = done.send(());
        });
    }
    let watcher = watch.map(|watch| {
        let (record, stop) = (record.clone(), stop.clone());
        thread::spawn(move || watch_files(&watch, &record, &stop))
    });
    let listener = {
        let (out, stop) = (out.clone(), stop.clone());
        let wait_for = opts.wait_ports.clone();
        thread::spawn(move || report_listening(&out, &stop, wait_for.as_deref()))
    };

    let outcome = wait_for_app(app_pid, opts, &mut ptracer, &record)?;
    out.event(&Event::Exited { exit_code: outcome.exit_code, signal: outcome.signal });
    if std::process::id() == 1 {
        // Daemons the app left behind would keep writing; the container ends with us anyway.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(-1), nix::sys::signal::Signal::SIGKILL);
        while nix::sys::wait::waitpid(None, None).is_ok() {}
    }
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(2);
    for _ in 0..relay_count {
        let left = deadline.saturating_duration_since(Instant::now());
        if relays_finished.recv_timeout(left).is_err() {
            break;
        }
    }
    let _ = listener.join();
    if let Some(watcher) = watcher {
        watcher.join().unwrap_or(Ok(()))?;
    }
    if let Some(Ok(Err(warning))) = tracer.map(|t| t.join()) {
        warnings.push(warning);
    }

    finish(opts, out, &record, outcome, warnings)
}

/// Computes the keep-set, writes the report, says so, and returns the sensor's exit code.
fn finish(opts: &RunOptions, out: &Output, record: &Record, outcome: AppOutcome, warnings: Vec<String>) -> Result<i32, SuperviseError> {
    let mut seeds = record.seeds();
    seeds.extend(exec_records());
    let recorded = seeds.len() as u64;
    let missing = if opts.report_missing { missing_paths(&seeds) } else { Vec::new() };
    seeds.extend(essentials(opts).into_iter().map(|p| (p, Reason::Essential)));
    seeds.extend(closure::default_includes(Path::new("/"), opts.include_certs, opts.include_nss));
    for pattern in &opts.includes {
        seeds.extend(closure::expand_include(Path::new("/"), pattern).into_iter().map(|p| (p, Reason::Include)));
    }
    let stats = SensorStats {
        fanotify_events: record.fanotify_events.load(Ordering::Relaxed),
        traced_syscalls: record.traced_syscalls.load(Ordering::Relaxed),
        paths_seen: recorded,
    };
    let report = Report {
        schema: SCHEMA_VERSION,
        sensor_version: env!("CARGO_PKG_VERSION").to_owned(),
        tracer: if warnings.iter().any(|w| w.contains("tracer unavailable")) { "off" } else { opts.tracer.name() }.to_owned(),
        app: outcome.clone(),
        stats,
        keep: closure::keep_set(Path::new("/"), seeds),
        missing,
        warnings,
    };
    write_report(&opts.report_path, &report)?;
    out.event(&Event::Done { report: opts.report_path.to_string_lossy().into_owned() });
    Ok(match outcome {
        AppOutcome { stopped_by_sensor: true, .. } => 0,
        AppOutcome { exit_code: Some(code), .. } => code,
        AppOutcome { signal: Some(sig), .. } => 128 + sig,
        _ => 0,
    })
}

/// How to start a traced process: the app (`run`) or an `--exec` command (`exec`).
pub struct Launch<'a> {
    /// argv.
    pub command: &'a [OsString],
    /// Who it runs as.
    pub identity: &'a users::Identity,
    /// Set HOME from the user's passwd entry.
    pub set_home: bool,
    /// The syscall tracer.
    pub tracer: TracerMode,
    /// Pipe stdout/stderr (to relay them line by line) rather than inherit them.
    pub piped: bool,
}

/// The tracer thread of a launched process: `Err` carries a warning when tracing was impossible.
pub type TracerThread = thread::JoinHandle<Result<(), String>>;

impl Launch<'_> {
    /// Starts the process as `identity`, under the seccomp tracer (recording into `record`)
    /// when asked, with SYS_ADMIN and SYS_PTRACE dropped. The spawn result is returned as is, so
    /// a caller can still report when the command cannot be started.
    pub fn spawn(
        &self,
        record: &Arc<Record>,
        stop: &Arc<AtomicBool>,
    ) -> Result<(io::Result<std::process::Child>, Option<TracerThread>), SuperviseError> {
        // The tracer's listener fd comes from the child (the filter must be installed there);
        // the thread receiving it must already run, since the child's exec waits for an answer.
        let (tracer_sock, child_sock) = match self.tracer {
            TracerMode::Seccomp => {
                let (a, b) = UnixStream::pair().map_err(io_err("socketpair for the tracer"))?;
                (Some(a), Some(b))
            }
            TracerMode::Off | TracerMode::Ptrace => (None, None),
        };
        let tracer = tracer_sock.map(|sock| {
            let (record, stop) = (record.clone(), stop.clone());
            thread::spawn(move || -> Result<(), String> {
                match seccomp::recv_fd(sock.as_raw_fd()) {
                    Ok(Ok(listener)) => {
                        trace::serve(&listener, &record, &stop);
                        Ok(())
                    }
                    Ok(Err(e)) => Err(format!("seccomp tracer unavailable ({e}); only fanotify recorded this run")),
                    Err(e) => Err(format!("seccomp tracer not set up: {e}")),
                }
            })
        });
        let mut cmd = Command::new(&self.command[0]);
        cmd.args(&self.command[1..]);
        if self.piped {
            cmd.stdin(Stdio::inherit()).stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        if self.set_home {
            cmd.env("HOME", &self.identity.home);
        }
        let action = if self.tracer == TracerMode::Ptrace { seccomp::Action::Trace } else { seccomp::Action::Notify };
        let filter = (self.tracer != TracerMode::Off).then(|| seccomp::Filter::new(&trace::rules(self.tracer), action));
        let ptraced = self.tracer == TracerMode::Ptrace;
        let child_fd = child_sock.as_ref().map(|s| s.as_raw_fd());
        let groups: Vec<libc::gid_t> = self.identity.groups.clone();
        let (uid, gid) = (self.identity.uid, self.identity.gid);
        // SAFETY: the closure only makes async-signal-safe syscalls on data prepared before fork.
        unsafe {
            cmd.pre_exec(move || {
                signals::unblock_all()?;
                if let (true, Some(filter)) = (ptraced, &filter) {
                    ptrace::trace_me()?;
                    filter.install()?;
                }
                if let (Some(sock), Some(filter)) = (child_fd, &filter) {
                    let installed = filter.install();
                    seccomp::send_fd(sock, installed.as_ref().map(|fd| *fd).map_err(|e| e.raw_os_error().unwrap_or(0)))?;
                    if let Ok(fd) = installed {
                        libc::close(fd);
                    }
                }
                caps::drop_caps(&[CAP_SYS_ADMIN, CAP_SYS_PTRACE])?;
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setresgid(gid, gid, gid) != 0
                    || libc::setresuid(uid, uid, uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        drop(child_sock);
        Ok((spawned, tracer))
    }
}

/// `slim-sensor exec`: runs an `--exec` command as `user` under the tracer and writes what it
/// looked up and opened to `record_path`, for the sensor of the analysis run to merge. Returns
/// the command's exit code.
pub fn exec(command: &[OsString], user: &str, record_path: &Path) -> Result<i32, SuperviseError> {
    let identity = users::resolve(user, Path::new("/"))?;
    let record = Arc::new(Record::default());
    let stop = Arc::new(AtomicBool::new(false));
    let launch =
        Launch { command, identity: &identity, set_home: std::env::var_os("HOME").is_none(), tracer: TracerMode::Seccomp, piped: false };
    let (spawned, tracer) = launch.spawn(&record, &stop)?;
    let status = spawned
        .and_then(|mut child| child.wait())
        .map_err(|source| SuperviseError::Spawn { command: command[0].to_string_lossy().into_owned(), source });
    stop.store(true, Ordering::Relaxed);
    if let Some(tracer) = tracer {
        let _ = tracer.join();
    }
    let seeds: Vec<crate::report::KeptPath> =
        record.seeds().into_iter().map(|(path, reason)| crate::report::KeptPath { path, reason }).collect();
    let json = serde_json::to_vec(&seeds).map_err(|e| SuperviseError::Io { what: "encoding the exec record", source: e.into() })?;
    std::fs::write(record_path, json).map_err(io_err("writing the exec record"))?;
    let status = status?;
    Ok(status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)))
}

/// Paths recorded by `exec` runs (`/.slim/exec-*.json`), as seeds.
fn exec_records() -> Vec<(PathBytes, Reason)> {
    let Ok(dir) = std::fs::read_dir(crate::SENSOR_DIR) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("exec-") && name.ends_with(".json")) {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path()) else { continue };
        let Ok(kept) = serde_json::from_slice::<Vec<crate::report::KeptPath>>(&raw) else { continue };
        out.extend(kept.into_iter().map(|k| (k.path, k.reason)));
    }
    out
}

/// Reaps children (and, under ptrace, handles the tracees' stops) and handles signals until
/// the app (`app_pid`) exits.
fn wait_for_app(app_pid: i32, opts: &RunOptions, tracer: &mut ptrace::Tracer, record: &Record) -> Result<AppOutcome, SuperviseError> {
    let app = nix::unistd::Pid::from_raw(app_pid);
    let mut outcome = AppOutcome::default();
    let mut kill_at: Option<Instant> = None;
    let mut on_call = |call: ptrace::StoppedCall| trace::record_stopped(&call, record);
    loop {
        loop {
            match tracer.step(None, false, &mut on_call) {
                ptrace::Traced::Ended(pid, exit_code, signal) if pid == app => {
                    outcome.exit_code = exit_code;
                    outcome.signal = signal;
                    return Ok(outcome);
                }
                ptrace::Traced::Idle => break,
                _ => continue,
            }
        }
        let signal = signals::wait(Duration::from_millis(100));
        match signal {
            Some(libc::SIGCHLD) | None => {}
            Some(STOP_SIGNAL) => {
                if kill_at.is_none() {
                    outcome.stopped_by_sensor = true;
                    kill_at = Some(Instant::now() + opts.grace);
                    send(app_pid, opts.stop_signal);
                }
            }
            Some(other) => send(app_pid, other),
        }
        if kill_at.is_some_and(|at| Instant::now() >= at) {
            send(app_pid, libc::SIGKILL);
        }
    }
}

fn send(pid: i32, signal: i32) {
    // SAFETY: kill with plain integers.
    unsafe { libc::kill(pid, signal) };
}

/// Copies an app stream to ours, one whole line at a time.
fn relay(stream: Box<dyn Read + Send>, out: &Output, to_stderr: bool) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => out.write(to_stderr, &line),
        }
    }
}

fn watch_files(watch: &FileWatch, record: &Record, stop: &AtomicBool) -> Result<(), WatchError> {
    let own = std::process::id() as i32;
    let mut sink = |o: crate::sys::fanotify::Opened| {
        let reason = if o.exec { Reason::Exec } else { Reason::Opened };
        record.add(o.path.into_os_string().into_encoded_bytes(), reason);
    };
    loop {
        let finishing = stop.load(Ordering::Relaxed);
        watch.wait(100);
        let n = watch.drain(own, &mut sink)?;
        record.fanotify_events.fetch_add(n, Ordering::Relaxed);
        if finishing {
            return Ok(());
        }
    }
}

/// Reports the LISTEN set whenever it changes. With `wait_for`, it stops once every one of
/// those ports listens (none: it does not poll at all): reading `/proc/net/tcp` costs more the
/// more connections the probes leave behind, and readiness is all `slim` needs.
fn report_listening(out: &Output, stop: &AtomicBool, wait_for: Option<&[u16]>) {
    if wait_for.is_some_and(<[u16]>::is_empty) {
        return;
    }
    let mut last = BTreeSet::new();
    while !stop.load(Ordering::Relaxed) {
        let now = listen::listening_ports();
        if now != last {
            out.event(&Event::Listening { ports: now.iter().copied().collect() });
            if wait_for.is_some_and(|ports| ports.iter().all(|p| now.contains(p))) {
                return;
            }
            last = now;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Paths kept whatever the run did: the user database, the working directory, the entrypoint
/// as found through PATH.
fn essentials(opts: &RunOptions) -> Vec<PathBytes> {
    let mut out: Vec<PathBytes> = ["/etc/passwd", "/etc/group"].iter().map(|p| PathBytes(p.as_bytes().to_vec())).collect();
    if let Ok(cwd) = std::env::current_dir() {
        out.push(cwd.into());
    }
    out.extend(program_candidates(opts).into_iter().find(|p| p.as_path().is_file()));
    out
}

/// Where the entrypoint may be: itself when it has a `/`, else each PATH directory's entry.
fn program_candidates(opts: &RunOptions) -> Vec<PathBytes> {
    let program = &opts.command[0];
    if program.as_bytes().contains(&b'/') {
        return vec![std::env::current_dir().unwrap_or_default().join(program).into()];
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| PathBytes::from(d.join(program))).collect()
}

/// Recorded paths (outside /proc, /sys, /dev) that do not exist.
fn missing_paths(seeds: &[(PathBytes, Reason)]) -> Vec<PathBytes> {
    seeds
        .iter()
        .filter(|(p, _)| !closure::is_outside_image(&p.0) && std::fs::symlink_metadata(p.as_path()).is_err())
        .map(|(p, _)| p.clone())
        .collect()
}

/// Computes the keep-set of `seeds` (a JSON list of kept paths) against this container's
/// filesystem, with the default includes, and writes it as a report. No app runs.
pub fn closure_only(seeds_file: &Path, report_path: &Path, certs: bool, nss: bool) -> Result<(), SuperviseError> {
    let raw = std::fs::read(seeds_file).map_err(io_err("reading the seeds"))?;
    let seeds: Vec<crate::report::KeptPath> =
        serde_json::from_slice(&raw).map_err(|e| SuperviseError::Io { what: "parsing the seeds", source: e.into() })?;
    let mut seeds: Vec<(PathBytes, Reason)> = seeds.into_iter().map(|k| (k.path, k.reason)).collect();
    seeds.extend(closure::default_includes(Path::new("/"), certs, nss));
    write_report(report_path, &Report::closure_only(closure::keep_set(Path::new("/"), seeds)))
}

pub(crate) fn write_report(path: &Path, report: &Report) -> Result<(), SuperviseError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("creating the report directory"))?;
    }
    let json = serde_json::to_vec_pretty(report).map_err(|e| SuperviseError::Io { what: "encoding the report", source: e.into() })?;
    std::fs::write(path, json).map_err(io_err("writing the report"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test -e PATH` (one process, no children) under `mode` and returns what was recorded.
    // Under ptrace the tracer's own waitpid reaps the child.
    #[allow(clippy::zombie_processes)]
    fn traced_lookup(mode: TracerMode, path: &str) -> Vec<(PathBytes, Reason)> {
        let identity = users::resolve("", Path::new("/")).unwrap();
        let command: Vec<OsString> = ["/usr/bin/test", "-e", path].iter().map(OsString::from).collect();
        let record = Arc::new(Record::default());
        let stop = Arc::new(AtomicBool::new(false));
        let launch = Launch { command: &command, identity: &identity, set_home: false, tracer: mode, piped: false };
        let (spawned, thread) = launch.spawn(&record, &stop).unwrap();
        let mut child = spawned.unwrap();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        if mode == TracerMode::Ptrace {
            let mut tracer = ptrace::Tracer::default();
            tracer.adopt(pid).unwrap();
            let mut on_call = |call: ptrace::StoppedCall| trace::record_stopped(&call, &record);
            while !matches!(tracer.step(Some(pid), true, &mut on_call), ptrace::Traced::Ended(..)) {}
        } else {
            child.wait().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(thread) = thread {
            thread.join().unwrap().unwrap();
        }
        record.seeds()
    }

    /// Both tracers see a path that is only stat()ed. Needs root (CAP_SYS_ADMIN), as in CI.
    #[test]
    fn both_tracers_see_a_stat_only_lookup() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: the tracers need root");
            return;
        }
        for mode in [TracerMode::Seccomp, TracerMode::Ptrace] {
            let seen = traced_lookup(mode, "/etc/os-release");
            assert!(seen.iter().any(|(p, r)| p.0 == b"/etc/os-release" && *r == Reason::LookedUp), "{mode:?} missed the lookup: {seen:?}");
            assert!(seen.iter().all(|(p, _)| p.0 != b"/etc/shadow"), "{mode:?} recorded what was never named");
        }
    }
}
