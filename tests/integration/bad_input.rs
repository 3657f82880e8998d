//! Bad input: a clear message, the right exit code, and nothing left behind.

use crate::harness::*;

#[test]
fn missing_image_is_exit_1_and_named() {
    let _engine = exclusive();
    let run = slim(&["build", "slim-fixture/does-not-exist:1"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("slim-fixture/does-not-exist:1"), "{}", run.stderr);
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    assert_eq!(run.leftovers(), Vec::<String>::new(), "containers left behind");
}

#[test]
fn image_id_without_tag_is_exit_1() {
    let _engine = exclusive();
    let id = docker_ok(&["image", "inspect", "-f", "{{.Id}}", "slim-fixture/crasher:latest"]);
    let run = slim(&["build", &id[7..19]]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--tag"), "{}", run.stderr);
    assert_eq!(run.leftovers(), Vec::<String>::new(), "containers left behind");
}

#[test]
fn app_that_exits_at_once_is_exit_4_with_its_output() {
    let _engine = exclusive();
    remove_image("slim-fixture/crasher:latest-slim");
    let run = slim(&["build", "slim-fixture/crasher:latest"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("exit code 3"), "{}", run.stderr);
    assert!(run.stderr.contains("config missing: /etc/app.conf"), "{}", run.stderr);
    assert_eq!(run.leftovers(), Vec::<String>::new(), "containers left behind");
    assert!(!image_exists("slim-fixture/crasher:latest-slim"));
}
