# GitOps ZTP end to end: the documented flow ([Prep], then +[AbortOnFailure], +[Upgrade],
# +[AbortOnFailure], +[FinalizeUpgrade]) as commits in a real git repository, each through
# the pre-commit hook and the README's pre-merge loop, then synced to the apiserver the
# ways Argo CD syncs, retried with Argo CD's backoff while TALM runs a step.
#
# Sourced by tests/e2e/run.sh once the webhook is registered (IBGU_E2E_ONLY=gitops runs the
# set-up and this only); uses its fail, ok, stored, talm_status, c, webhook_denial,
# $webhook_bin, $work and KUBECONFIG. Exits through fail on the first failed assertion.

# The hub's seed pull secret (earlier scenarios delete it; the webhook runs with
# --require-pull-secret and injects its name on CREATE).
kubectl -n ztp-group get secret seed-pull-secret >/dev/null 2>&1 \
    || kubectl -n ztp-group create secret docker-registry seed-pull-secret \
        --docker-server=quay.io --docker-username=u --docker-password=p >/dev/null
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX
gitops=$work/gitops
mkdir -p "$gitops"
name=upgrade-4-20
file=ztp/$name.yaml
PATH=${webhook_bin%/*}:$PATH # `ibgu-webhook`, as the loop and the hook call it

# --- the gate: the README's pre-merge loop and the pre-commit hook, as they are written ---
# The loop is the sh block after "In a CI pipeline" in README.md, read from there so that
# what is tested is what users copy.
gate=$gitops/pre-merge.sh
awk '/^In a CI pipeline/ { found = 1 } found && /^```sh$/ { body = 1; next } body && /^```$/ { exit } body' \
    README.md >"$gate"
grep -qF 'ibgu-webhook check "$f" --old <(git show "$base:$f")' "$gate" \
    || fail "the README's pre-merge loop (the sh block after \"In a CI pipeline\") not found: $(cat "$gate")"
# The hook as .pre-commit-hooks.yaml declares it: its entry, given the staged files its
# `files` pattern matches. pre-commit itself is not run here: it builds the hook with a
# `cargo install` that resolves dependencies from the registry, and this namespace has
# loopback only (tests/precommit/run.sh runs pre-commit itself).
mapfile -t hook < <(python3 -c '
import yaml
[h] = [h for h in yaml.safe_load(open(".pre-commit-hooks.yaml")) if h["id"] == "ibgu-check"]
assert h["pass_filenames"] is True and h["language"] == "rust", h
print(h["entry"]); print(h["files"])') || fail "hook ibgu-check not read from .pre-commit-hooks.yaml"

origin=$gitops/origin.git
repo=$gitops/repo
git init -q --bare -b main "$origin"
git init -q -b main "$repo"
g() { git -C "$repo" "$@"; }
g config user.name e2e
g config user.email e2e@example.invalid
g config commit.gpgsign false
g config core.hooksPath "$repo/.git/hooks"
g remote add origin "$origin"
cat >"$repo/.git/hooks/pre-commit" <<EOF
#!/usr/bin/env bash
# ibgu-check of .pre-commit-hooks.yaml: entry "${hook[0]}", files '${hook[1]}'.
set -euo pipefail
mapfile -t files < <(git diff --cached --name-only --diff-filter=ACMR | grep -E '${hook[1]}' || true)
[ \${#files[@]} -eq 0 ] && exit 0
exec ${hook[0]} "\${files[@]}"
EOF
chmod +x "$repo/.git/hooks/pre-commit"

# --- the manifest, as a user writes it in git ---------------------------------------------
mkdir -p "$repo/ztp"
cat >"$repo/$file" <<EOF
apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata:
  name: $name
  namespace: ztp-group
spec:
  clusterLabelSelectors:
    - matchExpressions:
        - key: name
          operator: In
          values: [spoke1, spoke4, spoke6]
  ibuSpec:
    seedImageRef:
      image: quay.io/seed/image:4.20.0
      version: 4.20.0
  plan:
EOF
# Appends one step to the manifest's spec.plan (the file's last key), in the file's style, by
# hand: while a step runs, as a user commits the next one for Argo CD to retry. Once TALM is
# idle, `ibgu-webhook next LIVE --manifest FILE --write` writes it (below).
append_step() { # actions (YAML flow list body), maxConcurrency, timeout
    printf '    - actions: [%s]\n      rolloutStrategy:\n        maxConcurrency: %s\n        timeout: %s\n' \
        "$1" "$2" "$3" >>"$repo/$file"
}

propose() { # branch, message: the working tree's manifest committed on a new branch from main, through the hook
    g checkout -q -b "$1" main
    g add "$file"
    g commit -q -m "$2" 2>&1
}
pre_merge() { # the README's loop on the checked-out branch; prints its output; returns its status
    (cd "$repo" && bash "$gate" 2>&1)
}
merge() { # branch: fast-forwarded into main and pushed, where Argo CD reads it
    g checkout -q main
    g merge -q --ff-only "$1"
    g push -q origin main 2>&1 || fail "git push of main"
    g branch -q -d "$1"
}
abandon() { # branch: back to main, the branch and its manifest dropped
    g checkout -q -f main
    g branch -q -D "$1"
}

# --- the sync, as Argo CD's application controller makes it -------------------------------
# What it applies: the manifest at a revision, with Argo CD's tracking annotation added
# (resource tracking by annotation, the default), as JSON.
desired() { # revision
    g show "$1:$file" | python3 -c '
import json, sys, yaml
d = yaml.safe_load(sys.stdin)
d["metadata"].setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = \
    "ztp-group-upgrades:lcm.openshift.io/ImageBasedGroupUpgrade:ztp-group/'"$name"'"
json.dump(d, sys.stdout)'
}
sync_once() { # mode, revision; prints kubectl's output; returns its status
    local how
    case $1 in
        # The default: client-side apply, which keeps kubectl.kubernetes.io/last-applied-configuration.
        apply) how=(apply) ;;
        # ServerSideApply=true.
        server-side) how=(apply --server-side --force-conflicts --field-manager=argocd-controller) ;;
        # Replace=true: kubectl replace (create when absent).
        replace) how=(replace) ;;
        # Force=true,Replace=true: delete and re-create.
        force-replace) how=(replace --force) ;;
        *) fail "sync mode $1" ;;
    esac
    desired "$2" | kubectl "${how[@]}" -f - 2>&1
}
# Argo CD's retry policy (syncPolicy.retry) at its defaults, 5s doubling up to 3m, scaled
# down 25 times; limit 5, as Argo CD's own example sets it.
retry_base=0.2
retry_factor=2
retry_max=7.2
retry_limit=5
# Syncs main until the sync lands, retrying with the backoff. TALM ends the running step
# during the backoff after the given number of refused attempts: each attempt until then
# must be refused with rule 4's reason, and the next must land.
sync_retried() { # what, mode, refused attempts before TALM ends the step, TALM's status then (clusters JSON)
    local attempt=0 delay=$retry_base out refusal="" schedule="" t=0 generation
    generation=$(stored $name '{.metadata.generation}')
    while :; do
        attempt=$((attempt + 1))
        schedule+="${schedule:+, }${t}s"
        if out=$(sync_once "$2" origin/main); then
            [ "$attempt" -gt "$3" ] || fail "$1: landed on attempt $attempt while a step ran: $out"
            break
        fi
        [ "$attempt" -le "$3" ] || fail "$1: refused on attempt $attempt, once TALM was idle: $out"
        webhook_denial "$out" || fail "$1: attempt $attempt: not the webhook's denial: $out"
        grep -qF 'Forbidden: steps can be added only once earlier steps have completed or failed:' <<<"$out" \
            || fail "$1: attempt $attempt: refused without rule 4's reason: $out"
        [ "$attempt" -le "$retry_limit" ] || fail "$1: still refused after $retry_limit retries: $out"
        refusal=$out
        [ "$(stored $name '{.metadata.generation}')" = "$generation" ] || fail "$1: a refused sync changed the object"
        [ "$attempt" = "$3" ] && talm_status $name "$generation" "$4" False Completed
        sleep "$delay"
        t=$(awk -v t="$t" -v d="$delay" 'BEGIN { print t + d }')
        delay=$(awk -v d="$delay" -v f="$retry_factor" -v m="$retry_max" 'BEGIN { d *= f; print (d > m ? m : d) }')
    done
    [ "$(stored $name '{.metadata.generation}')" = $((generation + 1)) ] \
        || fail "$1: landed, but the generation is $(stored $name '{.metadata.generation}'), not $((generation + 1))"
    if [ "$3" = 0 ]; then
        ok "$1: synced ($2): landed at the first attempt, TALM idle"
    else
        ok "$1: synced ($2) at ${schedule}: $3 attempt(s) refused with rule 4's reason while the step ran ($(grep -oE '[0-9]+ cluster\(s\) still running an action: [^]]*' <<<"$refusal" | head -n 1)), landed once TALM was idle"
    fi
}

# --- commits ------------------------------------------------------------------------------
hook_passed() { grep -qF "$file: document 1: ImageBasedGroupUpgrade ztp-group/$name (CREATE): allowed" <<<"$1"; }
# A legitimate commit: the hook and the loop pass it, it is merged, and Argo CD's sync lands
# once TALM is idle; TALM then runs the new step.
legit() { # branch, what, sync mode, refused attempts, TALM's status as the running step ends, as the new step runs (clusters JSON)
    local out
    out=$(propose "$1" "$2") || fail "$2: the pre-commit hook refused the commit: $out"
    hook_passed "$out" || fail "$2: the hook did not check the manifest: $out"
    out=$(pre_merge) || fail "$2: the README's pre-merge loop refused it: $out"
    grep -qF '1 checked, 0 denied' <<<"$out" || fail "$2: the pre-merge loop did not check the manifest: $out"
    ok "$2: the pre-commit hook and the README's pre-merge loop pass it"
    merge "$1"
    sync_retried "$2" "$3" "$4" "$5"
    talm_status $name "$(stored $name '{.metadata.generation}')" "$6" True InProgress
}
# A bad commit: stopped at the gate with the webhook's message (by the hook too when the
# file alone shows it: the hook has no --old), and refused by the webhook when applied anyway.
bad() { # branch, what, fragment, hook: refuses|passes, sync mode to apply it anyway
    local out plan
    plan=$(stored $name '{.spec}')
    if [ "$4" = refuses ]; then
        out=$(propose "$1" "$2") && fail "$2: the pre-commit hook let it through: $out"
        grep -qF -- "$3" <<<"$out" || fail "$2: the hook's refusal lacks [$3]: $out"
        # Committed anyway (a clone without the hook installed): the loop must stop it.
        g commit -q --no-verify -m "$2" || fail "$2: git commit --no-verify"
    else
        out=$(propose "$1" "$2") || fail "$2: the pre-commit hook refused a manifest valid on its own: $out"
    fi
    out=$(pre_merge) && fail "$2: the README's pre-merge loop passed it: $out"
    grep -qF -- "$3" <<<"$out" || fail "$2: the pre-merge loop's refusal lacks [$3]: $out"
    out=$(sync_once "$5" "$1") && fail "$2: applied anyway ($5), allowed: $out"
    webhook_denial "$out" || fail "$2: applied anyway ($5): not the webhook's denial: $out"
    grep -qF -- "$3" <<<"$out" || fail "$2: applied anyway ($5): the denial lacks [$3]: $out"
    [ "$(stored $name '{.spec}')" = "$plan" ] || fail "$2: the refused sync changed the stored spec"
    abandon "$1"
    ok "$2: stopped at the gate ($([ "$4" = refuses ] && echo "pre-commit hook and ")pre-merge loop) and, applied anyway ($5), by the webhook: $3"
}

echo "# Hub" >"$repo/README.md"
g add README.md
g commit -q -m "hub repository"
g push -q -u origin main 2>&1 || fail "git push of the first commit"

# [Prep]: a CREATE, nothing runs yet.
append_step Prep 2 240
out=$(propose prep "[Prep]") || fail "[Prep]: the pre-commit hook refused the commit: $out"
hook_passed "$out" || fail "[Prep]: the hook did not check the manifest: $out"
out=$(pre_merge) || fail "[Prep]: the README's pre-merge loop refused it: $out"
ok "[Prep]: the pre-commit hook and the README's pre-merge loop pass it"
merge prep
out=$(sync_once apply origin/main) || fail "[Prep]: the first sync refused: $out"
[ "$(stored $name '{.spec.ibuSpec.seedImageRef.pullSecretRef.name}')" = seed-pull-secret ] \
    || fail "[Prep]: the seed pull secret reference was not injected"
grep -qF '"argocd.argoproj.io/tracking-id"' <<<"$(stored $name '{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}')" \
    || fail "[Prep]: no last-applied-configuration with the tracking annotation"
ok "[Prep]: synced (apply): created, with the last-applied annotation and the seed pull secret injected"
talm_status $name 1 "[$(c spoke1 "" Prep ""),$(c spoke4 "" Prep ""),$(c spoke6 "" Prep "")]" True InProgress

# +[AbortOnFailure] while Prep runs; Prep then fails on spoke6.
append_step AbortOnFailure 5 10
legit abort-prep "+[AbortOnFailure] (after Prep failed on spoke6)" server-side 1 \
    "[$(c spoke1 Prep "" ""),$(c spoke4 Prep "" ""),$(c spoke6 "" "" Prep)]" \
    "[$(c spoke1 Prep "" ""),$(c spoke4 Prep "" ""),$(c spoke6 "" AbortOnFailure Prep)]"

append_step Upgrade 0 60
bad upgrade-all-at-once "bad: +[Upgrade] with maxConcurrency 0" \
    'spec.plan[2].rolloutStrategy.maxConcurrency: Invalid value: 0: must be greater than or equal to 1' refuses apply

# +[Upgrade] while spoke6 recovers.
append_step Upgrade 2 60
legit upgrade "+[Upgrade]" apply 2 \
    "[$(c spoke1 Prep "" ""),$(c spoke4 Prep "" ""),$(c spoke6 AbortOnFailure "" Prep)]" \
    "[$(c spoke1 Prep Upgrade ""),$(c spoke4 Prep Upgrade ""),$(c spoke6 AbortOnFailure "" Prep)]"

head -n -4 "$repo/$file" >"$gitops/removed" && cp "$gitops/removed" "$repo/$file"
bad remove-upgrade "bad: the [Upgrade] step removed" \
    'spec.plan[2]: Forbidden: steps cannot be removed from an ongoing plan: it had 3 steps, now 2' passes server-side
sed -i 's|image: quay.io/seed/image:4.20.0|image: quay.io/seed/image:4.20.1|' "$repo/$file"
bad new-seed "bad: the seed image changed" \
    'spec.ibuSpec: Forbidden: field is immutable: seedImageRef.image changed' passes apply

# +[AbortOnFailure] once Upgrade has failed on spoke1, written by `next --manifest --write`
# from the live object: while Upgrade runs it writes nothing (exit 3, not now).
live=$gitops/live.yaml
cp "$repo/$file" "$gitops/before"
kubectl -n ztp-group get ibgu $name -o yaml >"$live"
rc=0; out=$(ibgu-webhook next "$live" --manifest "$repo/$file" --write --actions AbortOnFailure 2>&1) || rc=$?
[ $rc = 3 ] || fail "next --write while Upgrade runs: exit $rc, not 3: $out"
cmp -s "$repo/$file" "$gitops/before" || fail "next --write while Upgrade runs changed the manifest"
ok "next --manifest --write while Upgrade runs: exit 3 (not now), the manifest untouched"
talm_status $name "$(stored $name '{.metadata.generation}')" \
    "[$(c spoke1 Prep "" Upgrade),$(c spoke4 Prep,Upgrade "" ""),$(c spoke6 AbortOnFailure "" Prep)]" False Completed
kubectl -n ztp-group get ibgu $name -o yaml >"$live"
out=$(ibgu-webhook next "$live" --manifest "$repo/$file" --write --actions AbortOnFailure 2>&1) \
    || fail "next --write once Upgrade failed on spoke1: $out"
grep -qF "wrote $repo/$file" <<<"$out" || fail "next --write did not say it wrote the manifest: $out"
# Only lines added, at the plan's end (the file's last key): every other byte as it was.
[ "$(head -c "$(wc -c <"$gitops/before")" "$repo/$file")" = "$(cat "$gitops/before")" ] \
    || fail "next --write changed bytes of the manifest: $(diff "$gitops/before" "$repo/$file")"
grep -qE '^    - actions: \[AbortOnFailure\]$' <<<"$(tail -n 4 "$repo/$file")" \
    || fail "next --write did not write the step in the file's style: $(tail -n 4 "$repo/$file")"
ok "next --manifest --write once Upgrade failed on spoke1: +[AbortOnFailure] appended in the file's style, $(($(wc -l <"$repo/$file") - $(wc -l <"$gitops/before"))) lines, nothing else changed"
legit abort-upgrade "+[AbortOnFailure] (written by next, after Upgrade failed on spoke1)" replace 0 "" \
    "[$(c spoke1 Prep AbortOnFailure Upgrade),$(c spoke4 Prep,Upgrade "" ""),$(c spoke6 AbortOnFailure "" Prep)]"

# +[FinalizeUpgrade] while spoke1 recovers.
append_step FinalizeUpgrade 10 30
legit finalize "+[FinalizeUpgrade]" server-side 3 \
    "[$(c spoke1 Prep,AbortOnFailure "" Upgrade),$(c spoke4 Prep,Upgrade "" ""),$(c spoke6 AbortOnFailure "" Prep)]" \
    "[$(c spoke1 Prep,AbortOnFailure "" Upgrade),$(c spoke4 Prep,Upgrade FinalizeUpgrade ""),$(c spoke6 AbortOnFailure "" Prep)]"

append_step Rollback 2 60
bad rollback "bad: +[Rollback] after FinalizeUpgrade" 'spec.plan[5].actions: Unsupported value: ["Rollback"]' refuses server-side

# --- while FinalizeUpgrade runs: re-syncs, Replace=true, Force=true, prune ----------------
generation=$(stored $name '{.metadata.generation}')
uid=$(stored $name '{.metadata.uid}')
for mode in apply server-side replace; do
    out=$(sync_once $mode origin/main) || fail "re-sync ($mode) of the unchanged commit while a step runs: refused: $out"
done
[ "$(stored $name '{.metadata.generation}/{.metadata.uid}')" = "$generation/$uid" ] \
    || fail "re-syncing the unchanged commit changed the object: $(stored $name '{.metadata.generation}/{.metadata.uid}')"
ok "re-syncing the unchanged commit while FinalizeUpgrade runs passes (apply, server-side, replace), the object unchanged"
running='step 4 [FinalizeUpgrade] runs on 1 cluster(s): spoke4 (FinalizeUpgrade)'
out=$(sync_once force-replace origin/main) && fail "a Force=true,Replace=true sync while a step runs: allowed: $out"
grep -qF 'admission webhook "validate-delete.ibgu.lcm.openshift.io" denied the request' <<<"$out" \
    || fail "Force=true,Replace=true: not the webhook's denial of the delete: $out"
grep -qF "\"$name\" is forbidden: status.clusters: Forbidden: $running" <<<"$out" \
    || fail "Force=true,Replace=true: the denial does not name what runs: $out"
[ "$(stored $name '{.metadata.uid}')" = "$uid" ] || fail "Force=true,Replace=true re-created the running IBGU"
ok "a Force=true,Replace=true sync (kubectl replace --force: delete and re-create) is refused while a step runs: $running"
# Prune (the file removed from git): Argo CD deletes with foreground propagation.
out=$(kubectl -n ztp-group delete ibgu $name --cascade=foreground --wait=false 2>&1) \
    && fail "a prune while a step runs: allowed: $out"
grep -qF "$running" <<<"$out" || fail "prune: the denial does not name what runs: $out"
[ "$(stored $name '{.metadata.uid}')" = "$uid" ] || fail "the pruned IBGU went"
ok "a prune (delete, foreground propagation) is refused while a step runs"

# FinalizeUpgrade ends: the live plan is git's.
talm_status $name "$generation" "[$(c spoke1 Prep,AbortOnFailure "" Upgrade),$(c spoke4 Prep,Upgrade,FinalizeUpgrade "" ""),$(c spoke6 AbortOnFailure "" Prep)]" False Completed
kubectl -n ztp-group get ibgu $name -o json | python3 -c '
import json, subprocess, sys, yaml
live = json.load(sys.stdin)["spec"]["plan"]
git = yaml.safe_load(subprocess.run(["git", "-C", sys.argv[1], "show", "origin/main:" + sys.argv[2]],
                                    check=True, capture_output=True, text=True).stdout)["spec"]["plan"]
sys.exit(0 if live == git else "live plan %s\ngit plan  %s" % (live, git))' "$repo" "$file" \
    || fail "the live plan is not git's"
ok "the live plan equals git's: $(stored $name '{.spec.plan[*].actions}') (generation $generation)"

# With the allow-delete annotation committed, Force=true,Replace=true deletes the IBGU and
# creates it again: a new object, no status, every step to run again.
talm_status $name "$generation" "[$(c spoke1 Prep,AbortOnFailure "" Upgrade),$(c spoke4 Prep,Upgrade FinalizeUpgrade ""),$(c spoke6 AbortOnFailure "" Prep)]" True InProgress
sed -i "s|^  namespace: ztp-group$|&\n  annotations:\n    ibgu-webhook.openshift.io/allow-delete: \"true\"|" "$repo/$file"
out=$(propose allow-delete "allow delete") || fail "allow-delete: the hook refused: $out"
out=$(pre_merge) || fail "allow-delete: the pre-merge loop refused it: $out"
merge allow-delete
out=$(sync_once apply origin/main) || fail "allow-delete: the sync of a metadata change while a step runs refused: $out"
out=$(sync_once force-replace origin/main) || fail "allow-delete: Force=true,Replace=true refused: $out"
[ "$(stored $name '{.metadata.uid}')" != "$uid" ] || fail "allow-delete: Force=true,Replace=true did not re-create the IBGU"
[ -z "$(stored $name '{.status}')" ] || fail "allow-delete: the re-created IBGU has a status: $(stored $name '{.status}')"
ok "with allow-delete committed, Force=true,Replace=true deletes the running IBGU and re-creates it: new uid, no status, $(stored $name '{.spec.plan[*].actions}') to run again"
kubectl -n ztp-group delete ibgu $name >/dev/null || fail "deleting the re-created IBGU"
