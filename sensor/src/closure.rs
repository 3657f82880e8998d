//! The keep-set closure: from the paths the sensor recorded to every path the image must keep.
//!
//! Pure over a root directory (the container's `/`, or a temporary tree in tests): every
//! component of a kept path with its symlink chain (`/lib -> usr/lib`), every name of a kept
//! inode, the ELF interpreter and `DT_NEEDED` closure of kept native files, the `#!` interpreter
//! of kept scripts, and the directories on the way.

use crate::elf;
use crate::paths::PathBytes;
use crate::report::{KeptPath, Reason};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Top-level directories whose content is never image content.
const NOT_IMAGE: [&[u8]; 4] = [b"/proc", b"/sys", b"/dev", b"/.slim"];

/// How many symlinks one resolution may follow (the kernel's limit).
const MAX_SYMLINK_HOPS: u32 = 40;

/// True for paths under `/proc`, `/sys`, `/dev` or `/.slim`, which never go into the image.
pub fn is_outside_image(path: &[u8]) -> bool {
    NOT_IMAGE.iter().any(|p| path.starts_with(p) && matches!(path.get(p.len()), None | Some(b'/')))
}

/// Computes the keep-set for `seeds` against the tree under `root`. Seeds that do not exist
/// keep only their existing parent directories. The result is sorted by path.
pub fn keep_set(root: &Path, seeds: impl IntoIterator<Item = (PathBytes, Reason)>) -> Vec<KeptPath> {
    let mut closure = Closure {
        root,
        keep: BTreeMap::new(),
        queue: seeds.into_iter().map(|(p, r)| (p.0, r)).collect(),
        examined: HashSet::new(),
        loader_dirs: None,
        inodes: None,
    };
    while let Some((path, reason)) = closure.queue.pop_front() {
        closure.resolve(&path, reason);
    }
    closure.keep.into_iter().map(|(path, reason)| KeptPath { path: PathBytes(path), reason }).collect()
}

/// (device, inode) -> every in-image name of that file.
type InodeIndex = HashMap<(u64, u64), Vec<Vec<u8>>>;

struct Closure<'a> {
    root: &'a Path,
    keep: BTreeMap<Vec<u8>, Reason>,
    queue: VecDeque<(Vec<u8>, Reason)>,
    /// Regular files whose needs (ELF, `#!`, hardlinks) were already queued.
    examined: HashSet<Vec<u8>>,
    loader_dirs: Option<Vec<String>>,
    /// (dev, inode) -> names, for files with more than one link; built on first need.
    inodes: Option<InodeIndex>,
}

impl Closure<'_> {
    fn real(&self, path: &[u8]) -> PathBuf {
        self.root.join(OsStr::from_bytes(path.strip_prefix(b"/").unwrap_or(path)))
    }

    fn insert(&mut self, path: &[u8], reason: Reason) {
        let slot = self.keep.entry(path.to_vec()).or_insert(reason);
        *slot = (*slot).min(reason);
    }

    /// Walks `path` component by component from `/`, following symlinks and keeping every
    /// directory and symlink on the way, then the final path with `reason`.
    fn resolve(&mut self, path: &[u8], reason: Reason) {
        let mut pending: Vec<Vec<u8>> = components(path).rev().collect();
        let mut current: Vec<u8> = Vec::new();
        let mut hops = 0;
        while let Some(comp) = pending.pop() {
            match comp.as_slice() {
                b"." => continue,
                b".." => {
                    let cut = current.iter().rposition(|&b| b == b'/').unwrap_or(0);
                    current.truncate(cut);
                    continue;
                }
                _ => {}
            }
            let mut candidate = current.clone();
            candidate.push(b'/');
            candidate.extend_from_slice(&comp);
            if is_outside_image(&candidate) {
                return;
            }
            let Ok(meta) = fs::symlink_metadata(self.real(&candidate)) else { return };
            let last = pending.is_empty();
            if meta.file_type().is_symlink() {
                self.insert(&candidate, if last { reason } else { Reason::Symlink });
                hops += 1;
                let Ok(target) = fs::read_link(self.real(&candidate)) else { return };
                if hops > MAX_SYMLINK_HOPS {
                    return;
                }
                let target = target.as_os_str().as_bytes();
                if target.starts_with(b"/") {
                    current.clear();
                }
                pending.extend(components(target).rev());
                continue;
            }
            if last {
                self.insert(&candidate, reason);
                if meta.file_type().is_file() {
                    self.examine(&candidate, &meta);
                }
                return;
            }
            if !meta.is_dir() {
                return;
            }
            self.insert(&candidate, Reason::Dir);
            current = candidate;
        }
    }

    /// Queues what a kept regular file needs: its other names, its `#!` interpreter, its ELF
    /// interpreter and libraries.
    fn examine(&mut self, path: &[u8], meta: &fs::Metadata) {
        if !self.examined.insert(path.to_vec()) {
            return;
        }
        if meta.nlink() > 1 {
            let names = self.inode_index().get(&(meta.dev(), meta.ino())).cloned().unwrap_or_default();
            self.queue.extend(names.into_iter().filter(|n| n != path).map(|n| (n, Reason::Hardlink)));
        }
        let real = self.real(path);
        let mut head = [0u8; 256];
        let n = fs::File::open(&real).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
        let head = &head[..n];
        if let Some(interp) = shebang(head) {
            self.queue.push_back((interp, Reason::Interpreter));
        } else if head.starts_with(b"\x7fELF") {
            self.queue_elf_needs(path, &real);
        }
    }

    fn queue_elf_needs(&mut self, path: &[u8], real: &Path) {
        let Ok(bytes) = fs::read(real) else { return };
        let text = String::from_utf8_lossy(path);
        let origin = text.rsplit_once('/').map(|(d, _)| d).unwrap_or("/").to_owned();
        let Some(needs) = elf::needs(&bytes, &origin) else { return };
        if let Some(interp) = needs.interpreter {
            self.queue.push_back((interp.into_bytes(), Reason::ElfDep));
        }
        let root = self.root;
        let dirs = self.loader_dirs.get_or_insert_with(|| elf::loader_dirs(root)).clone();
        for soname in &needs.needed {
            if let Some(lib) = elf::find_library(root, soname, &needs.search, &dirs, needs.is_64) {
                self.queue.push_back((lib.into_bytes(), Reason::ElfDep));
            }
        }
    }

    fn inode_index(&mut self) -> &InodeIndex {
        let root = self.root;
        self.inodes.get_or_insert_with(|| {
            let mut index = InodeIndex::new();
            // Devices are compared here rather than with walkdir's `same_file_system`: that
            // option combined with `filter_entry` skips the rest of the parent directory when a
            // mount point (like /dev) is filtered out.
            let root_dev = fs::symlink_metadata(root).map(|m| m.dev()).unwrap_or(0);
            let walk = walkdir::WalkDir::new(root).sort_by_file_name();
            let inside =
                |e: &walkdir::DirEntry| !is_outside_image(&image_path(root, e.path())) && e.metadata().is_ok_and(|m| m.dev() == root_dev);
            for entry in walk.into_iter().filter_entry(inside) {
                let Ok(entry) = entry else { continue };
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_file() && meta.nlink() > 1 {
                    index.entry((meta.dev(), meta.ino())).or_default().push(image_path(root, entry.path()));
                }
            }
            index
        })
    }
}

/// The absolute in-image path of `real`, a path under `root`.
fn image_path(root: &Path, real: &Path) -> Vec<u8> {
    let rel = real.strip_prefix(root).unwrap_or(real).as_os_str().as_bytes();
    let mut out = b"/".to_vec();
    out.extend_from_slice(rel);
    out
}

fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty()).map(<[u8]>::to_vec)
}

/// Trees of CA certificates in the layouts of Debian, Alpine, RHEL and Java.
const CERT_TREES: [&str; 5] = ["/etc/ssl/certs", "/etc/ssl/cert.pem", "/usr/share/ca-certificates", "/etc/pki/tls", "/etc/pki/ca-trust"];

/// Name-service configuration that lookups need but probes rarely trigger.
const NSS_FILES: [&str; 6] = ["/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/networks"];

/// NSS and resolver libraries, found through the loader's directories.
const NSS_LIBS: [&str; 3] = ["libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2"];

/// What probes rarely trigger but a production run may need: CA certificates (`certs`) and
/// name-service configuration with the NSS/resolver libraries (`nss`). Seeds for
/// [`keep_set`], with reason `Essential`; paths the image lacks are simply not kept.
pub fn default_includes(root: &Path, certs: bool, nss: bool) -> Vec<(PathBytes, Reason)> {
    let mut out = Vec::new();
    if certs {
        for tree in CERT_TREES {
            out.extend(tree_paths(root, tree.as_bytes()).into_iter().map(|p| (p, Reason::Essential)));
        }
    }
    if nss {
        out.extend(NSS_FILES.iter().map(|p| (PathBytes(p.as_bytes().to_vec()), Reason::Essential)));
        let dirs = elf::loader_dirs(root);
        for lib in NSS_LIBS {
            if let Some(found) = elf::find_library(root, lib, &[], &dirs, true) {
                out.push((PathBytes(found.into_bytes()), Reason::Essential));
            }
        }
    }
    out
}

/// `path` and, when it is a directory, everything below it (same filesystem, sorted).
pub fn tree_paths(root: &Path, path: &[u8]) -> Vec<PathBytes> {
    let real = root.join(OsStr::from_bytes(path.strip_prefix(b"/").unwrap_or(path)));
    if !real.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return vec![PathBytes(path.to_vec())];
    }
    walkdir::WalkDir::new(&real)
        .same_file_system(true)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| PathBytes(image_path(root, e.path())))
        .collect()
}

/// A shell and the basic utilities, for `--include-shell` (those the image has).
pub const SHELL_TOOLS: [&str; 24] = [
    "/bin/sh",
    "/bin/bash",
    "/usr/bin/env",
    "/usr/bin/ls",
    "/usr/bin/cat",
    "/usr/bin/cp",
    "/usr/bin/mv",
    "/usr/bin/rm",
    "/usr/bin/mkdir",
    "/usr/bin/ln",
    "/usr/bin/chmod",
    "/usr/bin/chown",
    "/usr/bin/id",
    "/usr/bin/ps",
    "/usr/bin/grep",
    "/usr/bin/sed",
    "/usr/bin/head",
    "/usr/bin/tail",
    "/usr/bin/sleep",
    "/usr/bin/test",
    "/usr/bin/touch",
    "/usr/bin/find",
    "/usr/bin/which",
    "/usr/bin/busybox",
];

/// The paths a user include names: a path (a directory with everything below it) or a glob
/// (`*` within a component, `**` across them), each match taken with its subtree.
pub fn expand_include(root: &Path, pattern: &str) -> Vec<PathBytes> {
    let is_glob = pattern.contains(['*', '?', '[', '{']);
    if !is_glob {
        return tree_paths(root, pattern.as_bytes());
    }
    let Ok(glob) = globset::GlobBuilder::new(pattern).literal_separator(true).build() else { return Vec::new() };
    let matcher = glob.compile_matcher();
    // Walk only below the literal part of the pattern.
    let literal = &pattern[..pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len())];
    let base = &literal[..literal.rfind('/').unwrap_or(0)];
    let real = root.join(base.trim_start_matches('/'));
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&real).sort_by_file_name().into_iter().filter_map(Result::ok) {
        let path = image_path(root, entry.path());
        if matcher.is_match(OsStr::from_bytes(&path)) {
            out.extend(tree_paths(root, &path));
        }
    }
    out
}

/// The interpreter path of a `#!` line, if `head` starts with one.
pub fn shebang(head: &[u8]) -> Option<Vec<u8>> {
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let interp = line.split(|b| b.is_ascii_whitespace()).find(|t| !t.is_empty())?;
    interp.starts_with(b"/").then(|| interp.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn seed(p: &str, r: Reason) -> (PathBytes, Reason) {
        (PathBytes(p.as_bytes().to_vec()), r)
    }

    fn kept(set: &[KeptPath]) -> Vec<(String, Reason)> {
        set.iter().map(|k| (k.path.to_string(), k.reason)).collect()
    }

    #[test]
    fn symlink_chains_and_directories() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr/lib/x")).unwrap();
        fs::write(r.join("usr/lib/x/libz.so.1.2"), b"z").unwrap();
        symlink("libz.so.1.2", r.join("usr/lib/x/libz.so.1")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        fs::write(r.join("usr/lib/unused"), b"u").unwrap();
        let set = keep_set(r, [seed("/lib/x/libz.so.1", Reason::LookedUp)]);
        assert_eq!(
            kept(&set),
            vec![
                ("/lib".into(), Reason::Symlink),
                ("/usr".into(), Reason::Dir),
                ("/usr/lib".into(), Reason::Dir),
                ("/usr/lib/x".into(), Reason::Dir),
                ("/usr/lib/x/libz.so.1".into(), Reason::LookedUp),
                ("/usr/lib/x/libz.so.1.2".into(), Reason::LookedUp),
            ]
        );
    }

    #[test]
    fn missing_paths_dotdot_and_special_trees() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("etc/app")).unwrap();
        fs::create_dir_all(r.join("proc/1")).unwrap();
        fs::write(r.join("etc/app.conf"), b"c").unwrap();
        let set = keep_set(
            r,
            [
                seed("/etc/app/missing.conf", Reason::LookedUp),
                seed("/etc/app/../app.conf", Reason::Opened),
                seed("/proc/1", Reason::Opened),
            ],
        );
        assert_eq!(
            kept(&set),
            vec![("/etc".into(), Reason::Dir), ("/etc/app".into(), Reason::Dir), ("/etc/app.conf".into(), Reason::Opened)]
        );
    }

    #[test]
    fn hardlinks_and_shebang_interpreters() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::write(r.join("usr/bin/perl"), b"not elf").unwrap();
        fs::hard_link(r.join("usr/bin/perl"), r.join("usr/bin/perl5.36")).unwrap();
        fs::write(r.join("usr/bin/tool"), b"#!/usr/bin/perl -w\nprint 1\n").unwrap();
        let set = keep_set(r, [seed("/usr/bin/tool", Reason::Exec)]);
        assert_eq!(
            kept(&set),
            vec![
                ("/usr".into(), Reason::Dir),
                ("/usr/bin".into(), Reason::Dir),
                ("/usr/bin/perl".into(), Reason::Interpreter),
                ("/usr/bin/perl5.36".into(), Reason::Hardlink),
                ("/usr/bin/tool".into(), Reason::Exec),
            ]
        );
    }

    #[test]
    fn elf_needs_are_followed_through_the_loader_dirs() {
        // A copy of this test binary stands in for an app; its libc comes from the host tree's
        // loader directories, so the closure must find it under a fake root laid out the same.
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let exe = fs::read(std::env::current_exe().unwrap()).unwrap();
        let needs = elf::needs(&exe, "/app").unwrap();
        fs::create_dir_all(r.join("app")).unwrap();
        fs::write(r.join("app/bin"), &exe).unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/ld.so.conf"), "/opt/libs\n").unwrap();
        fs::create_dir_all(r.join("opt/libs")).unwrap();
        for soname in &needs.needed {
            fs::write(r.join("opt/libs").join(soname), b"\x7fELF\x02stub").unwrap();
        }
        let set = keep_set(r, [seed("/app/bin", Reason::Exec)]);
        for soname in &needs.needed {
            let want = format!("/opt/libs/{soname}");
            assert!(set.iter().any(|k| k.path.to_string() == want && k.reason == Reason::ElfDep), "{want} kept");
        }
    }

    #[test]
    fn certificate_trees_and_nss_files() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("etc/ssl/certs")).unwrap();
        fs::create_dir_all(r.join("usr/share/ca-certificates/mozilla")).unwrap();
        fs::write(r.join("usr/share/ca-certificates/mozilla/A.crt"), b"a").unwrap();
        symlink("/usr/share/ca-certificates/mozilla/A.crt", r.join("etc/ssl/certs/A.pem")).unwrap();
        fs::write(r.join("etc/nsswitch.conf"), b"hosts: files dns").unwrap();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        fs::write(r.join("usr/lib/libnss_dns.so.2"), b"\x7fELF\x02").unwrap();
        let seeds = default_includes(r, true, true);
        let set = keep_set(r, seeds);
        let names: Vec<String> = set.iter().map(|k| k.path.to_string()).collect();
        for want in ["/etc/ssl/certs/A.pem", "/usr/share/ca-certificates/mozilla/A.crt", "/etc/nsswitch.conf", "/usr/lib/libnss_dns.so.2"] {
            assert!(names.contains(&want.to_owned()), "{want} in {names:?}");
        }
        assert!(default_includes(r, false, false).is_empty());
    }

    #[test]
    fn includes_take_trees_and_globs() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("srv/plugins/a")).unwrap();
        fs::create_dir_all(r.join("srv/plugins/b")).unwrap();
        fs::write(r.join("srv/plugins/a/x.so"), b"x").unwrap();
        fs::write(r.join("srv/plugins/b/y.txt"), b"y").unwrap();
        let names = |v: Vec<PathBytes>| v.into_iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(names(expand_include(r, "/srv/plugins/a")), vec!["/srv/plugins/a", "/srv/plugins/a/x.so"]);
        assert_eq!(names(expand_include(r, "/srv/plugins/*/*.so")), vec!["/srv/plugins/a/x.so"]);
        assert_eq!(names(expand_include(r, "/srv/**/y.txt")), vec!["/srv/plugins/b/y.txt"]);
        assert!(expand_include(r, "/srv/none/*").is_empty());
    }

    #[test]
    fn shebang_parsing() {
        assert_eq!(shebang(b"#! /bin/sh -e\n"), Some(b"/bin/sh".to_vec()));
        assert_eq!(shebang(b"#!/usr/bin/env python3\n"), Some(b"/usr/bin/env".to_vec()));
        assert_eq!(shebang(b"#!python\n"), None);
        assert_eq!(shebang(b"\x7fELF"), None);
        assert!(is_outside_image(b"/proc/self") && is_outside_image(b"/dev") && !is_outside_image(b"/device"));
    }
}
