#!/usr/bin/env bash
# The alerts as shipped (deploy/components/monitoring): rendered with kustomize on top of
# the default install, the ServiceMonitor selecting the Service's metrics port, the
# PrometheusRule's rules checked and unit-tested by promtool (alerts.test.yaml), and every
# ibgu_webhook_* series they read present in what `serve` exports. Installs what it lacks
# (promtool from Debian's prometheus package, kubectl, PyYAML).
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "alerts: $*" >&2; exit 1; }
need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v kubectl >/dev/null || need_apt+=(kubectl)
if [ ${#need_apt[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "needs ${need_apt[*]}, and installing them needs root"
    echo "alerts: installing ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null \
        || fail "cannot install ${need_apt[*]}"
fi
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml || fail "cannot install PyYAML"
cargo build --release --locked -q --bin ibgu-webhook

work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
# A GitOps repository's kustomization: the default install with the component added.
mkdir -p "$work/tree"
cp -r deploy "$work/tree/"
cat >"$work/tree/kustomization.yaml" <<'YAML'
resources: [deploy]
components: [deploy/components/monitoring]
YAML
kubectl kustomize "$work/tree" >"$work/install.yaml" || fail "kustomize cannot render the component"

# Metrics as `serve` exports them, after one answered review.
port=$((20000 + RANDOM % 20000))
target/release/ibgu-webhook serve --addr "127.0.0.1:$port" --metrics-addr "127.0.0.1:$((port + 1))" \
    >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -skf "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -skf -X POST -H 'Content-Type: application/json' \
    --data @tests/data/bench/create-needs-defaults.json \
    "https://127.0.0.1:$port/mutate?timeout=10s" >/dev/null || fail "serve did not answer a review"
curl -sf "http://127.0.0.1:$((port + 1))/metrics" >"$work/metrics.txt" || fail "no /metrics"

python3 - "$work" <<'PY'
import re, sys, yaml
work = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(f"{work}/install.yaml")) if d]
def one(kind):
    found = [d for d in docs if d["kind"] == kind]
    if len(found) != 1:
        sys.exit(f"alerts: the install renders {len(found)} {kind}s, not 1")
    return found[0]
monitor, rule, service = one("ServiceMonitor"), one("PrometheusRule"), one("Service")
selector = monitor["spec"]["selector"]["matchLabels"]
if any(service["metadata"].get("labels", {}).get(k) != v for k, v in selector.items()):
    sys.exit(f"alerts: the ServiceMonitor's selector {selector} does not select Service {service['metadata']['name']}")
ports = {p["name"] for p in service["spec"]["ports"]}
for e in monitor["spec"]["endpoints"]:
    if e["port"] not in ports:
        sys.exit(f"alerts: the ServiceMonitor scrapes port {e['port']!r}; the Service has {sorted(ports)}")
for d in (monitor, rule):
    if d["metadata"]["namespace"] != service["metadata"]["namespace"]:
        sys.exit(f"alerts: {d['kind']} is in {d['metadata']['namespace']}, the Service in {service['metadata']['namespace']}")
# The job label the rules select is the Service's name (the Prometheus Operator's default).
exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
for job in re.findall(r'job="([^"]+)"', "\n".join(exprs)):
    if job != service["metadata"]["name"]:
        sys.exit(f"alerts: a rule selects job {job!r}; the ServiceMonitor's job is {service['metadata']['name']!r}")
exported = set(re.findall(r"^(ibgu_webhook_[a-z_]+)", open(f"{work}/metrics.txt").read(), re.M))
used = set(re.findall(r"\b(ibgu_webhook_[a-z_]+)", "\n".join(exprs)))
missing = sorted(used - exported)
if missing:
    sys.exit(f"alerts: the rules read {missing}, which serve does not export (it exports {sorted(exported)})")
yaml.safe_dump(rule["spec"], open(f"{work}/rules.yaml", "w"), sort_keys=False)
print(f"alerts: the install renders the ServiceMonitor and {len(exprs)} alerts; they read {len(used)} series serve exports")
PY
cp tests/alerts/alerts.test.yaml "$work/"
promtool check rules "$work/rules.yaml"
promtool test rules "$work/alerts.test.yaml"
echo "alerts: passed"
