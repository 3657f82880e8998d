//! The slim image's config: the original's `config` verbatim with slim's labels merged in, its
//! `architecture`, `os` and `created`, one layer and one history entry. Serialized with sorted
//! keys and no wall-clock time, so the same input always gives the same image ID.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Labels slim adds to the slim image (none of them per run).
#[derive(Clone, Debug)]
pub struct SlimLabels {
    /// The image as the user named it.
    pub source_image: String,
    /// The original image's ID.
    pub source_id: String,
}

/// A serialized image config and its digest (the image ID).
#[derive(Clone, Debug)]
pub struct ImageConfig {
    /// The JSON bytes.
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of the bytes: the image ID after loading.
    pub id: String,
}

/// Builds the config of the slim image from the original's inspect data (`config`,
/// `architecture`, `os`, `variant`, `created`) and the new layer's `diff_id`.
pub fn build(original: &bollard::models::ImageInspect, diff_id: &str, labels: &SlimLabels) -> ImageConfig {
    let mut config = original.config.as_ref().map(|c| serde_json::to_value(c).unwrap_or(Value::Null)).unwrap_or(Value::Null);
    if !config.is_object() {
        config = Value::Object(Map::new());
    }
    let object = config.as_object_mut().expect("an object");
    let merged = object.entry("Labels").or_insert_with(|| Value::Object(Map::new()));
    if !merged.is_object() {
        *merged = Value::Object(Map::new());
    }
    let merged = merged.as_object_mut().expect("an object");
    merged.insert("slim.source.image".into(), labels.source_image.clone().into());
    merged.insert("slim.source.id".into(), labels.source_id.clone().into());
    merged.insert("slim.version".into(), env!("CARGO_PKG_VERSION").into());
    let created = original.created.clone().unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let mut doc = json!({
        "architecture": original.architecture.clone().unwrap_or_else(|| "amd64".into()),
        "os": original.os.clone().unwrap_or_else(|| "linux".into()),
        "created": created,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{
            "created": created,
            "created_by": format!("slim build {}", labels.source_image),
            "comment": format!("minified by slim {} from {}", env!("CARGO_PKG_VERSION"), labels.source_id),
        }],
    });
    if let Some(variant) = original.variant.clone().filter(|v| !v.is_empty()) {
        doc["variant"] = variant.into();
    }
    let bytes = serde_json::to_vec(&sorted(doc)).expect("JSON values always serialize");
    let id = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    ImageConfig { bytes, id }
}

/// Seconds since the epoch of an RFC 3339 time as the engine writes it
/// (`2026-01-02T03:04:05.123456789Z` or with a `+hh:mm` offset); 0 when it does not parse.
pub fn epoch_seconds(rfc3339: &str) -> u64 {
    let parse = || -> Option<i64> {
        let (date, rest) = rfc3339.split_once('T')?;
        let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        let time_end = rest.find(['Z', '+', '-', '.']).unwrap_or(rest.len());
        let mut t = rest[..time_end].splitn(3, ':').map(|x| x.parse::<i64>().ok());
        let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
        let offset = match rest.rfind(['+', '-']) {
            Some(i) if i >= time_end => {
                let sign = if rest.as_bytes()[i] == b'-' { -1 } else { 1 };
                let (oh, om) = rest[i + 1..].split_once(':')?;
                sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
            }
            _ => 0,
        };
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
    };
    parse().filter(|s| *s >= 0).unwrap_or(0) as u64
}

/// The same value with every object's keys in sorted order, whatever map serde_json uses.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ImageConfig as Cfg, ImageInspect};
    use std::collections::HashMap;

    fn original() -> ImageInspect {
        ImageInspect {
            architecture: Some("amd64".into()),
            os: Some("linux".into()),
            created: Some("2026-01-02T03:04:05Z".into()),
            config: Some(Cfg {
                user: Some("app".into()),
                cmd: Some(vec!["python3".into(), "/app/server.py".into()]),
                exposed_ports: Some(vec!["8080/tcp".into()]),
                labels: Some(HashMap::from([("b".into(), "2".into()), ("a".into(), "1".into()), ("c".into(), "3".into())])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), 0);
        assert_eq!(epoch_seconds("2026-12-04T21:35:47.123456789Z"), 1_796_420_147);
        assert_eq!(epoch_seconds("2026-12-04T22:35:47+01:00"), 1_796_420_147);
        assert_eq!(epoch_seconds("2000-02-29T12:00:00Z"), 951_825_600);
        assert_eq!(epoch_seconds("not a time"), 0);
    }

    #[test]
    fn verbatim_config_with_labels_and_stable_id() {
        let labels = SlimLabels { source_image: "app:1".into(), source_id: "sha256:abc".into() };
        let one = build(&original(), "sha256:d1", &labels);
        let two = build(&original(), "sha256:d1", &labels);
        assert_eq!(one.bytes, two.bytes);
        assert_eq!(one.id, two.id);
        let v: Value = serde_json::from_slice(&one.bytes).unwrap();
        assert_eq!(v["config"]["User"], "app");
        assert_eq!(v["config"]["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(v["config"]["Labels"]["a"], "1");
        assert_eq!(v["config"]["Labels"]["slim.source.id"], "sha256:abc");
        assert_eq!(v["rootfs"]["diff_ids"], json!(["sha256:d1"]));
        assert_eq!(v["created"], "2026-01-02T03:04:05Z");
        let other = build(&original(), "sha256:d2", &labels);
        assert_ne!(other.id, one.id);
    }
}
