//! The sensor's only contact with raw kernel interfaces: one module per mechanism, each a safe
//! API over its `unsafe` calls.

pub mod caps;
pub mod fanotify;
pub mod ptrace;
pub mod seccomp;
pub mod signals;
