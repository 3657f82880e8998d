//! Prove, then tag: verification, repair, and the reports.

use crate::harness::*;
use crate::schema;

#[test]
fn excluding_a_needed_file_fails_verification_and_names_it() {
    let _engine = exclusive();
    let tag = "slim-test/excluded:1";
    remove_image(tag);
    let run = slim(&["build", "slim-fixture/python-web:latest", "--tag", tag, "--exclude", "/app/server.py"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("/app/server.py"), "{}", run.stderr);
    assert!(run.stderr.contains("exclude"), "{}", run.stderr);
    assert!(!image_exists(tag), "no tag after a failed verification");
    assert_eq!(run.leftovers(), Vec::<String>::new(), "containers left behind");
}

#[test]
fn a_dropped_path_fails_without_repair_and_comes_back_with_it() {
    let _engine = exclusive();
    let tag = "slim-test/repaired:1";
    remove_image(tag);
    let drop = ["--debug-drop-path", "/app/server.py"];

    let no_repair = slim(&["build", "slim-fixture/python-web:latest", "--tag", tag, "--repair-rounds", "0", drop[0], drop[1]]);
    assert_eq!(no_repair.code, 3, "{}", no_repair.stderr);
    assert!(!image_exists(tag));

    let dir = tempfile::tempdir().unwrap();
    let repaired =
        slim_in(dir.path(), &["build", "slim-fixture/python-web:latest", "--tag", tag, drop[0], drop[1], "--report-md", "summary.md"]);
    assert_eq!(repaired.code, 0, "{}", repaired.stderr);
    assert!(image_exists(tag));
    let report = read_report(dir.path());
    let added = report["repairs"][0]["added"].as_array().expect("a repair round");
    assert!(added.iter().any(|p| p == "/app/server.py"), "{added:?}");
    assert_eq!(report["verification"]["verdict"], "passed");
    assert_eq!(report["outcome"]["exit_code"], 0);
    let errors = schema::validate_report(&report);
    assert!(errors.is_empty(), "the report breaks its schema: {errors:#?}");
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("Repair round 1") && md.contains(tag), "{md}");
    assert_eq!(repaired.leftovers(), Vec::<String>::new(), "containers left behind");
    remove_image(tag);
}

#[test]
fn a_failed_build_still_writes_a_valid_report() {
    let _engine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let run = slim_in(dir.path(), &["build", "slim-fixture/crasher:latest"]);
    assert_eq!(run.code, 4);
    let report = read_report(dir.path());
    assert_eq!(report["outcome"]["exit_code"], 4);
    assert!(report["slim"].is_null());
    assert_eq!(schema::validate_report(&report), Vec::<String>::new());
}
