//! Opens seen by fanotify on the marked mounts, as paths. Uses nix's `sys::fanotify`, which
//! already wraps the raw calls safely and covers the flags slim needs (`FAN_ONDIR`,
//! `FAN_OPEN_EXEC`, `FAN_UNLIMITED_QUEUE`, mount and filesystem marks).

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why watching failed.
#[derive(Debug, Error)]
pub enum WatchError {
    /// `fanotify_init` was refused.
    #[error("fanotify_init: {0} — the analysis container needs CAP_SYS_ADMIN (the CI job must allow cap_add SYS_ADMIN)")]
    Init(Errno),
    /// A mount could not be marked.
    #[error("fanotify_mark {path}: {errno}")]
    Mark {
        /// The mount point.
        path: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// The kernel dropped events: the record would be incomplete.
    #[error("fanotify queue overflowed: events were lost, the keep-set would be incomplete")]
    Overflow,
    /// Reading events failed.
    #[error("reading fanotify events: {0}")]
    Read(Errno),
}

/// One open seen by fanotify.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    /// The file's path (symlinks resolved).
    pub path: PathBuf,
    /// True for `FAN_OPEN_EXEC`.
    pub exec: bool,
}

/// A fanotify group watching opens on whole mounts.
pub struct FileWatch {
    fan: Fanotify,
}

impl FileWatch {
    /// A non-blocking notification group with an unlimited queue.
    pub fn new() -> Result<Self, WatchError> {
        let flags = InitFlags::FAN_CLOEXEC | InitFlags::FAN_NONBLOCK | InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_UNLIMITED_QUEUE;
        let event_flags = EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC;
        Fanotify::init(flags, event_flags).map(|fan| FileWatch { fan }).map_err(WatchError::Init)
    }

    /// Watches opens (files and directories) and execs on the mount holding `path`.
    pub fn watch_mount(&self, path: &Path) -> Result<(), WatchError> {
        let mask = MaskFlags::FAN_OPEN | MaskFlags::FAN_OPEN_EXEC | MaskFlags::FAN_ONDIR;
        let cwd = std::fs::File::open(".")
            .map_err(|e| WatchError::Mark { path: path.into(), errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)) })?;
        self.fan
            .mark(MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_MOUNT, mask, cwd.as_fd(), Some(path))
            .map_err(|errno| WatchError::Mark { path: path.into(), errno })
    }

    /// Waits up to `timeout_ms` for events to read.
    pub fn wait(&self, timeout_ms: u16) -> bool {
        let mut fds = [PollFd::new(self.fan.as_fd(), PollFlags::POLLIN)];
        matches!(nix::poll::poll(&mut fds, PollTimeout::from(timeout_ms)), Ok(n) if n > 0)
    }

    /// Reads every queued event, skipping those caused by `ignore_pid`; returns how many were
    /// read. Paths of files deleted since are skipped.
    pub fn drain(&self, ignore_pid: i32, sink: &mut impl FnMut(Opened)) -> Result<u64, WatchError> {
        let mut count = 0;
        loop {
            let events = match self.fan.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => return Ok(count),
                Err(errno) => return Err(WatchError::Read(errno)),
            };
            if events.is_empty() {
                return Ok(count);
            }
            for event in events {
                count += 1;
                if event.mask().contains(MaskFlags::FAN_Q_OVERFLOW) {
                    return Err(WatchError::Overflow);
                }
                if event.pid() == ignore_pid {
                    continue;
                }
                let Some(fd) = event.fd() else { continue };
                // Once seen, a file is not reported again: an ignore mark on its inode spares the
                // app an event (and the sensor an fd) on every later open.
                let ignore = MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_IGNORED_MASK | MarkFlags::FAN_MARK_IGNORED_SURV_MODIFY;
                let _ = self.fan.mark(
                    ignore,
                    event.mask() & (MaskFlags::FAN_OPEN | MaskFlags::FAN_OPEN_EXEC | MaskFlags::FAN_ONDIR),
                    fd,
                    None::<&str>,
                );
                let Ok(path) = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) else { continue };
                if path.as_os_str().as_encoded_bytes().ends_with(b" (deleted)") {
                    continue;
                }
                sink(Opened { path, exec: event.mask().contains(MaskFlags::FAN_OPEN_EXEC) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs CAP_SYS_ADMIN (root on the host or in CI); skipped with a note elsewhere.
    #[test]
    fn sees_opens_of_other_processes() {
        let watch = match FileWatch::new() {
            Ok(w) => w,
            Err(e) => {
                eprintln!("skipping: {e}");
                return;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seen.txt");
        std::fs::write(&file, b"x").unwrap();
        watch.watch_mount(dir.path()).unwrap();
        let mut seen = Vec::new();
        for _ in 0..2 {
            let status = std::process::Command::new("/bin/cat").arg(&file).stdout(std::process::Stdio::null()).status().unwrap();
            assert!(status.success());
            watch.wait(1000);
            watch.drain(std::process::id() as i32, &mut |o| seen.push(o)).unwrap();
        }
        let canonical = file.canonicalize().unwrap();
        assert_eq!(seen.iter().filter(|o| o.path == canonical && !o.exec).count(), 1, "reported once: {seen:?}");
        assert!(seen.iter().any(|o| o.path.ends_with("cat") && o.exec), "{seen:?}");
    }
}
