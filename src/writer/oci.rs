//! The OCI image layout as one tar archive (the `oci-archive` format `skopeo copy
//! oci-archive:FILE.tar ...` reads): `oci-layout`, the config, layer and manifest blobs under
//! `blobs/sha256/`, and `index.json` naming the manifest by the slim image's tag. The layer is
//! stored uncompressed, so its digest is its diff_id, and it is copied from its spool file in
//! chunks. Same inputs, same bytes.

use super::archive::append_file;
use super::config::ImageConfig;
use crate::reference::parse_tagged;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, Write};

const LAYOUT_VERSION: &str = "1.0.0";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// The annotation OCI tools (skopeo, containerd) resolve a name in the layout by.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd records the full image name in.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Blobs up to this size are kept in memory while the archive is read, so that JSON blobs can
/// be parsed once `index.json` says which one the manifest is; larger ones are only hashed.
const MAX_JSON: u64 = 4 << 20;

// The JSON documents. Fields are declared in the order of their serialized names, so the keys
// come out sorted whatever map type serde_json is built with.

/// `oci-layout`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout {
    image_layout_version: String,
}

/// A content descriptor: what a blob is, its digest and size.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    digest: String,
    media_type: String,
    size: u64,
}

/// The image manifest blob.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default)]
    media_type: String,
    schema_version: u32,
}

/// `index.json`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    manifests: Vec<Descriptor>,
    #[serde(default)]
    media_type: String,
    schema_version: u32,
}

/// Writes the OCI archive of `config` and the spooled uncompressed `layer` (whose sha256 is
/// `diff_id`), its manifest named in `index.json` by the tag of `reference` (`app:1.0-slim` ->
/// `1.0-slim`; no tag means `latest`). An invalid `reference` is an `InvalidInput` error.
pub fn write(out: impl Write, config: &ImageConfig, diff_id: &str, layer: &mut File, reference: &str) -> io::Result<()> {
    let tagged = parse_tagged(reference).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let layer_size = layer.seek(io::SeekFrom::End(0))?;
    layer.seek(io::SeekFrom::Start(0))?;
    let manifest = serde_json::to_vec(&Manifest {
        config: descriptor(CONFIG_TYPE, &config.id, config.bytes.len() as u64),
        layers: vec![descriptor(LAYER_TYPE, diff_id, layer_size)],
        media_type: MANIFEST_TYPE.into(),
        schema_version: 2,
    })?;
    let manifest_digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
    let mut manifest_descriptor = descriptor(MANIFEST_TYPE, &manifest_digest, manifest.len() as u64);
    manifest_descriptor.annotations =
        BTreeMap::from([(CONTAINERD_NAME.to_owned(), tagged.to_string()), (REF_NAME.to_owned(), tagged.tag.clone())]);
    let index = serde_json::to_vec(&Index { manifests: vec![manifest_descriptor], media_type: INDEX_TYPE.into(), schema_version: 2 })?;
    let layout = serde_json::to_vec(&Layout { image_layout_version: LAYOUT_VERSION.into() })?;

    let mut builder = tar::Builder::new(out);
    append_file(&mut builder, "oci-layout", layout.len() as u64, layout.as_slice())?;
    append_dir(&mut builder, "blobs/")?;
    append_dir(&mut builder, "blobs/sha256/")?;
    append_file(&mut builder, &blob_path(&config.id)?, config.bytes.len() as u64, config.bytes.as_slice())?;
    append_file(&mut builder, &blob_path(diff_id)?, layer_size, layer)?;
    append_file(&mut builder, &blob_path(&manifest_digest)?, manifest.len() as u64, manifest.as_slice())?;
    append_file(&mut builder, "index.json", index.len() as u64, index.as_slice())?;
    builder.into_inner()?.flush()
}

fn descriptor(media_type: &str, digest: &str, size: u64) -> Descriptor {
    Descriptor { annotations: BTreeMap::new(), digest: digest.into(), media_type: media_type.into(), size }
}

/// `sha256:<hex>` -> `blobs/sha256/<hex>`; any other digest is an `InvalidInput` error.
fn blob_path(digest: &str) -> io::Result<String> {
    match sha256_hex(digest) {
        Some(hex) => Ok(format!("blobs/sha256/{hex}")),
        None => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a sha256 digest: {digest:?}"))),
    }
}

/// The hex of a well-formed `sha256:<64 lowercase hex>` digest.
fn sha256_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|hex| is_sha256_hex(hex))
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A directory entry with fixed metadata (mode 0755, owner 0, mtime 0).
fn append_dir<W: Write>(builder: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Directory);
    builder.append_data(&mut header, name, io::empty())
}

/// What [`verify_layout`] found in a valid archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutSummary {
    /// The manifest's `org.opencontainers.image.ref.name` (the tag).
    pub ref_name: String,
    /// `sha256:<hex>` of the config blob.
    pub config_digest: String,
    /// `sha256:<hex>` of each layer blob, in manifest order.
    pub layer_digests: Vec<String>,
}

/// A blob as read from the archive: its size, and its bytes when it is small enough to be JSON.
struct Blob {
    size: u64,
    bytes: Option<Vec<u8>>,
}

/// Reads an OCI archive and checks it: `oci-layout` says version 1.0.0, every blob's name is the
/// sha256 of its content, `index.json` holds exactly one manifest descriptor with a ref name,
/// and the manifest, its config and its layers are blobs of the sizes their descriptors state.
/// Blobs are hashed as they stream by; only blobs up to 4 MiB are held in memory. The error
/// says what is wrong.
pub fn verify_layout(archive: impl Read) -> Result<LayoutSummary, String> {
    let mut archive = tar::Archive::new(archive);
    let (mut layout, mut index) = (None, None);
    let mut blobs: HashMap<String, Blob> = HashMap::new();
    for entry in archive.entries().map_err(|e| format!("reading the archive: {e}"))? {
        let mut entry = entry.map_err(|e| format!("reading the archive: {e}"))?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(raw.strip_prefix(b"./").unwrap_or(&raw)).into_owned();
        let size = entry.size();
        let read_err = |e: io::Error| format!("reading {name}: {e}");
        match name.as_str() {
            "oci-layout" | "index.json" => {
                if size > MAX_JSON {
                    return Err(format!("{name} is {size} bytes: too large"));
                }
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(read_err)?;
                let slot = if name == "oci-layout" { &mut layout } else { &mut index };
                if slot.replace(bytes).is_some() {
                    return Err(format!("{name} appears twice"));
                }
            }
            _ => {
                let Some(hex) = name.strip_prefix("blobs/sha256/") else { continue };
                if !is_sha256_hex(hex) {
                    return Err(format!("{name}: a blob's name must be the 64 lowercase hex digits of its sha256"));
                }
                let mut hasher = Sha256::new();
                let bytes = if size <= MAX_JSON {
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes).map_err(read_err)?;
                    hasher.update(&bytes);
                    Some(bytes)
                } else {
                    io::copy(&mut entry, &mut hasher).map_err(read_err)?;
                    None
                };
                let actual = hex::encode(hasher.finalize());
                if actual != hex {
                    return Err(format!("{name}: content has sha256 {actual}"));
                }
                if blobs.insert(format!("sha256:{hex}"), Blob { size, bytes }).is_some() {
                    return Err(format!("{name} appears twice"));
                }
            }
        }
    }

    let layout: Layout = parse("oci-layout", layout.as_deref())?;
    if layout.image_layout_version != LAYOUT_VERSION {
        return Err(format!("oci-layout: imageLayoutVersion {:?}, expected {LAYOUT_VERSION:?}", layout.image_layout_version));
    }
    let index: Index = parse("index.json", index.as_deref())?;
    if index.schema_version != 2 {
        return Err(format!("index.json: schemaVersion {}, expected 2", index.schema_version));
    }
    let [manifest_descriptor] = index.manifests.as_slice() else {
        return Err(format!("index.json: {} manifests, expected exactly 1", index.manifests.len()));
    };
    let ref_name = manifest_descriptor
        .annotations
        .get(REF_NAME)
        .cloned()
        .ok_or_else(|| format!("index.json: the manifest has no {REF_NAME} annotation"))?;
    let manifest_blob = find(&blobs, manifest_descriptor, MANIFEST_TYPE, "index.json's manifest")?;
    let manifest: Manifest = parse(&manifest_descriptor.digest, manifest_blob.bytes.as_deref())?;
    if manifest.schema_version != 2 {
        return Err(format!("manifest: schemaVersion {}, expected 2", manifest.schema_version));
    }
    find(&blobs, &manifest.config, CONFIG_TYPE, "the manifest's config")?;
    for layer in &manifest.layers {
        find(&blobs, layer, &layer.media_type, "a manifest layer")?;
    }
    Ok(LayoutSummary {
        ref_name,
        config_digest: manifest.config.digest,
        layer_digests: manifest.layers.into_iter().map(|l| l.digest).collect(),
    })
}

/// The blob `descriptor` points at, checked against the descriptor's size and media type.
fn find<'a>(blobs: &'a HashMap<String, Blob>, descriptor: &Descriptor, media_type: &str, what: &str) -> Result<&'a Blob, String> {
    let digest = &descriptor.digest;
    if descriptor.media_type != media_type {
        return Err(format!("{what} {digest}: media type {:?}, expected {media_type:?}", descriptor.media_type));
    }
    let blob = blobs.get(digest).ok_or_else(|| format!("{what} {digest}: no such blob"))?;
    if blob.size != descriptor.size {
        return Err(format!("{what} {digest}: the blob has {} bytes, the descriptor says {}", blob.size, descriptor.size));
    }
    Ok(blob)
}

/// Parses the JSON document `name` (`None`: missing, or too large to have been kept).
fn parse<T: serde::de::DeserializeOwned>(name: &str, bytes: Option<&[u8]>) -> Result<T, String> {
    let bytes = bytes.ok_or_else(|| format!("{name}: missing or larger than {MAX_JSON} bytes"))?;
    serde_json::from_slice(bytes).map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::config::{self, SlimLabels};
    use bollard::models::ImageInspect;

    /// A tiny layer tar spooled in a temp file, and its diff_id.
    fn layer() -> (File, String) {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o755);
        b.append_data(&mut h, "app/run", &b"hello"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        (file, format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
    }

    fn archive(reference: &str) -> (Vec<u8>, ImageConfig, String) {
        let (mut file, diff_id) = layer();
        let labels = SlimLabels { source_image: "app:1.0".into(), source_id: "sha256:abc".into() };
        let cfg = config::build(&ImageInspect::default(), &diff_id, &labels);
        let mut out = Vec::new();
        write(&mut out, &cfg, &diff_id, &mut file, reference).unwrap();
        (out, cfg, diff_id)
    }

    fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut a = tar::Archive::new(archive);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                assert_eq!(e.header().mtime().unwrap(), 0);
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (String::from_utf8(e.path_bytes().into_owned()).unwrap(), data)
            })
            .collect()
    }

    #[test]
    fn writes_a_valid_layout() {
        let (out, cfg, diff_id) = archive("app:1.0-slim");
        let summary = verify_layout(out.as_slice()).unwrap();
        assert_eq!(
            summary,
            LayoutSummary { ref_name: "1.0-slim".into(), config_digest: cfg.id.clone(), layer_digests: vec![diff_id.clone()] }
        );
        let entries = entries(&out);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        let manifest = &entries[5];
        assert_eq!(
            names,
            vec![
                "oci-layout",
                "blobs/",
                "blobs/sha256/",
                &blob_path(&cfg.id).unwrap(),
                &blob_path(&diff_id).unwrap(),
                manifest.0.as_str(),
                "index.json"
            ]
        );
        assert_eq!(entries[0].1, br#"{"imageLayoutVersion":"1.0.0"}"#);
        let manifest_digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest.1)));
        let index = String::from_utf8(entries[6].1.clone()).unwrap();
        assert_eq!(
            index,
            format!(
                r#"{{"manifests":[{{"annotations":{{"io.containerd.image.name":"app:1.0-slim","org.opencontainers.image.ref.name":"1.0-slim"}},"digest":"{manifest_digest}","mediaType":"{MANIFEST_TYPE}","size":{}}}],"mediaType":"{INDEX_TYPE}","schemaVersion":2}}"#,
                manifest.1.len()
            )
        );
        let m: serde_json::Value = serde_json::from_slice(&manifest.1).unwrap();
        assert_eq!(m["config"]["mediaType"], CONFIG_TYPE);
        assert_eq!(m["layers"][0]["mediaType"], LAYER_TYPE);
        assert_eq!(m["layers"][0]["size"], entries[4].1.len());
    }

    #[test]
    fn the_ref_name_is_the_tag() {
        let (out, ..) = archive("reg.example:5000/team/app");
        assert_eq!(verify_layout(out.as_slice()).unwrap().ref_name, "latest");
        let (mut file, diff_id) = layer();
        let cfg = config::build(&ImageInspect::default(), &diff_id, &SlimLabels { source_image: "a".into(), source_id: "b".into() });
        let err = write(Vec::new(), &cfg, &diff_id, &mut file, "App:1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn same_inputs_same_bytes() {
        assert_eq!(archive("app:1.0-slim").0, archive("app:1.0-slim").0);
    }

    #[test]
    fn a_tampered_blob_fails() {
        let (out, ..) = archive("app:1.0-slim");
        for (name, data) in entries(&out).into_iter().filter(|e| e.0.starts_with("blobs/sha256/") && !e.1.is_empty()) {
            let at = out.windows(data.len()).position(|w| w == data.as_slice()).unwrap() + data.len() / 2;
            let mut bad = out.clone();
            bad[at] ^= 1;
            let err = verify_layout(bad.as_slice()).unwrap_err();
            assert!(err.contains(&name) && err.contains("content has sha256"), "{err}");
        }
    }

    #[test]
    fn missing_pieces_fail() {
        let (out, ..) = archive("app:1.0-slim");
        let keep = |skip: &dyn Fn(&str) -> bool| {
            let mut b = tar::Builder::new(Vec::new());
            for (name, data) in entries(&out).into_iter().filter(|e| !e.0.ends_with('/') && !skip(&e.0)) {
                append_file(&mut b, &name, data.len() as u64, data.as_slice()).unwrap();
            }
            b.into_inner().unwrap()
        };
        assert!(verify_layout(keep(&|_| false).as_slice()).is_ok());
        for missing in ["oci-layout", "index.json"] {
            let err = verify_layout(keep(&|n| n == missing).as_slice()).unwrap_err();
            assert!(err.starts_with(missing), "{err}");
        }
        let layer = entries(&out)[4].0.clone();
        let err = verify_layout(keep(&|n| n == layer).as_slice()).unwrap_err();
        assert!(err.contains("no such blob"), "{err}");
    }
}
