//! Where `slim` finds the sensor it injects.
//!
//! The rule: `--sensor PATH` if given; otherwise the sensor embedded at build time (`make build`
//! builds the static sensor first and embeds it). A `slim` built without one requires `--sensor`.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::path::Path;

#[cfg(embedded_sensor)]
const EMBEDDED: Option<&[u8]> = Some(include_bytes!(env!("SLIM_EMBEDDED_SENSOR")));
#[cfg(not(embedded_sensor))]
const EMBEDDED: Option<&[u8]> = None;

/// The sensor binary: `path` if given, else the embedded one. It must be a static ELF: it runs
/// in images that may have no libc at all.
pub fn load(path: Option<&Path>) -> Result<Cow<'static, [u8]>> {
    let bytes: Cow<'static, [u8]> = match (path, EMBEDDED) {
        (Some(p), _) => Cow::Owned(std::fs::read(p).map_err(|e| Error::Input(format!("cannot read the sensor {}: {e}", p.display())))?),
        (None, Some(embedded)) => Cow::Borrowed(embedded),
        (None, None) => {
            return Err(Error::Input(
                "this slim was built without an embedded sensor: build with `make build`, or pass --sensor PATH".into(),
            ))
        }
    };
    match slim_sensor::elf::needs(&bytes, "/") {
        Some(needs) if needs.interpreter.is_none() && needs.is_64 => Ok(bytes),
        Some(_) => Err(Error::Input("the sensor must be a statically linked x86_64 binary (see `make sensor`)".into())),
        None => Err(Error::Input("the sensor is not an ELF binary".into())),
    }
}
