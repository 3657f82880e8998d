//! `slim-sensor`: PID 1 of slim's analysis container.

use slim_sensor::supervise::{self, RunOptions};
use slim_sensor::sys::signals;
use slim_sensor::trace::TracerMode;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: slim-sensor run [--user USER] [--stop-signal SIG] [--grace SECS] [--set-home] \
[--tracer seccomp|ptrace|off] [--no-fanotify] [--include-certs] [--include-nss] [--report-missing] [--include PATH|GLOB]... [--wait-ports P,P] [--volume PATH]... [--report PATH] -- COMMAND [ARG]...";

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|a| a.to_str()) {
        Some("closure") => std::process::exit(closure(&args[1..])),
        Some("exec") => std::process::exit(exec(&args[1..])),
        _ => {}
    }
    match parse(&args) {
        Ok(opts) => std::process::exit(supervise::run(&opts)),
        Err(message) => {
            eprintln!("slim-sensor: {message}\n{USAGE}");
            std::process::exit(125);
        }
    }
}

/// `slim-sensor closure SEEDS.json REPORT.json [--include-certs] [--include-nss]`.
fn closure(args: &[OsString]) -> i32 {
    let flag = |name: &str| args.iter().any(|a| a == name);
    let files: Vec<&OsString> = args.iter().filter(|a| !a.to_string_lossy().starts_with("--")).collect();
    let [seeds, report] = files[..] else {
        eprintln!("slim-sensor: usage: slim-sensor closure SEEDS.json REPORT.json [--include-certs] [--include-nss]");
        return 125;
    };
    match supervise::closure_only(seeds.as_ref(), report.as_ref(), flag("--include-certs"), flag("--include-nss")) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("slim-sensor: {e}");
            125
        }
    }
}

/// `slim-sensor exec --user USER --record FILE -- COMMAND [ARG]...`.
fn exec(args: &[OsString]) -> i32 {
    let usage = "usage: slim-sensor exec [--user USER] --record FILE -- COMMAND [ARG]...";
    let split = args.iter().position(|a| a == "--");
    let (flags, command) = match split {
        Some(i) if i + 1 < args.len() => (&args[..i], &args[i + 1..]),
        _ => {
            eprintln!("slim-sensor: {usage}");
            return 125;
        }
    };
    let value = |name: &str| flags.iter().position(|a| a == name).and_then(|i| flags.get(i + 1)).map(|v| v.to_string_lossy().into_owned());
    let Some(record) = value("--record") else {
        eprintln!("slim-sensor: {usage}");
        return 125;
    };
    match supervise::exec(command, &value("--user").unwrap_or_default(), record.as_ref()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("slim-sensor: {e}");
            127
        }
    }
}

fn parse(args: &[OsString]) -> Result<RunOptions, String> {
    let mut it = args.iter();
    if it.next().and_then(|a| a.to_str()) != Some("run") {
        return Err("expected the `run` subcommand".into());
    }
    let mut opts = RunOptions {
        command: Vec::new(),
        user: String::new(),
        stop_signal: libc::SIGTERM,
        grace: Duration::from_secs(10),
        set_home: false,
        tracer: TracerMode::Seccomp,
        fanotify: true,
        volumes: Vec::new(),
        report_path: PathBuf::from(slim_sensor::REPORT_PATH),
        include_certs: false,
        include_nss: false,
        report_missing: false,
        includes: Vec::new(),
        wait_ports: None,
    };
    while let Some(arg) = it.next() {
        let flag = arg.to_str().ok_or("flags must be UTF-8")?;
        let mut value = || it.next().and_then(|v| v.to_str()).map(str::to_owned).ok_or(format!("{flag} needs a value"));
        match flag {
            "--" => {
                opts.command = it.cloned().collect();
                break;
            }
            "--user" => opts.user = value()?,
            "--stop-signal" => {
                let v = value()?;
                opts.stop_signal = signals::parse(&v).ok_or(format!("unknown signal {v:?}"))?;
            }
            "--grace" => opts.grace = Duration::from_secs_f64(value()?.parse().map_err(|_| "--grace takes seconds")?),
            "--set-home" => opts.set_home = true,
            "--tracer" => {
                opts.tracer = match value()?.as_str() {
                    "seccomp" => TracerMode::Seccomp,
                    "ptrace" => TracerMode::Ptrace,
                    "off" => TracerMode::Off,
                    other => return Err(format!("unknown tracer {other:?} (seccomp, ptrace or off)")),
                }
            }
            "--no-fanotify" => opts.fanotify = false,
            "--include-certs" => opts.include_certs = true,
            "--include-nss" => opts.include_nss = true,
            "--report-missing" => opts.report_missing = true,
            "--include" => opts.includes.push(value()?),
            "--wait-ports" => {
                let list = value()?;
                let ports = list.split(',').filter(|p| !p.is_empty()).map(str::parse).collect::<Result<Vec<u16>, _>>();
                opts.wait_ports = Some(ports.map_err(|_| format!("--wait-ports {list:?}: expected PORT[,PORT...]"))?);
            }
            "--volume" => opts.volumes.push(value()?.into()),
            "--report" => opts.report_path = value()?.into(),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if opts.command.is_empty() {
        return Err("no command to run after --".into());
    }
    Ok(opts)
}
