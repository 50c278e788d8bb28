# The OpenShift documentation's example manifests (tests/data/docs-examples/): does
# `ibgu-webhook check` give the verdict the apiserver with the webhook installed gives?
#
# Sourced by tests/e2e/run.sh once the webhook is registered; uses its ok, $webhook_bin,
# $work and KUBECONFIG. For each file: `kubectl apply --dry-run=server` (kubectl's default
# field validation, Strict) and `ibgu-webhook check` (exit 0 allowed, 1 denied). Prints a
# table of both verdicts; each disagreement is shown with both outputs side by side and
# counted in docs_disagreements, which run.sh fails on at its end, so that the checks after
# this one still run.

docs_dir=tests/data/docs-examples
# The examples name namespace default and, once filled in, the Secret seed-pull-secret: a
# user who fills it in has that Secret (the e2e webhook runs with --require-pull-secret).
kubectl -n default get secret seed-pull-secret >/dev/null 2>&1 \
    || kubectl -n default create secret docker-registry seed-pull-secret \
        --docker-server=quay.io --docker-username=u --docker-password=p >/dev/null
docs_disagreements=0
docs_table=$work/docs-examples.table
printf '%-16s %-8s %-8s %s\n' file kubectl check "apiserver's message (first line)" >"$docs_table"
for docs_file in "$docs_dir"/*.yaml; do
    docs_name=${docs_file##*/}
    kas_verdict=allowed
    kubectl apply --dry-run=server -f "$docs_file" >"$work/docs.kas" 2>&1 || kas_verdict=denied
    chk_verdict=allowed
    chk_status=0
    "$webhook_bin" check "$docs_file" >"$work/docs.check" 2>&1 || chk_status=$?
    case $chk_status in
        0) ;;
        1) chk_verdict=denied ;;
        *) chk_verdict="error($chk_status)" ;;
    esac
    printf '%-16s %-8s %-8s %s\n' "$docs_name" "$kas_verdict" "$chk_verdict" "$(head -n 1 "$work/docs.kas")" >>"$docs_table"
    echo "e2e: docs example $docs_name: kubectl apply --dry-run=server ($kas_verdict):"
    sed 's/^/    /' "$work/docs.kas"
    if [ "$kas_verdict" = "$chk_verdict" ]; then
        ok "docs example $docs_name: the apiserver and ibgu-webhook check agree: $kas_verdict"
    else
        docs_disagreements=$((docs_disagreements + 1))
        echo "e2e: DISAGREE: docs example $docs_name: apiserver $kas_verdict, check $chk_verdict" >&2
        # Folded to the column, so long messages stay readable side by side.
        fold -w 78 "$work/docs.kas" >"$work/docs.kas.folded"
        fold -w 78 "$work/docs.check" >"$work/docs.check.folded"
        {
            printf '%-80s| %s\n' "kubectl apply --dry-run=server ($kas_verdict)" "ibgu-webhook check (exit $chk_status)"
            printf '%-80s| %s\n' "$(printf -- '-%.0s' $(seq 1 78))" "$(printf -- '-%.0s' $(seq 1 40))"
            pr -m -t -w 162 -S'| ' "$work/docs.kas.folded" "$work/docs.check.folded" | expand
        } >&2
    fi
done
echo "e2e: docs examples, the apiserver's verdict (kubectl) against ibgu-webhook check:"
cat "$docs_table"
