//! `--exclude` patterns: globs over absolute in-image paths. A pattern that matches a directory
//! excludes everything below it; `*` stays within one path component, `**` crosses them; a
//! pattern without a leading `/` matches at any depth.

use crate::error::{Error, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The user's exclude patterns, compiled.
#[derive(Clone, Debug)]
pub struct Excludes {
    set: GlobSet,
    patterns: Vec<String>,
}

impl Excludes {
    /// Compiles `patterns`; a malformed one is an input error naming it.
    pub fn new(patterns: &[String]) -> Result<Self> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let anchored = if pattern.starts_with('/') { pattern.clone() } else { format!("/**/{pattern}") };
            let trimmed = if anchored.len() > 1 { anchored.trim_end_matches('/').to_owned() } else { anchored };
            let glob = GlobBuilder::new(&trimmed)
                .literal_separator(true)
                .build()
                .map_err(|e| Error::Input(format!("--exclude {pattern:?}: {e}")))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| Error::Input(format!("--exclude: {e}")))?;
        Ok(Excludes { set, patterns: patterns.to_vec() })
    }

    /// No patterns at all.
    pub fn none() -> Self {
        Excludes { set: GlobSet::empty(), patterns: Vec::new() }
    }

    /// The pattern that excludes the absolute path `path` (or one of its ancestors), if any.
    pub fn matching(&self, path: &[u8]) -> Option<&str> {
        if self.patterns.is_empty() {
            return None;
        }
        let mut candidate = path;
        loop {
            let hits = self.set.matches(Path::new(OsStr::from_bytes(candidate)));
            if let Some(&first) = hits.first() {
                return Some(&self.patterns[first]);
            }
            match candidate.iter().rposition(|&b| b == b'/') {
                Some(0) | None => return None,
                Some(cut) => candidate = &candidate[..cut],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_directories_and_relative_patterns() {
        let ex = Excludes::new(&["/usr/share/doc".into(), "*.pyc".into(), "/app/items.json".into(), "/opt/*/cache".into()]).unwrap();
        assert_eq!(ex.matching(b"/usr/share/doc/python3/README"), Some("/usr/share/doc"));
        assert_eq!(ex.matching(b"/usr/share/docs"), None);
        assert_eq!(ex.matching(b"/usr/lib/python3.11/__pycache__/os.cpython-311.pyc"), Some("*.pyc"));
        assert_eq!(ex.matching(b"/app/items.json"), Some("/app/items.json"));
        assert_eq!(ex.matching(b"/opt/a/cache/x"), Some("/opt/*/cache"));
        assert_eq!(ex.matching(b"/opt/a/b/cache"), None);
        assert_eq!(Excludes::none().matching(b"/anything"), None);
        assert!(matches!(Excludes::new(&["/a/[".into()]), Err(Error::Input(_))));
    }
}
