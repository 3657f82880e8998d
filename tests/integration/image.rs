//! The slim image is the original minus unused files: metadata, config, reproducibility, and
//! the OCI archive output.

use crate::harness::*;
use std::collections::HashMap;

/// One layer entry as the slim image stores it.
#[derive(Debug)]
struct Entry {
    mode: u32,
    uid: u64,
    kind: tar::EntryType,
    link: Option<Vec<u8>>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn layer_entries(image: &str) -> HashMap<Vec<u8>, Entry> {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer.tar");
    let script = format!("docker save {image} | tar -xO --wildcards '*/layer.tar' > {}", layer.display());
    assert!(std::process::Command::new("sh").arg("-c").arg(script).status().unwrap().success());
    let mut archive = tar::Archive::new(std::fs::File::open(&layer).unwrap());
    let mut out = HashMap::new();
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        let xattrs = e
            .pax_extensions()
            .unwrap()
            .map(|exts| exts.filter_map(Result::ok).filter_map(|x| Some((x.key().ok()?.to_owned(), x.value_bytes().to_vec()))).collect())
            .unwrap_or_default();
        let h = e.header();
        let entry = Entry {
            mode: h.mode().unwrap() & 0o7777,
            uid: h.uid().unwrap(),
            kind: h.entry_type(),
            link: e.link_name_bytes().map(|l| l.into_owned()),
            xattrs,
        };
        out.insert(e.path_bytes().trim_ascii_end().strip_suffix(b"/").unwrap_or(&e.path_bytes()).to_vec(), entry);
    }
    out
}

fn config_without_slim_labels(image: &str) -> serde_json::Value {
    let mut config: serde_json::Value = serde_json::from_str(&docker_ok(&["image", "inspect", "-f", "{{json .Config}}", image])).unwrap();
    if let Some(labels) = config["Labels"].as_object_mut() {
        labels.retain(|k, _| !k.starts_with("slim."));
    }
    if config["Labels"].as_object().is_some_and(|l| l.is_empty()) {
        config["Labels"] = serde_json::Value::Null;
    }
    config
}

#[test]
fn metadata_survives_and_config_is_the_originals() {
    let _engine = exclusive();
    let (source, tag) = ("slim-fixture/fidelity:latest", "slim-test/fidelity:1");
    remove_image(tag);
    let dir = tempfile::tempdir().unwrap();
    let volumes_before = docker_ok(&["volume", "ls", "-q"]);
    let run = slim_in(dir.path(), &["build", source, "--tag", tag, "--output", "oci:slim.oci.tar"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(docker_ok(&["volume", "ls", "-q"]), volumes_before, "the runs' anonymous volumes (VOLUME /srv/data) are removed");
    let entries = layer_entries(tag);
    let get = |p: &str| entries.get(p.as_bytes()).unwrap_or_else(|| panic!("{p} is missing from the slim image"));
    assert_eq!(get("usr/local/bin/suid-id").mode, 0o4755, "setuid bit");
    let caps = &get("usr/local/bin/capped").xattrs;
    assert!(caps.iter().any(|(k, v)| k == "SCHILY.xattr.security.capability" && v.len() == 20), "file capabilities: {caps:?}");
    let (one, two) = (get("srv/data/one.txt"), get("srv/data/two.txt"));
    assert!(
        (one.kind.is_hard_link() && one.link.as_deref() == Some(&b"srv/data/two.txt"[..]))
            || (two.kind.is_hard_link() && two.link.as_deref() == Some(&b"srv/data/one.txt"[..])),
        "one hard link between one.txt and two.txt: {one:?} {two:?}"
    );
    for (link, target) in [("opt/chain/a", "/opt/chain/b"), ("opt/chain/b", "c"), ("opt/chain/c", "real.txt")] {
        assert_eq!(get(link).link.as_deref(), Some(target.as_bytes()), "symlink {link}");
    }
    assert!(entries.contains_key(&b"opt/chain/real.txt"[..]));
    let owned = get("srv/data/owned.txt");
    assert_eq!((owned.uid != 0, owned.mode), (true, 0o640), "owner and mode of owned.txt");
    assert_eq!(get("srv/spool").mode, 0o1770, "sticky directory");
    assert_eq!(get("tmp").mode, 0o1777, "/tmp");
    assert!(entries.keys().any(|k| k.starts_with(b"srv/data/caf\xe9")), "a non-UTF-8 file name survives");
    for init in [".dockerenv", "etc/hostname", "etc/resolv.conf"] {
        assert!(!entries.contains_key(init.as_bytes()), "{init} is the engine's, not the image's");
    }
    assert_eq!(config_without_slim_labels(tag), config_without_slim_labels(source), "Config differs beyond slim's labels");

    // The answer is the same, the HEALTHCHECK (urllib.request: modules and libssl the app never
    // loads) passes, the OCI archive is a valid layout, and it loads back.
    let (before, after) = (Container::serve(source, 8090), Container::serve(tag, 8090));
    assert_eq!(get_http(&before), get_http(&after), "logs:\n{}", after.logs());
    assert_eq!(after.health(), "healthy", "logs:\n{}", after.logs());
    let oci = dir.path().join("slim.oci.tar");
    let summary = slim::writer::oci::verify_layout(std::fs::File::open(&oci).unwrap()).expect("a valid OCI layout");
    assert_eq!(summary.ref_name, "1");
    assert_eq!(summary.config_digest, docker_ok(&["image", "inspect", "-f", "{{.Id}}", tag]));
    if which("skopeo") {
        let back = "slim-test/fidelity:from-oci";
        let out = std::process::Command::new("skopeo")
            .args(["copy", &format!("oci-archive:{}", oci.display()), &format!("docker-daemon:{back}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(docker_ok(&["image", "inspect", "-f", "{{.Id}}", back]), docker_ok(&["image", "inspect", "-f", "{{.Id}}", tag]));
        remove_image(back);
    }
    assert_eq!(run.leftovers(), Vec::<String>::new());
    remove_image(tag);
}

#[test]
fn includes_add_paths_with_their_closure() {
    let _engine = exclusive();
    let tag = "slim-test/included:1";
    remove_image(tag);
    let run = slim(&[
        "build",
        "slim-fixture/python-web:latest",
        "--tag",
        tag,
        "--no-crawl",
        "--include-shell",
        "--include",
        "/etc/debian_version",
        "--include",
        "/usr/share/doc/python3*/copyright",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = docker(&["run", "--rm", "--entrypoint", "/bin/sh", tag, "-c", "ls /app >/dev/null && cat /etc/debian_version"]);
    assert!(out.status.success(), "the shell and ls work: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
    let entries = layer_entries(tag);
    assert!(entries.keys().any(|k| k.starts_with(b"usr/share/doc/python3") && k.ends_with(b"/copyright")), "the glob matched");
    remove_image(tag);
}

fn get_http(c: &Container) -> Answer {
    get(c.host_port(8090), "/")
}

fn which(tool: &str) -> bool {
    std::process::Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

#[test]
fn two_builds_give_the_same_image_id() {
    let _engine = exclusive();
    let (a, b) = ("slim-test/repro:a", "slim-test/repro:b");
    for tag in [a, b] {
        remove_image(tag);
        let run = slim(&["build", "slim-fixture/nginx-site:latest", "--tag", tag, "-q"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let id = |t| docker_ok(&["image", "inspect", "-f", "{{.Id}}", t]);
    assert_eq!(id(a), id(b));
    remove_image(a);
    remove_image(b);
}
