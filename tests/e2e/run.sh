#!/usr/bin/env bash
# End to end: a real kube-apiserver (built from Debian's source package, cached) with
# Debian's etcd; the upstream IBGU CRD; and ibgu-webhook installed as a hub would install
# it: examples/install (deploy/ with the seed pull secret set) is rendered once, its
# objects are applied, its pod is run from the rendered container spec by
# tests/install/kubelet.py (as kubelet would, with a service account token from the
# apiserver), and the webhook configurations from the same render are registered with
# the caBundle service-ca would inject. Then kubectl drives the scenarios and every
# outcome is asserted on what kubectl printed or the apiserver stored.
#
#   bash tests/e2e/run.sh
#   IBGU_E2E_ONLY=differential bash tests/e2e/run.sh   # the set-up, then only the differential test
#   IBGU_E2E_ONLY=gitops bash tests/e2e/run.sh         # the set-up, then only the GitOps flow
#
# Installs what it needs (etcd-server, kubectl, Go for the one-off apiserver build, and
# kubernetes-validate from PyPI), then runs as root in private network and mount
# namespaces: loopback is the only network, the pod's ports are as rendered, and
# /etc/hosts resolves the webhook Service's DNS name to it. Exits non-zero on the first
# failed assertion.
set -euo pipefail
cd "$(dirname "$0")/../.."
case ${IBGU_E2E_ONLY:-} in
    "" | differential | gitops) ;;
    *) echo "IBGU_E2E_ONLY=$IBGU_E2E_ONLY: differential or gitops (the set-up and that test only); unset, everything runs" >&2; exit 2 ;;
esac
root=$PWD
started=${IBGU_E2E_STARTED:-$(date +%s)}

fail() { echo "e2e: FAIL: $*" >&2; exit 1; }
# Counted in a file: some checks run in pipeline subshells.
passed=${IBGU_E2E_PASSED:-$(mktemp)}
ok() { echo "$*" >>"$passed"; echo "e2e: ok: $*"; }

# --- tools -------------------------------------------------------------------------
need_apt=()
command -v etcd >/dev/null || need_apt+=(etcd-server)
command -v kubectl >/dev/null || need_apt+=(kubectl)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "e2e: installing ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if [ -z "${IBGU_E2E_INSIDE:-}" ]; then
    [ "$(id -u)" = 0 ] || fail "needs root: it runs the cluster in its own network namespace"
    if ! command -v kubernetes-validate >/dev/null || ! python3 -c 'import yaml' 2>/dev/null; then
        python3 -m pip install -q kubernetes-validate || fail "cannot install kubernetes-validate from PyPI"
    fi
    kas=$(bash tests/e2e/kube-apiserver.sh)
    cargo build --release --locked -q --bin ibgu-webhook
    # Copied at once: a shared target directory's binary can be rebuilt from other sources.
    bin_dir=$(mktemp -d /tmp/ibgu-e2e-bin.XXXXXX)
    cp "${CARGO_TARGET_DIR:-$root/target}/release/ibgu-webhook" "$bin_dir/"
    IBGU_E2E_INSIDE=1 IBGU_E2E_KAS=$kas IBGU_E2E_STARTED=$started IBGU_E2E_PASSED=$passed IBGU_E2E_BIN=$bin_dir/ibgu-webhook \
        exec unshare --net --mount --propagation private bash "$0"
fi
ip link set lo up
kas=$IBGU_E2E_KAS
echo "e2e: kube-apiserver $("$kas" --version)"
webhook_bin=$IBGU_E2E_BIN

# --- cluster on loopback -----------------------------------------------------------
work=$(mktemp -d /tmp/ibgu-e2e.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work" "${IBGU_E2E_BIN%/*}"
}
trap cleanup EXIT
# The namespace's own loopback: fixed ports cannot collide with anything outside it.
etcd_client=2379; etcd_peer=2380; kas_port=6443
# The webhook's Service name, as the apiserver dials it, resolves to the pod (loopback).
printf '127.0.0.1 localhost ibgu-webhook.ibgu-system.svc\n::1 localhost\n' >"$work/hosts"
mount --bind "$work/hosts" /etc/hosts

etcd --name e2e --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "e2e=http://127.0.0.1:$etcd_peer" >"$work/etcd.log" 2>&1 &
pids+=($!)

token=$(openssl rand -hex 16)
echo "$token,admin,admin,system:masters" >"$work/tokens.csv"
openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
openssl rsa -in "$work/sa.key" -pubout -out "$work/sa.pub" 2>/dev/null
"$kas" --etcd-servers="http://127.0.0.1:$etcd_client" --bind-address=127.0.0.1 --secure-port="$kas_port" \
    --advertise-address=127.0.0.1 --cert-dir="$work/kas-certs" --token-auth-file="$work/tokens.csv" \
    --authorization-mode=RBAC --service-account-key-file="$work/sa.pub" \
    --service-account-signing-key-file="$work/sa.key" --service-account-issuer=https://kubernetes.default.svc \
    --service-cluster-ip-range=10.0.0.0/24 \
    --enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
    --audit-policy-file="$root/tests/e2e/audit-policy.yaml" --audit-log-path="$work/audit.log" \
    --audit-log-format=json >"$work/kas.log" 2>&1 &
pids+=($!)

export KUBECONFIG=$work/kubeconfig
cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "https://127.0.0.1:$kas_port", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$token"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: admin}}]
current-context: e2e
EOF
for _ in $(seq 1 120); do
    [ "$(kubectl get --raw /readyz 2>/dev/null)" = ok ] && break
    sleep 0.5
done
[ "$(kubectl get --raw /readyz 2>/dev/null)" = ok ] || { tail -20 "$work/kas.log"; fail "kube-apiserver not ready"; }
ok "kube-apiserver ready on 127.0.0.1:$kas_port"

# 1.20 predates CRD CEL rules: skip client-side schema checks (the apiserver drops them).
kubectl apply --validate=false -f tests/data/upstream/ibgu-crd.yaml >/dev/null
kubectl wait --for condition=established --timeout=60s crd/imagebasedgroupupgrades.lcm.openshift.io >/dev/null
kubectl create namespace ztp-group >/dev/null
kubectl -n ztp-group create secret docker-registry seed-pull-secret \
    --docker-server=quay.io --docker-username=u --docker-password=p >/dev/null
ok "IBGU CRD installed; namespace ztp-group with Secret seed-pull-secret"

# --- the webhook, installed from the render ------------------------------------------
kubectl kustomize examples/install >"$work/install.yaml"
# A hub that refuses a CREATE naming a missing seed pull secret sets one more variable.
python3 - "$work/install.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Deployment":
        d["spec"]["template"]["spec"]["containers"][0].setdefault("env", []).append(
            {"name": "IBGU_REQUIRE_PULL_SECRET", "value": "true"})
open(sys.argv[1], "w").write(yaml.safe_dump_all(docs))
PY
# Everything but the webhook configurations, which go in once the pod is ready (as a
# GitOps sync would order them), and the PodDisruptionBudget: policy/v1 is newer than 1.20.
python3 - "$work/install.yaml" >"$work/objects.yaml" <<'PY'
import sys, yaml
skip = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PodDisruptionBudget")
print(yaml.safe_dump_all([d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] not in skip]))
PY
out=$(kubectl apply -f "$work/objects.yaml" 2>&1) || fail "applying the install: $out"
ok "the install's Namespace, ServiceAccount, RBAC, Service and Deployment applied"
kubectl -n ibgu-system create token ibgu-webhook >"$work/token" || fail "no token for ServiceAccount ibgu-webhook"
python3 tests/install/kubelet.py run "$work/install.yaml" --binary "$webhook_bin" --containerfile Containerfile \
    --state "$work/pod" --apiserver "127.0.0.1:$kas_port" --token-file "$work/token" \
    --ca-file "$work/kas-certs/apiserver.crt" 2>"$work/kubelet.log" &
kubelet_pid=$!
pids+=($kubelet_pid)
for _ in $(seq 1 100); do
    [ -f "$work/pod/ready" ] && break
    kill -0 $kubelet_pid 2>/dev/null || break
    sleep 0.1
done
[ -f "$work/pod/ready" ] || fail "the webhook pod did not get ready: $(cat "$work/kubelet.log")"
ok "the webhook pod runs from the rendered container spec, ready in $(cat "$work/pod/ready") s"
kubectl apply -f "$work/pod/webhooks.yaml" >/dev/null
sleep 2
ok "webhook configurations from the same render registered (caBundle as service-ca injects it)"

# --- check against the apiserver: generated manifests through both -------------------------
[ "${IBGU_E2E_ONLY:-}" = gitops ] || source tests/e2e/differential.sh
if [ "${IBGU_E2E_ONLY:-}" = differential ]; then
    [ "$differential_rc" = 0 ] || fail "ibgu-webhook check disagrees with the apiserver (above; report: $differential_report)"
    echo "e2e: $(wc -l <"$passed") checks passed in $(($(date +%s) - started))s (IBGU_E2E_ONLY=differential: set-up and the differential test only)"
    rm -f "$passed"
    exit 0
fi

# --- scenarios -------------------------------------------------------------------------
ibgu() { # name, plan (YAML flow), extra ibuSpec seed fields, selector values
    cat <<EOF
apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata: {name: $1, namespace: ztp-group}
spec:
  clusterLabelSelectors: [{matchExpressions: [{key: name, operator: In, values: [${4:-spoke1, spoke4}]}]}]
  ibuSpec:
    seedImageRef: {image: "quay.io/seed/image:4.20.0", version: "4.20.0"${3:-}}
  plan: $2
EOF
}
# kubectl 1.32 falls back to client-side schema checks against a 1.20 server, which would
# refuse a step without rolloutStrategy before the mutating webhook fills it; a current
# server checks required fields only after mutating admission, as here with the check off.
apply() { # manifest on stdin; prints kubectl's output; returns its status
    kubectl apply --validate=false -f - 2>&1
}
# /mutate refuses what validating the mutated object would (mutating rule 4).
webhook_denial() { grep -qE 'admission webhook "(mutate|validate)\.ibgu\.lcm\.openshift\.io" denied the request' <<<"$1"; }
expect_denied() { # what, fragment, manifest on stdin
    local out
    if out=$(apply); then fail "$1: allowed, expected denial: $out"; fi
    webhook_denial "$out" || fail "$1: not the webhook's denial: $out"
    grep -qF -- "$2" <<<"$out" || fail "$1: message lacks [$2]: $out"
    ok "$1"
}
expect_allowed() { # what, manifest on stdin
    local out
    out=$(apply) || fail "$1: denied: $out"
    ok "$1"
}
stored() { kubectl -n ztp-group get ibgu "$1" -o "jsonpath=$2"; }
# TALM's status, written through the subresource as TALM writes it.
talm_status() { # name, observedGeneration, clusters JSON, Progressing status, reason
    local cond
    cond=$(printf '{"type":"Progressing","status":"%s","reason":"%s","message":"m","lastTransitionTime":"2026-11-20T11:00:00Z"}' "$4" "$5")
    kubectl -n ztp-group patch ibgu "$1" --subresource=status --type=merge \
        -p "{\"status\":{\"observedGeneration\":$2,\"clusters\":$3,\"conditions\":[$cond]}}" >/dev/null \
        || fail "status of $1 not written through the subresource"
}
c() { # one status.clusters[] entry: name, completed actions, current action, failed actions (comma-separated)
    local j="{\"name\":\"$1\""
    [ -n "$2" ] && j+=",\"completedActions\":[$(sed -E 's/([A-Za-z]+)/{"action":"\1"}/g' <<<"$2")]"
    [ -n "$3" ] && j+=",\"currentAction\":{\"action\":\"$3\"}"
    [ -n "$4" ] && j+=",\"failedActions\":[$(sed -E 's/([A-Za-z]+)/{"action":"\1","message":"failed:\\nsee the logs"}/g' <<<"$4")]"
    echo "$j}"
}

# IBGU_E2E_ONLY=gitops: the cluster and the webhook as above, then the GitOps flow only.
if [ "${IBGU_E2E_ONLY:-}" = gitops ]; then
    source tests/e2e/gitops.sh
    echo "e2e: $(wc -l <"$passed") checks passed in $(($(date +%s) - started))s (IBGU_E2E_ONLY=gitops: set-up and tests/e2e/gitops.sh only)"
    rm -f "$passed"
    exit 0
fi

ibgu bad '[{actions: [Prep]}, {actions: [Rollback]}]' | expect_denied \
    "unsupported combination denied" 'spec.plan[1].actions: Unsupported value: ["Rollback"]'
out=$(ibgu bad '[{actions: [Prep]}, {actions: [Rollback]}]' | apply) && fail "allowed: $out"
grep -qF 'admission webhook "mutate.ibgu.lcm.openshift.io" denied the request' <<<"$out" \
    || fail "the mutating webhook did not refuse first: $out"
if grep -q 'defaulted' <<<"$out"; then fail "a refused object's defaults shown as made: $out"; fi
ok "the mutating webhook refuses it first, with the same message (the CRD's rules run before /validate)"
out=$(ibgu bad '[{actions: [Prep]}, {actions: [Rollback]}]' | kubectl apply --validate=false --dry-run=server -f - 2>&1) && fail "dry run allowed"
grep -qF 'Unsupported value: ["Rollback"]' <<<"$out" || fail "dry run: $out"
ok "server-side dry run denied the same way"

ibgu up '[{actions: [Prep]}]' | expect_allowed "a Prep step without rolloutStrategy is allowed"
[ "$(stored up '{.spec.plan[0].rolloutStrategy.maxConcurrency}/{.spec.plan[0].rolloutStrategy.timeout}')" = "10/240" ] \
    || fail "defaults not stored: $(stored up '{.spec.plan[0].rolloutStrategy}')"
ok "rollout strategy stored with the defaults (maxConcurrency 10, timeout 240)"
[ "$(stored up '{.spec.ibuSpec.seedImageRef.pullSecretRef.name}')" = seed-pull-secret ] \
    || fail "pull secret not injected: $(stored up '{.spec.ibuSpec.seedImageRef}')"
ok "seed pull secret reference injected (the Secret exists in the namespace)"

prepped='[{"name":"spoke1","completedActions":[{"action":"Prep"}]},{"name":"spoke4","completedActions":[{"action":"Prep"}]}]'
two='[{actions: [Prep]}, {actions: [Upgrade], rolloutStrategy: {maxConcurrency: 5, timeout: 60}}]'
ibgu up "$two" | expect_denied "appending before TALM wrote any status denied" "the stored object has no status yet"
talm_status up "$(stored up '{.metadata.generation}')" "$prepped" False Completed
ibgu up "$two" | expect_allowed "appending a valid step is allowed"
ibgu up '[{actions: [Prep]}, {actions: [Upgrade], rolloutStrategy: {maxConcurrency: 5, timeout: 60}}, {actions: [FinalizeUpgrade]}]' \
    | expect_denied "a second append before status.observedGeneration catches up denied" "it has seen generation 1, the stored object is at generation 2"
ibgu up '[{actions: [Prep]}]' | expect_denied "removing a step denied" "steps cannot be removed from an ongoing plan"
ibgu up '[{actions: [Upgrade], rolloutStrategy: {maxConcurrency: 5, timeout: 60}}, {actions: [Prep]}]' \
    | expect_denied "reordering steps denied" "cannot be reordered"
ibgu up '[{actions: [Prep]}, {actions: [Upgrade], rolloutStrategy: {maxConcurrency: 50, timeout: 60}}]' \
    | expect_denied "editing a step denied" "the rollout strategy of an ongoing plan's step cannot change"
ibgu up "$two" ', pullSecretRef: {name: another-secret}' | expect_denied \
    "changing ibuSpec denied" "spec.ibuSpec: Forbidden: field is immutable"
ibgu up "$two" "" "spoke1, spoke4, spoke9" | expect_denied \
    "changing clusterLabelSelectors denied" "spec.clusterLabelSelectors: Forbidden: field is immutable"
ibgu up "$two" | expect_allowed "re-applying the original manifest (which relied on defaults) is allowed"

ibgu named '[{actions: [Prep, Upgrade], rolloutStrategy: {maxConcurrency: 5, timeout: 60}}]' \
    ', pullSecretRef: {name: no-such-secret}' | expect_denied \
    "with --require-pull-secret, a CREATE naming a missing Secret denied" 'pullSecretRef.name: Not found: "no-such-secret"'

# Rule 13: TALM's status, as it writes it through the subresource, shows Prep running.
kubectl -n ztp-group patch ibgu up --subresource=status --type=merge \
    -p '{"status":{"clusters":[{"name":"spoke1","currentAction":{"action":"Prep"}}]}}' >/dev/null \
    || fail "status not written through the subresource"
out=$(kubectl -n ztp-group delete ibgu up 2>&1) && fail "deleting a running IBGU allowed: $out"
grep -qF 'admission webhook "validate-delete.ibgu.lcm.openshift.io" denied the request' <<<"$out" \
    || fail "not the webhook's denial of the delete: $out"
grep -qF 'step 0 [Prep] runs on 1 cluster(s): spoke1 (Prep)' <<<"$out" || fail "delete denial lacks what runs: $out"
ok "deleting an IBGU while a step runs is denied, naming the step and the cluster"
kubectl -n ztp-group annotate ibgu up ibgu-webhook.openshift.io/allow-delete=true >/dev/null \
    || fail "annotating the running IBGU refused"
kubectl -n ztp-group delete ibgu up >/dev/null || fail "delete refused"
[ -z "$(kubectl -n ztp-group get ibgu -o name)" ] || fail "objects left after delete"
ok "with ibgu-webhook.openshift.io/allow-delete=true, and when idle, kubectl delete is allowed"

# --- the deletion lifecycle: finalizers, --cascade=foreground, deletecollection ----------
# A DELETE that finalizers hold leaves the object stored with deletionTimestamp and bumps
# its generation (nothing here removes a finalizer: no controller runs); TALM's status
# then catches up with that generation, after which rule 4 alone would admit an append.
prep_only='[{actions: [Prep], rolloutStrategy: {maxConcurrency: 5, timeout: 60}}]'
caught_up() { talm_status "$1" "$(stored "$1" '{.metadata.generation}')" "${2:-$prepped}" "${3:-False}" "${4:-Completed}"; }
append_refused_while_deleting() { # name, what
    local out
    out=$(kubectl -n ztp-group patch ibgu "$1" --type=json \
        -p '[{"op":"add","path":"/spec/plan/-","value":{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":5,"timeout":60}}}]' 2>&1) \
        && fail "$2: an append to the deleting IBGU allowed: $out"
    webhook_denial "$out" || fail "$2: not the webhook's denial: $out"
    grep -qF "\"$1\" is invalid: spec: Forbidden: being deleted: nothing in spec can be changed or appended" <<<"$out" \
        || fail "$2: the denial does not say it is being deleted: $out"
    [ "$(stored "$1" '{.spec.plan[*].actions[0]}')" = Prep ] || fail "$2: plan changed: $(stored "$1" '{.spec.plan}')"
    ok "$2: once TALM saw the DELETE's generation, an append is refused, being deleted"
}
remove_finalizers() { kubectl -n ztp-group patch ibgu "$1" --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' 2>&1; }
gone() { ! kubectl -n ztp-group get ibgu "$1" >/dev/null 2>&1; }

ibgu fin "$prep_only" | expect_allowed "an IBGU for the finalizer checks created"
kubectl -n ztp-group patch ibgu fin --type=merge -p '{"metadata":{"finalizers":["lcm.openshift.io/e2e"]}}' >/dev/null \
    || fail "adding a finalizer refused"
caught_up fin
generation=$(stored fin '{.metadata.generation}')
kubectl -n ztp-group delete ibgu fin --wait=false >/dev/null || fail "deleting the idle IBGU held by a finalizer refused"
[ -n "$(stored fin '{.metadata.deletionTimestamp}')" ] || fail "no deletionTimestamp after the DELETE: $(stored fin '{.metadata}')"
[ "$(stored fin '{.metadata.generation}')" -gt "$generation" ] || fail "the DELETE did not bump the generation ($generation)"
caught_up fin
ok "an idle IBGU held by a finalizer: kubectl delete --wait=false allowed, the object stays with deletionTimestamp"
append_refused_while_deleting fin "held by a finalizer"
rc=0; out=$(kubectl -n ztp-group get ibgu fin -o yaml | "$webhook_bin" next - 2>&1) || rc=$?
[ "$rc" = 4 ] || fail "next on a deleting IBGU: exit $rc, not 4: $out"
grep -qF 'being deleted: nothing can be appended' <<<"$out" || fail "next on a deleting IBGU: $out"
if grep -q 'kubectl patch' <<<"$out"; then fail "next proposes an append to a deleting IBGU: $out"; fi
ok "next: being deleted, nothing can be appended (exit 4)"
caught_up fin '[{"name":"spoke1","currentAction":{"action":"Prep"}}]' True InProgress
out=$(remove_finalizers fin) && fail "removing the last finalizer while a step runs allowed: $out"
grep -qF 'ImageBasedGroupUpgrade.lcm.openshift.io "fin" is forbidden: status.clusters: Forbidden: step 0 [Prep] runs on 1 cluster(s): spoke1 (Prep): removing its last finalizer deletes the IBGU now' <<<"$out" \
    || fail "the finalizer removal's denial: $out"
[ "$(stored fin '{.metadata.finalizers[*]}')" = lcm.openshift.io/e2e ] || fail "the finalizer went: $(stored fin '{.metadata}')"
ok "removing the last finalizer of a deleting IBGU while a step runs is refused as a delete"
caught_up fin
out=$(remove_finalizers fin) || fail "removing the last finalizer of an idle deleting IBGU refused: $out"
gone fin || fail "the IBGU stayed once its last finalizer was removed"
ok "once the status shows it idle, removing the last finalizer is allowed and the IBGU goes"

ibgu fg "$prep_only" | expect_allowed "an IBGU for the foreground delete created"
caught_up fg
kubectl -n ztp-group delete ibgu fg --cascade=foreground --wait=false >/dev/null || fail "kubectl delete --cascade=foreground refused"
[ "$(stored fg '{.metadata.finalizers[*]}')" = foregroundDeletion ] || fail "no foregroundDeletion finalizer: $(stored fg '{.metadata}')"
caught_up fg
append_refused_while_deleting fg "kubectl delete --cascade=foreground"
out=$(remove_finalizers fg) || fail "removing foregroundDeletion from the idle IBGU refused: $out"
gone fg || fail "the foreground-deleted IBGU stayed once foregroundDeletion was removed"

# A deletecollection sends no request.name: the refusal names the object from oldObject.
collection=/apis/lcm.openshift.io/v1alpha1/namespaces/ztp-group/imagebasedgroupupgrades?labelSelector=e2e%3Dcollection
ibgu coll "$prep_only" | expect_allowed "an IBGU for the collection delete created"
kubectl -n ztp-group label ibgu coll e2e=collection >/dev/null || fail "labelling refused"
caught_up coll '[{"name":"spoke1","currentAction":{"action":"Prep"}}]' True InProgress
out=$(kubectl delete --raw "$collection" 2>&1) && fail "a deletecollection of a running IBGU allowed: $out"
grep -qF 'admission webhook "validate-delete.ibgu.lcm.openshift.io" denied the request: ImageBasedGroupUpgrade.lcm.openshift.io "coll" is forbidden: status.clusters: Forbidden: step 0 [Prep] runs on 1 cluster(s): spoke1 (Prep)' <<<"$out" \
    || fail "the deletecollection's denial does not name the object or say forbidden: $out"
gone coll && fail "the running IBGU went in the refused deletecollection"
ok "a raw deletecollection of a running IBGU is refused, naming it: \"coll\" is forbidden"
caught_up coll
out=$(kubectl delete --raw "$collection" 2>&1) || fail "a deletecollection of an idle IBGU refused: $out"
gone coll || fail "the idle IBGU stayed after the deletecollection"
ok "a raw deletecollection of an idle IBGU is allowed"

# --- TALM's own flow, tests/kuttl/ibgu/prep-abort-upgrade-abort-finalize ------------------
# Prep; AbortOnFailure for the cluster that failed; Upgrade; AbortOnFailure again;
# FinalizeUpgrade. Each status as the flow asserts it, written through the subresource
# with observedGeneration as TALM sets it; each step appended with the flow's JSON patch.
k=upgrade-4.15.0
kuttl() { # plan
    cat <<EOF
apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata: {name: $k, namespace: ztp-group, annotations: {cluster-group-upgrades-operator/name-suffix: kuttl}}
spec:
  clusterLabelSelectors: [{matchExpressions: [{key: name, operator: In, values: [spoke1, spoke4, spoke6]}]}]
  ibuSpec: {seedImageRef: {image: "quay.io/seed/image:4.15.0-rc.5", version: "4.15.0-rc.5"}}
  plan: $1
EOF
}
append() { # what, step JSON: kubectl patch --type=json as the flow does; no failure warning
    local out
    out=$(kubectl -n ztp-group patch ibgu $k --type=json -p "[{\"op\":\"add\",\"path\":\"/spec/plan/-\",\"value\":$2}]" 2>&1) \
        || fail "$1: denied: $out"
    if grep -q 'failed an earlier step' <<<"$out"; then fail "$1: warned about recovered clusters: $out"; fi
    ok "$1"
}
gen() { stored $k '{.metadata.generation}'; }
kuttl '[{actions: [Prep], rolloutStrategy: {maxConcurrency: 2, timeout: 2400}}]' | expect_allowed "TALM's flow: the IBGU with Prep created"
talm_status $k "$(gen)" "[$(c spoke1 "" Prep ""),$(c spoke4 "" Prep "")]" True InProgress
# `next` on the live object as kubectl prints it: while Prep runs, "not now" (exit 3).
rc=0; out=$(kubectl -n ztp-group get ibgu $k -o yaml | "$webhook_bin" next - 2>&1) || rc=$?
[ "$rc" = 3 ] || fail "next while Prep runs: exit $rc, not 3: $out"
grep -q 'spoke1' <<<"$out" || fail "next while Prep runs does not name the running clusters: $out"
ok "next: while Prep runs on spoke1 and spoke4, not now (exit 3), naming them"
talm_status $k "$(gen)" "[$(c spoke1 Prep "" ""),$(c spoke4 Prep "" ""),$(c spoke6 "" "" Prep)]" False Completed
# Prep done, spoke6 failed: AbortOnFailure for spoke6, and the command `next` prints for
# it passes the real apiserver and webhook (server dry run).
out=$(kubectl -n ztp-group get ibgu $k -o yaml | "$webhook_bin" next -o json -) || fail "next after Prep: exit $?: $out"
next_cmd=$(python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["state"] == "ready", d["state"]
[c] = [c for c in d["continuations"] if c["actions"] == ["AbortOnFailure"]]
assert c["actsOn"]["clusters"] == ["spoke6"], c["actsOn"]
[p] = [p for p in d["proposals"] if p["actions"] == ["AbortOnFailure"]]
print(p["command"])' <<<"$out") || fail "next after Prep: $out"
out=$(eval "$next_cmd --dry-run=server" 2>&1) || fail "next's command refused: $next_cmd: $out"
ok "next: after Prep failed on spoke6, AbortOnFailure for spoke6; its kubectl patch passes apiserver and webhook"
append "TALM's flow: AbortOnFailure appended after Prep failed on spoke6" '{"actions":["AbortOnFailure"],"rolloutStrategy":{"maxConcurrency":5,"timeout":10}}'
# Once the object changed, the apiserver refuses the patch itself (its `test` fails: 422,
# no webhook named); with the current resourceVersion the same patch gets to the webhook.
out=$(eval "$next_cmd --dry-run=server" 2>&1) && fail "next's command applied to a changed object: $out"
{ grep -q 'the server rejected our request due to an error in our request' <<<"$out" \
    && ! grep -q 'admission webhook' <<<"$out"; } \
    || fail "next's command on a changed object: not the patch's own refusal: $out"
rv=$(stored $k '{.metadata.resourceVersion}')
fresh=$(sed -E "s|(\"path\":\"/metadata/resourceVersion\",\"value\":\")[0-9]+|\1$rv|" <<<"$next_cmd")
[ "$fresh" != "$next_cmd" ] || fail "next's command has no resourceVersion test to update: $next_cmd"
out=$(eval "$fresh --dry-run=server" 2>&1) && fail "appending a second AbortOnFailure allowed: $out"
grep -q 'admission webhook' <<<"$out" || fail "with the current resourceVersion the patch did not reach the webhook: $out"
ok "next: its command is refused by its resourceVersion test once the object changed"
talm_status $k "$(gen)" "[$(c spoke1 Prep "" ""),$(c spoke4 Prep "" ""),$(c spoke6 "" AbortOnFailure Prep)]" True InProgress
talm_status $k "$(gen)" "[$(c spoke1 Prep "" ""),$(c spoke4 Prep "" ""),$(c spoke6 AbortOnFailure "" Prep)]" False Completed
append "TALM's flow: Upgrade appended, spoke6 recovered (no warning)" '{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":2,"timeout":30}}'
talm_status $k "$(gen)" "[$(c spoke1 Prep Upgrade ""),$(c spoke4 Prep Upgrade ""),$(c spoke6 AbortOnFailure "" Prep)]" True InProgress
talm_status $k "$(gen)" "[$(c spoke1 Prep "" Upgrade),$(c spoke4 Prep,Upgrade "" ""),$(c spoke6 AbortOnFailure "" Prep)]" False Completed
append "TALM's flow: AbortOnFailure appended after Upgrade failed on spoke1" '{"actions":["AbortOnFailure"],"rolloutStrategy":{"maxConcurrency":5,"timeout":10}}'
talm_status $k "$(gen)" "[$(c spoke1 Prep AbortOnFailure Upgrade),$(c spoke4 Prep,Upgrade "" ""),$(c spoke6 AbortOnFailure "" Prep)]" True InProgress
talm_status $k "$(gen)" "[$(c spoke1 Prep,AbortOnFailure "" Upgrade),$(c spoke4 Prep,Upgrade "" ""),$(c spoke6 AbortOnFailure "" Prep)]" False Completed
append "TALM's flow: FinalizeUpgrade appended after the second AbortOnFailure (no warning)" '{"actions":["FinalizeUpgrade"],"rolloutStrategy":{"maxConcurrency":10,"timeout":3}}'
talm_status $k "$(gen)" "[$(c spoke1 Prep,AbortOnFailure "" Upgrade),$(c spoke4 Prep,Upgrade FinalizeUpgrade ""),$(c spoke6 AbortOnFailure "" Prep)]" True InProgress
[ "$(stored $k '{.status.observedGeneration}/{.metadata.generation}/{.spec.plan[*].actions[0]}')" = "5/5/Prep AbortOnFailure Upgrade AbortOnFailure FinalizeUpgrade" ] \
    || fail "TALM's flow: stored $(stored $k '{.status.observedGeneration}/{.metadata.generation}/{.spec.plan[*].actions[0]}')"
ok "TALM's flow: five steps stored, the status TALM's of the last generation"

# kubectl apply --force deletes and re-creates an object whose update is refused as a
# conflict or invalid; a running IBGU must come out of it unchanged.
uid=$(stored $k '{.metadata.uid}')
out=$(kuttl '[{actions: [Prep], rolloutStrategy: {maxConcurrency: 2, timeout: 2400}}]' | kubectl apply --force --validate=false -f - 2>&1) \
    && fail "apply --force of a running IBGU with steps removed: allowed: $out"
[ "$(stored $k '{.metadata.uid}/{.spec.plan[*].actions[0]}')" = "$uid/Prep AbortOnFailure Upgrade AbortOnFailure FinalizeUpgrade" ] \
    || fail "apply --force changed the running IBGU: $(stored $k '{.metadata.uid}/{.spec.plan[*].actions[0]}'): $out"
out=$(kubectl -n ztp-group delete ibgu $k 2>&1) && fail "deleting the running IBGU allowed: $out"
ok "kubectl apply --force on a running IBGU is refused; the stored object is unchanged"

# TALM reads the seed pull secret once, when it makes Prep's manifests: with
# --require-pull-secret, updates after the Secret is gone (TALM's label and finalizer
# writes among them) must still pass.
ibgu sec '[{actions: [Prep], rolloutStrategy: {maxConcurrency: 5, timeout: 60}}]' \
    | expect_allowed "with --require-pull-secret, a CREATE whose Secret exists is allowed"
kubectl -n ztp-group delete secret seed-pull-secret >/dev/null
out=$(kubectl -n ztp-group label ibgu sec team=ran 2>&1) || fail "label after the Secret was deleted: $out"
out=$(kubectl -n ztp-group patch ibgu sec --type=merge -p '{"metadata":{"finalizers":["lcm.openshift.io/e2e"]}}' 2>&1) \
    || fail "finalizer after the Secret was deleted: $out"
[ "$(stored sec '{.metadata.labels.team}/{.metadata.finalizers[0]}')" = "ran/lcm.openshift.io/e2e" ] \
    || fail "label and finalizer not stored: $(stored sec '{.metadata}')"
ok "with --require-pull-secret and the Secret deleted after CREATE, label and finalizer updates are allowed"

# --- the OpenShift docs' example manifests: the apiserver's verdict and check's ------------
source tests/e2e/docs-examples.sh

# --- GitOps ZTP: the documented flow as commits, the pre-merge gate, Argo CD's syncs -------
source tests/e2e/gitops.sh

# --- the other installs, as rendered -------------------------------------------------------
kubectl kustomize deploy/overlays/cert-manager >"$work/install-cm.yaml"
mkdir -p "$work/static" && cp -r deploy "$work/static/"
"$webhook_bin" certs --out "$work/static/certs" --dns ibgu-webhook.ibgu-system.svc >/dev/null
kubectl kustomize "$work/static/deploy/overlays/static" --load-restrictor LoadRestrictionsNone >"$work/install-static.yaml"
for f in install install-static; do
    kubernetes-validate -k 1.30.0 --strict --quiet "$work/$f.yaml" || fail "kubernetes-validate --strict: $f"
done
ok "rendered installs pass kubernetes-validate --strict (1.30) offline"
# This apiserver is 1.20: it predates policy/v1 PodDisruptionBudget (validated offline above).
python3 - "$work/install-static.yaml" >"$work/install-1.20.yaml" <<'PY'
import sys, yaml
print(yaml.safe_dump_all([d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] != "PodDisruptionBudget"]))
PY
out=$(kubectl apply --dry-run=server -f "$work/install-1.20.yaml" 2>&1) || fail "server dry run of the install: $out"
for kind in deployment.apps/ibgu-webhook service/ibgu-webhook secret/ibgu-webhook-tls \
    clusterrole.rbac.authorization.k8s.io/ibgu-webhook-secret-reader \
    validatingwebhookconfiguration.admissionregistration.k8s.io/ibgu-webhook \
    mutatingwebhookconfiguration.admissionregistration.k8s.io/ibgu-webhook; do
    grep -qF "$kind" <<<"$out" || fail "dry run did not cover $kind: $out"
done
ok "the static install passes kubectl apply --dry-run=server"

# --- the apiserver's audit log ------------------------------------------------------------
# The webhook's auditAnnotations, as the apiserver records them (`<webhook name>/<key>`).
out=$(python3 tests/e2e/audit.py "$work/audit.log") || fail "the audit log lacks the webhook's annotations (above)"
while IFS= read -r line; do ok "$line"; done <<<"$out"

# --- the pod's end -----------------------------------------------------------------------
log=$work/pod/pod/container.log
grep -q '"message":"admission"' "$log" || fail "no admission log lines in the pod's log"
# Every admission at info, saying why: a denial names its rule and field, a mutation the
# paths it added, an allowed write its decision.
grep -q '"decision":"denied".*"denied":"plan-combination at spec.plan' "$log" \
    || fail "no log line names the rule that denied the unsupported plan"
grep -q '"decision":"patched".*"patch":"/spec/plan/0/rolloutStrategy' "$log" \
    || fail "no log line names what a mutation added"
grep -q '"decision":"allowed"' "$log" || fail "no log line for an allowed admission"
grep -q '"operation":"DELETE".*"name":"coll".*"decision":"denied"' "$log" \
    || fail "the refused deletecollection's log line does not name the object"
ok "the pod logs every admission with its decision, the rules and fields, and the patch, a deletecollection's by the object's name"
if grep '"level":"ERROR"' "$log"; then fail "error lines in the pod's log"; fi
kill -TERM $kubelet_pid
wait $kubelet_pid || fail "the pod ended with $? after SIGTERM: $(tail -5 "$log")"
python3 - "$work/pod/stopped" "$work/install.yaml" <<'PY' || fail "SIGTERM: $(cat "$work/pod/stopped")"
import json, sys, yaml
stopped = json.load(open(sys.argv[1]))
grace = next(d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d["kind"] == "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
sys.exit(0 if stopped["code"] == 0 and not stopped["killed"] and stopped["seconds"] < grace else 1)
PY
ok "SIGTERM ended the pod with code 0 within terminationGracePeriodSeconds ($(cat "$work/pod/stopped"))"
[ "$docs_disagreements" = 0 ] || fail "$docs_disagreements docs example(s): ibgu-webhook check disagrees with the apiserver (table above)"
[ "$differential_rc" = 0 ] || fail "generated manifests: ibgu-webhook check disagrees with the apiserver (the differential test above; report: $differential_report)"
echo "e2e: $(wc -l <"$passed") checks passed in $(($(date +%s) - started))s"
rm -f "$passed"
