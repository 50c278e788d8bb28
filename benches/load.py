#!/usr/bin/env python3
"""Load benchmark: ibgu-webhook against the floor of its stack and against an earlier build
of itself, in one run.

    python3 benches/load.py [--baseline REV] [--seconds 5] [--rounds 3] [--connections 16]
                            [--no-criterion]

Builds the release binary, the floor server (`examples/floor.rs`: the same tokio, rustls,
hyper and axum, reads only the AdmissionReview's uid and answers "allowed") and the
webhook of commit REV (default: the commit before the redesign, built once in a git
worktree and cached under ~/.cache), serves one certificate from the three on loopback,
and drives them in turn with `oha` (installed with `cargo install oha --locked` when
missing): HTTPS with keep-alive, 16 connections, over HTTP/1.1 and HTTP/2, with a 12.5 KB
UPDATE that appends a step to a finished plan (status for 50 clusters,
tests/data/bench/update-50-clusters.json) for /validate, the same UPDATE for a fleet
(status for 3,500 clusters, 585 KB, update-3500-clusters.json) and a 3.8 KB CREATE that
needs defaults and the seed pull secret (create-needs-defaults.json) for /mutate, and a
new TLS connection per request. Rounds rotate which server goes first, so drift on a
shared machine falls on all three. Also measured: time from process start to /readyz
answering, idle and peak RSS, and criterion's figures for one decision at both sizes.
Prints Markdown tables with each server's CPU time per request (user + system, from
/proc, over each oha run) and the ratios against the floor and against the baseline.
The servers run with RUST_LOG=warn, so no build writes a log line per request.

Exits non-zero if a server answers wrongly (checked before the load) or any request fails.
"""

import argparse
import base64
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALIDATE_BODY = os.path.join(ROOT, "tests/data/bench/update-50-clusters.json")
FLEET_BODY = os.path.join(ROOT, "tests/data/bench/update-3500-clusters.json")
MUTATE_BODY = os.path.join(ROOT, "tests/data/bench/create-needs-defaults.json")
SEED_SECRET = "seed-pull-secret"
# The last commit before the layered redesign.
BASELINE = "9e8fcbb"
CACHE = os.path.expanduser("~/.cache/ibgu-webhook-bench")


def die(msg):
    print(f"load: error: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def oha_path():
    found = shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha")
    if os.access(found, os.X_OK):
        return found
    print("load: installing oha (cargo install oha --locked)", flush=True)
    run(["cargo", "install", "oha", "--locked", "--quiet"])
    return os.path.expanduser("~/.cargo/bin/oha")


def tls_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = True
    return ctx


def get(port, ctx, path, timeout=1.0):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def post(port, ctx, path, body):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    die(f"no {field} for pid {pid}")


class Server:
    """A server process, started and timed until /readyz answers 200."""

    def __init__(self, name, cmd, port, ctx, log):
        self.name, self.port = name, port
        started = time.monotonic()
        # Both builds at warn: the webhook logs every admission at info, the baseline only
        # denials (there are none here), and the line is not what is compared (its cost is
        # in docs/operations.md).
        env = dict(os.environ, RUST_LOG="warn")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, env=env)
        while True:
            if self.proc.poll() is not None:
                die(f"{name} exited with {self.proc.returncode}; see {log.name}")
            if time.monotonic() - started > 10:
                die(f"{name} not ready after 10 s")
            try:
                if get(port, ctx, "/readyz", timeout=0.2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.001)
        self.ready_ms = (time.monotonic() - started) * 1000

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cpu_seconds(pid):
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def oha(binary, url, body, ca, seconds, connections, http2, pid, keepalive=True):
    """One oha run against the server process `pid`; also its CPU time per request."""
    cmd = [binary, "--no-tui", "--output-format", "json", "-z", f"{seconds}s",
           "-c", str(connections), "-m", "POST", "-T", "application/json", "-D", body,
           "--cacert", ca, "-w", url]
    if http2:
        cmd.insert(1, "--http2")
    if not keepalive:
        cmd.insert(1, "--disable-keepalive")
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(pid) - cpu_before
    r = json.loads(out)
    codes = r.get("statusCodeDistribution", {})
    ok = codes.get("200", 0)
    errors = sum(v for k, v in codes.items() if k != "200")
    errors += sum(r.get("errorDistribution", {}).values())
    pct = r["latencyPercentiles"]
    return {
        "requests": ok + errors,
        "errors": errors,
        "rps": r["summary"]["requestsPerSec"],
        "p50": pct["p50"] * 1000,
        "p99": pct["p99"] * 1000,
        "p99.9": pct["p99.9"] * 1000,
        "cpu_us": cpu / max(ok, 1) * 1e6,
    }


def summarise(runs):
    return {
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "p99.9": statistics.median(r["p99.9"] for r in runs),
        "cpu_us": statistics.median(r["cpu_us"] for r in runs),
    }


def check_answers(port, ctx, name, floor):
    """Every server must answer the bodies as expected before they are loaded."""
    for body in (VALIDATE_BODY, FLEET_BODY):
        with open(body, "rb") as f:
            status, review = post(port, ctx, "/validate?timeout=10s", f.read())
        if status != 200 or not review["response"]["allowed"]:
            die(f"{name} /validate {os.path.basename(body)}: {status} {review}")
    with open(MUTATE_BODY, "rb") as f:
        status, review = post(port, ctx, "/mutate?timeout=10s", f.read())
    if status != 200 or not review["response"]["allowed"]:
        die(f"{name} /mutate: {status} {review}")
    if not floor:
        patch = json.loads(base64.b64decode(review["response"]["patch"]))
        paths = sorted(op["path"] for op in patch)
        want = ["/spec/ibuSpec/seedImageRef/pullSecretRef"] + [
            f"/spec/plan/{i}/rolloutStrategy" for i in range(3)]
        if paths != want:
            die(f"{name} /mutate patched {paths}, expected {want}")


def criterion_figures():
    """criterion's median for each benchmark of `cargo bench --bench decide`."""
    out = subprocess.run(
        ["cargo", "bench", "--locked", "--bench", "decide", "--",
         "--measurement-time", "5", "--warm-up-time", "2"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    figures = {}
    name = None
    for line in out.splitlines():
        if line and not line.startswith(" ") and "/" in line.split()[0]:
            name = line.split()[0]
        if name and "time:" in line:
            inner = line.split("[", 1)[1].split("]")[0].split()
            figures[name] = f"{inner[2]} {inner[3]}"
            name = None
    return figures


def baseline_binary(rev):
    """The webhook binary of commit `rev`, built in a worktree (cached by commit)."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.strip()
    binary = os.path.join(CACHE, commit[:12], "ibgu-webhook")
    if os.access(binary, os.X_OK):
        return commit, binary
    tree = os.path.join(CACHE, "worktree")
    subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)
    run(["git", "worktree", "add", "--detach", "--force", tree, commit], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    print(f"load: building the baseline {commit[:12]}", flush=True)
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(CACHE, "target"))
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--bin", "ibgu-webhook"],
                   cwd=tree, env=env, check=True)
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    shutil.copy(os.path.join(CACHE, "target", "release", "ibgu-webhook"), binary)
    subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)
    return commit, binary


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5, help="length of one oha run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per case")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--starts", type=int, default=5, help="process starts timed for readiness")
    ap.add_argument("--no-criterion", action="store_true")
    ap.add_argument("--baseline", default=BASELINE, help="the earlier build to compare with")
    args = ap.parse_args()

    binary = oha_path()
    commit, baseline_bin = baseline_binary(args.baseline)
    BASE = f"webhook {commit[:7]}"
    print("load: building", flush=True)
    run(["cargo", "build", "--release", "--locked", "--quiet", "--bin", "ibgu-webhook",
         "--example", "floor"])
    if not args.no_criterion:
        run(["cargo", "bench", "--locked", "--quiet", "--bench", "decide", "--no-run"])
    webhook_bin = os.path.join(ROOT, "target/release/ibgu-webhook")
    floor_bin = os.path.join(ROOT, "target/release/examples/floor")

    tmp = tempfile.mkdtemp(prefix="ibgu-load.")
    certs = os.path.join(tmp, "certs")
    run([webhook_bin, "certs", "--out", certs, "--dns", "localhost", "--ip", "127.0.0.1"],
        stdout=subprocess.DEVNULL)
    ca, cert, key = (os.path.join(certs, n) for n in ("ca.crt", "tls.crt", "tls.key"))
    ctx = tls_context(ca)
    log = open(os.path.join(tmp, "servers.log"), "w")

    def start(name):
        port = free_port()
        if name == "floor":
            cmd = [floor_bin, f"127.0.0.1:{port}", cert, key]
        else:
            cmd = [webhook_bin if name == "webhook" else baseline_bin, "serve",
                   "--addr", f"127.0.0.1:{port}", "--metrics-addr", f"127.0.0.1:{free_port()}",
                   "--tls-cert", cert, "--tls-key", key, "--seed-pull-secret", SEED_SECRET]
        return Server(name, cmd, port, ctx, log)

    names = ("floor", BASE, "webhook")
    ready = {n: [] for n in names}
    for _ in range(args.starts):
        for n in names:
            s = start(n)
            ready[n].append(s.ready_ms)
            s.stop()

    servers = {n: start(n) for n in names}
    for n, s in servers.items():
        check_answers(s.port, ctx, n, n == "floor")
    time.sleep(1)
    idle = {n: rss_kib(s.proc.pid, "VmRSS") for n, s in servers.items()}

    bodies = {"validate": VALIDATE_BODY, "mutate": MUTATE_BODY, "validate fleet": FLEET_BODY}
    cases = [(proto, endpoint) for proto in ("HTTP/1.1", "HTTP/2")
             for endpoint in ("validate", "mutate")] + [("HTTP/1.1", "validate fleet")]
    results = {(n, c): [] for n in names for c in cases}
    handshake = {n: [] for n in names}
    total = args.rounds * (len(cases) + 1) * len(names) * args.seconds
    print(f"load: {args.rounds} rounds, about {total} s of load", flush=True)
    for rnd in range(args.rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for proto, endpoint in cases:
            body = bodies[endpoint]
            for n in order:
                path = endpoint.split()[0]
                url = f"https://127.0.0.1:{servers[n].port}/{path}?timeout=10s"
                results[(n, (proto, endpoint))].append(
                    oha(binary, url, body, ca, args.seconds, args.connections,
                        proto == "HTTP/2", servers[n].proc.pid))
        for n in order:
            url = f"https://127.0.0.1:{servers[n].port}/validate?timeout=10s"
            handshake[n].append(oha(binary, url, VALIDATE_BODY, ca, args.seconds,
                                    args.connections, False, servers[n].proc.pid,
                                    keepalive=False))
    peak = {n: rss_kib(s.proc.pid, "VmHWM") for n, s in servers.items()}
    time.sleep(2)
    idle_after = {n: rss_kib(s.proc.pid, "VmRSS") for n, s in servers.items()}
    for s in servers.values():
        s.stop()

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print()
    print(f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}; "
          f"oha, {args.connections} connections, {args.rounds} rounds of "
          f"{args.seconds} s per case, the servers in rotating order (medians of the rounds; requests and errors summed).")
    print()
    print("| case | server | requests/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU µs / request | throughput / floor | throughput / baseline | p99 / baseline |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    labels = {"validate": "/validate 12.5 KB", "mutate": "/mutate 3.8 KB", "validate fleet": "/validate 585 KB (3,500 clusters)"}
    rows = [((p, e), f"{p} {labels[e]} keep-alive") for p, e in cases]
    summaries = {}
    for case, label in rows:
        for n in names:
            summaries[(n, case)] = summarise(results[(n, case)])
    for n in names:
        summaries[(n, "handshake")] = summarise(handshake[n])
    rows.append(("handshake", "HTTP/1.1 /validate, new TLS connection per request"))
    for case, label in rows:
        f, b = summaries[("floor", case)], summaries[(BASE, case)]
        for n in names:
            s = summaries[(n, case)]
            failed |= s["errors"] > 0
            ratio = f"{s['rps'] / f['rps']:.2f}" if n != "floor" else ""
            vs_base = f"{s['rps'] / b['rps']:.2f}" if n == "webhook" else ""
            p99 = f"{s['p99'] / b['p99']:.2f}" if n == "webhook" else ""
            print(f"| {label} | {n} | {s['rps']:,.0f} | {s['p50']:.2f} | {s['p99']:.2f} | "
                  f"{s['p99.9']:.2f} | {s['errors']} | {s['cpu_us']:.1f} | {ratio} | {vs_base} | "
                  f"{p99} |")
    print()
    print("| process | ready after start (median, max of %d) | idle RSS | peak RSS under load | RSS after load |" % args.starts)
    print("|---|---|---|---|---|")
    for n in names:
        print(f"| {n} | {statistics.median(ready[n]):.1f} ms, {max(ready[n]):.1f} ms | "
              f"{idle[n] / 1024:.1f} MiB | {peak[n] / 1024:.1f} MiB | {idle_after[n] / 1024:.1f} MiB |")
    # After the load tables, so a failing bench cannot lose them.
    figures = {} if args.no_criterion else criterion_figures()
    if figures:
        print()
        print("| criterion benchmark (this build) | median |")
        print("|---|---|")
        for name, figure in figures.items():
            print(f"| {name} | {figure} |")
    shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        die("some requests failed (see the errors column)")


if __name__ == "__main__":
    main()
