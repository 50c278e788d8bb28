#!/usr/bin/env bash
# check's SARIF as real consumers read it. Microsoft's SARIF Multitool (the SDK behind the
# SARIF specification's validator) validates the log against the SARIF 2.1.0 schema, the
# specification's rules and GitHub code scanning's ingestion rules (`--rule-kind Ghas`);
# sarif-tools (PyPI) then lists the results as a code-scanning UI would place them, and
# every one must be at the file:line expected. Installs both, pinned, under ~/.cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "sarif: $*" >&2; exit 1; }

# What writes the SARIF log on stdout (check exits 1 for denied objects), and the
# results it must hold, as `level file:line`, read off tests/sarif/plans.yaml by hand.
# The release build: the pre-commit and end-to-end steps build it too.
produce=(cargo run -q --locked --release --bin ibgu-webhook -- check --output sarif tests/sarif/plans.yaml)
expected=(
    "warning tests/sarif/plans.yaml:16" # spec.plan[0].rolloutStrategy, defaulted: at spec.plan[0]
    "error tests/sarif/plans.yaml:39"   # spec.plan[0].actions of the List's item
    "error tests/sarif/plans.yaml:41"   # its rolloutStrategy.maxConcurrency
)
# Validator findings accepted, and why.
allowed_warnings=(
    SARIF2005 # no informationUri: Cargo.toml names no project URL
)

multitool_version=5.7.0
sarif_tools_version=3.0.5
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ibgu-webhook/sarif
multitool=$cache/npm-$multitool_version/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
if [ ! -x "$multitool" ]; then
    command -v npm >/dev/null || fail "needs npm to install @microsoft/sarif-multitool-linux"
    echo "sarif: installing @microsoft/sarif-multitool-linux $multitool_version"
    mkdir -p "$cache/npm-$multitool_version"
    npm install --prefix "$cache/npm-$multitool_version" --no-audit --no-fund --no-save --silent \
        "@microsoft/sarif-multitool-linux@$multitool_version" \
        || fail "cannot install @microsoft/sarif-multitool-linux $multitool_version"
    # Its postinstall (chmod) is not run by every npm.
    chmod u+x "$multitool" || fail "the package has no Sarif.Multitool binary"
fi
"$multitool" --version 2>&1 | grep -qF "$multitool_version" \
    || fail "Sarif.Multitool $multitool_version does not run here: $("$multitool" --version 2>&1 | head -3)"
venv=$cache/sarif-tools-$sarif_tools_version
if [ ! -x "$venv/bin/sarif" ]; then
    echo "sarif: installing sarif-tools $sarif_tools_version"
    python3 -m venv "$venv" || fail "cannot make a Python venv"
    "$venv/bin/pip" install -q "sarif-tools==$sarif_tools_version" \
        || fail "cannot install sarif-tools $sarif_tools_version"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
"${produce[@]}" >"$work/check.sarif" || status=$?
[ "$status" -le 1 ] || fail "'${produce[*]}' exited $status"

# SARIF2006 would GET every absolute URI in the log (the schema's): no network here, and
# none is wanted.
cat >"$work/validate.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<Properties>
  <Properties Key="SARIF2006.UrisShouldBeReachable.Options">
    <Property Key="RuleEnabled" Value="Disabled" />
  </Properties>
</Properties>
XML
"$multitool" validate "$work/check.sarif" -o "$work/validation.sarif" --log ForceOverwrite \
    -c "$work/validate.xml" --rule-kind "Sarif;Ghas" --level "Error;Warning;Note" \
    >"$work/validate.log" 2>&1 || { cat "$work/validate.log" >&2; fail "Sarif.Multitool validate failed"; }
"$venv/bin/sarif" csv --output "$work/results.csv" "$work/check.sarif" >/dev/null \
    || fail "sarif-tools cannot read the log"

python3 - "$work" "${#expected[@]}" "${expected[@]}" -- "${allowed_warnings[@]}" <<'PY'
import csv, json, sys
work, n = sys.argv[1], int(sys.argv[2])
expected = sys.argv[3:3 + n]
allowed = set(sys.argv[4 + n:])
def fail(msg):
    sys.exit(f"sarif: {msg}")

validation = json.load(open(f"{work}/validation.sarif"))
run = validation["runs"][0]
for inv in run.get("invocations", []):
    if not inv.get("executionSuccessful", False):
        fail(f"the validator did not finish: {json.dumps(inv)[:2000]}")
    for n_ in inv.get("toolExecutionNotifications", []) + inv.get("toolConfigurationNotifications", []):
        if n_.get("level") == "error":
            fail(f"the validator failed: {n_['message']}")
results = run.get("results", [])
bad = [r for r in results
       if r.get("level", "warning") == "error"
       or (r.get("level", "warning") == "warning" and r["ruleId"] not in allowed)]
if bad:
    log = open(f"{work}/validate.log").read()
    fail(f"the validator rejects the log ({len(bad)} findings):\n{log}")
# A log the validator cannot load is reported as no finding at all: its note on every
# result's plain-text message shows it read them.
read = sum(1 for r in results if r["ruleId"] == "SARIF2002")
if read != n:
    fail(f"the validator read {read} results, not {n}: it could not load the log?\n"
         + open(f"{work}/validate.log").read())

rows = list(csv.DictReader(open(f"{work}/results.csv")))
found = sorted(f"{r['Severity']} {r['Location']}:{r['Line']}" for r in rows)
if found != sorted(expected):
    fail(f"sarif-tools places the results at {found}, not {sorted(expected)}")
notes = sum(1 for r in results if r.get("level") == "note")
print(f"sarif: the validator accepts the log ({notes} advisory notes); "
      f"sarif-tools places its {len(found)} results at {', '.join(sorted(expected))}")
PY
