//! Shared helpers: running slim, the docker CLI (fixtures and checks only), plain HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// slim runs are serialized, to keep the load on a 2-core machine bounded.
static ENGINE: Mutex<()> = Mutex::new(());

/// Takes the engine for one test.
pub fn exclusive() -> MutexGuard<'static, ()> {
    ENGINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a slim run did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `slim` binary under test in a fresh directory (its default report lands there).
pub fn slim(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    slim_in(dir.path(), args)
}

/// Runs the `slim` binary under test in `dir`.
pub fn slim_in(dir: &std::path::Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_slim")).args(args).current_dir(dir).output().expect("run slim");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("slim {args:?} -> {}\n{}", run.code, run.stderr);
    run
}

/// The JSON report a run left in `dir`.
pub fn read_report(dir: &std::path::Path) -> serde_json::Value {
    let raw = std::fs::read(dir.join("slim.report.json")).expect("slim.report.json");
    serde_json::from_slice(&raw).expect("the report is JSON")
}

/// Runs the docker CLI (tests only; the product uses the API).
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("run docker")
}

/// docker's stdout, trimmed; panics when docker fails.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// True when the image exists locally.
pub fn image_exists(name: &str) -> bool {
    docker(&["image", "inspect", name]).status.success()
}

/// Size of a local image in bytes.
pub fn image_size(name: &str) -> u64 {
    docker_ok(&["image", "inspect", "-f", "{{.Size}}", name]).parse().expect("size")
}

impl Run {
    /// The run's ID, from its `slim: run <id>` line.
    pub fn id(&self) -> String {
        let line = self.stderr.lines().find_map(|l| l.strip_prefix("slim: run")).expect("a `slim: run` line");
        line.split_whitespace().next().expect("a run id").to_owned()
    }

    /// Containers this run left behind (other runs, of other tests or jobs, do not count).
    pub fn leftovers(&self) -> Vec<String> {
        let out = docker_ok(&["ps", "-aq", "--filter", &format!("label=slim.run={}", self.id())]);
        out.lines().map(str::to_owned).collect()
    }
}

/// Removes an image if it exists.
pub fn remove_image(name: &str) {
    let _ = docker(&["rmi", "-f", name]);
}

/// A container started for a test, removed on drop.
pub struct Container {
    pub id: String,
}

impl Container {
    /// `docker run -d` with `port` published on 127.0.0.1.
    pub fn serve(image: &str, port: u16) -> Container {
        let publish = format!("127.0.0.1::{port}");
        Container { id: docker_ok(&["run", "-d", "-p", &publish, image]) }
    }

    /// The host port `port` is published on.
    pub fn host_port(&self, port: u16) -> u16 {
        let mapping = docker_ok(&["port", &self.id, &format!("{port}/tcp")]);
        let first = mapping.lines().next().expect("a mapping");
        first.rsplit(':').next().unwrap().parse().expect("port")
    }

    /// The HEALTHCHECK status once it settles (`healthy`, `unhealthy`), waiting up to 60 s.
    pub fn health(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = docker_ok(&["inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", &self.id]);
            if status != "starting" || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The container's output so far.
    pub fn logs(&self) -> String {
        let out = docker(&["logs", &self.id]);
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.id]);
    }
}

/// An HTTP answer: status and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `GET path` on 127.0.0.1:port with HTTP/1.0, retried until the app answers (30 s).
pub fn get(port: u16, path: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match try_get(port, path) {
            Ok(answer) => return answer,
            Err(e) if Instant::now() > deadline => panic!("GET {path} on port {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn try_get(port: u16, path: &str) -> std::io::Result<Answer> {
    let mut sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(sock, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no HTTP answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("no status"))?;
    Ok(Answer { status, body: raw[split + 4..].to_vec() })
}

/// The paths in a single-layer image's layer (from `docker save`, so nothing is added).
pub fn image_paths(image: &str) -> Vec<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("docker save {image} | tar -xO --wildcards '*/layer.tar' | tar -t"))
        .output()
        .expect("save");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}
