# check against the apiserver: tests/e2e/differential.py writes a few hundred manifests
# from a fixed seed and judges each with `ibgu-webhook check` and with `kubectl create
# --dry-run=server` on this apiserver with the webhook registered; the known
# disagreements are the list in docs/check.md.
#
# Sourced by tests/e2e/run.sh once the webhook is registered; uses its ok, $webhook_bin,
# $work and KUBECONFIG. Leaves differential_rc (0 when every verdict agrees or the
# disagreement is listed, and every listed one still happens) and differential_report
# (every disagreement with both outputs, kept after the run), which run.sh fails on at its
# end, so that the checks after this one still run.

# Its own namespace, with the Secret the webhook injects, named by the kubeconfig's
# context as it is by `check -n`: a manifest without a namespace lands there in both.
kubectl create namespace differential >/dev/null
kubectl -n differential create secret docker-registry seed-pull-secret \
    --docker-server=quay.io --docker-username=u --docker-password=p >/dev/null
cp "$KUBECONFIG" "$work/differential.kubeconfig"
kubectl --kubeconfig "$work/differential.kubeconfig" config set-context --current --namespace=differential >/dev/null
python3 tests/e2e/differential.py generate "$work/differential" | sed 's/^/e2e: /'
differential_report=${IBGU_E2E_DIFFERENTIAL_REPORT:-$(mktemp /tmp/ibgu-e2e-differential.XXXXXX)}
differential_rc=0
# The hub's settings, as the install sets them (examples/install, and run.sh's
# IBGU_REQUIRE_PULL_SECRET): a check without them would not default what the webhook does.
KUBECONFIG=$work/differential.kubeconfig python3 tests/e2e/differential.py run "$work/differential" \
    --check "$webhook_bin" --known docs/check.md --report "$differential_report" \
    -- -n differential --seed-pull-secret seed-pull-secret --require-pull-secret \
    | sed 's/^/e2e: /' || differential_rc=$?
if [ "$differential_rc" = 0 ]; then
    ok "generated manifests: ibgu-webhook check and the apiserver agree, but for docs/check.md's list"
else
    echo "e2e: DISAGREE: generated manifests: ibgu-webhook check and the apiserver (report: $differential_report)" >&2
fi
