#!/usr/bin/env bash
# The pre-commit hook (.pre-commit-hooks.yaml) as a GitOps repository uses it: a scratch
# repository whose .pre-commit-config.yaml names this repository at its HEAD commit,
# `pre-commit install`, then real `git commit`s. pre-commit clones the repository at that
# commit and builds the hook with `cargo install`, so this tests what is committed.
#
#   bash tests/precommit/run.sh
#
# Installs pre-commit with pip when it is missing. The hook's build uses this
# repository's target directory (CARGO_TARGET_DIR, else ./target), so only the crate
# itself is compiled again, not its dependencies. Exits non-zero on the first failed
# assertion.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
started=$(date +%s)

fail() { echo "precommit: FAIL: $*" >&2; exit 1; }
ok() { echo "precommit: ok: $*"; }

pre_commit_version=4.7.0
if ! pre-commit --version 2>/dev/null | grep -qxF "pre-commit $pre_commit_version"; then
    echo "precommit: installing pre-commit $pre_commit_version with pip"
    python3 -m pip install -q "pre-commit==$pre_commit_version" \
        || fail "cannot install pre-commit $pre_commit_version with pip"
fi
pre-commit --version | grep -qxF "pre-commit $pre_commit_version" \
    || fail "pre-commit on PATH is not $pre_commit_version: $(command -v pre-commit) says $(pre-commit --version 2>&1)"

# Run from a hook of this repository, git's variables would point the scratch repository here.
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX
rev=$(git rev-parse HEAD)
git cat-file -e "$rev:.pre-commit-hooks.yaml" 2>/dev/null \
    || fail ".pre-commit-hooks.yaml is not committed at HEAD ($rev): pre-commit only sees what is committed"
git diff --quiet "$rev" -- .pre-commit-hooks.yaml Cargo.toml Cargo.lock src \
    || echo "precommit: note: uncommitted changes to the hook or src/ are not tested; HEAD $rev is"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
# The release build the e2e makes too: the hook's `cargo install` must then compile only
# the crate itself (asserted below), as it will on a developer's machine that has built it.
cargo build --release --locked -q --bin ibgu-webhook

work=$(mktemp -d /tmp/ibgu-precommit.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A fresh pre-commit cache: the hook is cloned and built from this commit, never reused.
export PRE_COMMIT_HOME=$work/cache
repo=$work/gitops
git init -q -b main "$repo"
cd "$repo"
git config user.name e2e
git config user.email e2e@example.invalid
git config commit.gpgsign false
cat >.pre-commit-config.yaml <<EOF
repos:
  - repo: $root
    rev: $rev
    hooks:
      - id: ibgu-check
EOF
git add .pre-commit-config.yaml
git commit -q -m "pre-commit config" --no-verify
pre-commit install >/dev/null || fail "pre-commit install"

ibgu() { # plan (YAML flow)
    cat <<EOF
apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata: {name: upgrade-4-20, namespace: ztp-group}
spec:
  clusterLabelSelectors: [{matchExpressions: [{key: name, operator: In, values: [spoke1, spoke4]}]}]
  ibuSpec: {seedImageRef: {image: "quay.io/seed/image:4.20.0", version: "4.20.0"}}
  plan: $1
EOF
}
commit() { # file; prints git commit's output (the hook's included); returns its status
    git add "$1"
    git commit -m "add $1" 2>&1
}
hook_line() { grep -E '^ibgu-webhook check\.+' <<<"$1" || true; }

# The first commit clones and builds the hook: timed on its own.
mkdir clusters
ibgu '[{actions: [Prep, Upgrade], rolloutStrategy: {maxConcurrency: 10, timeout: 240}}, {actions: [FinalizeUpgrade]}]' \
    >clusters/upgrade.yaml
touch "$work/before-build"
t0=$(date +%s)
out=$(commit clusters/upgrade.yaml) || fail "a good IBGU manifest: git commit failed: $out"
build_seconds=$(($(date +%s) - t0))
rebuilt=$(find "$CARGO_TARGET_DIR/release/deps" -newer "$work/before-build" \( -name '*.rlib' -o -name '*.rmeta' \) \
    ! -name 'libibgu_webhook-*' -printf '%f\n')
# The crate's own artifacts are new: the find sees what the hook's build wrote, and it wrote here.
[ -n "$(find "$CARGO_TARGET_DIR/release/deps" -newer "$work/before-build" -name 'libibgu_webhook-*.rlib')" ] \
    || fail "the hook's cargo install did not build in $CARGO_TARGET_DIR"
# pre-commit runs `cargo install` without --locked: it resolves the newest compatible
# versions, not Cargo.lock's, so a dependency released since the lock is built anew (as on
# a user's machine). How many were is reported, not asserted: it depends on the registry.
rebuilt_count=$(grep -c . <<<"$rebuilt" || true)
[ -x "$PRE_COMMIT_HOME"/repo*/rustenv-system/bin/ibgu-webhook ] \
    || fail "no ibgu-webhook installed under $PRE_COMMIT_HOME: $(find "$PRE_COMMIT_HOME" -maxdepth 3)"
grep -qE '^ibgu-webhook check\.+Passed$' <<<"$out" || fail "a good IBGU manifest: the hook did not pass it: $out"
[ -z "$(git status --porcelain)" ] || fail "a good IBGU manifest: not committed: $(git status --porcelain)"
ok "a good IBGU manifest is committed: $(hook_line "$out") (first commit, with the hook's clone and build: ${build_seconds}s, $rebuilt_count dependency artifacts newer than Cargo.lock's versions built)"

ibgu '[{actions: [Upgrade], rolloutStrategy: {maxConcurrency: 10, timeout: 240}}, {actions: [Prep], rolloutStrategy: {maxConcurrency: 10, timeout: 240}}]' \
    >clusters/bad.yaml
if out=$(commit clusters/bad.yaml); then fail "an unsupported plan [Upgrade], [Prep]: git commit succeeded: $out"; fi
grep -qE '^ibgu-webhook check\.+Failed$' <<<"$out" || fail "an unsupported plan: not the hook's failure: $out"
grep -qF 'clusters/bad.yaml: document 1: ImageBasedGroupUpgrade ztp-group/upgrade-4-20 (CREATE): DENIED' <<<"$out" \
    || fail "an unsupported plan: the output lacks check's verdict: $out"
grep -qF 'spec.plan[1].actions: Unsupported value: ["Prep"]' <<<"$out" \
    || fail "an unsupported plan: the output lacks the webhook's message: $out"
[ "$(git log -1 --format=%s)" = "add clusters/upgrade.yaml" ] || fail "an unsupported plan: a commit was made: $(git log -1 --format=%s)"
ok "an unsupported plan ([Upgrade], [Prep]) fails git commit with the webhook's message: $(grep -F 'error:' <<<"$out")"
git rm -q --cached clusters/bad.yaml
rm clusters/bad.yaml

cat >clusters/settings.yaml <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ztp-group}
data: {plan: "[Upgrade], [Prep]"}
EOF
out=$(commit clusters/settings.yaml) || fail "a ConfigMap: git commit failed: $out"
grep -qE '^ibgu-webhook check\.+Passed$' <<<"$out" || fail "a ConfigMap: the hook did not run on it and pass: $out"
ok "a non-IBGU YAML file (a ConfigMap) is passed to the hook and committed: $(hook_line "$out")"

# Not YAML: a file that `check` would refuse to read (exit 2) if it were given it.
printf 'kind: ImageBasedGroupUpgrade\n\tnot: [yaml\n' >clusters/NOTES.txt
out=$(commit clusters/NOTES.txt) || fail "a non-YAML file: git commit failed: $out"
grep -qE '^ibgu-webhook check\.+\(no files to check\)Skipped$' <<<"$out" \
    || fail "a non-YAML file: the hook was not skipped: $out"
ok "a non-YAML file is not passed to the hook: $(hook_line "$out")"

echo "precommit: 4 checks passed in $(($(date +%s) - started))s (the hook's clone and build ${build_seconds}s)"
