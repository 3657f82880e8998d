//! What a native ELF file needs at load time: its interpreter and its `DT_NEEDED` libraries,
//! resolved the way the dynamic loader would (RPATH, RUNPATH, `ld.so.conf` directories, the
//! default directories), without running `ldd`.

use std::fs;
use std::path::{Path, PathBuf};

/// The load-time needs of one ELF file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ElfNeeds {
    /// `PT_INTERP`, e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` sonames.
    pub needed: Vec<String>,
    /// Directories from `DT_RPATH` (used only when there is no `DT_RUNPATH`) and `DT_RUNPATH`,
    /// with `$ORIGIN` expanded.
    pub search: Vec<String>,
    /// True for ELFCLASS64.
    pub is_64: bool,
}

/// Parses ELF bytes; `origin` is the directory of the file inside the image (for `$ORIGIN`).
pub fn needs(bytes: &[u8], origin: &str) -> Option<ElfNeeds> {
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    let expand = |dirs: &[&str]| -> Vec<String> {
        dirs.iter()
            .flat_map(|d| d.split(':'))
            .filter(|d| !d.is_empty())
            .map(|d| d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
            .collect()
    };
    let search = if elf.runpaths.is_empty() { expand(&elf.rpaths) } else { expand(&elf.runpaths) };
    Some(ElfNeeds {
        interpreter: elf.interpreter.map(str::to_owned),
        needed: elf.libraries.iter().map(|s| (*s).to_owned()).collect(),
        search,
        is_64: elf.is_64,
    })
}

/// The loader's library directories inside `root`: `ld.so.conf` (following `include` globs of
/// the form `dir/*.suffix`), then the defaults.
pub fn loader_dirs(root: &Path) -> Vec<String> {
    let mut dirs = Vec::new();
    read_ld_conf(root, "/etc/ld.so.conf", &mut dirs, 0);
    for d in ["/lib64", "/usr/lib64", "/lib", "/usr/lib"] {
        if !dirs.iter().any(|x| x == d) {
            dirs.push(d.to_owned());
        }
    }
    dirs
}

fn read_ld_conf(root: &Path, file: &str, dirs: &mut Vec<String>, depth: u32) {
    let Ok(text) = fs::read_to_string(inside(root, file)) else { return };
    for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()) {
        if let Some(pattern) = line.strip_prefix("include") {
            if depth < 8 {
                for conf in expand_glob(root, pattern.trim()) {
                    read_ld_conf(root, &conf, dirs, depth + 1);
                }
            }
        } else if line.starts_with('/') && !dirs.iter().any(|d| d == line) {
            dirs.push(line.to_owned());
        }
    }
}

/// Expands `dir/prefix*suffix` (one `*` in the last component) to the sorted matching files.
fn expand_glob(root: &Path, pattern: &str) -> Vec<String> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let Some((prefix, suffix)) = name.split_once('*') else { return vec![pattern.to_owned()] };
    let mut out: Vec<String> = fs::read_dir(inside(root, dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    out.sort();
    out
}

/// `path` (absolute inside the image) on the real filesystem under `root`.
pub fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Finds `soname` the way the loader would: `search` dirs of the needing file, then `dirs`.
/// Returns the path inside the image as the loader opens it (symlinks not resolved), skipping
/// candidates of the wrong ELF class.
pub fn find_library(root: &Path, soname: &str, search: &[String], dirs: &[String], is_64: bool) -> Option<String> {
    if soname.contains('/') {
        return Some(soname.to_owned());
    }
    search.iter().chain(dirs).find_map(|dir| {
        let candidate = format!("{}/{soname}", dir.trim_end_matches('/'));
        let real = inside(root, &candidate);
        let bytes = fs::read(&real).ok()?;
        let class_ok = bytes.len() > 4 && (bytes[4] == 2) == is_64;
        class_ok.then_some(candidate)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let bytes = fs::read(&exe).unwrap();
        let needs = needs(&bytes, "/x").expect("the test binary is ELF");
        assert!(needs.is_64);
        assert!(super::needs(b"#!/bin/sh\n", "/").is_none());
    }

    #[test]
    fn ld_conf_includes_and_defaults() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc/ld.so.conf.d")).unwrap();
        fs::write(root.path().join("etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n/opt/lib # x\n").unwrap();
        fs::write(root.path().join("etc/ld.so.conf.d/x86_64.conf"), "# multiarch\n/usr/lib/x86_64-linux-gnu\n").unwrap();
        fs::write(root.path().join("etc/ld.so.conf.d/ignored.txt"), "/nope\n").unwrap();
        assert_eq!(loader_dirs(root.path()), vec!["/usr/lib/x86_64-linux-gnu", "/opt/lib", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]);
    }

    #[test]
    fn finds_libraries_of_the_right_class() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("lib32")).unwrap();
        fs::create_dir_all(root.path().join("lib64")).unwrap();
        fs::write(root.path().join("lib32/libz.so.1"), b"\x7fELF\x01rest").unwrap();
        fs::write(root.path().join("lib64/libz.so.1"), b"\x7fELF\x02rest").unwrap();
        let dirs = vec!["/lib32".to_owned(), "/lib64".to_owned()];
        assert_eq!(find_library(root.path(), "libz.so.1", &[], &dirs, true).as_deref(), Some("/lib64/libz.so.1"));
        assert_eq!(find_library(root.path(), "libz.so.1", &[], &dirs, false).as_deref(), Some("/lib32/libz.so.1"));
        assert_eq!(find_library(root.path(), "libq.so", &[], &dirs, true), None);
    }
}
