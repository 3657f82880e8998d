//! Byte paths that survive JSON: UTF-8 paths serialize as strings, others as `{"hex": ...}`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// An absolute path inside the container, kept as raw bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathBytes(pub Vec<u8>);

impl PathBytes {
    /// The path as a `Path`.
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }
}

impl From<&Path> for PathBytes {
    fn from(p: &Path) -> Self {
        PathBytes(p.as_os_str().as_bytes().to_vec())
    }
}

impl From<PathBuf> for PathBytes {
    fn from(p: PathBuf) -> Self {
        PathBytes(p.into_os_string().into_vec())
    }
}

use std::os::unix::ffi::OsStringExt;

impl fmt::Debug for PathBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for PathBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Hex { hex: String },
}

impl Serialize for PathBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => Repr::Text(text.to_owned()),
            Err(_) => Repr::Hex { hex: self.0.iter().map(|b| format!("{b:02x}")).collect() },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for PathBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Text(t) => Ok(PathBytes(t.into_bytes())),
            Repr::Hex { hex } => {
                if hex.len() % 2 != 0 {
                    return Err(serde::de::Error::custom("odd-length hex path"));
                }
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map(PathBytes)
                    .map_err(serde::de::Error::custom)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_paths_are_strings_and_others_hex() {
        let p = PathBytes(b"/etc/passwd".to_vec());
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"/etc/passwd\"");
        let odd = PathBytes(b"/srv/caf\xe9".to_vec());
        let json = serde_json::to_string(&odd).unwrap();
        assert_eq!(json, r#"{"hex":"2f7372762f636166e9"}"#);
        let back: PathBytes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, odd);
    }
}
