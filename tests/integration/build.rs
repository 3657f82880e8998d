//! `slim build` end to end on the fixtures.

use crate::harness::*;

#[test]
fn python_web_app_is_small_and_answers_the_same() {
    let _engine = exclusive();
    let source = "slim-fixture/python-web:latest";
    let tag = "slim-fixture/python-web:latest-slim";
    remove_image(tag);

    let run = slim(&["build", source]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), tag);
    assert!(image_exists(tag));
    assert_eq!(run.leftovers(), Vec::<String>::new(), "containers left behind");

    let (original, slimmed) = (image_size(source), image_size(tag));
    assert!(slimmed * 100 < original * 15, "slim {slimmed} is not under 15% of {original}");

    let paths = image_paths(tag);
    assert!(!paths.iter().any(|p| p.trim_start_matches("./").starts_with(".slim")), "the sensor leaked into the image");
    assert!(!paths.iter().any(|p| p == ".dockerenv"), "init-layer files leaked into the image");

    let before = Container::serve(source, 8080);
    let after = Container::serve(tag, 8080);
    let (a, b) = (get(before.host_port(8080), "/"), get(after.host_port(8080), "/"));
    assert_eq!(a.status, 200);
    assert_eq!(a, b, "slim image logs:\n{}", after.logs());
}

#[test]
fn explicit_tag_and_config_kept() {
    let _engine = exclusive();
    let tag = "slim-test/python-web:small";
    remove_image(tag);
    let run = slim(&["build", "slim-fixture/python-web:latest", "--tag", tag, "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fmt = "{{json .Config.Cmd}} {{.Config.User}} {{json .Config.ExposedPorts}} {{.Config.WorkingDir}}";
    assert_eq!(
        docker_ok(&["image", "inspect", "-f", fmt, tag]),
        docker_ok(&["image", "inspect", "-f", fmt, "slim-fixture/python-web:latest"])
    );
    let label = docker_ok(&["image", "inspect", "-f", "{{index .Config.Labels \"slim.source.image\"}}", tag]);
    assert_eq!(label, "slim-fixture/python-web:latest");
    remove_image(tag);
}

#[test]
fn a_batch_image_that_exits_0_is_a_complete_run() {
    let _engine = exclusive();
    let tag = "slim-test/batch:1";
    remove_image(tag);
    let run = slim(&["build", "slim-fixture/batch:latest", "--tag", tag]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = docker(&["run", "--rm", tag]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"{"distro": "debian", "ok": true}"#);
    assert_eq!(run.leftovers(), Vec::<String>::new());
    remove_image(tag);
}

#[test]
fn surroundings_apply_to_the_runs_not_to_the_slim_image() {
    let _engine = exclusive();
    let tag = "slim-test/python-web:env";
    remove_image(tag);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.env"), "# the greeting\nAPP_GREETING=hola\n").unwrap();
    let run = slim_in(
        dir.path(),
        &["build", "slim-fixture/python-web:latest", "--tag", tag, "--env-file", "app.env", "--hostname", "probe-host"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = read_report(dir.path());
    assert!(report["verification"]["verdict"] == "passed");
    // The analysis saw the overridden greeting: its `/` is the page that says hola ...
    let hola = docker_ok(&["run", "-d", "-e", "APP_GREETING=hola", "-p", "127.0.0.1::8080", "slim-fixture/python-web:latest"]);
    let with_hola = Container { id: hola };
    let page = get(with_hola.host_port(8080), "/");
    use sha2::Digest;
    assert_eq!(report["probes"][0]["original"]["body_sha256"], hex::encode(sha2::Sha256::digest(&page.body)));
    // ... and the slim image's own config still says hello.
    let env = docker_ok(&["image", "inspect", "-f", "{{json .Config.Env}}", tag]);
    assert!(env.contains("APP_GREETING=hello") && !env.contains("hola"), "{env}");
    let after = Container::serve(tag, 8080);
    assert!(String::from_utf8_lossy(&get(after.host_port(8080), "/").body).contains("<h1>hello</h1>"));
    remove_image(tag);
}
