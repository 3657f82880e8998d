//! Signals for a supervising PID 1: all blocked in the main thread and taken synchronously.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::time::Duration;

/// Blocks every signal in the calling thread; threads spawned afterwards inherit the mask, so
/// only [`wait`] ever sees a signal. The app's child must call [`unblock_all`] before `exec`.
pub fn block_all() -> nix::Result<()> {
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None)
}

/// Unblocks every signal in the calling thread. Async-signal-safe: used in the forked child
/// before `exec`, since a blocked mask would otherwise be inherited by the app.
pub fn unblock_all() -> std::io::Result<()> {
    // SAFETY: sigemptyset and pthread_sigmask on a local, initialized set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        match libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) {
            0 => Ok(()),
            errno => Err(std::io::Error::from_raw_os_error(errno)),
        }
    }
}

/// Waits up to `timeout` for a blocked signal; returns its number.
pub fn wait(timeout: Duration) -> Option<i32> {
    let set = SigSet::all();
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: `set` is a valid sigset, `ts` a valid timespec, and a null siginfo is allowed.
    let signo = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    (signo > 0).then_some(signo)
}

/// Parses a signal as Docker's STOPSIGNAL allows it: `SIGTERM`, `TERM`, or a number.
pub fn parse(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    if let Some(offset) = name.strip_prefix("SIGRTMIN+") {
        return offset.parse::<i32>().ok().map(|o| libc::SIGRTMIN() + o).filter(|&n| n <= libc::SIGRTMAX());
    }
    name.parse::<Signal>().ok().map(|s| s as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signal_forms() {
        assert_eq!(parse("SIGQUIT"), Some(3));
        assert_eq!(parse("term"), Some(15));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("SIGRTMIN+3"), Some(crate::STOP_SIGNAL));
        assert_eq!(parse("SIGNOPE"), None);
        assert_eq!(parse("0"), None);
    }
}
