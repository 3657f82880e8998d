//! Dropping capabilities before the app starts, so it runs with Docker's default set although
//! the analysis container was given `SYS_ADMIN` and `SYS_PTRACE` for the sensor.
//!
//! Everything here is async-signal-safe: it runs in the forked child before `exec`.

use std::io;

/// `CAP_SYS_PTRACE`.
pub const CAP_SYS_PTRACE: u32 = 19;
/// `CAP_SYS_ADMIN`.
pub const CAP_SYS_ADMIN: u32 = 21;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn check(ret: libc::c_long) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Removes `caps` from the bounding set (so no later exec can regain them) and from the
/// effective, permitted, inheritable and ambient sets of the calling thread.
pub fn drop_caps(caps: &[u32]) -> io::Result<()> {
    for &cap in caps {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } as libc::c_long)?;
        // SAFETY: as above; EINVAL on kernels without ambient capabilities is harmless.
        unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_LOWER as libc::c_ulong, cap as libc::c_ulong, 0, 0) };
    }
    let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid for the kernel's capget v3 layout (two data words).
    check(unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) })?;
    for &cap in caps {
        let (word, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        data[word].effective &= !bit;
        data[word].permitted &= !bit;
        data[word].inheritable &= !bit;
    }
    // SAFETY: as above.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True when `cap` is in the calling thread's bounding set.
    fn in_bounding_set(cap: u32) -> bool {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) == 1 }
    }

    #[test]
    fn dropping_in_a_child_leaves_the_parent_alone() {
        let had = in_bounding_set(CAP_SYS_ADMIN);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("grep CapBnd /proc/self/status")
            .env("LC_ALL", "C")
            .output_with(|| drop_caps(&[CAP_SYS_ADMIN, CAP_SYS_PTRACE]));
        let line = String::from_utf8(out).unwrap();
        let bnd = u64::from_str_radix(line.trim().rsplit('\t').next().unwrap(), 16).unwrap();
        assert_eq!(bnd & (1 << CAP_SYS_ADMIN), 0, "{line}");
        assert_eq!(bnd & (1 << CAP_SYS_PTRACE), 0, "{line}");
        assert_eq!(in_bounding_set(CAP_SYS_ADMIN), had);
    }

    trait OutputWith {
        fn output_with(&mut self, f: fn() -> io::Result<()>) -> Vec<u8>;
    }

    impl OutputWith for std::process::Command {
        fn output_with(&mut self, f: fn() -> io::Result<()>) -> Vec<u8> {
            use std::os::unix::process::CommandExt;
            // SAFETY: `f` only makes async-signal-safe syscalls.
            unsafe { self.pre_exec(f) };
            self.output().unwrap().stdout
        }
    }
}
