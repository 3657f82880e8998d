//! What the sensor records: paths from fanotify and from the seccomp tracer, with the reason
//! each was seen for, and the tracer's loop over notified syscalls.

use crate::paths::PathBytes;
use crate::report::Reason;
use crate::sys::seccomp::{self, Listener, Notification, Ready, Rule};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// `AT_FDCWD` as it appears in the low 32 bits of a dirfd argument.
const AT_FDCWD: i32 = -100;

/// Longest path the tracer reads from the app's memory.
const PATH_MAX: usize = 4096;

/// Which syscall tracer runs beside fanotify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TracerMode {
    /// seccomp user notification (Linux 5.5+ for `SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
    Seccomp,
    /// The same filter stopping calls for ptrace: for older kernels. It cannot stop `execve`
    /// (the first exec happens before the tracer takes over), so executed files are seen by
    /// fanotify, without the symlinks on their way.
    Ptrace,
    /// fanotify alone.
    Off,
}

impl TracerMode {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            TracerMode::Seccomp => "seccomp",
            TracerMode::Ptrace => "ptrace",
            TracerMode::Off => "off",
        }
    }
}

/// A traced path-taking syscall (x86_64 numbers).
struct Traced {
    nr: i64,
    path_arg: usize,
    dirfd_arg: Option<usize>,
    empty_path_flags_arg: Option<u32>,
    reason: Reason,
}

const fn call(nr: i64, path_arg: usize, reason: Reason) -> Traced {
    Traced { nr, path_arg, dirfd_arg: None, empty_path_flags_arg: None, reason }
}

const fn at_call(nr: i64, flags: Option<u32>, reason: Reason) -> Traced {
    Traced { nr, path_arg: 1, dirfd_arg: Some(0), empty_path_flags_arg: flags, reason }
}

const TRACED: &[Traced] = &[
    call(libc::SYS_open, 0, Reason::Opened),
    call(libc::SYS_creat, 0, Reason::Opened),
    at_call(libc::SYS_openat, None, Reason::Opened),
    at_call(libc::SYS_openat2, None, Reason::Opened),
    call(libc::SYS_execve, 0, Reason::Exec),
    at_call(libc::SYS_execveat, Some(4), Reason::Exec),
    call(libc::SYS_stat, 0, Reason::LookedUp),
    call(libc::SYS_lstat, 0, Reason::LookedUp),
    at_call(libc::SYS_newfstatat, Some(3), Reason::LookedUp),
    at_call(libc::SYS_statx, Some(2), Reason::LookedUp),
    call(libc::SYS_access, 0, Reason::LookedUp),
    at_call(libc::SYS_faccessat, None, Reason::LookedUp),
    at_call(libc::SYS_faccessat2, None, Reason::LookedUp),
    call(libc::SYS_readlink, 0, Reason::LookedUp),
    at_call(libc::SYS_readlinkat, None, Reason::LookedUp),
    call(libc::SYS_mkdir, 0, Reason::LookedUp),
    at_call(libc::SYS_mkdirat, None, Reason::LookedUp),
    call(libc::SYS_chdir, 0, Reason::LookedUp),
    call(libc::SYS_statfs, 0, Reason::LookedUp),
    call(libc::SYS_getxattr, 0, Reason::LookedUp),
    call(libc::SYS_lgetxattr, 0, Reason::LookedUp),
    call(libc::SYS_listxattr, 0, Reason::LookedUp),
    call(libc::SYS_llistxattr, 0, Reason::LookedUp),
];

/// The seccomp rules for every syscall `mode` traces.
pub fn rules(mode: TracerMode) -> Vec<Rule> {
    TRACED
        .iter()
        .filter(|t| mode != TracerMode::Ptrace || t.reason != Reason::Exec)
        .map(|t| Rule { nr: t.nr, empty_path_flags_arg: t.empty_path_flags_arg })
        .collect()
}

/// Everything recorded during a run, shared by the watcher threads.
#[derive(Default)]
pub struct Record {
    paths: Mutex<BTreeMap<Vec<u8>, Reason>>,
    /// fanotify events read.
    pub fanotify_events: AtomicU64,
    /// Syscalls the tracer saw.
    pub traced_syscalls: AtomicU64,
}

impl Record {
    /// Records `path` for `reason` (the strongest reason wins).
    pub fn add(&self, path: Vec<u8>, reason: Reason) {
        let mut paths = self.paths.lock().unwrap_or_else(|e| e.into_inner());
        let slot = paths.entry(path).or_insert(reason);
        *slot = (*slot).min(reason);
    }

    /// The recorded paths, as seeds for the closure.
    pub fn seeds(&self) -> Vec<(PathBytes, Reason)> {
        let paths = self.paths.lock().unwrap_or_else(|e| e.into_inner());
        paths.iter().map(|(p, r)| (PathBytes(p.clone()), *r)).collect()
    }
}

/// Answers notifications until every traced process has exited, or `stop` is set and the
/// queue is idle.
pub fn serve(listener: &Listener, record: &Record, stop: &AtomicBool) {
    listener.prefer_sync_wakeup();
    loop {
        match listener.wait(100) {
            Ready::Notification => {
                if let Ok(notif) = listener.recv() {
                    handle(listener, &notif, record);
                }
            }
            Ready::Closed => return,
            Ready::Idle if stop.load(Ordering::Relaxed) => return,
            Ready::Idle => {}
        }
    }
}

fn handle(listener: &Listener, notif: &Notification, record: &Record) {
    record.traced_syscalls.fetch_add(1, Ordering::Relaxed);
    let path = named_path(notif.pid, notif.nr as i64, &notif.args);
    let valid = listener.is_valid(notif.id);
    // The caller may have died meanwhile: then there is nothing to answer.
    let _ = listener.continue_syscall(notif.id);
    if let (true, Some((path, reason))) = (valid, path) {
        record.add(path, reason);
    }
}

/// Records the path a ptrace-stopped call names.
pub fn record_stopped(call: &crate::sys::ptrace::StoppedCall, record: &Record) {
    record.traced_syscalls.fetch_add(1, Ordering::Relaxed);
    if let Some((path, reason)) = named_path(call.pid, call.nr, &call.args) {
        record.add(path, reason);
    }
}

/// The absolute path a stopped call (`pid`, `nr`, `args`) names, and why it counts.
fn named_path(pid: u32, nr: i64, args: &[u64; 6]) -> Option<(Vec<u8>, Reason)> {
    let t = TRACED.iter().find(|t| t.nr == nr)?;
    Some((absolute(pid, args, t)?, t.reason))
}

/// The absolute path a call names, read while the caller is stopped.
fn absolute(pid: u32, args: &[u64; 6], t: &Traced) -> Option<Vec<u8>> {
    let path = seccomp::read_string(pid, args[t.path_arg], PATH_MAX).ok()?;
    if path.is_empty() {
        return None;
    }
    if path.starts_with(b"/") {
        return Some(path);
    }
    let dirfd = t.dirfd_arg.map(|i| args[i] as i32).unwrap_or(AT_FDCWD);
    let base = if dirfd == AT_FDCWD { format!("/proc/{pid}/cwd") } else { format!("/proc/{pid}/fd/{dirfd}") };
    let mut full = std::fs::read_link(base).ok()?.into_os_string().into_encoded_bytes();
    if !full.starts_with(b"/") {
        return None;
    }
    if !full.ends_with(b"/") {
        full.push(b'/');
    }
    full.extend_from_slice(&path);
    Some(full)
}
