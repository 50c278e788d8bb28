"""Run the webhook's pod from a rendered install the way kubelet would, without a cluster.

Given the objects `kubectl kustomize` renders, this finds the pod the webhook
configurations call (webhook configuration -> Service -> selected Deployment -> the
container behind the Service's port), and starts the real release binary as that
container:

- command and args as rendered, over the image's ENTRYPOINT and CMD (read from the
  Containerfile's last stage), with `$(VAR)` expanded as kubelet does;
- the environment kubelet builds: the Service links of the pod's namespace and the
  `kubernetes` Service, then `envFrom`, then `env` (values, ConfigMap and Secret keys from
  the rendered objects, field references), nothing from the caller's environment;
- each volume as kubelet projects it (the `..data` symlink layout, `defaultMode`, read-only
  mounts), Secrets taken from the render or from the controller the install relies on to
  write them (OpenShift's service-ca, cert-manager), and the service account token volume
  when the ServiceAccount is automounted;
- the security context: the image's or the pod's user and groups, no capabilities, no
  privilege escalation, and a read-only root filesystem, in its own mount, PID and UTS
  namespaces (the binary is PID 1, as in a container).

The pod shares the caller's network namespace; callers run in a private one
(`unshare --net`), so its loopback is the pod's own and ports are as rendered.

What the install asks for that cannot be found (a Secret nothing creates, a ConfigMap key
that is not there, a named port no container has) raises InstallError with the reason, as
kubelet would leave the pod in CreateContainerConfigError or ContainerCreating.

Run as a command, it starts the pod of a rendered install and keeps it running for the
end-to-end test (see `main`).
"""

import base64
import copy
import datetime
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

PROBE_AGENT = "kube-probe/1.30"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_CA_NAME = "service.beta.openshift.io/serving-cert-secret-name"
SERVICE_CA_INJECT = "service.beta.openshift.io/inject-cabundle"
CERT_MANAGER_INJECT = "cert-manager.io/inject-ca-from"
CERT_MANAGER_INJECT_SECRET = "cert-manager.io/inject-ca-from-secret"


class InstallError(Exception):
    """What keeps kubelet from starting the pod as rendered."""


# --- the rendered install --------------------------------------------------------------


class Install:
    """A rendered install: its objects, looked up by kind, namespace and name."""

    def __init__(self, docs):
        self.docs = [d for d in docs if d]

    @classmethod
    def load(cls, path):
        """A kustomization directory, rendered, or a file it was rendered into."""
        path = Path(path)
        if path.is_dir():
            return cls.render(path)
        return cls(yaml.safe_load_all(path.read_text()))

    @classmethod
    def render(cls, kustomization):
        out = subprocess.run(
            ["kubectl", "kustomize", str(kustomization), "--load-restrictor", "LoadRestrictionsNone"],
            capture_output=True, text=True)
        if out.returncode != 0:
            raise InstallError(f"kubectl kustomize {kustomization}: {out.stderr.strip()}")
        return cls(yaml.safe_load_all(out.stdout))

    def all(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def get(self, kind, namespace, name):
        for d in self.all(kind):
            meta = d.get("metadata", {})
            if meta.get("name") == name and meta.get("namespace") in (namespace, None):
                return d
        return None


def _meta(obj, key, default=None):
    return obj.get("metadata", {}).get(key, default)


def _selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- certificates, as the controllers an install relies on write them --------------------


def _openssl(*args):
    out = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {out.stderr.strip()}")


def make_key(path, algorithm="RSA", size=None, encoding="PKCS1"):
    """A private key in the PEM encoding the controller writes: PKCS#1 for RSA and SEC 1
    for ECDSA unless PKCS#8 is asked for (Go's x509 Marshal* functions, which both use)."""
    algorithm = algorithm.upper()
    if algorithm == "RSA":
        bits = str(size or 2048)
        if encoding == "PKCS8":
            _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", path)
        else:
            _openssl("genrsa", "-traditional", "-out", path, bits)
    elif algorithm == "ECDSA":
        curve = {256: "prime256v1", 384: "secp384r1", 521: "secp521r1"}[int(size or 256)]
        if encoding == "PKCS8":
            _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", path)
        else:
            _openssl("ecparam", "-name", curve, "-genkey", "-noout", "-out", path)
    elif algorithm == "ED25519":
        _openssl("genpkey", "-algorithm", "ED25519", "-out", path)
    else:
        raise InstallError(f"private key algorithm {algorithm} is not one cert-manager knows")


def make_cert(dir, name, key, dns=(), ips=(), ca=False, issuer=None, days=1):
    """A certificate for `key`: self-signed, or signed by `issuer` (cert path, key path)."""
    conf = Path(dir) / f"{name}.cnf"
    sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
    usage = "critical, keyCertSign, cRLSign, digitalSignature" if ca else "critical, digitalSignature, keyEncipherment"
    conf.write_text("\n".join([
        "[req]", "distinguished_name = dn", "prompt = no", "x509_extensions = ext",
        "[dn]", f"CN = {(list(dns) or [name])[0]}",
        "[ext]", f"basicConstraints = critical, CA:{'TRUE' if ca else 'FALSE'}", f"keyUsage = {usage}",
        *([] if ca else ["extendedKeyUsage = serverAuth"]),
        *([f"subjectAltName = {', '.join(sans)}"] if sans else []), ""]))
    out = Path(dir) / f"{name}.crt"
    if issuer is None:
        _openssl("req", "-x509", "-new", "-key", key, "-config", conf, "-days", str(days), "-out", out)
    else:
        csr = Path(dir) / f"{name}.csr"
        _openssl("req", "-new", "-key", key, "-config", conf, "-out", csr)
        _openssl("x509", "-req", "-in", csr, "-CA", issuer[0], "-CAkey", issuer[1], "-set_serial",
                 str(int.from_bytes(os.urandom(8), "big")), "-days", str(days), "-extfile", conf,
                 "-extensions", "ext", "-out", out)
    return out


class Controllers:
    """The Secrets and CA bundles of an install: those in the render as they are, and those
    OpenShift's service-ca and cert-manager would write for it, made on first use."""

    def __init__(self, install, workdir):
        self.install = install
        self.dir = Path(workdir) / "controllers"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._secrets = {}
        self._service_ca = None
        for s in install.all("Secret"):
            data = {k: base64.b64decode(v) for k, v in (s.get("data") or {}).items()}
            data.update({k: v.encode() for k, v in (s.get("stringData") or {}).items()})
            self._secrets[(_meta(s, "namespace"), _meta(s, "name"))] = data

    def service_ca(self):
        """service-ca's signing CA: (cert path, key path)."""
        if self._service_ca is None:
            key = self.dir / "service-ca.key"
            make_key(key)
            self._service_ca = (make_cert(self.dir, "service-ca", key, ca=True), key)
        return self._service_ca

    def secret(self, namespace, name):
        """What Secret namespace/name holds, or None when nothing in the install makes it."""
        if (namespace, name) not in self._secrets:
            made = self._service_ca_secret(namespace, name) or self._cert_manager_secret(namespace, name)
            if made is None:
                return None
            self._secrets[(namespace, name)] = made
        return self._secrets[(namespace, name)]

    def _service_ca_secret(self, namespace, name):
        # service-ca: tls.crt is the serving certificate then its CA, tls.key PKCS#1 RSA.
        for svc in self.install.all("Service"):
            annotations = _meta(svc, "annotations") or {}
            if annotations.get(SERVICE_CA_NAME) == name and _meta(svc, "namespace") == namespace:
                svc_name = _meta(svc, "name")
                ca_cert, ca_key = self.service_ca()
                key = self.dir / f"{namespace}-{name}.key"
                make_key(key)
                cert = make_cert(self.dir, f"{namespace}-{name}", key, dns=[
                    f"{svc_name}.{namespace}.svc", f"{svc_name}.{namespace}.svc.cluster.local"],
                    issuer=(ca_cert, ca_key))
                return {"tls.crt": cert.read_bytes() + ca_cert.read_bytes(), "tls.key": key.read_bytes()}
        return None

    def _cert_manager_secret(self, namespace, name):
        for c in self.install.all("Certificate"):
            spec = c.get("spec", {})
            if spec.get("secretName") == name and _meta(c, "namespace") == namespace:
                return self._issue(c)
        return None

    def _issue(self, certificate):
        """cert-manager's Secret for a Certificate: tls.crt, tls.key, ca.crt."""
        spec, ns, cname = certificate["spec"], _meta(certificate, "namespace"), _meta(certificate, "name")
        ref = spec.get("issuerRef", {})
        kind = ref.get("kind", "Issuer")
        issuer = self.install.get(kind, ns if kind == "Issuer" else None, ref.get("name"))
        if issuer is None:
            raise InstallError(f"Certificate {ns}/{cname}: its {kind} {ref.get('name')!r} is not in the install")
        pk = spec.get("privateKey", {})
        key = self.dir / f"cm-{ns}-{cname}.key"
        make_key(key, pk.get("algorithm", "RSA"), pk.get("size"), pk.get("encoding", "PKCS1"))
        names = dict(dns=spec.get("dnsNames", []), ips=spec.get("ipAddresses", []), ca=bool(spec.get("isCA")))
        if "selfSigned" in issuer.get("spec", {}):
            cert = make_cert(self.dir, f"cm-{ns}-{cname}", key, **names)
            return {"tls.crt": cert.read_bytes(), "tls.key": key.read_bytes(), "ca.crt": cert.read_bytes()}
        if "ca" in issuer.get("spec", {}):
            ca = self.secret(ns, issuer["spec"]["ca"]["secretName"])
            if ca is None:
                raise InstallError(f"{kind} {ref.get('name')}: its CA Secret is not in the install")
            (self.dir / "cm-ca.crt").write_bytes(ca["tls.crt"])
            (self.dir / "cm-ca.key").write_bytes(ca["tls.key"])
            cert = make_cert(self.dir, f"cm-{ns}-{cname}", key, issuer=(self.dir / "cm-ca.crt", self.dir / "cm-ca.key"), **names)
            return {"tls.crt": cert.read_bytes(), "tls.key": key.read_bytes(), "ca.crt": ca["tls.crt"]}
        raise InstallError(f"{kind} {ref.get('name')}: only selfSigned and ca issuers are simulated")

    def ca_bundle(self, configuration, webhook):
        """The caBundle the apiserver uses for `webhook` once the injectors have run."""
        annotations = _meta(configuration, "annotations") or {}
        what = f"{configuration['kind']} {_meta(configuration, 'name')}"
        if annotations.get(SERVICE_CA_INJECT) == "true":
            return self.service_ca()[0].read_bytes()
        source = annotations.get(CERT_MANAGER_INJECT)
        if source:
            ns, _, name = source.partition("/")
            cert = self.install.get("Certificate", ns, name)
            if cert is None:
                raise InstallError(f"{what}: {CERT_MANAGER_INJECT} names Certificate {source}, which the install lacks")
            return self.secret(ns, cert["spec"]["secretName"])["ca.crt"]
        source = annotations.get(CERT_MANAGER_INJECT_SECRET)
        if source:
            ns, _, name = source.partition("/")
            secret = self.secret(ns, name)
            if secret is None or "ca.crt" not in secret:
                raise InstallError(f"{what}: {CERT_MANAGER_INJECT_SECRET} names {source}, which holds no ca.crt")
            return secret["ca.crt"]
        bundle = webhook.get("clientConfig", {}).get("caBundle")
        if not bundle:
            raise InstallError(f"{what}: webhook {webhook['name']} has no caBundle and nothing injects one")
        return base64.b64decode(bundle)


# --- the image ---------------------------------------------------------------------------


@dataclass
class Image:
    """What the runtime image gives a container: the last stage of the Containerfile."""

    entrypoint: list
    cmd: list
    user: str
    env: dict
    workdir: str
    files: list

    @classmethod
    def from_containerfile(cls, path):
        text = re.sub(r"\\\n", " ", Path(path).read_text())
        lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
        last = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
        image = cls([], [], "0", {"PATH": DEFAULT_PATH}, "/", [])
        for line in lines[last + 1:]:
            op, _, rest = line.partition(" ")
            op, rest = op.upper(), rest.strip()
            if op in ("ENTRYPOINT", "CMD"):
                if not rest.startswith("["):
                    raise InstallError(f"Containerfile {op} in shell form needs /bin/sh, which the runtime image lacks")
                setattr(image, op.lower(), json.loads(rest))
                if op == "ENTRYPOINT":
                    image.cmd = []  # a later ENTRYPOINT resets CMD
            elif op == "USER":
                image.user = rest
            elif op == "WORKDIR":
                image.workdir = rest
            elif op == "ENV":
                for k, v in (w.split("=", 1) for w in shlex.split(rest)):
                    image.env[k] = v
            elif op == "COPY":
                image.files.append(shlex.split(rest)[-1])
        return image


# --- the pod -----------------------------------------------------------------------------


def _env_name(service):
    return service.upper().replace("-", "_")


def _service_links(service, ip):
    """The variables kubelet sets for a Service (pkg/kubelet/envvars)."""
    ports = service["spec"].get("ports", [])
    prefix = _env_name(_meta(service, "name"))
    env = {f"{prefix}_SERVICE_HOST": ip}
    if ports:
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        env[f"{prefix}_PORT"] = f"{ports[0].get('protocol', 'TCP').lower()}://{ip}:{ports[0]['port']}"
    for p in ports:
        proto = p.get("protocol", "TCP")
        if p.get("name"):
            env[f"{prefix}_SERVICE_PORT_{_env_name(p['name'])}"] = str(p["port"])
        base = f"{prefix}_PORT_{p['port']}_{proto}"
        env[base] = f"{proto.lower()}://{ip}:{p['port']}"
        env[f"{base}_PROTO"] = proto.lower()
        env[f"{base}_PORT"] = str(p["port"])
        env[f"{base}_ADDR"] = ip
    return env


def expand(value, env):
    """kubelet's `$(VAR)` expansion: known names are replaced, `$$` is a `$`, the rest stays."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, value)


@dataclass
class Cluster:
    """Where the pod's apiserver is: the address kubelet's KUBERNETES_SERVICE_* name (kube-proxy
    would forward the Service's ClusterIP there), and the service account token and CA."""

    host: str = "127.0.0.1"
    port: int = 443  # nothing listens there in a private network namespace: no hub answers
    token: str = "not-a-cluster-token"
    ca: bytes = b""


@dataclass
class Probe:
    name: str
    spec: dict
    port: int
    scheme: str = "HTTP"
    path: str = "/"

    @property
    def budget(self):
        """Seconds from the container's start by which the probe must have succeeded: after
        failureThreshold failures kubelet restarts the container (liveness) or keeps it out of
        the Service (readiness)."""
        s = self.spec
        return s.get("initialDelaySeconds", 0) + s.get("periodSeconds", 10) * s.get("failureThreshold", 3)

    @property
    def timeout(self):
        return self.spec.get("timeoutSeconds", 1)

    def once(self):
        """One probe as kubelet sends it: to the pod's IP, HTTPS without verifying."""
        headers = {h["name"]: h["value"] for h in self.spec["httpGet"].get("httpHeaders", [])}
        return http_get(self.port, self.path, self.scheme, self.timeout, headers)


def http_get(port, path, scheme="HTTP", timeout=1, headers=None):
    """GET on the pod's IP (its loopback here) as kubelet sends probes: (status, body)."""
    if scheme == "HTTPS":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": PROBE_AGENT, "Accept": "*/*", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


class Pod:
    """The webhook's pod of an install, ready to start."""

    def __init__(self, install, binary, image, workdir, cluster=None, controllers=None):
        self.install = install
        self.binary = Path(binary)
        self.image = image
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cluster = cluster or Cluster()
        self.controllers = controllers or Controllers(install, self.dir)
        self.webhooks = self._webhooks()
        ref = self.webhooks[0][1]["clientConfig"]["service"]
        svc = self._service(ref)
        self.deployment = self._deployment(svc)
        self.namespace = _meta(self.deployment, "namespace")
        self.pod = copy.deepcopy(self.deployment["spec"]["template"])
        self.spec = self.pod["spec"]
        self.name = f"{_meta(self.deployment, 'name')}-6f9d8c7b5d-x2x7q"
        self.container = self._container(svc, ref.get("port", 443))
        self._admit()
        self.ports = {p["name"]: p["containerPort"] for p in self.container.get("ports", []) if p.get("name")}
        self.env = self._environment()
        self.argv = self._argv()
        self.user, self.group, self.groups = self._identity()
        self.mounts = self._mounts()
        self.proc = None
        self.pid = None
        self.started = None
        self.log_path = self.dir / "container.log"

    # The objects, followed as the apiserver and kube-proxy follow them.

    def _webhooks(self):
        found = []
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            for conf in self.install.all(kind):
                for w in conf.get("webhooks", []):
                    if "service" not in w.get("clientConfig", {}):
                        raise InstallError(f"{kind} webhook {w['name']}: clientConfig has no service")
                    found.append((conf, w))
        services = {(w["clientConfig"]["service"]["namespace"], w["clientConfig"]["service"]["name"]) for _, w in found}
        if len(services) > 1:
            raise InstallError(f"the webhooks call several Services {sorted(services)}: one pod is simulated")
        if not found:
            raise InstallError("the install has no webhook configuration")
        return found

    def _service(self, ref):
        svc = self.install.get("Service", ref["namespace"], ref["name"])
        if svc is None:
            raise InstallError(f"webhook Service {ref['namespace']}/{ref['name']} is not in the install")
        return svc

    def _deployment(self, svc):
        selector = svc["spec"].get("selector", {})
        for d in self.install.all("Deployment"):
            if (_meta(d, "namespace") == _meta(svc, "namespace")
                    and _selects(selector, d["spec"]["template"]["metadata"].get("labels", {}))):
                return d
        raise InstallError(f"Service {_meta(svc, 'name')} selects no Deployment's pods: {selector}")

    def _container(self, svc, port):
        target = next((p.get("targetPort", port) for p in svc["spec"]["ports"] if p["port"] == port), None)
        if target is None:
            raise InstallError(f"Service {_meta(svc, 'name')} has no port {port}, which the webhooks call")
        for c in self.spec["containers"]:
            if any(p.get("name") == target or p.get("containerPort") == target for p in c.get("ports", [])):
                return c
        raise InstallError(f"no container of {self.name} has port {target!r}, the Service's targetPort")

    def _admit(self):
        """Pod Security admission, where the namespace enforces the restricted profile: the
        ReplicaSet could create no pod that breaks it, so the webhook would never run."""
        ns = self.install.get("Namespace", None, self.namespace) or {}
        if (_meta(ns, "labels") or {}).get("pod-security.kubernetes.io/enforce") != "restricted":
            return
        pod_ctx = self.spec.get("securityContext", {})
        broken = [f"spec.{k}" for k in ("hostNetwork", "hostPID", "hostIPC") if self.spec.get(k)]
        allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"}
        broken += [f"volume {v['name']}" for v in self.spec.get("volumes", [])
                   if not set(v) - {"name"} <= allowed_volumes]
        for c in self.spec.get("initContainers", []) + self.spec["containers"]:
            ctx = c.get("securityContext", {})
            where = f"container {c['name']}"
            if ctx.get("privileged"):
                broken.append(f"{where}: privileged")
            if ctx.get("allowPrivilegeEscalation") is not False:
                broken.append(f"{where}: allowPrivilegeEscalation != false")
            if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
                broken.append(f"{where}: runAsNonRoot != true")
            if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
                broken.append(f"{where}: runAsUser=0")
            seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                broken.append(f"{where}: seccompProfile.type {seccomp!r}")
            caps = ctx.get("capabilities", {})
            if "ALL" not in caps.get("drop", []):
                broken.append(f"{where}: capabilities.drop lacks ALL")
            if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
                broken.append(f"{where}: capabilities.add {caps['add']}")
            if any(p.get("hostPort") for p in c.get("ports", [])):
                broken.append(f"{where}: hostPort")
        if broken:
            raise InstallError(f'pods "{self.name}" is forbidden: violates PodSecurity "restricted:latest": '
                               + "; ".join(broken))

    def container_port(self, port):
        """A container port by number or by name, as kubelet and kube-proxy resolve it."""
        if isinstance(port, int):
            return port
        if port not in self.ports:
            raise InstallError(f"container {self.container['name']} has no port named {port!r}")
        return self.ports[port]

    def service_port(self, namespace, name, port):
        """The container port behind port `port` of Service namespace/name."""
        svc = self._service({"namespace": namespace, "name": name})
        for p in svc["spec"]["ports"]:
            if p["port"] == port:
                return self.container_port(p.get("targetPort", port))
        raise InstallError(f"Service {namespace}/{name} has no port {port}")

    # What kubelet makes of the container spec.

    def _lookup(self, kind, ref, what):
        namespace, name, key = self.namespace, ref.get("name"), ref.get("key")
        if kind == "Secret":
            data = self.controllers.secret(namespace, name)
            values = None if data is None else {k: v.decode() for k, v in data.items()}
        else:
            cm = self.install.get("ConfigMap", namespace, name)
            values = None if cm is None else dict(cm.get("data") or {})
        if values is None:
            if ref.get("optional"):
                return None
            raise InstallError(f"{what}: {kind} {namespace}/{name} is not created by the install")
        if key is not None and key not in values:
            if ref.get("optional"):
                return None
            raise InstallError(f"{what}: {kind} {namespace}/{name} has no key {key!r}")
        return values if key is None else values[key]

    def _field(self, path, what):
        labels = self.pod["metadata"].get("labels", {})
        annotations = self.pod["metadata"].get("annotations", {})
        simple = {"metadata.name": self.name, "metadata.namespace": self.namespace,
                  "metadata.uid": "5f0c6d5e-1f6a-4f0e-9d59-0a6b2b1f8c11", "spec.nodeName": "hub-node-0",
                  "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
                  "status.podIP": "127.0.0.1", "status.podIPs": "127.0.0.1", "status.hostIP": "127.0.0.1",
                  "status.hostIPs": "127.0.0.1"}
        if path in simple:
            return simple[path]
        m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if m:
            return (labels if m.group(1) == "labels" else annotations).get(m.group(2), "")
        raise InstallError(f"{what}: fieldRef {path} is not one kubelet resolves")

    def _environment(self):
        env = {}
        if self.spec.get("enableServiceLinks", True):
            for i, svc in enumerate(self.install.all("Service")):
                ip = svc["spec"].get("clusterIP", f"10.96.{i // 250}.{10 + i % 250}")
                if _meta(svc, "namespace") == self.namespace and ip != "None":
                    env.update(_service_links(svc, ip))
        kubernetes = {"metadata": {"name": "kubernetes"},
                      "spec": {"ports": [{"name": "https", "port": self.cluster.port, "protocol": "TCP"}]}}
        env.update(_service_links(kubernetes, self.cluster.host))
        what = f"container {self.container['name']}"
        for source in self.container.get("envFrom", []):
            kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
            values = self._lookup(kind, {**ref, "key": None}, f"{what} envFrom") or {}
            env.update({source.get("prefix", "") + k: v for k, v in values.items()})
        for var in self.container.get("env", []):
            name, where = var["name"], f"{what} env {var['name']}"
            if "valueFrom" not in var:
                env[name] = expand(var.get("value", ""), env)
                continue
            source = var["valueFrom"]
            if "configMapKeyRef" in source:
                value = self._lookup("ConfigMap", source["configMapKeyRef"], where)
            elif "secretKeyRef" in source:
                value = self._lookup("Secret", source["secretKeyRef"], where)
            elif "fieldRef" in source:
                value = self._field(source["fieldRef"]["fieldPath"], where)
            else:
                raise InstallError(f"{where}: {list(source)} is not simulated")
            if value is not None:
                env[name] = value
        # What the container runtime adds: the image's variables under the pod's, HOSTNAME.
        return {**self.image.env, "HOSTNAME": self.name, **env}

    def _argv(self):
        command = self.container.get("command")
        args = self.container.get("args")
        if command:
            argv = list(command) + list(args or [])
        else:
            argv = self.image.entrypoint + list(args if args is not None else self.image.cmd)
        if not argv:
            raise InstallError("the container has no command and the image no ENTRYPOINT")
        argv = [expand(a, self.env) for a in argv]
        if argv[0] not in self.image.files:
            raise InstallError(f"command {argv[0]} is not in the runtime image, which holds {self.image.files}")
        return argv

    def security(self, key, default=None):
        """A securityContext field: the container's, else the pod's."""
        return self.container.get("securityContext", {}).get(
            key, self.spec.get("securityContext", {}).get(key, default))

    def _identity(self):
        user, _, group = self.image.user.partition(":")
        uid = self.security("runAsUser")
        if uid is None:
            if self.security("runAsNonRoot") and not user.isdigit():
                raise InstallError(f"container has runAsNonRoot and image has non-numeric user ({user}), "
                                   "cannot verify user is non-root")
            uid = int(user) if user.isdigit() else 0
        if self.security("runAsNonRoot") and uid == 0:
            raise InstallError("container's runAsUser breaks non-root policy")
        gid = self.security("runAsGroup", int(group) if group.isdigit() else uid)
        pod = self.spec.get("securityContext", {})
        groups = list(pod.get("supplementalGroups", []))
        if "fsGroup" in pod:
            groups.append(pod["fsGroup"])
        return uid, gid, groups

    def _project(self, name, files, mode):
        """A volume's files as kubelet's atomic writer lays them out: a timestamped directory,
        `..data` pointing at it, and one symlink per top-level entry."""
        root = self.dir / "volumes" / name
        stamp = datetime.datetime.now().strftime("..%Y_%m_%d_%H_%M_%S.%f")
        (root / stamp).mkdir(parents=True)
        fs_group = self.spec.get("securityContext", {}).get("fsGroup")
        for rel, (data, fmode) in files.items():
            path = root / stamp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            fmode = fmode if fmode is not None else mode
            if fs_group is not None:
                os.chown(path, 0, fs_group)
                fmode |= 0o440
            os.chmod(path, fmode)
        os.symlink(stamp, root / "..data")
        for top in {rel.split("/")[0] for rel in files}:
            os.symlink(f"..data/{top}", root / top)
        return root

    def _keys(self, volume, kind, data):
        items = volume.get("items")
        if items is None:
            return {k: (v, None) for k, v in data.items()}
        out = {}
        for item in items:
            if item["key"] not in data:
                if volume.get("optional"):
                    continue
                raise InstallError(f"volume {volume['_name']}: {kind} has no key {item['key']!r}")
            out[item["path"]] = (data[item["key"]], item.get("mode"))
        return out

    def _volume(self, volume):
        name = volume["name"]
        if "secret" in volume:
            src = {**volume["secret"], "_name": name}
            data = self.controllers.secret(self.namespace, src["secretName"])
            if data is None:
                if src.get("optional"):
                    data = {}
                else:
                    raise InstallError(f"volume {name}: Secret {self.namespace}/{src['secretName']} is neither in "
                                       "the install nor written by a controller it relies on (service-ca, cert-manager)")
            return self._project(name, self._keys(src, "Secret", data), src.get("defaultMode", 0o644)), True
        if "configMap" in volume:
            src = {**volume["configMap"], "_name": name}
            cm = self.install.get("ConfigMap", self.namespace, src["name"])
            if cm is None and not src.get("optional"):
                raise InstallError(f"volume {name}: ConfigMap {self.namespace}/{src['name']} is not in the install")
            data = {k: v.encode() for k, v in ((cm or {}).get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in ((cm or {}).get("binaryData") or {}).items()})
            return self._project(name, self._keys(src, "ConfigMap", data), src.get("defaultMode", 0o644)), True
        if "emptyDir" in volume:
            path = self.dir / "volumes" / name
            path.mkdir(parents=True)
            os.chmod(path, 0o777)
            return path, False
        raise InstallError(f"volume {name}: {[k for k in volume if k != 'name']} is not simulated")

    def _mounts(self):
        volumes = {v["name"]: v for v in self.spec.get("volumes", [])}
        mounts = []
        for m in self.container.get("volumeMounts", []):
            if m["name"] not in volumes:
                raise InstallError(f"volumeMount {m['mountPath']}: no volume named {m['name']!r}")
            src, always_ro = self._volume(volumes[m["name"]])
            if m.get("subPath"):
                src = src / m["subPath"]
            mounts.append((str(src), m["mountPath"], always_ro or m.get("readOnly", False)))
        account = self.spec.get("serviceAccountName", "default")
        sa = self.install.get("ServiceAccount", self.namespace, account)
        if sa is None and account != "default":
            raise InstallError(f"the pod's ServiceAccount {self.namespace}/{account} is not in the install")
        automount = self.spec.get("automountServiceAccountToken", (sa or {}).get("automountServiceAccountToken", True))
        if automount and not any(m[1] == SERVICE_ACCOUNT_DIR for m in mounts):
            ca = self.cluster.ca or self.controllers.service_ca()[0].read_bytes()
            files = {"token": (self.cluster.token.encode(), None), "ca.crt": (ca, None),
                     "namespace": (self.namespace.encode(), None)}
            mounts.append((str(self._project("kube-api-access", files, 0o644)), SERVICE_ACCOUNT_DIR, True))
        return mounts

    # Running it.

    def start(self):
        spec = {
            "binary": str(self.binary), "binary_dest": self.argv[0], "mounts": self.mounts,
            "read_only_root": bool(self.security("readOnlyRootFilesystem", False)),
            "hostname": self.name, "uid": self.user, "gid": self.group, "groups": self.groups,
            "no_new_privs": self.security("allowPrivilegeEscalation", True) is False,
            "caps": self._capabilities(), "workdir": self.container.get("workingDir", self.image.workdir),
            "argv": self.argv, "env": self.env, "scratch": str(self.dir / "rootfs"),
            "exec_marker": str(self.dir / "exec"),
        }
        # The layers on a tmpfs of the caller's: what the container writes to its root
        # filesystem stays in `upper`, to be read after it ends (written()).
        scratch = self.dir / "rootfs"
        scratch.mkdir(exist_ok=True)
        _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(scratch))
        for d in ("upper", "work", "root"):
            (scratch / d).mkdir()
        spec_path = self.dir / "container.json"
        spec_path.write_text(json.dumps(spec, indent=1))
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--pid", "--uts", "--fork", "--propagation", "private",
             "--kill-child=SIGKILL", sys.executable, __file__, "--enter", str(spec_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env={"PATH": DEFAULT_PATH})
        log.close()
        # Started once the container's setup is done (the marker) and the binary runs, or
        # has run: a process that exits at once is a container that started and failed.
        comm = Path(self.argv[0]).name[:15]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None
            if Path(spec["exec_marker"]).exists():
                try:
                    pid = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()[0]
                    if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                        self.pid, self.started = int(pid), time.monotonic()
                        return
                except (OSError, IndexError):
                    pass
                if exited:
                    self.started = time.monotonic()
                    return
            elif exited:
                break
            time.sleep(0.002)
        self.kill()
        raise InstallError(f"the container did not start: {self.log().strip()}")

    def _capabilities(self):
        caps = self.security("capabilities", {})
        drop = [c.lower() for c in caps.get("drop", [])]
        add = [c.lower() for c in caps.get("add", [])]
        if "all" in drop:
            return "-all" + "".join(f",+{c}" for c in add)
        return ",".join([f"-{c}" for c in drop] + [f"+{c}" for c in add])

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """The container's exit code, or None if it still runs after `timeout` seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def peak_rss(self):
        """The container's peak resident memory in bytes (VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        """kubelet's stop: SIGTERM, then SIGKILL after terminationGracePeriodSeconds.
        Returns (exit code, seconds taken, killed)."""
        grace = self.spec.get("terminationGracePeriodSeconds", 30)
        if not self.running():
            return self.proc.wait(), 0.0, False
        t0 = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        code = self.wait(grace)
        if code is None:
            os.kill(self.pid, signal.SIGKILL)
            return self.proc.wait(), time.monotonic() - t0, True
        return code, time.monotonic() - t0, False

    def kill(self):
        """SIGKILL, waited for: the pod's ports are free once this returns; then the
        container's layers are let go."""
        if self.running():
            os.kill(self.pid or self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        scratch = self.dir / "rootfs"
        if os.path.ismount(scratch):
            subprocess.run(["umount", "-l", str(scratch)], check=True)

    def written(self):
        """What the container wrote to its root filesystem: files in the overlay's upper
        layer other than the image's binary and the mount points made for the volumes."""
        upper = self.dir / "rootfs" / "upper"
        made = {in_root("", p) for p in [self.argv[0], *(m[1] for m in self.mounts)]}
        found = []
        for dirpath, dirs, files in os.walk(upper):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
                path = "/" + os.path.relpath(os.path.join(dirpath, name), upper)
                if path not in made and not any(path.startswith(m + "/") for m in made):
                    found.append(path)
            for d in dirs:  # a directory made and left empty (others show by their files)
                path = "/" + os.path.relpath(os.path.join(dirpath, d), upper)
                if not os.listdir(os.path.join(dirpath, d)) and not any(
                        m == path or m.startswith(path + "/") or path.startswith(m + "/") for m in made):
                    found.append(path + "/")
        return sorted(found)

    def probe(self, kind):
        """The container's `kind` probe (readinessProbe, livenessProbe), resolved."""
        spec = self.container.get(kind)
        if spec is None:
            return None
        if "httpGet" not in spec:
            raise InstallError(f"{kind}: only httpGet probes are simulated")
        get = spec["httpGet"]
        return Probe(kind, spec, self.container_port(get["port"]), get.get("scheme", "HTTP"), get.get("path", "/"))

    def first_success(self, probe):
        """Seconds from the container's start to the first 200 of `probe`, trying every 20 ms
        (kubelet tries every periodSeconds; this finds the earliest moment it could succeed)."""
        deadline = self.started + probe.budget
        last = None
        while time.monotonic() < deadline:
            if not self.running():
                raise InstallError(f"the container exited ({self.proc.returncode}) before its {probe.name} "
                                   f"succeeded: {self.log().strip()}")
            try:
                status, body = probe.once()
                if status == 200:
                    return time.monotonic() - self.started
                last = f"HTTP {status} {body.strip()}"
            except OSError as e:
                last = str(e)
            time.sleep(0.02)
        raise InstallError(f"{probe.name} {probe.scheme} :{probe.port}{probe.path} did not answer 200 within "
                           f"its budget of {probe.budget} s: {last}")

    def webhook_call(self, configuration, webhook, body):
        """POST `body` as the apiserver calls this webhook: to the Service's port, verifying
        the injected caBundle for the Service's DNS name, with `?timeout=`."""
        ref = webhook["clientConfig"]["service"]
        port = self.service_port(ref["namespace"], ref["name"], ref.get("port", 443))
        server_name = f"{ref['name']}.{ref['namespace']}.svc"
        ctx = ssl.create_default_context(cadata=self.controllers.ca_bundle(configuration, webhook).decode())
        path = f"{ref.get('path', '/')}?timeout={webhook.get('timeoutSeconds', 10)}s"
        with socket.create_connection(("127.0.0.1", port), timeout=webhook.get("timeoutSeconds", 10)) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
                conn = http.client.HTTPConnection("127.0.0.1", port)
                conn.sock = tls
                conn.request("POST", path, body=body, headers={
                    "Content-Type": "application/json", "Accept": "application/json, */*",
                    "Host": f"{server_name}:{ref.get('port', 443)}"})
                resp = conn.getresponse()
                return resp.status, resp.read()

    def webhook_configurations(self, url_host=None):
        """The webhook configurations as the apiserver holds them once injected, each webhook's
        `service` replaced by the URL its Service resolves to (`https://<service>.<ns>.svc:<container
        port><path>`): loopback-only tests cannot dial a ClusterIP."""
        out = []
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            for conf in self.install.all(kind):
                conf = copy.deepcopy(conf)
                for w in conf["webhooks"]:
                    ref = w["clientConfig"]["service"]
                    port = self.service_port(ref["namespace"], ref["name"], ref.get("port", 443))
                    host = url_host or f"{ref['name']}.{ref['namespace']}.svc"
                    w["clientConfig"] = {
                        "url": f"https://{host}:{port}{ref.get('path', '/')}",
                        "caBundle": base64.b64encode(self.controllers.ca_bundle(conf, w)).decode()}
                out.append(conf)
        return out


# --- inside the namespaces -----------------------------------------------------------------


def _mount(*args):
    subprocess.run(["mount", *args], check=True)


def in_root(root, path):
    """`path` inside the container's `root`, following symlinks as if `root` were `/` (a
    container runtime's secure join: /var/run -> /run must not lead out to the host's)."""
    resolved = ""
    parts = [p for p in path.split("/") if p]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            resolved = resolved.rsplit("/", 1)[0]
            continue
        here = f"{root}{resolved}/{part}"
        if os.path.islink(here):
            hops += 1
            if hops > 40:
                raise OSError(f"too many symlinks in {path}")
            link = os.readlink(here)
            if link.startswith("/"):
                resolved = ""
            parts = [p for p in link.split("/") if p] + parts
            continue
        resolved = f"{resolved}/{part}"
    return root + resolved


def enter(spec_path):
    """Runs as PID 1 of the pod's namespaces: builds the container's root filesystem (the
    host's, read-only, under an overlay that holds the image's binary), mounts the volumes,
    and becomes the container's process."""
    spec = json.loads(Path(spec_path).read_text())
    scratch = spec["scratch"]
    root = f"{scratch}/root"
    _mount("-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={scratch}/upper,workdir={scratch}/work", root)
    dest = in_root(root, spec["binary_dest"])
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copyfile(spec["binary"], dest)
    os.chmod(dest, 0o755)
    for src, path, read_only in spec["mounts"]:
        target = in_root(root, path)
        if os.path.isdir(src):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Path(target).touch()
        _mount("--bind", src, target)
        if read_only:
            _mount("-o", "remount,bind,ro", target)
    _mount("-t", "proc", "proc", f"{root}/proc")
    _mount("--rbind", "/dev", f"{root}/dev")
    _mount("--rbind", "/sys", f"{root}/sys")
    _mount("-o", "remount,bind,ro", f"{root}/sys")
    if spec["read_only_root"]:
        _mount("-o", "remount,ro", root)
    socket.sethostname(spec["hostname"])
    Path(spec["exec_marker"]).touch()
    os.chroot(root)
    os.chdir(spec["workdir"])
    groups = ",".join(str(g) for g in spec["groups"]) if spec["groups"] else None
    argv = ["setpriv", f"--reuid={spec['uid']}", f"--regid={spec['gid']}",
            f"--groups={groups}" if groups else "--clear-groups", "--inh-caps=-all"]
    if spec["caps"]:
        argv.append(f"--bounding-set={spec['caps']}")
    if spec["no_new_privs"]:
        argv.append("--no-new-privs")
    os.execve("/usr/bin/setpriv", argv + ["--", *spec["argv"]], spec["env"])


# --- the command: one pod for the end-to-end test --------------------------------------------


def main(argv):
    """kubelet.py run KUSTOMIZATION|RENDERED.yaml --binary B --containerfile F --state DIR [--apiserver
    HOST:PORT --token-file F --ca-file F] [--url-host H]

    Renders the install, starts its webhook pod and writes DIR/webhooks.yaml (the webhook
    configurations as injected, each pointing at a URL), then DIR/ready once the readiness
    probe answers. On SIGTERM or SIGINT it stops the pod as kubelet does and exits with the
    container's code; it exits 1 at once if the pod cannot start or exits by itself."""
    import argparse
    p = argparse.ArgumentParser(prog="kubelet.py")
    p.add_argument("command", choices=["run"])
    p.add_argument("kustomization")
    p.add_argument("--binary", required=True)
    p.add_argument("--containerfile", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--apiserver")
    p.add_argument("--token-file")
    p.add_argument("--ca-file")
    p.add_argument("--url-host")
    a = p.parse_args(argv)
    cluster = Cluster()
    if a.apiserver:
        host, _, port = a.apiserver.rpartition(":")
        cluster = Cluster(host, int(port), Path(a.token_file).read_text().strip(), Path(a.ca_file).read_bytes())
    state = Path(a.state)
    try:
        pod = Pod(Install.load(a.kustomization), a.binary, Image.from_containerfile(a.containerfile),
                  state / "pod", cluster)
        (state / "webhooks.yaml").write_text(yaml.safe_dump_all(pod.webhook_configurations(a.url_host)))
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))
        pod.start()
        seconds = pod.first_success(pod.probe("readinessProbe"))
        (state / "ready").write_text(f"{seconds:.3f}\n")
        while not stop:
            if not pod.running():
                print(f"kubelet.py: the container exited ({pod.proc.returncode}): {pod.log()}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        code, took, killed = pod.stop()
        pod.kill()
        (state / "stopped").write_text(json.dumps({"code": code, "seconds": took, "killed": killed}))
        return code
    except InstallError as e:
        print(f"kubelet.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--enter":
        enter(sys.argv[2])
    else:
        sys.exit(main(sys.argv[1:]))
