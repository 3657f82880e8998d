//! Repair: paths a failing slim image looked for, that the original has, go back in, with their
//! closure computed by the sensor against the original's filesystem (no app runs there).

use crate::analyze::slim_dir_archive;
use crate::engine::{Engine, RUN_LABEL};
use crate::error::{Error, Result};
use crate::exclude::Excludes;
use bollard::models::{ContainerCreateBody, HostConfig};
use slim_sensor::paths::PathBytes;
use slim_sensor::report::{KeptPath, Reason, Report};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What a repair round may add, split by whether the user's excludes allow it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Present in the original, not excluded.
    pub add: Vec<PathBytes>,
    /// Present in the original, excluded by the user (path, pattern).
    pub excluded: Vec<(PathBytes, String)>,
}

/// Sorts `missing` (paths the slim image looked for) into what the original has and may go
/// back, and what the user excluded. Paths the original lacks are not candidates.
pub fn candidates(missing: &[PathBytes], original_paths: &HashSet<Vec<u8>>, excludes: &Excludes) -> Candidates {
    let mut out = Candidates::default();
    let unique: BTreeSet<&PathBytes> = missing.iter().collect();
    for path in unique {
        let trimmed = if path.0.len() > 1 { path.0.strip_suffix(b"/").unwrap_or(&path.0) } else { &path.0 };
        if !original_paths.contains(trimmed) {
            continue;
        }
        match excludes.matching(trimmed) {
            Some(pattern) => out.excluded.push((path.clone(), pattern.to_owned())),
            None => out.add.push(path.clone()),
        }
    }
    out
}

/// The keep-set of `seeds` computed by the sensor inside a never-networked container of the
/// original image (`closure` subcommand), so symlinks and ELF needs resolve as they did there.
pub async fn closure_on_original(
    engine: &Engine,
    image_id: &str,
    run: &str,
    sensor: &[u8],
    seeds: &[KeptPath],
    certs: bool,
    nss: bool,
) -> Result<Vec<KeptPath>> {
    let dir = slim_sensor::SENSOR_DIR;
    let mut entrypoint = vec![format!("{dir}/sensor"), "closure".into(), format!("{dir}/seeds.json"), format!("{dir}/closure.json")];
    if certs {
        entrypoint.push("--include-certs".into());
    }
    if nss {
        entrypoint.push("--include-nss".into());
    }
    let body = ContainerCreateBody {
        image: Some(image_id.to_owned()),
        entrypoint: Some(entrypoint),
        cmd: Some(Vec::new()),
        user: Some("0:0".into()),
        network_disabled: Some(true),
        labels: Some(HashMap::from([(RUN_LABEL.to_owned(), run.to_owned())])),
        host_config: Some(HostConfig { network_mode: Some("none".into()), ..Default::default() }),
        ..Default::default()
    };
    let id = engine.create(body).await?;
    let seeds_json = serde_json::to_vec(seeds).map_err(|e| Error::Engine(format!("encoding the repair seeds: {e}")))?;
    engine.upload(&id, "/", slim_dir_archive(&[("sensor", sensor, 0o755), ("seeds.json", &seeds_json, 0o644)])?).await?;
    engine.start(&id).await?;
    let code = engine.wait(&id).await?;
    if code != 0 {
        return Err(Error::Engine(format!("the sensor's closure run on the original image failed with exit code {code}")));
    }
    let raw = engine.read_file(&id, &format!("{dir}/closure.json")).await?;
    let report: Report = serde_json::from_slice(&raw).map_err(|e| Error::Engine(format!("the closure report is unreadable: {e}")))?;
    Ok(report.keep)
}

/// The seeds for the next round: the current keep-set plus the additions, as looked-up paths.
pub fn next_seeds(keep: &[KeptPath], add: &[PathBytes]) -> Vec<KeptPath> {
    let mut seeds = keep.to_vec();
    seeds.extend(add.iter().map(|p| KeptPath { path: p.clone(), reason: Reason::LookedUp }));
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_original_paths_and_excludes_named() {
        let original: HashSet<Vec<u8>> =
            [b"/app/items.json".to_vec(), b"/usr/lib/libz.so.1".to_vec(), b"/etc".to_vec()].into_iter().collect();
        let excludes = Excludes::new(&["/app/*.json".to_owned()]).unwrap();
        let missing: Vec<PathBytes> = ["/app/items.json", "/usr/lib/libz.so.1", "/usr/lib/libz.so.1", "/nowhere", "/etc/"]
            .iter()
            .map(|p| PathBytes(p.as_bytes().to_vec()))
            .collect();
        let c = candidates(&missing, &original, &excludes);
        assert_eq!(c.add, vec![PathBytes(b"/etc/".to_vec()), PathBytes(b"/usr/lib/libz.so.1".to_vec())]);
        assert_eq!(c.excluded, vec![(PathBytes(b"/app/items.json".to_vec()), "/app/*.json".to_owned())]);
    }
}
