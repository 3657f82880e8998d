//! The ptrace fallback tracer, for kernels without `SECCOMP_USER_NOTIF_FLAG_CONTINUE` (before
//! 5.5): the same BPF filter returns `SECCOMP_RET_TRACE`, and the sensor's main thread, the
//! tracer, reads each stopped call's registers.
//!
//! [`trace_me`] runs in the forked child before `exec` (async-signal-safe).

use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::io;

/// Makes the calling process a tracee of its parent. Async-signal-safe.
pub fn trace_me() -> io::Result<()> {
    // SAFETY: PTRACE_TRACEME takes no pointers.
    let ret = unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, std::ptr::null_mut::<libc::c_void>(), std::ptr::null_mut::<libc::c_void>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A stopped syscall: who made it, its number and arguments.
#[derive(Clone, Copy, Debug)]
pub struct StoppedCall {
    /// Thread id.
    pub pid: u32,
    /// Syscall number.
    pub nr: i64,
    /// Arguments.
    pub args: [u64; 6],
}

/// What one wait status meant for the tracer.
#[derive(Debug, PartialEq, Eq)]
pub enum Traced {
    /// A tracee was handled and resumed; keep waiting.
    Handled,
    /// A process exited or was killed: (pid, exit code, signal).
    Ended(Pid, Option<i32>, Option<i32>),
    /// Nothing to wait for right now.
    Idle,
}

/// The tracer side: the tracees it knows and how it resumes them.
#[derive(Default)]
pub struct Tracer {
    known: HashSet<Pid>,
}

const OPTIONS: Options = Options::PTRACE_O_TRACESECCOMP
    .union(Options::PTRACE_O_TRACEFORK)
    .union(Options::PTRACE_O_TRACEVFORK)
    .union(Options::PTRACE_O_TRACECLONE)
    .union(Options::PTRACE_O_TRACEEXEC)
    .union(Options::PTRACE_O_EXITKILL);

impl Tracer {
    /// Takes over `pid`, stopped at its first exec after [`trace_me`]: sets the options that
    /// report seccomp stops and follow children, and resumes it.
    pub fn adopt(&mut self, pid: Pid) -> io::Result<()> {
        match waitpid(pid, Some(WaitPidFlag::__WALL)).map_err(io::Error::from)? {
            WaitStatus::Stopped(_, Signal::SIGTRAP) => {}
            other => return Err(io::Error::other(format!("the traced app did not stop at exec: {other:?}"))),
        }
        ptrace::setoptions(pid, OPTIONS).map_err(io::Error::from)?;
        self.known.insert(pid);
        ptrace::cont(pid, None).map_err(io::Error::from)
    }

    /// Waits for one status of `which` (or any child) and handles it; `on_call` sees each
    /// stopped syscall.
    pub fn step(&mut self, which: Option<Pid>, block: bool, on_call: &mut impl FnMut(StoppedCall)) -> Traced {
        let flags = if block { WaitPidFlag::__WALL } else { WaitPidFlag::__WALL | WaitPidFlag::WNOHANG };
        match waitpid(which, Some(flags)) {
            Ok(WaitStatus::PtraceEvent(pid, _, event)) => {
                if event == libc::PTRACE_EVENT_SECCOMP {
                    if let Ok(regs) = ptrace::getregs(pid) {
                        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
                        on_call(StoppedCall { pid: pid.as_raw() as u32, nr: regs.orig_rax as i64, args });
                    }
                }
                let _ = ptrace::cont(pid, None);
                Traced::Handled
            }
            Ok(WaitStatus::Stopped(pid, signal)) => {
                // A new child's first stop is the attach SIGSTOP: swallow it; any other stop is
                // a signal for the tracee, delivered as it would have been.
                let first = self.known.insert(pid);
                let deliver = if first && signal == Signal::SIGSTOP { None } else { Some(signal) };
                let _ = ptrace::cont(pid, deliver);
                Traced::Handled
            }
            Ok(WaitStatus::Exited(pid, code)) => {
                self.known.remove(&pid);
                Traced::Ended(pid, Some(code), None)
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                self.known.remove(&pid);
                Traced::Ended(pid, None, Some(signal as i32))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => Traced::Idle,
            Ok(_) => Traced::Handled,
        }
    }
}

/// True when this kernel answers seccomp notifications with "continue" (Linux 5.5+).
pub fn kernel_has_notify_continue() -> bool {
    let Ok(uts) = nix::sys::utsname::uname() else { return true };
    let release = uts.release().to_string_lossy().into_owned();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 5)
}
