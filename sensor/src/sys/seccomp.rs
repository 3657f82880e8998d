//! seccomp user notification: a BPF filter that sends chosen syscalls to a listener, and the
//! listener's receive/continue calls. The app's syscalls are never altered: every notification
//! is answered with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
//!
//! [`Filter::install`] and [`send_fd`] run in the forked child before `exec`: they only make
//! syscalls on data prepared before the fork (no allocation).

use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AT_EMPTY_PATH`: with it, the stat calls act on the fd, not on a path.
const AT_EMPTY_PATH: u32 = 0x1000;
/// Offsets into `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg(i: u32) -> u32 {
    16 + 8 * i
}

/// A syscall to notify unless the given argument has `AT_EMPTY_PATH` set.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Syscall number (x86_64).
    pub nr: i64,
    /// Index of the flags argument to test for `AT_EMPTY_PATH`, if any.
    pub empty_path_flags_arg: Option<u32>,
}

/// What the filter does with a matching call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Hand it to the listener (user notification).
    Notify,
    /// Stop it for the ptrace tracer.
    Trace,
}

/// A compiled BPF program.
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    action: Action,
}

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code: code as u16, jt, jf, k }
}

impl Filter {
    /// Builds a filter that notifies on every rule's syscall and allows everything else
    /// (including other architectures' calls).
    pub fn new(rules: &[Rule], action: Action) -> Filter {
        let hit = match action {
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
            Action::Trace => libc::SECCOMP_RET_TRACE,
        };
        const LD: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
        const JSET: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
        const RET: u32 = libc::BPF_RET | libc::BPF_K;
        // Layout: arch check, load nr, one JEQ per rule to its block, ALLOW, NOTIFY, then per
        // flagged rule a block: load flags, JSET -> ALLOW else NOTIFY (BPF only jumps forward,
        // so each block carries its own returns).
        let n = rules.len();
        let flagged: Vec<&Rule> = rules.iter().filter(|r| r.empty_path_flags_arg.is_some()).collect();
        let mut prog = vec![stmt(LD, OFF_ARCH), jump(JEQ, AUDIT_ARCH_X86_64, 1, 0), stmt(RET, libc::SECCOMP_RET_ALLOW), stmt(LD, OFF_NR)];
        let first_jeq = prog.len();
        let notify = first_jeq + n + 1;
        let mut block = notify + 1;
        for (i, rule) in rules.iter().enumerate() {
            let at = first_jeq + i;
            let target = if rule.empty_path_flags_arg.is_some() {
                let b = block;
                block += 4;
                b
            } else {
                notify
            };
            prog.push(jump(JEQ, rule.nr as u32, (target - at - 1) as u8, 0));
        }
        prog.push(stmt(RET, libc::SECCOMP_RET_ALLOW));
        prog.push(stmt(RET, hit));
        for rule in flagged {
            let arg = rule.empty_path_flags_arg.unwrap_or(0);
            prog.push(stmt(LD, off_arg(arg)));
            prog.push(jump(JSET, AT_EMPTY_PATH, 0, 1));
            prog.push(stmt(RET, libc::SECCOMP_RET_ALLOW));
            prog.push(stmt(RET, hit));
        }
        assert!(prog.len() < 250, "jump offsets must fit in a byte");
        Filter { prog, action }
    }

    /// Installs the filter on the calling thread and returns the listener fd (`Notify`) or 0
    /// (`Trace`). Needs `CAP_SYS_ADMIN` (no `no_new_privs` is set, so setuid binaries keep
    /// working). Async-signal-safe.
    pub fn install(&self) -> io::Result<RawFd> {
        let flags = match self.action {
            Action::Notify => libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            Action::Trace => 0,
        };
        let fprog = libc::sock_fprog { len: self.prog.len() as u16, filter: self.prog.as_ptr() as *mut libc::sock_filter };
        // SAFETY: fprog points at a valid program that outlives the call.
        let fd = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog) };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(fd as RawFd)
        }
    }
}

/// Room for one control message carrying one fd, aligned for `cmsghdr`.
#[repr(C)]
union CmsgBuf {
    buf: [u8; 64],
    _align: libc::cmsghdr,
}

/// A `msghdr` over one iovec and, optionally, `len` bytes of a control buffer.
fn msghdr(iov: &mut libc::iovec, control: Option<(&mut CmsgBuf, usize)>) -> libc::msghdr {
    // SAFETY: msghdr is plain old data; all-zero is its empty value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    if let Some((buf, len)) = control {
        // SAFETY: taking the address of the union's byte view.
        msg.msg_control = unsafe { buf.buf.as_mut_ptr().cast() };
        msg.msg_controllen = len;
    }
    msg
}

/// Sends `fd` over the unix socket `sock` (SCM_RIGHTS), or, when `fd` is an error, the errno
/// as a 4-byte message without a descriptor. Async-signal-safe.
pub fn send_fd(sock: RawFd, fd: Result<RawFd, i32>) -> io::Result<()> {
    let mut payload = match fd {
        Ok(_) => 0i32,
        Err(errno) => errno,
    }
    .to_ne_bytes();
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    // SAFETY: plain-old-data buffers, sized with CMSG_SPACE for one fd (well under 64 bytes).
    unsafe {
        let mut cmsg_buf: CmsgBuf = zeroed();
        let space = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as usize;
        let msg = msghdr(&mut iov, fd.is_ok().then_some((&mut cmsg_buf, space)));
        if let Ok(raw) = fd {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), raw);
        }
        if libc::sendmsg(sock, &msg, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives what [`send_fd`] sent: the listener, or the child's errno from installing it.
pub fn recv_fd(sock: RawFd) -> io::Result<Result<Listener, io::Error>> {
    let mut payload = [0u8; 4];
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    // SAFETY: as in send_fd; the received fd is owned by us from here on.
    unsafe {
        let mut cmsg_buf: CmsgBuf = zeroed();
        let mut msg = msghdr(&mut iov, Some((&mut cmsg_buf, size_of::<CmsgBuf>())));
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the app exited before its tracer was set up"));
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if !cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
            return Ok(Ok(Listener { fd: OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok(Err(io::Error::from_raw_os_error(i32::from_ne_bytes(payload))))
}

/// One notified syscall.
#[derive(Clone, Copy, Debug)]
pub struct Notification {
    /// Cookie for the answer.
    pub id: u64,
    /// Thread id of the caller (in the sensor's pid namespace).
    pub pid: u32,
    /// Syscall number.
    pub nr: i32,
    /// Raw arguments.
    pub args: [u64; 6],
}

/// What [`Listener::wait`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Ready {
    /// A notification can be received.
    Notification,
    /// Nothing within the timeout.
    Idle,
    /// Every filtered process has exited.
    Closed,
}

/// The notification fd of an installed filter.
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Asks the kernel to switch synchronously between a notifying thread and this listener
    /// (Linux 6.6+), which cuts the latency of each round trip; older kernels refuse, harmlessly.
    pub fn prefer_sync_wakeup(&self) -> bool {
        const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
        let request = nix::request_code_write!(b'!', 4, size_of::<u64>());
        // SAFETY: this ioctl takes the flags by value.
        unsafe { libc::ioctl(self.fd.as_raw_fd(), request as _, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0 }
    }

    /// Waits up to `timeout_ms` for a notification.
    pub fn wait(&self, timeout_ms: u16) -> Ready {
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(timeout_ms)) {
            Ok(n) if n > 0 => {
                let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                if revents.contains(PollFlags::POLLIN) {
                    Ready::Notification
                } else {
                    Ready::Closed
                }
            }
            _ => Ready::Idle,
        }
    }

    /// Receives one notification (blocks until there is one).
    pub fn recv(&self) -> io::Result<Notification> {
        // SAFETY: the kernel requires a zeroed seccomp_notif and fills it.
        let mut notif: libc::seccomp_notif = unsafe { zeroed() };
        // SAFETY: valid pointer to a seccomp_notif for this ioctl.
        let ret = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Notification { id: notif.id, pid: notif.pid, nr: notif.data.nr, args: notif.data.args })
    }

    /// Lets the notified syscall run as if it had never been stopped.
    pub fn continue_syscall(&self, id: u64) -> io::Result<()> {
        let mut resp = libc::seccomp_notif_resp { id, val: 0, error: 0, flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32 };
        // SAFETY: valid pointer to a seccomp_notif_resp for this ioctl.
        let ret = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// True while the notification `id` is still pending (its caller is alive and waiting), so
    /// what was read from its memory belongs to it.
    pub fn is_valid(&self, id: u64) -> bool {
        let mut id = id;
        // SAFETY: valid pointer to a u64 for this ioctl.
        unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
    }
}

/// Reads a NUL-terminated string (at most `max` bytes) from another process's memory, page by
/// page so that a string ending just before an unmapped page is still read.
pub fn read_string(pid: u32, addr: u64, max: usize) -> io::Result<Vec<u8>> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < max {
        let chunk = ((PAGE - at % PAGE) as usize).min(max - out.len());
        let mut buf = vec![0u8; chunk];
        let local = [io::IoSliceMut::new(&mut buf)];
        let remote = [nix::sys::uio::RemoteIoVec { base: at as usize, len: chunk }];
        let mut local = local;
        let n = nix::sys::uio::process_vm_readv(nix::unistd::Pid::from_raw(pid as i32), &mut local, &remote).map_err(io::Error::from)?;
        if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if n < chunk {
            break;
        }
        at += n as u64;
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "unterminated path string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_across_pages() {
        let text = b"/usr/lib/python3/dist-packages\0junk";
        let pid = std::process::id();
        assert_eq!(read_string(pid, text.as_ptr() as u64, 4096).unwrap(), b"/usr/lib/python3/dist-packages");
        assert!(read_string(pid, b"abc".as_ptr() as u64, 2).is_err());
    }

    #[test]
    fn filter_layout_fits_and_targets_are_in_range() {
        let rules = [
            Rule { nr: libc::SYS_openat, empty_path_flags_arg: None },
            Rule { nr: libc::SYS_newfstatat, empty_path_flags_arg: Some(3) },
            Rule { nr: libc::SYS_statx, empty_path_flags_arg: Some(2) },
        ];
        let f = Filter::new(&rules, Action::Notify);
        for (i, ins) in f.prog.iter().enumerate() {
            if ins.code as u32 & 0x07 == libc::BPF_JMP {
                assert!(i + 1 + (ins.jt as usize) < f.prog.len());
                assert!(i + 1 + (ins.jf as usize) < f.prog.len());
            }
        }
    }
}
