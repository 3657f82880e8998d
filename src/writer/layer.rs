//! Filtering the export into the slim image's single layer.
//!
//! One pass over the export tar: entries whose path is in the keep-set are copied with their
//! headers (mode, owner, mtime, type, link target) and PAX records (xattrs such as
//! `security.capability`) intact, into a spool file, while the sha256 of the layer (its
//! diff_id) is computed. Memory does not grow with the image.

use crate::exclude::Excludes;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{self, Read, Write};

/// Files Docker's init layer adds to every container's filesystem (so to every export); they
/// are bind-mounted at run time and are not the image's content.
const INIT_LAYER: [&[u8]; 8] =
    [b".dockerenv", b"etc/hosts", b"etc/hostname", b"etc/resolv.conf", b"etc/mtab", b"dev/console", b"dev/pts", b"dev/shm"];

/// Directories kept even when the app never touched them: mount points the runtime expects,
/// and `/tmp` (with its 1777 mode).
const ALWAYS_DIRS: [&[u8]; 4] = [b"proc", b"sys", b"dev", b"tmp"];

/// Directories whose mtime the init layer sets to the container's creation time: the slim
/// layer gives them the image's creation time instead, so that two builds are identical.
const INIT_TOUCHED_DIRS: [&[u8]; 4] = [b"etc", b"dev", b"proc", b"sys"];

/// Which export entries go into the slim layer: the keep-set minus the user's excludes.
pub struct KeepFilter {
    keep: HashSet<Vec<u8>>,
    excludes: Excludes,
    /// The image's creation time (seconds since the epoch), for [`INIT_TOUCHED_DIRS`].
    created: u64,
}

impl KeepFilter {
    /// A filter keeping `paths` (absolute in-image paths) unless `excludes` match them.
    /// `created` is the original image's creation time in seconds since the epoch.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a [u8]>, excludes: Excludes, created: u64) -> Self {
        KeepFilter { keep: paths.into_iter().map(|p| normalize(p).to_vec()).collect(), excludes, created }
    }

    /// True when the export entry `path` (relative, as tar writes it) is kept.
    pub fn keeps(&self, path: &[u8], is_dir: bool) -> bool {
        let path = normalize(path);
        if path.is_empty() || INIT_LAYER.contains(&path) {
            return false;
        }
        let wanted = self.keep.contains(path) || (is_dir && ALWAYS_DIRS.contains(&path));
        wanted && self.excludes.matching(&absolute(path)).is_none()
    }

    /// True when a hard link at `path`, whose target is kept, goes in too: its directory is in
    /// the layer (`written`) and no exclude names it.
    fn links_along(&self, path: &[u8], written: &HashSet<Vec<u8>>) -> bool {
        let path = normalize(path);
        let parent = &path[..path.iter().rposition(|&b| b == b'/').unwrap_or(0)];
        (parent.is_empty() || written.contains(parent)) && self.excludes.matching(&absolute(path)).is_none()
    }
}

/// `usr/bin` -> `/usr/bin`.
fn absolute(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 1);
    out.push(b'/');
    out.extend_from_slice(path);
    out
}

/// `./usr/bin/`, `/usr/bin` and `usr/bin` all become `usr/bin`.
fn normalize(path: &[u8]) -> &[u8] {
    let mut p = path;
    while let Some(rest) = p.strip_prefix(b"./").or_else(|| p.strip_prefix(b"/")) {
        p = rest;
    }
    while let Some(rest) = p.strip_suffix(b"/") {
        p = rest;
    }
    if p == b"." {
        b""
    } else {
        p
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// `sha256:<hex>` of the layer tar.
    pub diff_id: String,
    /// Size of the layer tar in bytes.
    pub size: u64,
    /// Entries kept.
    pub kept: u64,
    /// Entries dropped.
    pub dropped: u64,
    /// Bytes of file content kept.
    pub content_bytes: u64,
    /// Hard links whose target was not kept, dropped (paths).
    pub dangling_links: Vec<String>,
    /// Every path of the export (absolute), kept or not: what a repair may add back.
    pub original_paths: HashSet<Vec<u8>>,
    /// Bytes of the export read.
    pub export_bytes: u64,
}

/// A reader that counts what passes through.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies the kept entries of the tar stream `export` into `out` (the spool) and returns the
/// layer's diff_id and counts.
pub fn write_layer(export: impl Read, filter: &KeepFilter, out: impl Write) -> io::Result<LayerStats> {
    let mut archive = tar::Archive::new(Counting { inner: export, count: 0 });
    let mut builder = tar::Builder::new(Hashing { inner: out, hasher: Sha256::new(), count: 0 });
    let mut written: HashSet<Vec<u8>> = HashSet::new();
    let (mut kept, mut dropped, mut content_bytes) = (0u64, 0u64, 0u64);
    let mut dangling_links = Vec::new();
    let mut original_paths = HashSet::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        let path = entry.path_bytes().into_owned();
        original_paths.insert(absolute(normalize(&path)));
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let target_written = kind.is_hard_link() && written.contains(link.as_deref().map(normalize).unwrap_or_default());
        // Every name of a kept file goes in, as the export (the image's own layers) links them:
        // the sensor cannot always see that (a VOLUME's copy does not keep hard links).
        let other_name = target_written && filter.links_along(&path, &written);
        if !filter.keeps(&path, kind.is_dir()) && !other_name {
            dropped += 1;
            continue;
        }
        if kind.is_hard_link() && !target_written {
            dangling_links.push(String::from_utf8_lossy(&path).into_owned());
            dropped += 1;
            continue;
        }
        let mut records = pax_records(&mut entry)?;
        let mut header = entry.header().clone();
        if header_path(&header) != path.as_slice() {
            records.push(("path".into(), path.clone()));
        }
        if let Some(link) = &link {
            if header.link_name_bytes().as_deref() != Some(link.as_slice()) {
                records.push(("linkpath".into(), link.clone()));
            }
        }
        if !records.is_empty() {
            append_pax(&mut builder, &records)?;
        }
        if kind.is_dir() && INIT_TOUCHED_DIRS.contains(&normalize(&path)) {
            header.set_mtime(filter.created);
        }
        header.set_cksum();
        content_bytes += header.entry_size()?;
        builder.append(&header, &mut entry)?;
        written.insert(normalize(&path).to_vec());
        kept += 1;
    }
    // Read what follows the end-of-archive blocks too, so the count is the whole stream.
    let mut counted = archive.into_inner();
    io::copy(&mut counted, &mut io::sink())?;
    let hashing = builder.into_inner()?;
    Ok(LayerStats {
        diff_id: format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
        size: hashing.count,
        kept,
        dropped,
        content_bytes,
        dangling_links,
        original_paths,
        export_bytes: counted.count,
    })
}

/// The path stored in the header's own name fields (ustar prefix included).
fn header_path(header: &tar::Header) -> Vec<u8> {
    header.path_bytes().into_owned()
}

/// The entry's PAX records worth carrying over (everything but the ones the header and the
/// data restate: size, path and linkpath are recomputed).
fn pax_records<R: Read>(entry: &mut tar::Entry<R>) -> io::Result<Vec<(String, Vec<u8>)>> {
    let Some(exts) = entry.pax_extensions()? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for ext in exts {
        let ext = ext?;
        let Ok(key) = ext.key() else { continue };
        if !matches!(key, "size" | "path" | "linkpath") {
            out.push((key.to_owned(), ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

/// Writes one PAX extended header (`x`) entry holding `records`.
fn append_pax<W: Write>(builder: &mut tar::Builder<W>, records: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut data = Vec::new();
    for (key, value) in records {
        // "<len> <key>=<value>\n", where <len> counts itself.
        let rest = key.len() + value.len() + 3;
        let mut len = rest + rest.to_string().len();
        if len.to_string().len() != rest.to_string().len() {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {key}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_path("././@PaxHeader")?;
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder.append(&header, data.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind.is_dir() { 0o1777 } else { 0o4755 });
        h.set_uid(1000);
        h.set_gid(33);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        match link {
            Some(l) => b.append_link(&mut h, path, l).unwrap(),
            None => b.append_data(&mut h, path, data).unwrap(),
        }
    }

    fn export() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, ".dockerenv", tar::EntryType::Regular, b"", None);
        entry(&mut b, "etc/", tar::EntryType::Directory, b"", None);
        entry(&mut b, "etc/hosts", tar::EntryType::Regular, b"", None);
        entry(&mut b, "tmp/", tar::EntryType::Directory, b"", None);
        entry(&mut b, "usr/", tar::EntryType::Directory, b"", None);
        entry(&mut b, "usr/bin/", tar::EntryType::Directory, b"", None);
        entry(&mut b, "usr/bin/su", tar::EntryType::Regular, b"setuid", None);
        entry(&mut b, "usr/bin/su-link", tar::EntryType::Link, b"", Some("usr/bin/su"));
        entry(&mut b, "usr/bin/unused", tar::EntryType::Regular, b"big", None);
        let long = format!("usr/{}", "d".repeat(120));
        entry(&mut b, &long, tar::EntryType::Symlink, b"", Some(&"t".repeat(130)));
        b.into_inner().unwrap()
    }

    fn read_back(layer: &[u8]) -> Vec<(String, u32, u64, Option<String>)> {
        let mut a = tar::Archive::new(layer);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned());
                (String::from_utf8_lossy(&e.path_bytes()).into_owned(), e.header().mode().unwrap(), e.header().uid().unwrap(), link)
            })
            .collect()
    }

    #[test]
    fn keeps_exactly_the_set_with_metadata_and_long_names() {
        let long = format!("/usr/{}", "d".repeat(120));
        let keep: Vec<&[u8]> = vec![b"/etc", b"/etc/hosts", b"/usr", b"/usr/bin", b"/usr/bin/su", b"/usr/bin/su-link", long.as_bytes()];
        let mut out = Vec::new();
        let stats = write_layer(export().as_slice(), &KeepFilter::new(keep, Excludes::none(), 0), &mut out).unwrap();
        let got = read_back(&out);
        let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(names, vec!["etc/", "tmp/", "usr/", "usr/bin/", "usr/bin/su", "usr/bin/su-link", &long[1..]]);
        let su = got.iter().find(|g| g.0 == "usr/bin/su").unwrap();
        assert_eq!((su.1, su.2), (0o4755, 1000));
        assert_eq!(got[1].1, 0o1777);
        assert_eq!(got[6].3.as_deref(), Some("t".repeat(130).as_str()));
        assert_eq!(stats.kept, 7);
        assert_eq!(stats.dropped, 3);
        assert_eq!(stats.size, out.len() as u64);
        assert_eq!(stats.export_bytes, export().len() as u64);
        assert_eq!(stats.diff_id, format!("sha256:{}", hex::encode(Sha256::digest(&out))));
    }

    #[test]
    fn same_input_same_layer_and_dangling_links_dropped() {
        let keep: Vec<&[u8]> = vec![b"/usr", b"/usr/bin", b"/usr/bin/su-link"];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let sa = write_layer(export().as_slice(), &KeepFilter::new(keep.clone(), Excludes::none(), 0), &mut a).unwrap();
        let sb = write_layer(export().as_slice(), &KeepFilter::new(keep, Excludes::none(), 0), &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(sa.diff_id, sb.diff_id);
        assert_eq!(sa.dangling_links, vec!["usr/bin/su-link".to_owned()]);
        assert!(sa.original_paths.contains(&b"/usr/bin/unused"[..]));
    }

    #[test]
    fn every_name_of_a_kept_file_goes_in() {
        let keep: Vec<&[u8]> = vec![b"/usr", b"/usr/bin", b"/usr/bin/su"];
        let mut out = Vec::new();
        write_layer(export().as_slice(), &KeepFilter::new(keep.clone(), Excludes::none(), 0), &mut out).unwrap();
        let names: Vec<String> = read_back(&out).into_iter().map(|g| g.0).collect();
        assert!(names.contains(&"usr/bin/su-link".to_owned()), "{names:?}");
        let excludes = Excludes::new(&["/usr/bin/su-link".to_owned()]).unwrap();
        let mut out = Vec::new();
        write_layer(export().as_slice(), &KeepFilter::new(keep, excludes, 0), &mut out).unwrap();
        assert!(!read_back(&out).iter().any(|g| g.0 == "usr/bin/su-link"));
    }

    #[test]
    fn excludes_win_over_the_keep_set() {
        let keep: Vec<&[u8]> = vec![b"/usr", b"/usr/bin", b"/usr/bin/su", b"/usr/bin/unused"];
        let excludes = Excludes::new(&["/usr/bin/su".to_owned()]).unwrap();
        let mut out = Vec::new();
        write_layer(export().as_slice(), &KeepFilter::new(keep, excludes, 0), &mut out).unwrap();
        let names: Vec<String> = read_back(&out).into_iter().map(|g| g.0).collect();
        assert_eq!(names, vec!["tmp/", "usr/", "usr/bin/", "usr/bin/unused"]);
    }

    #[test]
    fn pax_xattrs_survive() {
        let mut b = tar::Builder::new(Vec::new());
        let records = vec![("SCHILY.xattr.security.capability".to_owned(), vec![1u8, 0, 0, 2, 0x20, 0, 0, 0])];
        append_pax(&mut b, &records).unwrap();
        entry(&mut b, "usr/bin/ping", tar::EntryType::Regular, b"ping", None);
        let input = b.into_inner().unwrap();
        let mut out = Vec::new();
        write_layer(input.as_slice(), &KeepFilter::new(vec![&b"/usr/bin/ping"[..]], Excludes::none(), 0), &mut out).unwrap();
        let mut a = tar::Archive::new(out.as_slice());
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        let exts: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|x| x.unwrap())
            .map(|x| (x.key().unwrap().to_owned(), x.value_bytes().to_vec()))
            .collect();
        assert_eq!(exts, records);
    }
}
