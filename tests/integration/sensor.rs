//! What the sensor must see: lookups without opens, a shell entrypoint, dlopen, setuid, and a
//! server whose workers run under another user.

use crate::harness::*;

#[test]
fn lookups_dlopen_setuid_and_shell_entrypoint_survive() {
    let _engine = exclusive();
    let (source, tag) = ("slim-fixture/lookups:latest", "slim-fixture/lookups:latest-slim");
    remove_image(tag);
    let run = slim(&["build", source]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = Container::serve(source, 8000);
    let after = Container::serve(tag, 8000);
    let (a, b) = (get(before.host_port(8000), "/"), get(after.host_port(8000), "/"));
    let text = String::from_utf8_lossy(&a.body);
    for fact in
        [r#""stat": true"#, r#""access": true"#, r#""readlink": "releases/v2""#, r#""mkdir": true"#, r#""setuid": "0""#, r#""uid": 999"#]
    {
        assert!(text.contains(fact), "the original itself answers {text}");
    }
    assert_eq!(a, b, "slim image logs:\n{}", after.logs());
    let paths = image_paths(tag);
    assert!(paths.iter().any(|p| p == "var/cache/app/"), "the mkdir target's parent is kept");
    assert!(!paths.iter().any(|p| p.starts_with("var/cache/app/run")), "a directory the app created is not copied");
    assert!(paths.iter().any(|p| p.contains("libz.so.1")), "the dlopen()ed library is kept");
    assert!(
        paths.iter().any(|p| p.ends_with("ca-certificates.crt") || p.starts_with("etc/ssl/certs"))
            || !image_paths(source).iter().any(|p| p.starts_with("etc/ssl/certs/"))
    );
    assert_eq!(run.leftovers(), Vec::<String>::new(), "containers left behind");
}

#[test]
fn nginx_with_workers_as_www_data_serves_from_the_slim_image() {
    let _engine = exclusive();
    let (source, tag) = ("slim-fixture/nginx-site:latest", "slim-fixture/nginx-site:latest-slim");
    remove_image(tag);
    let run = slim(&["build", source]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = Container::serve(source, 80);
    let after = Container::serve(tag, 80);
    let (a, b) = (get(before.host_port(80), "/"), get(after.host_port(80), "/"));
    assert_eq!(a.status, 200);
    assert_eq!(a, b, "slim image logs:\n{}", after.logs());
    let workers = docker_ok(&["top", &after.id, "-o", "pid,user,args"]);
    assert!(workers.contains("www-data"), "nginx workers run as www-data:\n{workers}");
    let original = image_size(source);
    assert!(image_size(tag) * 5 < original, "nginx slim image is not under 20% of the original");
}

#[test]
fn the_ptrace_tracer_sees_the_same_lookups() {
    let _engine = exclusive();
    let (source, tag) = ("slim-fixture/lookups:latest", "slim-test/lookups:ptrace");
    remove_image(tag);
    let dir = tempfile::tempdir().unwrap();
    let run = slim_in(dir.path(), &["build", source, "--tag", tag, "--tracer", "ptrace"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = read_report(dir.path());
    assert_eq!(report["sensor"]["tracer"], "ptrace");
    let (before, after) = (Container::serve(source, 8000), Container::serve(tag, 8000));
    assert_eq!(get(before.host_port(8000), "/"), get(after.host_port(8000), "/"), "logs:\n{}", after.logs());
    assert_eq!(run.leftovers(), Vec::<String>::new());
    remove_image(tag);
}

#[test]
fn fanotify_alone_misses_lookups_and_verification_catches_it() {
    let _engine = exclusive();
    let tag = "slim-test/lookups:untraced";
    remove_image(tag);
    // Python only stat()s the .py sources of its cached modules: without the tracer they are
    // left out, the slim image cannot start, and no tag is written.
    let run = slim(&["build", "slim-fixture/lookups:latest", "--tag", tag, "--tracer", "off"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(!image_exists(tag));
    assert_eq!(run.leftovers(), Vec::<String>::new());
}
