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
    assert_eq!(docker_ok(&["image", "inspect", "-f", fmt, tag]), docker_ok(&["image", "inspect", "-f", fmt, "slim-fixture/python-web:latest"]));
    let label = docker_ok(&["image", "inspect", "-f", "{{index .Config.Labels \"slim.source.image\"}}", tag]);
    assert_eq!(label, "slim-fixture/python-web:latest");
    remove_image(tag);
}
