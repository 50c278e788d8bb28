"""Every install as rendered starts and serves, and every misconfiguration a user can make
fails at start-up with one clear line.

    bash tests/install/run.sh        # installs what it lacks, builds, runs this

For each kustomization that renders the webhook's Deployment (deploy/, each of
deploy/overlays/*, each of examples/*), kubelet.py starts the release binary as kubelet
would start the rendered container, and this checks what the cluster relies on: the
readiness and liveness probes answer 200 within their budget, each webhook configuration's
Service port and path answer an AdmissionReview over TLS verified with the injected
caBundle for the Service's DNS name, the metrics port answers GET /metrics, the process
runs with a read-only root filesystem, stays under its memory limit, and SIGTERM ends it
with code 0 within terminationGracePeriodSeconds. Then the OpenShift install again with
what users get wrong.

Runs in a private network namespace (run.sh enters it), so the pod's ports are as
rendered and nothing leaves loopback.
"""

import base64
import contextlib
import copy
import http.server
import json
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from kubelet import Cluster, Image, Install, InstallError, Pod, http_get, make_cert, make_key  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "target" / "release" / "ibgu-webhook"
IMAGE = Image.from_containerfile(ROOT / "Containerfile")
FIXTURES = ROOT / "tests" / "fixtures"
SERVICE_DNS = "ibgu-webhook.ibgu-system.svc"
# What an install that sets it injects; the others inject nothing.
SEEDED = {"examples/install": "seed-pull-secret"}

failures = []
checks = 0


def ok(what):
    global checks
    checks += 1
    print(f"install: ok: {what}", flush=True)


def fail(what):
    failures.append(what)
    print(f"install: FAIL: {what}", flush=True)


def review(name):
    return (FIXTURES / name / "review.json").read_bytes()


def patch_of(answer):
    response = answer["response"]
    if "patch" not in response:
        return []
    assert response.get("patchType") == "JSONPatch", response
    return json.loads(base64.b64decode(response["patch"]))


def scratch_tree(work):
    """The repository's kustomize trees in a scratch copy, with the static overlay's
    certificates made as certs/README.md says."""
    tree = work / "tree"
    for d in ("deploy", "examples"):
        shutil.copytree(ROOT / d, tree / d)
    subprocess.run([BINARY, "certs", "--out", tree / "certs", "--dns", SERVICE_DNS,
                    "--dns", f"{SERVICE_DNS}.cluster.local"], check=True, capture_output=True)
    return tree


def installs(tree):
    """Every kustomization that renders the webhook's Deployment."""
    found = [tree / "deploy"] + sorted((tree / "deploy" / "overlays").iterdir())
    found += sorted(p for p in (tree / "examples").iterdir() if (p / "kustomization.yaml").exists())
    return [(str(p.relative_to(tree)), p) for p in found if (p / "kustomization.yaml").exists()]


class Apiserver:
    """The hub's apiserver where the pod's KUBERNETES_SERVICE_HOST/PORT lead (127.0.0.1:443
    in the private network namespace), as far as the webhook uses it: GET of a Secret, which
    needs the pod's service account token, over TLS that verifies with the CA the pod gets
    in its service account volume. It holds one Secret, ztp-group/seed-pull-secret."""

    SECRETS = {("ztp-group", "seed-pull-secret")}

    def __init__(self, work):
        work.mkdir(parents=True)
        make_key(work / "ca.key")
        ca = make_cert(work, "ca", work / "ca.key", ca=True)
        make_key(work / "apiserver.key")
        cert = make_cert(work, "apiserver", work / "apiserver.key", dns=["kubernetes.default.svc"],
                         ips=["127.0.0.1"], issuer=(ca, work / "ca.key"))
        self.cluster = Cluster("127.0.0.1", 443, secrets.token_hex(16), ca.read_bytes())
        self.requests = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_GET(self):
                stub.requests.append((self.path, self.headers.get("Authorization")))
                m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/secrets/([^/?]+)", self.path)
                if self.headers.get("Authorization") != f"Bearer {stub.cluster.token}":
                    self.answer(401, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": "Unauthorized", "code": 401, "message": "Unauthorized"})
                elif m and (m.group(1), m.group(2)) in stub.SECRETS:
                    self.answer(200, {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                                      "metadata": {"name": m.group(2), "namespace": m.group(1)},
                                      "data": {".dockerconfigjson": base64.b64encode(b'{"auths":{}}').decode()}})
                else:
                    name = m.group(2) if m else self.path
                    self.answer(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                      "code": 404, "message": f'secrets "{name}" not found',
                                      "details": {"name": name, "kind": "secrets"}})

            def answer(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, work / "apiserver.key")
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 443), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def secret_gets(self):
        """The Secret GETs made with the pod's token since the last call."""
        seen, self.requests = self.requests, []
        return [path for path, auth in seen if auth == f"Bearer {self.cluster.token}" and "/secrets/" in path]


HUB = None


def start(install, work, **kw):
    pod = Pod(install, BINARY, IMAGE, work, HUB.cluster, **kw)
    pod.start()
    return pod


def serves(name, install, work, seeded=None):
    """One install, started and used as the cluster would."""
    pod = start(install, work)
    try:
        for kind in ("readinessProbe", "livenessProbe"):
            probe = pod.probe(kind)
            if probe is None:
                fail(f"{name}: the container has no {kind}")
                continue
            first = pod.first_success(probe)
            late = [s for s in (pod_probe_latency(probe) for _ in range(3)) if s > probe.timeout]
            if late:
                fail(f"{name}: {kind} answered after its {probe.timeout} s timeout: {late}")
            else:
                ok(f"{name}: {kind} {probe.scheme} :{probe.port}{probe.path} answered 200 {first * 1000:.0f} ms "
                   f"after start (budget {probe.budget} s), then within its {probe.timeout} s timeout")

        # The lookup first: its answer is cached for the next request.
        # The DELETE entry calls /validate too; it gets the DELETE fixtures.
        cases = {"/validate": ["validate-rule11-secret-found-allowed", "validate-rule2-prep-then-rollback-denied"],
                 "/validate DELETE": ["validate-rule13-delete-while-running-denied",
                                      "validate-rule13-namespace-controller-delete-allowed"],
                 "/mutate": ["mutate-rule2-inject-seed-pull-secret"]}
        for conf, webhook in pod.webhooks:
            path = webhook["clientConfig"]["service"].get("path")
            operations = {op for rule in webhook.get("rules", []) for op in rule.get("operations", [])}
            for fixture in cases[path if operations != {"DELETE"} else f"{path} DELETE"]:
                HUB.secret_gets()
                status, body = pod.webhook_call(conf, webhook, review(fixture))
                answer = json.loads(body)
                expected = json.loads((FIXTURES / fixture / "expect.json").read_text())
                response = answer.get("response", {})
                same_config = expected.get("config", {}).get("seedPullSecret") == seeded
                if (status != 200 or response.get("uid") != json.loads(review(fixture))["request"]["uid"]
                        or response.get("allowed") != expected["allowed"]
                        or (same_config and response.get("warnings", []) != expected["warnings"])):
                    fail(f"{name}: {webhook['name']} {path} {fixture}: {status} {body[:400]!r}")
                    continue
                said = f"{path} answered {fixture} as its fixture expects"
                if path == "/mutate":
                    refs = [op for op in patch_of(answer) if op["path"].endswith("/pullSecretRef")]
                    got = refs[0]["value"]["name"] if refs else None
                    if got != seeded:
                        fail(f"{name}: /mutate injected pullSecretRef {got!r}, expected {seeded!r}")
                        continue
                    said += f", pullSecretRef {seeded!r} injected" if seeded else ", nothing injected"
                gets = HUB.secret_gets()
                if "rule11" in fixture:
                    if gets != ["/api/v1/namespaces/ztp-group/secrets/seed-pull-secret"]:
                        fail(f"{name}: {fixture}: the hub saw Secret GETs {gets}")
                        continue
                    said += ", the Secret looked up on the hub with the pod's service account token"
                ref = webhook["clientConfig"]["service"]
                port = ref.get("port", 443)
                ok(f"{name}: {webhook['name']}: Service port {port} -> container port "
                   f"{pod.service_port(ref['namespace'], ref['name'], port)}, TLS verified with the injected "
                   f"caBundle for {SERVICE_DNS}; {said}")

        ref = pod.webhooks[0][1]["clientConfig"]["service"]
        service = install.get("Service", ref["namespace"], ref["name"])
        port = next((p["port"] for p in service["spec"]["ports"] if p.get("name") == "metrics"), None)
        if port is None:
            fail(f"{name}: Service {ref['name']} has no port named metrics")
        else:
            metrics = pod.service_port(ref["namespace"], ref["name"], port)
            status, text = http_get(metrics, "/metrics")
            if status == 200 and "ibgu_webhook_admission_requests_total" in text:
                ok(f"{name}: Service port metrics {port} -> container port {metrics} answers GET /metrics "
                   "with the admission counters")
            else:
                fail(f"{name}: GET /metrics on {metrics}: {status} {text[:200]}")

        if pod.security("readOnlyRootFilesystem") is True:
            ok(f"{name}: served with a read-only root filesystem")
        else:
            fail(f"{name}: the container does not set readOnlyRootFilesystem: true")

        limit = pod.container.get("resources", {}).get("limits", {}).get("memory")
        rss = pod.peak_rss()
        if limit and rss < quantity(limit):
            ok(f"{name}: peak RSS {rss / 2**20:.1f} MiB under the {limit} limit")
        else:
            fail(f"{name}: peak RSS {rss / 2**20:.1f} MiB against memory limit {limit}")

        code, took, killed = pod.stop()
        grace = pod.spec.get("terminationGracePeriodSeconds", 30)
        if code == 0 and not killed:
            ok(f"{name}: SIGTERM ended it with code 0 in {took:.1f} s (grace {grace} s)")
        else:
            fail(f"{name}: SIGTERM: code {code}, {took:.1f} s, killed={killed}: {pod.log()[-500:]}")
        written = pod.written()
        if written:
            fail(f"{name}: wrote to its root filesystem: {written}")
        errors = [l for l in pod.log().splitlines() if '"level":"ERROR"' in l]
        if errors:
            fail(f"{name}: error lines in the log: {errors}")
    finally:
        pod.kill()


def pod_probe_latency(probe):
    t0 = time.monotonic()
    status, _ = probe.once()
    took = time.monotonic() - t0
    return took if status == 200 else float("inf")


def quantity(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    m = re.fullmatch(r"(\d+)([A-Za-z]*)", str(q))
    return int(m.group(1)) * units.get(m.group(2), 1)


def container(install):
    """The webhook container in `install`, to edit as a kustomize patch would."""
    deployment = install.all("Deployment")[0]
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "webhook")


def with_env(install, **env):
    install = Install(copy.deepcopy(install.docs))
    c = container(install)
    c["env"] = [e for e in c.get("env", []) if e["name"] not in env] + [{"name": k, "value": v} for k, v in env.items()]
    return install


def refused(name, install, work, fragments, before=None):
    """The pod exits non-zero at start-up with one line that says why, and never gets ready."""
    pod = start(install, work)
    try:
        code = pod.wait(10)
        if code is None:
            fail(f"{name}: still running after 10 s")
            return
        lines = pod.log().splitlines()
        errors = [l for l in lines if l.startswith("ibgu-webhook: error: ")]
        others = [l for l in lines if l not in errors and '"level":"INFO"' not in l and '"level":"WARN"' not in l]
        if code == 0 or len(errors) != 1 or others or not all(f in errors[0] for f in fragments):
            fail(f"{name}: exit {code}, log: {lines}")
        else:
            ok(f"{name}: exit {code}: {errors[0]}")
    finally:
        pod.kill()


@contextlib.contextmanager
def ready(what, install, work):
    """A pod of `install` whose readiness probe answered; what goes wrong is a failure of
    `what`, and the pod is gone afterwards."""
    pod = None
    try:
        pod = start(install, work)
        pod.first_success(pod.probe("readinessProbe"))
        yield pod
    except InstallError as e:
        fail(f"{what}: {e}")
    finally:
        if pod is not None:
            pod.kill()


def env_names():
    """Every environment variable `serve` reads, from its own help."""
    out = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    return sorted(set(re.findall(r"\[env: ([A-Z0-9_]+)=", out)))


def misconfigurations(openshift, work):
    n = iter(range(1000))

    def w():
        return work / f"misconfigured-{next(n)}"

    names = env_names()
    with ready("empty variables", with_env(openshift, **{k: "" for k in names}), w()) as pod:
        conf, webhook = next((c, h) for c, h in pod.webhooks if h["clientConfig"]["service"]["path"] == "/mutate")
        status, body = pod.webhook_call(conf, webhook, review("mutate-rule1-default-whole-strategy"))
        ops = patch_of(json.loads(body))
        strategy = [op["value"] for op in ops if op["path"] == "/spec/plan/0/rolloutStrategy"]
        if status == 200 and strategy == [{"maxConcurrency": 10, "timeout": 240}]:
            ok(f"every variable serve reads set to \"\" ({len(names)}: {', '.join(names)}): "
               "the pod starts and serves with the defaults")
        else:
            fail(f"empty variables: {status} {ops}")

    # With the root filesystem writable the process still writes nothing there, so in the
    # pod no write is being refused by the read-only root unnoticed.
    writable = Install(copy.deepcopy(openshift.docs))
    container(writable)["securityContext"]["readOnlyRootFilesystem"] = False
    with ready("writable root", writable, w()) as pod:
        for conf, webhook in pod.webhooks:
            pod.webhook_call(conf, webhook, review("validate-rule11-secret-found-allowed"))
        http_get(pod.container_port("metrics"), "/metrics")
        # A write of our own through the container's root, to show written() sees one.
        Path(f"/proc/{pod.pid}/root/tmp/canary").write_text("written from outside\n")
        code, _, _ = pod.stop()
        written = pod.written()
        if code == 0 and written == ["/tmp/canary"]:
            ok("with a writable root filesystem, serving and stopping wrote nothing outside the volumes "
               "(a canary written through its root is the one file found)")
        else:
            fail(f"writable root: exit {code}, wrote {written}")

    for value in ("ten", "0", "-3", "1.5", " 10"):
        refused(f"IBGU_DEFAULT_MAX_CONCURRENCY={value!r}", with_env(openshift, IBGU_DEFAULT_MAX_CONCURRENCY=value),
                w(), ["IBGU_DEFAULT_MAX_CONCURRENCY", f"'{value}'"])
    refused("IBGU_REQUIRE_PULL_SECRET='maybe'", with_env(openshift, IBGU_REQUIRE_PULL_SECRET="maybe"), w(),
            ["IBGU_REQUIRE_PULL_SECRET", "'maybe'"])
    refused("RUST_LOG='info,ibgu=loud'", with_env(openshift, RUST_LOG="info,ibgu=loud"), w(), ["RUST_LOG"])

    unreadable = Install(copy.deepcopy(openshift.docs))
    tls = next(v for v in unreadable.all("Deployment")[0]["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    tls["secret"]["defaultMode"] = 0o400
    refused("certificate files mode 0400 (root's), read by the non-root user", unreadable, w(),
            ["/etc/ibgu-webhook/tls/tls.crt", "Permission denied"])

    other_keys = Install(copy.deepcopy(openshift.docs))
    pod_spec = other_keys.all("Deployment")[0]["spec"]["template"]["spec"]
    tls = next(v for v in pod_spec["volumes"] if v["name"] == "tls")
    tls["secret"]["items"] = [{"key": "tls.crt", "path": "cert.pem"}, {"key": "tls.key", "path": "key.pem"}]
    refused("a Secret projected under other file names", other_keys, w(),
            ["/etc/ibgu-webhook/tls/tls.crt", "No such file"])

    for port, what in ((8080, "metrics"), (8443, "HTTPS")):
        with socket.socket() as taken:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            taken.bind(("0.0.0.0", port))
            taken.listen()
            refused(f"the {what} port {port} taken", openshift, w(), [f"0.0.0.0:{port}", what, "in use"])

    no_flags = Install(copy.deepcopy(openshift.docs))
    c = container(no_flags)
    c["args"] = [a for a in c["args"] if not a.startswith("--tls-")]
    refused("no --tls-cert/--tls-key in a pod (no silent development certificate)", no_flags, w(),
            ["--tls-cert", "in a pod", "--dev-ca-out"])

    # What the simulator itself must refuse, as the apiserver or kubelet would.
    privileged = Install(copy.deepcopy(openshift.docs))
    del container(privileged)["securityContext"]["capabilities"]
    try:
        Pod(privileged, BINARY, IMAGE, w(), HUB.cluster)
        fail("a container that keeps its capabilities was admitted to the restricted namespace")
    except InstallError as e:
        ok(f"a container that keeps its capabilities, in the restricted namespace: {e}")

    missing_cm = Install(copy.deepcopy(openshift.docs))
    container(missing_cm)["env"] = [{"name": "IBGU_SEED_PULL_SECRET", "valueFrom": {
        "configMapKeyRef": {"name": "ibgu-webhook-settings", "key": "seedPullSecret"}}}]
    try:
        Pod(missing_cm, BINARY, IMAGE, w(), HUB.cluster)
        fail("an env var from a ConfigMap the install lacks was accepted")
    except InstallError as e:
        ok(f"an env var from a ConfigMap the install lacks: {e}")
    from_cm = Install(copy.deepcopy(missing_cm.docs) + [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "ibgu-webhook-settings", "namespace": "ibgu-system"},
        "data": {"seedPullSecret": "from-config-map"}}])
    pod = Pod(from_cm, BINARY, IMAGE, w(), HUB.cluster)
    if pod.env.get("IBGU_SEED_PULL_SECRET") == "from-config-map":
        ok("an env var from a ConfigMap in the install resolves to its key")
    else:
        fail(f"configMapKeyRef resolved to {pod.env.get('IBGU_SEED_PULL_SECRET')!r}")


def main():
    if not BINARY.exists():
        sys.exit(f"install: {BINARY} is missing: cargo build --release first")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    started = time.monotonic()
    global HUB
    with tempfile.TemporaryDirectory(prefix="ibgu-install.") as tmp:
        work = Path(tmp)
        HUB = Apiserver(work / "apiserver")
        tree = scratch_tree(work)
        rendered = {}
        for name, path in installs(tree):
            try:
                install = Install.render(path)
                if not install.all("Deployment"):
                    print(f"install: {name} renders no Deployment; not an install")
                    continue
                rendered[name] = install
                serves(name, install, work / name.replace("/", "-"), SEEDED.get(name))
            except InstallError as e:
                fail(f"{name}: {e}")
        try:
            Pod(Install.render(tree / "deploy" / "base"), BINARY, IMAGE, work / "base", HUB.cluster)
            fail("deploy/base started, though nothing in it writes the serving certificate")
        except InstallError as e:
            ok(f"deploy/base alone is refused, as kubelet would leave it: {e}")
        for expected in ("deploy", "deploy/overlays/openshift", "deploy/overlays/cert-manager", "deploy/overlays/static"):
            if expected not in rendered:
                fail(f"{expected} was not run")
        misconfigurations(rendered["deploy/overlays/openshift"], work)
    took = time.monotonic() - started
    if failures:
        print(f"install: {len(failures)} FAILED, {checks} passed in {took:.0f} s", flush=True)
        for f in failures:
            print(f"install: FAIL: {f}")
        sys.exit(1)
    print(f"install: {checks} checks passed in {took:.0f} s")


if __name__ == "__main__":
    main()
