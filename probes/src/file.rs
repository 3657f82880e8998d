//! Probe files: a list of probes in JSON or YAML.
//!
//! ```yaml
//! - path: /health             # required, starts with /
//! - method: POST              # default GET
//!   path: /api/items?x=1
//!   port: 8080                # default: every probed port
//!   headers: {Content-Type: application/json}
//!   body: '{"name": "a"}'     # or body_file: items.json (relative to this file), not both
//!   status: 201               # the expected status
//! ```
//!
//! YAML is read with `serde_yaml_ng`: `serde_yaml` is deprecated, and of its maintained forks
//! `serde_yaml_ng` keeps serde_yaml's API and error locations and is the more widely used.

use crate::{ProbeSpec, SpecError};
use serde::de::{self, value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a probe file could not be used.
#[derive(Debug, Error)]
pub enum ProbeFileError {
    /// The file could not be read.
    #[error("probe file {}: {source}", file.display())]
    Read {
        /// The probe file.
        file: PathBuf,
        /// What reading said.
        source: std::io::Error,
    },
    /// The file is not a valid list of probes.
    #[error("probe file {}{location}: {message}", file.display())]
    Malformed {
        /// The probe file.
        file: PathBuf,
        /// Where in the file, when the parser knows.
        location: FileLocation,
        /// What is wrong.
        message: String,
    },
    /// A probe's `body_file` could not be read.
    #[error("probe file {}: probe {index} ({path}): body_file {}: {source}", file.display(), body_file.display())]
    BodyFile {
        /// The probe file.
        file: PathBuf,
        /// The probe's position in the list, from 1.
        index: usize,
        /// The probe's path.
        path: String,
        /// The body file, as resolved.
        body_file: PathBuf,
        /// What reading said.
        source: std::io::Error,
    },
}

/// A position in a probe file, from 1; displayed as `, line L, column C`, or nothing when unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileLocation {
    /// The line.
    pub line: Option<usize>,
    /// The column.
    pub column: Option<usize>,
}

impl fmt::Display for FileLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        Ok(())
    }
}

/// Reads the probes of `file`: JSON for `.json`, YAML for `.yaml` and `.yml`; otherwise JSON,
/// then YAML (a file that is neither reports the JSON error when it starts with `[` or `{`, else
/// the YAML error). `body_file` paths are relative to the file's directory.
pub fn load_probe_file(file: &Path) -> Result<Vec<ProbeSpec>, ProbeFileError> {
    let text = std::fs::read_to_string(file).map_err(|source| ProbeFileError::Read { file: file.to_owned(), source })?;
    let malformed = |(location, message)| ProbeFileError::Malformed { file: file.to_owned(), location, message };
    let entries = match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("json") => from_json(&text),
        Some("yaml" | "yml") => from_yaml(&text),
        _ => from_json(&text).or_else(|json| from_yaml(&text).map_err(|yaml| if looks_like_json(&text) { json } else { yaml })),
    }
    .map_err(malformed)?;
    let dir = file.parent().unwrap_or(Path::new(""));
    entries
        .into_iter()
        .enumerate()
        .map(|(i, Entry { mut spec, body_file })| {
            if let Some(body_file) = body_file {
                let body_file = dir.join(body_file);
                let body = std::fs::read(&body_file).map_err(|source| ProbeFileError::BodyFile {
                    file: file.to_owned(),
                    index: i + 1,
                    path: spec.path.clone(),
                    body_file,
                    source,
                })?;
                spec.body = Some(body);
            }
            Ok(spec)
        })
        .collect()
}

/// One probe as written in a file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProbe {
    #[serde(default = "get")]
    method: String,
    path: String,
    port: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    body_file: Option<PathBuf>,
    status: Option<u16>,
}

fn get() -> String {
    "GET".to_owned()
}

/// A checked probe whose body file is still to be read.
struct Entry {
    spec: ProbeSpec,
    body_file: Option<PathBuf>,
}

/// Checks each probe inside the deserializer's visit of its map, so the parser reports a bad
/// probe at the probe's own line (a `#[serde(try_from)]` error would point at the list).
impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a probe: a map with at least `path`")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
        let probe = FileProbe::deserialize(MapAccessDeserializer::new(map))?;
        Entry::try_from(probe).map_err(de::Error::custom)
    }
}

/// Why a probe in a file is invalid.
#[derive(Debug, Error)]
enum EntryError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("a probe has either body or body_file, not both")]
    TwoBodies,
}

impl TryFrom<FileProbe> for Entry {
    type Error = EntryError;

    fn try_from(p: FileProbe) -> Result<Self, EntryError> {
        if p.body.is_some() && p.body_file.is_some() {
            return Err(EntryError::TwoBodies);
        }
        let spec = ProbeSpec {
            port: p.port,
            headers: p.headers.into_iter().collect(),
            body: p.body.map(String::into_bytes),
            expect_status: p.status,
            ..ProbeSpec::new(p.method.to_ascii_uppercase(), p.path)
        };
        spec.validate()?;
        Ok(Entry { spec, body_file: p.body_file })
    }
}

type ParseError = (FileLocation, String);

fn from_json(text: &str) -> Result<Vec<Entry>, ParseError> {
    serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let location = FileLocation { line: (line > 0).then_some(line), column: (column > 0).then_some(column) };
        (location, without_location(e.to_string(), line, column))
    })
}

fn from_yaml(text: &str) -> Result<Vec<Entry>, ParseError> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let location = FileLocation { line: (line > 0).then_some(line), column: (column > 0).then_some(column) };
        (location, without_location(e.to_string(), line, column))
    })
}

/// The parser's message without its own ` at line L column C` (the error says where already).
fn without_location(message: String, line: usize, column: usize) -> String {
    let suffix = format!(" at line {line} column {column}");
    message.strip_suffix(&suffix).map(str::to_owned).unwrap_or(message)
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with(['[', '{'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn yaml_with_every_field_and_a_body_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("bodies")).unwrap();
        write(&dir.path().join("bodies"), "item.json", "{\"id\": 7}");
        let file = write(
            dir.path(),
            "probes.yml",
            "- path: /health\n\
             - method: post\n  path: /api/items?x=1\n  port: 8080\n  headers:\n    Content-Type: application/json\n  body_file: bodies/item.json\n  status: 201\n\
             - {method: PUT, path: /api/items/7, body: 'hello'}\n",
        );
        let specs = load_probe_file(&file).unwrap();
        assert_eq!(specs[0], ProbeSpec::new("GET", "/health"));
        assert_eq!(
            specs[1],
            ProbeSpec {
                method: "POST".into(),
                path: "/api/items?x=1".into(),
                port: Some(8080),
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: Some(b"{\"id\": 7}".to_vec()),
                expect_status: Some(201),
            }
        );
        assert_eq!(specs[2].body.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn json_and_unknown_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let json = r#"[{"path": "/a", "status": 200}, {"method": "DELETE", "path": "/b"}]"#;
        let from_json = load_probe_file(&write(dir.path(), "p.json", json)).unwrap();
        assert_eq!(from_json.len(), 2);
        assert_eq!(load_probe_file(&write(dir.path(), "p.probes", json)).unwrap(), from_json);
        let from_yaml = load_probe_file(&write(dir.path(), "p.txt", "- path: /a\n  status: 200\n- method: DELETE\n  path: /b\n")).unwrap();
        assert_eq!(from_yaml, from_json);
    }

    fn malformed(name: &str, text: &str) -> (Option<usize>, Option<usize>, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), name, text);
        let err = load_probe_file(&file).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains(&file.display().to_string()), "{shown}");
        match err {
            ProbeFileError::Malformed { location, .. } => (location.line, location.column, shown),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn malformed_files_name_the_file_line_and_column() {
        let (line, column, shown) = malformed("p.json", "[\n  {\"path\": \"/a\"},\n  {\"path\": \"/b\",}\n]");
        assert_eq!((line, column), (Some(3), Some(17)), "{shown}");
        assert!(shown.ends_with(", line 3, column 17: trailing comma"), "{shown}");

        let (line, _, shown) = malformed("p.yaml", "- path: /a\n- path: /b\n  bogus: 1\n");
        assert_eq!(line, Some(3), "{shown}");
        assert!(shown.contains("unknown field `bogus`"), "{shown}");

        let (line, _, shown) = malformed("p.yaml", "- path: /a\n- method: GET\n  path: no-slash\n");
        assert_eq!(line, Some(2), "{shown}");
        assert!(shown.contains("path `no-slash` does not start with /"), "{shown}");

        let (line, _, shown) = malformed("p.yaml", "- path: /a\n\n- path: /b\n  body: x\n  body_file: b.txt\n");
        assert_eq!(line, Some(3), "{shown}");
        assert!(shown.contains("not both"), "{shown}");

        let (line, _, shown) = malformed("p.yml", "- path: /a\n   method: [\n");
        assert!(line.is_some(), "{shown}");

        let (line, _, shown) = malformed("probes", "[{\"method\": \"GET\"}]");
        assert_eq!(line, Some(1), "{shown}");
        assert!(shown.contains("missing field `path`"), "{shown}");
    }

    #[test]
    fn missing_body_file_names_the_probe() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "p.yaml", "- path: /a\n- path: /upload\n  body_file: nope.bin\n");
        let err = load_probe_file(&file).unwrap_err();
        assert!(matches!(&err, ProbeFileError::BodyFile { index: 2, path, .. } if path == "/upload"), "{err}");
        assert!(err.to_string().contains("nope.bin"), "{err}");
    }
}
