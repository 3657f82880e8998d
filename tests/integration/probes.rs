//! Probes decide what the sensor sees: the crawl, custom requests and probe files.

use crate::harness::*;

#[test]
fn crawled_pages_with_query_strings_work_in_the_slim_image() {
    let _engine = exclusive();
    let (source, tag) = ("slim-fixture/python-web:latest", "slim-test/python-web:crawled");
    remove_image(tag);
    let run = slim(&["build", source, "--tag", tag]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = Container::serve(source, 8080);
    let after = Container::serve(tag, 8080);
    // `/api/items?limit=2` is only linked from `/`: it reads items.json, which nothing else opens.
    for path in ["/about", "/api/items?limit=2", "/static/style.css"] {
        let (a, b) = (get(before.host_port(8080), path), get(after.host_port(8080), path));
        assert_eq!(a.status, 200, "{path} on the original");
        assert_eq!(a, b, "{path}; slim image logs:\n{}", after.logs());
    }
    assert_eq!(run.leftovers(), Vec::<String>::new());
    remove_image(tag);
}

#[test]
fn nginx_pages_linked_from_the_index_work() {
    let _engine = exclusive();
    let (source, tag) = ("slim-fixture/nginx-site:latest", "slim-test/nginx-site:crawled");
    remove_image(tag);
    let run = slim(&["build", source, "--tag", tag]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = Container::serve(tag, 80);
    for path in ["/docs/intro.html", "/style.css", "/logo.svg"] {
        assert_eq!(get(after.host_port(80), path).status, 200, "{path}; logs:\n{}", after.logs());
    }
    remove_image(tag);
}

#[test]
fn probe_flags_and_probe_files_drive_what_is_kept() {
    let _engine = exclusive();
    let (source, tag) = ("slim-fixture/python-web:latest", "slim-test/python-web:probed");
    remove_image(tag);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("probes.yaml"), "- path: /api/items?limit=1\n  status: 200\n").unwrap();
    let run = slim_in(dir.path(), &["build", source, "--tag", tag, "--no-crawl", "--probe", "GET /about", "--probe-file", "probes.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = Container::serve(tag, 8080);
    assert_eq!(get(after.host_port(8080), "/about").status, 200);
    assert_eq!(get(after.host_port(8080), "/api/items?limit=3").status, 200, "logs:\n{}", after.logs());
    let report = read_report(dir.path());
    let paths: Vec<&str> = report["probes"].as_array().unwrap().iter().map(|p| p["original"]["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["/", "/about", "/api/items?limit=1"]);
    remove_image(tag);
}

#[test]
fn a_malformed_probe_file_is_exit_1_with_file_and_line() {
    let _engine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), "[\n  {\"path\": \"/\"},\n  {\"path\": }\n]\n").unwrap();
    let run = slim_in(dir.path(), &["build", "slim-fixture/python-web:latest", "--probe-file", "bad.json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("bad.json") && run.stderr.contains('3'), "{}", run.stderr);
}

#[test]
fn a_user_probe_failing_on_the_original_is_exit_4() {
    let _engine = exclusive();
    let run = slim(&["build", "slim-fixture/python-web:latest", "--tag", "slim-test/never:1", "--probe", "GET /missing"]);
    // /missing answers 404 on the original: without an expected status that is an answer, and the
    // build goes on; with a probe file demanding 200 it is the app's failure.
    assert_eq!(run.code, 0, "{}", run.stderr);
    remove_image("slim-test/never:1");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.json"), r#"[{"path": "/missing", "status": 200}]"#).unwrap();
    let run = slim_in(dir.path(), &["build", "slim-fixture/python-web:latest", "--tag", "slim-test/never:1", "--probe-file", "p.json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("/missing") && run.stderr.contains("404"), "{}", run.stderr);
    assert!(!image_exists("slim-test/never:1"));
    assert_eq!(run.leftovers(), Vec::<String>::new());
}

#[test]
fn exec_and_host_exec_drive_the_analysis() {
    let _engine = exclusive();
    let (source, tag) = ("slim-fixture/python-web:latest", "slim-test/python-web:exec");
    remove_image(tag);
    let dir = tempfile::tempdir().unwrap();
    // The host command is the user's own test: it alone asks for /api/items (no crawl).
    let suite = r#"python3 -c "import os, urllib.request; urllib.request.urlopen(os.environ['SLIM_TARGET_URL'] + '/api/items?limit=1')""#;
    let run = slim_in(dir.path(), &["build", source, "--tag", tag, "--no-crawl", "--exec", "ls /app > /dev/null", "--host-exec", suite]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = Container::serve(tag, 8080);
    assert_eq!(get(after.host_port(8080), "/api/items?limit=2").status, 200, "logs:\n{}", after.logs());
    let out = docker(&["run", "--rm", "--entrypoint", "/bin/sh", tag, "-c", "ls /app > /dev/null"]);
    assert!(out.status.success(), "what the exec used is kept: {}", String::from_utf8_lossy(&out.stderr));
    let report = read_report(dir.path());
    let kinds: Vec<(&str, i64)> = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["original"]["kind"].as_str().unwrap().ends_with("exec"))
        .map(|p| (p["original"]["kind"].as_str().unwrap(), p["slim"]["exit_code"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("exec", 0), ("host-exec", 0)]);
    remove_image(tag);
}
