#!/usr/bin/env python3
"""The measurements behind `make bench` (run through bench/bench.sh, which prepares the tools and
the slim-bench/big fixture and removes every container of the run on exit).

For each fixture, RUNS times, interleaved so a noisy machine hits both sides alike:
  - `slim build` end to end (wall clock) and its phases (from --report), peak RSS (GNU time);
  - the floor: `docker create` + `docker export | sha256sum` of the same image, plus the app's
    start-up time (from `docker run` until its published port answers HTTP on 127.0.0.1);
  - the raw export stream: `docker export | wc -c`, against slim's filter pass (report.writer).
Then once: peak RSS of `slim build` on the ~1 GB slim-bench/big fixture, and the sensor overhead
(wrk against nginx-site with and without the sensor as PID 1, through the same docker-proxy path).
Standard library only.
"""
import argparse
import http.client
import io
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import time

SLIM = os.environ.get("SLIM", "target/release/slim")
SENSOR = os.environ.get("SLIM_SENSOR", "target/x86_64-unknown-linux-gnu/release/slim-sensor")
RUN = os.environ.get("SLIM_BENCH_RUN", str(os.getpid()))
WORK = os.environ.get("SLIM_BENCH_WORK", "/tmp")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WRK_SECS = int(os.environ.get("BENCH_WRK_SECS", "5"))
WRK_ROUNDS = int(os.environ.get("BENCH_WRK_ROUNDS", "3"))
LABEL = f"slim-bench.run={RUN}"

# (image, container port) of the fixtures with an HTTP app.
FIXTURES = [
    ("slim-fixture/python-web:latest", 8080),
    ("slim-fixture/nginx-site:latest", 80),
    ("slim-fixture/lookups:latest", 8000),
]
BIG = ("slim-bench/big:latest", 8080)
LOAD = ("slim-fixture/nginx-site:latest", 80, ["nginx", "-g", "daemon off;"])

TARGETS = {
    "floor": 2.5,        # slim build / floor <= 2.5
    "rewrite": 1.25,     # raw export rate / slim write rate <= 1.25
    "rss_mb": 64.0,      # peak RSS on ~1 GB < 64 MB
    "sensor": 0.8,       # rps under the sensor / rps without >= 0.8
}

containers = []
counter = 0


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def sh(args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def name():
    global counter
    counter += 1
    return f"slim-bench-{RUN}-{counter}"


def remove(cid):
    subprocess.run(["docker", "rm", "-f", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if cid in containers:
        containers.remove(cid)


def cleanup():
    for cid in list(containers):
        remove(cid)


def short_tag(image):
    return "slim-bench/" + image.split("/")[-1].split(":")[0] + ":slim"


# ---------------------------------------------------------------- measurements

def image_id(ref):
    p = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def drop_untagged(old):
    """Removes OLD, the image a slim-bench/* tag pointed at before a rebuild, once nothing else
    tags it (slim's image ID differs from run to run, so each rebuild would leave one behind)."""
    p = subprocess.run(["docker", "image", "inspect", "-f", "{{len .RepoTags}}", old], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if p.returncode == 0 and p.stdout.strip() == "0":
        subprocess.run(["docker", "rmi", old], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def slim_build(image, tag):
    """One `slim build` under GNU time: wall seconds, report, peak RSS in KiB."""
    assert tag.startswith("slim-bench/")
    before = image_id(tag)
    report = os.path.join(WORK, "report.json")
    timing = os.path.join(WORK, "time.txt")
    for f in (report, timing):
        if os.path.exists(f):
            os.remove(f)
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v", "-o", timing, SLIM, "build", image, "--tag", tag, "--report", report, "-q"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"slim build {image} exited {p.returncode}:\n{p.stderr}")
    with open(report) as f:
        rep = json.load(f)
    if before and rep["slim"] and rep["slim"]["id"] != before:
        drop_untagged(before)
    rss = None
    with open(timing) as f:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
        if m:
            rss = int(m.group(1))
    phase_lines = re.findall(r"^slim: (\w+)\s+([\d.]+)s", p.stderr, re.M)
    return {"wall": wall, "report": rep, "rss_kb": rss, "stderr_phases": phase_lines}


def export(image, pipe):
    """`docker create` + `docker export IMAGE | PIPE`: (create s, export s, pipe output)."""
    n = name()
    t0 = time.monotonic()
    cid = sh(["docker", "create", "--name", n, "--label", LABEL, image]).stdout.strip()
    containers.append(cid)
    t1 = time.monotonic()
    out = sh(["bash", "-c", f"set -o pipefail; docker export {cid} | {pipe}"]).stdout.strip()
    t2 = time.monotonic()
    remove(cid)
    return t1 - t0, t2 - t1, out


def host_port(cid, port):
    for _ in range(100):
        p = subprocess.run(["docker", "port", cid, f"{port}/tcp"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in p.stdout.splitlines():
            if line.startswith("127.0.0.1:"):
                return int(line.rsplit(":", 1)[1])
        time.sleep(0.01)
    raise RuntimeError(f"no published port {port} on {cid}")


def wait_http(port, deadline):
    """Until GET / on 127.0.0.1:port gets any HTTP status line (docker-proxy accepts TCP first)."""
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/", headers={"Host": f"localhost:{port}"})
            r = c.getresponse()
            r.read()
            c.close()
            return r.status
        except (OSError, http.client.HTTPException):
            time.sleep(0.005)
    raise RuntimeError(f"127.0.0.1:{port} never answered HTTP")


def startup(image, port):
    """Seconds from `docker run` of the original image until its port answers HTTP."""
    t0 = time.monotonic()
    cid = sh(["docker", "run", "-d", "--name", name(), "--label", LABEL, "-p", f"127.0.0.1::{port}", image]).stdout.strip()
    containers.append(cid)
    wait_http(host_port(cid, port), t0 + 60)
    took = time.monotonic() - t0
    remove(cid)
    return took


def sensor_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        d = tarfile.TarInfo(".slim")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        t.addfile(d)
        with open(SENSOR, "rb") as f:
            data = f.read()
        i = tarfile.TarInfo(".slim/sensor")
        i.size, i.mode = len(data), 0o755
        t.addfile(i, io.BytesIO(data))
    return buf.getvalue()


def cpu_ns(cid):
    """CPU time used by every process of the container so far (cgroup v1 cpuacct or v2 cpu.stat)."""
    for path in (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage",
                 f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage"):
        try:
            with open(path) as f:
                return int(f.read())
        except OSError:
            pass
    for path in (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat", f"/sys/fs/cgroup/docker/{cid}/cpu.stat"):
        try:
            with open(path) as f:
                return 1000 * int(re.search(r"usage_usec (\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return None


def wrk(host, port, cid):
    """req/s, requests, container CPU ns spent meanwhile, errors."""
    c0 = cpu_ns(cid)
    p = sh(["wrk", "-t2", "-c16", f"-d{WRK_SECS}s", "-H", f"Host: localhost:{port}", f"http://{host}:{port}/"])
    c1 = cpu_ns(cid)
    m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    n = int(re.search(r"(\d+) requests in", p.stdout).group(1))
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", p.stdout)
    return float(m.group(1)), n, (c1 - c0 if c0 is not None and c1 is not None else None), (errs.group(0) if errs else None)


def sensor_overhead():
    image, port, cmd = LOAD
    plain = sh(["docker", "run", "-d", "--name", name(), "--label", LABEL, "-p", f"127.0.0.1::{port}", image]).stdout.strip()
    containers.append(plain)
    sensed = sh(["docker", "create", "--name", name(), "--label", LABEL,
                 "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE", "-u", "0:0", "-p", f"127.0.0.1::{port}",
                 "--entrypoint", "/.slim/sensor", image, "run", "--user", "", "--tracer", "seccomp", "--wait-ports", "80", "--", *cmd]).stdout.strip()
    containers.append(sensed)
    subprocess.run(["docker", "cp", "-", f"{sensed}:/"], input=sensor_tar(), check=True, stdout=subprocess.DEVNULL)
    sh(["docker", "start", sensed])
    # The measured path: 127.0.0.1:<published port> (docker-proxy). For reference only: the
    # container's own bridge address, port 80, without docker-proxy in between.
    ip = lambda c: sh(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", c]).stdout.strip()
    targets = {"plain": ("127.0.0.1", host_port(plain, port)), "sensor": ("127.0.0.1", host_port(sensed, port)),
               "plain_direct": (ip(plain), port), "sensor_direct": (ip(sensed), port)}
    for k in ("plain", "sensor"):
        wait_http(targets[k][1], time.monotonic() + 60)
    # A one-second warm-up each, then alternate the bounded runs.
    for h, p in targets.values():
        subprocess.run(["wrk", "-t2", "-c16", "-d1s", f"http://{h}:{p}/"], stdout=subprocess.DEVNULL)
    rps = {k: [] for k in targets}
    cost = {"plain": [0, 0], "sensor": [0, 0]}  # [container CPU ns, requests], both paths
    errors = []
    for _ in range(WRK_ROUNDS):
        for k in targets:
            cid = plain if k.startswith("plain") else sensed
            r, n, ns, e = wrk(*targets[k], cid)
            rps[k].append(r)
            if ns is not None:
                cost[k.split("_")[0]][0] += ns
                cost[k.split("_")[0]][1] += n
            if e:
                errors.append(f"{k}: {e}")
            log(f"wrk {k}: {r:.0f} req/s")
    running = sh(["docker", "inspect", "-f", "{{.State.Running}}", sensed]).stdout.strip()
    top = sh(["docker", "top", sensed, "-o", "pid,pcpu,time,args"]).stdout
    remove(plain)
    remove(sensed)
    return {"image": image, "threads": 2, "connections": 16, "seconds": WRK_SECS, "rounds": WRK_ROUNDS,
            "rps_plain": rps["plain"], "rps_sensor": rps["sensor"],
            "rps_plain_direct": rps["plain_direct"], "rps_sensor_direct": rps["sensor_direct"],
            "cpu_us_per_request_plain": cost["plain"][0] / cost["plain"][1] / 1000 if cost["plain"][0] else None,
            "cpu_us_per_request_sensor": cost["sensor"][0] / cost["sensor"][1] / 1000 if cost["sensor"][0] else None,
            "sensor_still_running": running == "true", "sensor_top": top, "errors": errors}


# ---------------------------------------------------------------- the run

def median(xs):
    return statistics.median(xs) if xs else None


def bench_fixture(image, port, runs, with_floor=True):
    tag = short_tag(image)
    rec = {"image": image, "tag": tag, "runs": []}
    for i in range(runs):
        log(f"{image}: run {i + 1}/{runs}")
        b = slim_build(image, tag)
        run = {"slim_wall": b["wall"], "rss_kb": b["rss_kb"], "slim_id": b["report"]["slim"]["id"],
               "files_kept": b["report"]["files"]["kept"],
               "phases": {p["name"]: p["seconds"] for p in b["report"]["phases"]},
               "filter_seconds": b["report"]["writer"]["filter_seconds"],
               "writer_export_bytes": b["report"]["writer"]["export_bytes"]}
        rep = b["report"]
        rec.update(original_size=rep["source"]["size"], slim_size=rep["slim"]["size"] if rep["slim"] else None,
                   ratio=rep["ratio"], files_kept=rep["files"]["kept"], files_removed=rep["files"]["removed"],
                   verification=rep["verification"]["verdict"], slim_id=rep["slim"]["id"] if rep["slim"] else None)
        c, e, _ = export(image, "sha256sum")
        run.update(floor_create=c, floor_export=e)
        c, e, nbytes = export(image, "wc -c")
        run.update(raw_create=c, raw_export=e, export_bytes=int(nbytes))
        if with_floor:
            run["startup"] = startup(image, port)
        rec["runs"].append(run)
    runs_ = rec["runs"]
    m = lambda k: median([r[k] for r in runs_ if r.get(k) is not None])
    phases = {}
    for r in runs_:
        for k in r["phases"]:
            phases.setdefault(k, None)
    rec["median"] = {
        "slim_wall": m("slim_wall"),
        "phases": {k: median([r["phases"][k] for r in runs_ if k in r["phases"]]) for k in phases},
        "export_sha256": median([r["floor_create"] + r["floor_export"] for r in runs_]),
        "startup": m("startup"),
        "raw_export": m("raw_export"),
        "raw_create": m("raw_create"),
        "export_bytes": m("export_bytes"),
        "filter_seconds": m("filter_seconds"),
        "writer_export_bytes": m("writer_export_bytes"),
        "rss_kb": max(r["rss_kb"] for r in runs_ if r["rss_kb"]),
    }
    md = rec["median"]
    if with_floor:
        md["floor"] = md["export_sha256"] + md["startup"]
        md["vs_floor"] = md["slim_wall"] / md["floor"]
    # The writer's own rate: export bytes through the filter pass (export stream to spooled
    # layer), as slim reports it; create and load are timed apart.
    w = md.get("filter_seconds")
    md["write_rate"] = md["writer_export_bytes"] / w if w else None
    md["raw_rate"] = md["export_bytes"] / md["raw_export"]
    md["rewrite_ratio"] = md["raw_rate"] / md["write_rate"] if w else None
    return rec


def mark(ok):
    return "pass" if ok else "MISS"


def mb(n):
    return f"{n / 1e6:.1f} MB"


def render(res):
    L = []
    env = res["env"]
    L.append("# slim benchmarks")
    L.append("")
    L.append(f"Generated by `make bench` (bench/bench.sh) on {env['date']}. {env['cpus']} CPUs, "
             f"Docker {env['docker']} ({env['storage_driver']}), {env['slim_version']}, "
             f"load average at start {env['loadavg_start']}, at end {env['loadavg_end']}. "
             f"Times are medians of {res['runs']} interleaved runs unless noted; raw data in bench/results.json.")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | measured | goal | |")
    L.append("| --- | --- | --- | --- |")
    for t in res["targets"]:
        L.append(f"| {t['what']} | {t['measured']} | {t['goal']} | {t['mark']} |")
    L.append("")
    L.append("## End to end vs the floor")
    L.append("")
    L.append("floor = `docker create` + `docker export | sha256sum` of the same image + the app's start-up "
             "(from `docker run` until its port answers HTTP on 127.0.0.1).")
    L.append("")
    names = []
    for f in res["fixtures"]:
        for k in f["median"]["phases"]:
            if k not in names:
                names.append(k)
    L.append("| fixture | slim build | " + " | ".join(names) + " | export+sha256 | start-up | floor | build/floor |")
    L.append("| --- | ---: | " + " | ".join("---:" for _ in names) + " | ---: | ---: | ---: | ---: |")
    for f in res["fixtures"]:
        md = f["median"]
        ph = " | ".join(f"{md['phases'][k]:.2f}s" if k in md["phases"] else "-" for k in names)
        L.append(f"| {f['image']} | {md['slim_wall']:.2f}s | {ph} | {md['export_sha256']:.2f}s | {md['startup']:.2f}s | "
                 f"{md['floor']:.2f}s | {md['vs_floor']:.2f}x {mark(md['vs_floor'] <= TARGETS['floor'])} |")
    L.append("")
    L.append("## Size")
    L.append("")
    L.append("| fixture | original | slim | ratio | files kept | files dropped | verification |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for f in res["fixtures"] + [res["big"]]:
        L.append(f"| {f['image']} | {mb(f['original_size'])} | {mb(f['slim_size'])} | {f['ratio']:.1f}x | "
                 f"{f['files_kept']} | {f['files_removed']} | {f['verification']} |")
    L.append("")
    L.append("## Rewrite throughput")
    L.append("")
    L.append("slim's filter pass (the export streamed through the keep-set filter into the spooled layer, `writer.filter_seconds` in the report) against the raw export stream "
             "(`docker export | wc -c`, create not counted); ratio = raw rate / slim rate.")
    L.append("")
    L.append("| fixture | export bytes | slim write | slim rate | raw export | raw rate | ratio |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in res["fixtures"] + [res["big"]]:
        md = f["median"]
        L.append(f"| {f['image']} | {mb(md['export_bytes'])} | {md['filter_seconds']:.2f}s | {mb(md['write_rate'])}/s | "
                 f"{md['raw_export']:.2f}s | {mb(md['raw_rate'])}/s | {md['rewrite_ratio']:.2f}x "
                 f"{mark(md['rewrite_ratio'] <= TARGETS['rewrite'])} |")
    L.append("")
    L.append("## Memory")
    L.append("")
    L.append("Peak RSS of the `slim` process (GNU time, `Maximum resident set size`; the engine's own memory "
             "is not counted).")
    L.append("")
    L.append("| fixture | export bytes | slim build | peak RSS |")
    L.append("| --- | ---: | ---: | ---: |")
    for f in res["fixtures"] + [res["big"]]:
        md = f["median"]
        L.append(f"| {f['image']} | {mb(md['export_bytes'])} | {md['slim_wall']:.2f}s | {md['rss_kb'] / 1024:.1f} MiB |")
    L.append("")
    s = res["sensor"]
    L.append("## Sensor overhead")
    L.append("")
    L.append(f"`wrk -t2 -c16 -d{s['seconds']}s` against GET / of {s['image']} on 127.0.0.1 (docker-proxy), "
             f"{s['rounds']} alternating rounds after a 1 s warm-up each; \"sensor\" = the original image with "
             "`/.slim/sensor run --tracer seccomp --wait-ports 80` as PID 1, as slim's analysis container runs it.")
    L.append("")
    L.append("| | req/s (median) | rounds |")
    L.append("| --- | ---: | --- |")
    L.append(f"| without sensor | {s['median_plain']:.0f} | {', '.join(f'{x:.0f}' for x in s['rps_plain'])} |")
    L.append(f"| under sensor | {s['median_sensor']:.0f} | {', '.join(f'{x:.0f}' for x in s['rps_sensor'])} |")
    L.append(f"| ratio | {s['ratio']:.2f}x {mark(s['ratio'] >= TARGETS['sensor'])} | |")
    L.append("")
    L.append("For reference, not the target's path: the same containers reached on their bridge address "
             "(port 80, no docker-proxy in between), same wrk settings and rounds.")
    L.append("")
    L.append("| | req/s (median) | rounds |")
    L.append("| --- | ---: | --- |")
    L.append(f"| without sensor, direct | {s['median_plain_direct']:.0f} | {', '.join(f'{x:.0f}' for x in s['rps_plain_direct'])} |")
    L.append(f"| under sensor, direct | {s['median_sensor_direct']:.0f} | {', '.join(f'{x:.0f}' for x in s['rps_sensor_direct'])} |")
    L.append(f"| ratio, direct | {s['ratio_direct']:.2f}x | |")
    if s.get("cpu_us_per_request_plain") and s.get("cpu_us_per_request_sensor"):
        a, b = s["cpu_us_per_request_plain"], s["cpu_us_per_request_sensor"]
        L.append("")
        L.append("Less sensitive to a busy machine: the container's own CPU time (its cgroup, sensor included) per "
                 "request served, over all the rounds above.")
        L.append("")
        L.append("| | CPU per request |")
        L.append("| --- | ---: |")
        L.append(f"| without sensor | {a:.0f} µs |")
        L.append(f"| under sensor | {b:.0f} µs |")
        L.append(f"| without / under (throughput ratio if the app were CPU-bound) | {a / b:.2f}x |")
    spread = [max(v) / min(v) for v in (s["rps_plain"], s["rps_sensor"]) if v and min(v) > 0]
    if spread and max(spread) > 1.5:
        L.append("")
        L.append(f"Note: req/s varied by up to {max(spread):.1f}x between rounds of the same container (load average "
                 f"{res['env']['loadavg_end']} on {res['env']['cpus']} CPUs at the end): the machine was busy and the "
                 "req/s ratio above mostly measures that; the CPU-per-request figures above are the steadier signal.")
    if s["errors"]:
        L.append("")
        L.append("wrk errors: " + "; ".join(s["errors"]))
    L.append("")
    return "\n".join(L)


def env_info():
    info = sh(["docker", "info", "--format", "{{.ServerVersion}}|{{.Driver}}"]).stdout.strip().split("|")
    ver = subprocess.run([SLIM, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(), "kernel": platform.release(),
            "docker": info[0], "storage_driver": info[1], "slim_version": ver or "?",
            "loadavg_start": "%.2f %.2f %.2f" % os.getloadavg()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-md", required=True)
    ap.add_argument("--out-json", required=True)
    ap.add_argument("--render-only", action="store_true", help="re-render BENCHMARKS.md from --out-json")
    a = ap.parse_args()
    if a.render_only:
        with open(a.out_json) as f:
            res = json.load(f)
        md = render(res)
        with open(a.out_md, "w") as f:
            f.write(md)
        print(md)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        res = {"env": env_info(), "runs": RUNS}
        res["fixtures"] = [bench_fixture(img, port, RUNS) for img, port in FIXTURES]
        log(f"{BIG[0]}: one run (peak RSS)")
        res["big"] = bench_fixture(BIG[0], BIG[1], 1, with_floor=False)
        log("sensor overhead")
        s = sensor_overhead()
        s["median_plain"], s["median_sensor"] = median(s["rps_plain"]), median(s["rps_sensor"])
        s["ratio"] = s["median_sensor"] / s["median_plain"]
        s["median_plain_direct"], s["median_sensor_direct"] = median(s["rps_plain_direct"]), median(s["rps_sensor_direct"])
        s["ratio_direct"] = s["median_sensor_direct"] / s["median_plain_direct"]
        res["sensor"] = s
        res["env"]["loadavg_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    finally:
        cleanup()

    worst_floor = max(res["fixtures"], key=lambda f: f["median"]["vs_floor"])
    all_rw = res["fixtures"] + [res["big"]]
    worst_rw = max(all_rw, key=lambda f: f["median"]["rewrite_ratio"])
    rss = res["big"]["median"]["rss_kb"] / 1024
    res["targets"] = [
        {"what": "end to end / floor (worst fixture)", "measured": f"{worst_floor['median']['vs_floor']:.2f}x ({worst_floor['image']})",
         "goal": f"<= {TARGETS['floor']}x", "mark": mark(worst_floor["median"]["vs_floor"] <= TARGETS["floor"])},
        {"what": "raw export rate / slim write rate (worst)", "measured": f"{worst_rw['median']['rewrite_ratio']:.2f}x ({worst_rw['image']})",
         "goal": f"<= {TARGETS['rewrite']}x", "mark": mark(worst_rw["median"]["rewrite_ratio"] <= TARGETS["rewrite"])},
        {"what": f"peak RSS of slim build on {res['big']['image']} ({mb(res['big']['median']['export_bytes'])} export)",
         "measured": f"{rss:.1f} MiB", "goal": f"< {TARGETS['rss_mb']:.0f} MiB", "mark": mark(rss < TARGETS["rss_mb"])},
        {"what": "app throughput under the sensor / without", "measured": f"{res['sensor']['ratio']:.2f}x",
         "goal": f">= {TARGETS['sensor']}x", "mark": mark(res["sensor"]["ratio"] >= TARGETS["sensor"])},
    ]
    md = render(res)
    with open(a.out_md, "w") as f:
        f.write(md)
    with open(a.out_json, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print(md)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        cleanup()
        sys.exit(130)
