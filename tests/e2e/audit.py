#!/usr/bin/env python3
"""Asserts the apiserver's audit log (JSON lines) records the webhook's audit annotations.

    python3 tests/e2e/audit.py AUDIT_LOG

The apiserver keys each annotation a webhook returns as `<webhook name>/<key>`. Prints one
line per assertion that holds; on the first that does not, prints what it looked for and
the IBGU events the log had, and exits 1.
"""
import json
import sys

MUTATE = "mutate.ibgu.lcm.openshift.io"
VALIDATE = "validate.ibgu.lcm.openshift.io"


def load(path):
    events = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"audit: {path}:{n}: not JSON ({e}): {line[:200]}")
    return events


def ibgu(events):
    return [e for e in events if (e.get("objectRef") or {}).get("resource") == "imagebasedgroupupgrades"]


def summary(e):
    ref = e.get("objectRef") or {}
    ours = {k: v for k, v in (e.get("annotations") or {}).items() if ".ibgu.lcm.openshift.io/" in k}
    code = (e.get("responseStatus") or {}).get("code")
    sub = "/" + ref["subresource"] if ref.get("subresource") else ""
    return f"  {e.get('verb')} {ref.get('name')}{sub} -> {code} {json.dumps(ours, sort_keys=True)}"


def expect(events, what, looked_for, match):
    """`match(event)` is true for an event that shows `what`."""
    found = next((e for e in events if match(e)), None)
    if found is not None:
        print(f"audit log: {what}:{summary(found)}")
        return
    print(f"audit: FAIL: {what}", file=sys.stderr)
    print(f"  looked for: {looked_for}", file=sys.stderr)
    print(f"  the log's {len(events)} IBGU events (verb name -> code, this webhook's annotations):", file=sys.stderr)
    for e in events:
        print(summary(e), file=sys.stderr)
    sys.exit(1)


def annotations(e):
    return e.get("annotations") or {}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: audit.py AUDIT_LOG")
    events = ibgu(load(sys.argv[1]))

    def denied_create(e):
        if e.get("verb") != "create" or e["objectRef"].get("name") != "bad":
            return False
        a = annotations(e)
        return any(
            a.get(f"{w}/decision") == "denied" and "plan-combination at spec.plan[1]" in a.get(f"{w}/denied", "")
            for w in (MUTATE, VALIDATE)
        )

    expect(
        events,
        "a denied CREATE records the webhook's decision and the rule and field that denied it",
        f"verb create, name bad, {MUTATE} or {VALIDATE} annotations decision=denied and denied containing "
        "'plan-combination at spec.plan[1]'",
        denied_create,
    )

    def patched_create(e):
        a = annotations(e)
        return (
            e.get("verb") == "create"
            and e["objectRef"].get("name") == "up"
            and a.get(f"{MUTATE}/decision") == "patched"
            and "/spec/plan/0/rolloutStrategy" in a.get(f"{MUTATE}/patch", "")
        )

    expect(
        events,
        "a defaulted CREATE records decision patched and the paths the patch added",
        f"verb create, name up, {MUTATE}/decision=patched and {MUTATE}/patch containing /spec/plan/0/rolloutStrategy",
        patched_create,
    )

    def allowed_update(e):
        ref = e["objectRef"]
        return (
            e.get("verb") in ("update", "patch")
            and not ref.get("subresource")
            and ref.get("name") == "up"
            and (e.get("responseStatus") or {}).get("code") == 200
            and annotations(e).get(f"{VALIDATE}/decision") == "allowed"
        )

    expect(
        events,
        "an allowed UPDATE records decision allowed",
        f"verb update or patch of up (not a subresource), code 200, {VALIDATE}/decision=allowed",
        allowed_update,
    )


if __name__ == "__main__":
    main()
