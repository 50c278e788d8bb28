#!/usr/bin/env python3
"""check against the apiserver: the same generated manifests through both, verdicts compared.

    python3 tests/e2e/differential.py generate DIR [--seed N] [--namespace NS]
    python3 tests/e2e/differential.py run DIR --check BIN [--known FILE] [--report FILE]
        [--jobs N] [-- CHECK-ARGS...]

`generate` writes a few hundred manifests to DIR, deterministically for a seed: the 26
supported plans and near misses, rollout values in every YAML and JSON number spelling,
YAML 1.1 booleans where strings are wanted, metadata variants (names, generateName,
namespaces, labels, annotations, finalizers, ownerReferences), heads (look-alike
apiVersions and kinds, missing ones, top-level sequences, Lists) and YAML quirks
(directives, duplicate keys, anchors, merge keys, flow style, JSON, comments, several
documents), and DIR/cases.json naming each with what it tries.

`run` judges each file with `BIN check` (exit 0 allowed; 1 refused; 2, unreadable, counts
as refused; anything else is a crash) and with `kubectl create --dry-run=server -f FILE`
(the KUBECONFIG's apiserver with the webhook registered; success allowed, failure
refused); CHECK-ARGS say what the hub says (`-n` its context's namespace, the webhook's
settings). Every disagreement is
written to the report with both outputs. The known disagreements are the list under
"## Where check and the apiserver disagree" in FILE (docs/check.md): items
"- `PATTERN`, `PATTERN`: why", each PATTERN an fnmatch pattern of case names. Exits 1 when a
disagreement matches no listed pattern, when a listed pattern matches no disagreement (the
list must stay true), or when check crashed; prints the counts and the list either way.
"""
import argparse
import fnmatch
import json
import os
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HEAD = ("lcm.openshift.io/v1alpha1", "ImageBasedGroupUpgrade")
SELECTORS = """\
  clusterLabelSelectors:
  - matchExpressions:
    - key: name
      operator: In
      values: [spoke1, spoke4]
"""
KNOWN_HEADING = "## Where check and the apiserver disagree"


# --- manifests ------------------------------------------------------------------------


def step(actions, mc="5", timeout="60", raw=None):
    """One plan step in block style; `raw` replaces the whole rolloutStrategy block."""
    acts = actions if isinstance(actions, str) else "[" + ", ".join(actions) + "]"
    text = f"  - actions: {acts}\n"
    if raw is not None:
        return text + raw
    text += "    rolloutStrategy:\n"
    if mc is not None:
        text += f"      maxConcurrency: {mc}\n"
    if timeout is not None:
        text += f"      timeout: {timeout}\n"
    return text


def ibgu(
    name="diff",
    meta="",
    plan=None,
    version='"4.20.0"',
    image='"quay.io/seed/image:4.20.0"',
    seed_extra="",
    ibu_extra="",
    selectors=SELECTORS,
    head=HEAD,
    namespace=None,
    name_line=None,
):
    """An IBGU in block style, every part replaceable as raw YAML text."""
    api_version, kind = head
    lines = ""
    if api_version is not None:
        lines += f"apiVersion: {api_version}\n"
    if kind is not None:
        lines += f"kind: {kind}\n"
    lines += "metadata:\n"
    lines += name_line if name_line is not None else f"  name: {name}\n"
    if namespace is not None:
        lines += f"  namespace: {namespace}\n"
    lines += meta
    lines += "spec:\n" + selectors
    lines += "  ibuSpec:\n    seedImageRef:\n"
    lines += f"      image: {image}\n      version: {version}\n" + seed_extra + ibu_extra
    lines += "  plan:\n" + (plan if plan is not None else step(["Prep"]))
    return lines


def upstream_plans(root):
    """The 26 supported plans, from the CEL rule of the vendored upstream CRD."""
    import yaml

    with open(os.path.join(root, "tests/data/upstream/ibgu-crd.yaml"), encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    plan = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["plan"]
    rule = next(
        r["rule"]
        for r in plan["x-kubernetes-validations"]
        if r["message"] == "invalid combinations of actions in the plan"
    )
    return json.loads(rule[: rule.index(".exists(")].replace("'", '"'))


ACTIONS = ["Prep", "Upgrade", "FinalizeUpgrade", "Rollback", "FinalizeRollback", "Abort", "AbortOnFailure"]

# maxConcurrency and timeout as YAML spells numbers (and what looks like one): go-yaml v2,
# which kubectl reads YAML with, takes YAML 1.1's forms and Go's integer syntax.
YAML_NUMBERS = [
    ("int", "5"),
    ("plus", "+5"),
    ("float-1.0", "1.0"),
    ("float-5.", "5."),
    ("float-60.0", "60.0"),
    ("exp-1e3", "1e3"),
    ("exp-1.0e+3", "1.0e+3"),
    ("exp-6E1", "6E1"),
    ("tag-float", "!!float 5"),
    ("tag-int-quoted", '!!int "5"'),
    ("tag-str", "!!str 5"),
    ("octal-010", "010"),
    ("octal-0777", "0777"),
    ("octal-08", "08"),
    ("octal-0o10", "0o10"),
    ("underscore-0_1", "0_1"),
    ("underscore-1_000", "1_000"),
    ("hex-0x10", "0x10"),
    ("binary-0b101", "0b101"),
    ("sexagesimal-1:30", "1:30"),
    ("quoted", '"5"'),
    ("single-quoted", "'5'"),
    ("fraction-1.5", "1.5"),
    ("fraction-0.5e1", "0.5e1"),
    ("zero", "0"),
    ("negative", "-1"),
    ("negative-float", "-1.0"),
    ("inf", ".inf"),
    ("nan", ".nan"),
    ("null", "null"),
    ("tilde", "~"),
    ("empty", ""),
    ("bool-true", "true"),
    ("bool-yes", "yes"),
    ("huge", "99999999999999999999"),
]

JSON_NUMBERS = [
    ("int", "5"),
    ("float-1.0", "1.0"),
    ("exp-6e1", "6e1"),
    ("exp-1E2", "1E2"),
    ("exp-5.0e0", "5.0e0"),
    ("fraction-2.5", "2.5"),
    ("negative-zero", "-0"),
    ("huge-1e400", "1e400"),
    ("string", '"5"'),
    ("null", "null"),
]

# YAML 1.1 booleans (go-yaml v2 reads each as true or false), quoted and not.
BOOLEANS = ["yes", "no", "on", "off", "y", "n", "True", "NO", "Off", '"yes"', "'on'"]


def cases(root, seed, namespace):
    """Every case: (name, extension, text, what it tries); `namespace` is the one a case
    that names its namespace names, the one the run's kubeconfig and check default to."""
    rnd = random.Random(seed)
    out = []

    def add(name, text, about, ext="yaml"):
        out.append((name, ext, text, about))

    # Plans: the 26 supported ones, then near misses.
    plans = upstream_plans(root)
    for i, plan in enumerate(plans):
        text = "".join(step(s) for s in plan)
        slug = "_".join("+".join(s) for s in plan)
        add(f"plan-supported-{i:02d}-{slug}", ibgu(plan=text), f"supported plan {plan}")
    for i in range(40):
        plan = [list(s) for s in rnd.choice(plans)]
        how = rnd.choice(["append", "drop", "swap", "duplicate", "unknown", "lowercase", "merge", "split"])
        if how == "append":
            plan.append([rnd.choice(ACTIONS)])
        elif how == "drop" and len(plan) > 1:
            plan.pop(rnd.randrange(len(plan)))
        elif how == "swap" and len(plan) > 1:
            j = rnd.randrange(len(plan) - 1)
            plan[j], plan[j + 1] = plan[j + 1], plan[j]
        elif how == "duplicate":
            s = rnd.choice(plan)
            s.append(s[0])
        elif how == "unknown":
            rnd.choice(plan).append(rnd.choice(["Finalize", "Rollout", "Cleanup"]))
        elif how == "lowercase":
            s = rnd.choice(plan)
            s[0] = s[0].lower()
        elif how == "merge" and len(plan) > 1:
            plan[0:2] = [plan[0] + plan[1]]
        else:
            plan.insert(0, [rnd.choice(ACTIONS), rnd.choice(ACTIONS)])
        text = "".join(step(s) for s in plan)
        add(f"plan-near-{i:02d}-{how}", ibgu(plan=text), f"near miss ({how}): {plan}")
    for name, plan, about in [
        ("seven-steps", "".join(step(["Prep"]) for _ in range(7)), "7 steps, over maxItems 6"),
        ("five-actions", step(["Prep", "Upgrade", "FinalizeUpgrade", "Abort", "Rollback"]), "5 actions, over maxItems 4"),
        ("empty-actions", step("[]"), "actions: []"),
        ("actions-string", step("Prep"), "actions: Prep, a string"),
        ("actions-null", step("~"), "actions: null"),
        ("no-actions", "  - rolloutStrategy: {maxConcurrency: 5}\n", "a step without actions"),
        ("null-step", "  - ~\n", "a null step"),
        ("empty-plan", "  []\n", "plan: []"),
        ("no-rollout", step(["Prep"], raw=""), "a step without rolloutStrategy (the webhook defaults it)"),
        ("no-max-concurrency", step(["Prep"], mc=None), "rolloutStrategy without maxConcurrency"),
        ("no-timeout", step(["Prep"], timeout=None), "rolloutStrategy without timeout (the schema defaults 240)"),
        ("rollout-null", step(["Prep"], raw="    rolloutStrategy: ~\n"), "rolloutStrategy: null"),
        ("rollout-unknown-field", step(["Prep"], raw="    rolloutStrategy: {maxConcurrency: 5, batch: 2}\n"), "an unknown field in rolloutStrategy"),
        ("step-unknown-field", step(["Prep"]) + "    name: prep\n", "an unknown field in a step"),
    ]:
        add(f"plan-{name}", ibgu(plan=plan), about)

    # Rollout values in every spelling, in each field, block and flow style.
    for slug, spelling in YAML_NUMBERS:
        add(f"rollout-yaml-maxConcurrency-{slug}", ibgu(plan=step(["Prep"], mc=spelling)), f"maxConcurrency: {spelling}")
        add(f"rollout-yaml-timeout-{slug}", ibgu(plan=step(["Prep"], timeout=spelling)), f"timeout: {spelling}")
    for slug, spelling in YAML_NUMBERS[:12]:
        raw = f"    rolloutStrategy: {{maxConcurrency: {spelling}, timeout: {spelling}}}\n"
        add(f"rollout-flow-{slug}", ibgu(plan=step(["Prep"], raw=raw)), f"flow style, both {spelling}")
    for slug, spelling in JSON_NUMBERS:
        for field in ["maxConcurrency", "timeout"]:
            other = "timeout" if field == "maxConcurrency" else "maxConcurrency"
            add(
                f"rollout-json-{field}-{slug}",
                json_ibgu(f'{{"{field}": {spelling}, "{other}": 5}}'),
                f"JSON {field}: {spelling}",
                ext="json",
            )

    # YAML 1.1 booleans where the schema wants a string.
    for word in BOOLEANS:
        slug = word.strip("\"'") + ("-quoted" if word[0] in "\"'" else "")
        add(f"bool-version-{slug}", ibgu(version=word), f"seedImageRef.version: {word}")
        add(f"bool-label-{slug}", ibgu(meta=f"  labels: {{team: {word}}}\n"), f"a label value {word}")
    for field, text in [
        ("image", ibgu(image="on")),
        ("pull-secret", ibgu(seed_extra="      pullSecretRef: {name: yes}\n")),
        ("annotation", ibgu(meta="  annotations: {ran.openshift.io/ztp-deploy-wave: off}\n")),
        ("match-labels", ibgu(selectors="  clusterLabelSelectors:\n  - matchLabels: {du-profile: on}\n")),
        ("selector-values", ibgu(selectors=SELECTORS.replace("[spoke1, spoke4]", "[spoke1, no]"))),
        ("oadp", ibgu(ibu_extra="    oadpContent:\n    - {name: y, namespace: openshift-adp}\n")),
        ("extra-manifests", ibgu(ibu_extra="    extraManifests:\n    - {name: cm, namespace: n}\n")),
        ("stage", ibgu(ibu_extra="    stage: off\n")),
        ("action", ibgu(plan=step("[Prep, yes]"))),
        ("label-key", ibgu(meta="  labels: {on: enabled}\n")),
    ]:
        add(f"bool-{field}", text, f"a YAML 1.1 boolean in {field}")

    # Metadata, as the apiserver validates it.
    long = lambda n, c="a": c * n  # noqa: E731
    for slug, line, about in [
        ("name-simple", "  name: a\n", "name a"),
        ("name-dotted", "  name: up.4-20\n", "a dotted name"),
        ("name-upper", "  name: Upgrade\n", "an uppercase name"),
        ("name-underscore", "  name: up_1\n", "an underscore in the name"),
        ("name-leading-dash", "  name: -up\n", "a leading dash"),
        ("name-trailing-dot", "  name: up.\n", "a trailing dot"),
        ("name-placeholder", '  name: "<filename>"\n', "the docs' placeholder"),
        ("name-229", f"  name: {long(229)}\n", "229 characters (rule 8's limit)"),
        ("name-230", f"  name: {long(230)}\n", "230 characters"),
        ("name-254", f"  name: {long(254)}\n", "254 characters, over a subdomain's 253"),
        ("name-unicode", "  name: upgrade-ü\n", "a non-ASCII name"),
        ("name-number", "  name: 420\n", "a number for a name"),
        ("name-empty", '  name: ""\n', "an empty name"),
        ("name-missing", "", "no name, no generateName"),
        ("generate-name", "  generateName: up-\n", "generateName up-"),
        ("generate-name-upper", "  generateName: Up-\n", "an uppercase generateName"),
        ("generate-name-dot", "  generateName: up.\n", "a generateName ending in a dot"),
        ("generate-name-no-dash", "  generateName: up\n", "a generateName without a dash"),
        ("generate-name-long", f"  generateName: {long(100)}-\n", "a generateName of 101 characters (rule 8)"),
        ("generate-name-254", f"  generateName: {long(253)}-\n", "a generateName of 254 characters"),
        ("generate-name-and-name", "  name: up\n  generateName: Up-\n", "both, generateName bad"),
    ]:
        add(f"meta-{slug}", ibgu(name_line=line, namespace=namespace if rnd.random() < 0.5 else None), about)
    for slug, ns, about in [
        ("namespace-upper", "Diff", "an uppercase namespace"),
        ("namespace-dotted", "ztp.group", "a dotted namespace"),
        ("namespace-long", long(64), "a namespace of 64 characters"),
    ]:
        add(f"meta-{slug}", ibgu(namespace=ns), about)
    key63 = long(63, "k")
    for slug, labels, about in [
        ("labels-valid", "{app.kubernetes.io/name: ibgu, team: ran, du-profile: '4.20', empty: ''}", "valid labels"),
        ("labels-prefix-upper", "{Example.com/team: ran}", "an uppercase prefix"),
        ("labels-key-63", f"{{{key63}: v}}", "a key of 63"),
        ("labels-key-64", f"{{{key63}k: v}}", "a key of 64"),
        ("labels-key-prefix-254", f"{{{long(254, 'p')}/k: v}}", "a prefix of 254"),
        ("labels-key-two-slashes", "{a/b/c: v}", "two slashes"),
        ("labels-key-empty-prefix", '{"/a": v}', "an empty prefix"),
        ("labels-key-empty-name", '{"a/": v}', "an empty name part"),
        ("labels-key-empty", '{"": v}', "an empty key"),
        ("labels-key-space", '{"bad key": v}', "a space in the key"),
        ("labels-key-underscore-start", "{_k: v}", "a key starting with _"),
        ("labels-value-63", f"{{k: {long(63, 'v')}}}", "a value of 63"),
        ("labels-value-64", f"{{k: {long(64, 'v')}}}", "a value of 64"),
        ("labels-value-space", '{k: "bad value"}', "a space in the value"),
        ("labels-value-dash", "{k: -v}", "a value starting with -"),
        ("labels-value-slash", "{k: a/b}", "a slash in the value"),
        ("labels-value-number", "{k: 1}", "a number for a value"),
        ("labels-value-null", "{k: ~}", "a null value"),
        ("labels-list", "[a, b]", "labels as a list"),
        ("labels-null", "~", "labels: null"),
    ]:
        add(f"meta-{slug}", ibgu(meta=f"  labels: {labels}\n"), about)
    for slug, annotations, about in [
        ("annotations-valid", "{ran.openshift.io/ztp-deploy-wave: '1', note: free text, Example.COM/Key: ''}", "valid keys, any case"),
        ("annotations-key-space", '{"bad key": x}', "a space in a key"),
        ("annotations-key-empty-prefix", '{"/x": y}', "an empty prefix"),
        ("annotations-key-64", f"{{{key63}k: v}}", "a key of 64"),
        ("annotations-key-two-slashes", "{a/b/c: v}", "two slashes"),
        ("annotations-value-number", "{a: 1}", "a number for a value"),
        ("annotations-value-multiline", '{a: "line 1\\nline 2"}', "a value with a newline"),
        ("annotations-size-limit", f"{{k: {long(256 * 1024 - 1, 'v')}}}", "262,144 bytes of key and value, the limit"),
        ("annotations-size-over", f"{{k: {long(256 * 1024, 'v')}}}", "262,145 bytes, one over"),
        ("annotations-size-over-two", f"{{k: {long(128 * 1024, 'v')}, l: {long(128 * 1024, 'v')}}}", "two values over the limit together"),
    ]:
        add(f"meta-{slug}", ibgu(meta=f"  annotations: {annotations}\n"), about)
    for slug, finalizers, about in [
        ("finalizers-qualified", "[lcm.openshift.io/ibgu]", "a domain-qualified finalizer"),
        ("finalizers-plain", "[cleanup]", "a finalizer without a domain (warned, allowed)"),
        ("finalizers-dotted", "[finalizers.example.com]", "a dotted finalizer without a path"),
        ("finalizers-standard", "[orphan]", "orphan"),
        ("finalizers-foreground", "[foregroundDeletion]", "foregroundDeletion"),
        ("finalizers-orphan-and-foreground", "[orphan, foregroundDeletion]", "both orphan and foregroundDeletion"),
        ("finalizers-space", '["a b"]', "a space"),
        ("finalizers-two-slashes", "[a/b/c]", "two slashes"),
        ("finalizers-leading-dash", "[-x]", "a leading dash"),
        ("finalizers-duplicate", "[x.io/y, x.io/y]", "the same finalizer twice"),
        ("finalizers-string", "x.io/y", "finalizers as a string"),
        ("finalizers-number", "[1]", "a number"),
        ("finalizers-long-name", f"[x.io/{long(64)}]", "a name part of 64"),
    ]:
        add(f"meta-{slug}", ibgu(meta=f"  finalizers: {finalizers}\n"), about)
    owner = "{apiVersion: cluster.open-cluster-management.io/v1beta1, kind: Placement, name: p, uid: 6f1c2a}"
    for slug, owners, about in [
        ("owners-valid", f"[{owner}]", "a complete owner reference"),
        ("owners-controller", "[{apiVersion: v1, kind: ConfigMap, name: a, uid: '1', controller: true}]", "one controller"),
        ("owners-two-controllers", "[{apiVersion: v1, kind: ConfigMap, name: a, uid: '1', controller: true}, {apiVersion: v1, kind: Secret, name: b, uid: '2', controller: true}]", "two controllers"),
        ("owners-controller-and-not", "[{apiVersion: v1, kind: ConfigMap, name: a, uid: '1', controller: true}, {apiVersion: v1, kind: Secret, name: b, uid: '2', controller: false}]", "a controller and a non-controller"),
        ("owners-no-uid", "[{apiVersion: v1, kind: ConfigMap, name: a}]", "no uid"),
        ("owners-no-name", "[{apiVersion: v1, kind: ConfigMap, uid: '1'}]", "no name"),
        ("owners-no-kind", "[{apiVersion: v1, name: a, uid: '1'}]", "no kind"),
        ("owners-no-api-version", "[{kind: ConfigMap, name: a, uid: '1'}]", "no apiVersion"),
        ("owners-empty-uid", "[{apiVersion: v1, kind: ConfigMap, name: a, uid: ''}]", "an empty uid"),
        ("owners-api-version-two-slashes", "[{apiVersion: a/b/c, kind: K, name: a, uid: '1'}]", "an apiVersion with two slashes"),
        ("owners-api-version-no-version", "[{apiVersion: 'lcm.openshift.io/', kind: K, name: a, uid: '1'}]", "a group without a version"),
        ("owners-event", "[{apiVersion: v1, kind: Event, name: e, uid: '1'}]", "an Event as the owner"),
        ("owners-block-deletion", f"[{owner[:-1]}, blockOwnerDeletion: true}}]", "blockOwnerDeletion"),
        ("owners-controller-string", "[{apiVersion: v1, kind: ConfigMap, name: a, uid: '1', controller: 'true'}]", "controller as a string"),
        ("owners-not-a-list", owner, "ownerReferences as a map"),
    ]:
        add(f"meta-{slug}", ibgu(meta=f"  ownerReferences: {owners}\n"), about)
    for slug, meta, about in [
        ("unknown-field", "  lables: {a: b}\n", "a misspelt metadata field"),
        ("creation-timestamp-null", "  creationTimestamp: null\n", "creationTimestamp: null, as kubectl writes it"),
        ("metadata-list", None, "metadata as a list"),
    ]:
        if meta is None:
            text = ibgu().replace("metadata:\n  name: diff\n", "metadata: [diff]\n")
        else:
            text = ibgu(meta=meta)
        add(f"meta-{slug}", text, about)

    # Heads: look-alikes of the IBGU's apiVersion and kind, and missing ones.
    for slug, head, about in [
        ("v1alpha2", ("lcm.openshift.io/v1alpha2", HEAD[1]), "apiVersion lcm.openshift.io/v1alpha2"),
        ("v1", ("lcm.openshift.io/v1", HEAD[1]), "apiVersion lcm.openshift.io/v1"),
        ("lca-group", ("lca.openshift.io/v1alpha1", HEAD[1]), "the lca group"),
        ("group-only", ("lcm.openshift.io", HEAD[1]), "a group without a version"),
        ("group-upper", ("LCM.openshift.io/v1alpha1", HEAD[1]), "an uppercase group"),
        ("kind-lowercase", (HEAD[0], "imagebasedgroupupgrade"), "a lowercase kind"),
        ("kind-plural", (HEAD[0], "ImageBasedGroupUpgrades"), "the plural"),
        ("kind-short", (HEAD[0], "IBGU"), "the short name"),
        ("kind-case", (HEAD[0], "ImagebasedGroupUpgrade"), "a kind with one letter's case changed"),
        ("kind-trailing-space", (HEAD[0], '"ImageBasedGroupUpgrade "'), "a kind with a trailing space"),
        ("no-api-version", (None, HEAD[1]), "no apiVersion"),
        ("no-kind", (HEAD[0], None), "no kind"),
        ("no-head", (None, None), "neither"),
    ]:
        add(f"head-{slug}", ibgu(head=head), about)
    doc = ibgu()
    bad = ibgu(plan=step(["Upgrade"]) + step(["Prep"]))
    indent = lambda t: "".join(("- " if i == 0 else "  ") + l + "\n" for i, l in enumerate(t.splitlines()))  # noqa: E731
    add("head-top-level-sequence", indent(doc) + indent(ibgu(name="diff2")), "a top-level YAML sequence of two IBGUs")
    add("head-top-level-sequence-bad", indent(bad), "a top-level sequence of a refused IBGU")
    add("head-list", "apiVersion: v1\nkind: List\nitems:\n" + indent(doc), "a v1 List of one IBGU")
    add("head-list-bad", "apiVersion: v1\nkind: List\nitems:\n" + indent(bad), "a v1 List of a refused IBGU")
    add("head-ibgu-list", f"apiVersion: {HEAD[0]}\nkind: ImageBasedGroupUpgradeList\nitems:\n" + indent(bad), "an ImageBasedGroupUpgradeList of a refused IBGU")
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: diff-cm}\ndata: {a: b}\n"
    add("head-configmap", cm, "a ConfigMap alone")
    add("head-configmap-and-bad", cm + "---\n" + bad, "a ConfigMap, then a refused IBGU")

    # YAML quirks.
    add("yaml-directive-1.1", "%YAML 1.1\n---\n" + doc, "a %YAML 1.1 directive")
    add("yaml-directive-1.2", "%YAML 1.2\n---\n" + doc, "a %YAML 1.2 directive")
    add("yaml-directive-tag", "%TAG !e! tag:example.com,2026:\n---\n" + doc, "a %TAG directive")
    add("yaml-directive-bad-doc", "%YAML 1.1\n---\n" + bad, "a %YAML directive before a refused IBGU")
    add("yaml-duplicate-kind", doc.replace("kind: ImageBasedGroupUpgrade\n", "kind: ConfigMap\nkind: ImageBasedGroupUpgrade\n"), "kind twice, the last an IBGU")
    add("yaml-duplicate-name", doc.replace("  name: diff\n", "  name: Bad_Name\n  name: diff\n"), "name twice, the last valid")
    add("yaml-duplicate-name-last-bad", doc.replace("  name: diff\n", "  name: diff\n  name: Bad_Name\n"), "name twice, the last invalid")
    add("yaml-duplicate-max-concurrency", ibgu(plan="  - actions: [Prep]\n    rolloutStrategy:\n      maxConcurrency: 0\n      maxConcurrency: 5\n"), "maxConcurrency 0 then 5")
    add("yaml-duplicate-max-concurrency-last-zero", ibgu(plan="  - actions: [Prep]\n    rolloutStrategy:\n      maxConcurrency: 5\n      maxConcurrency: 0\n"), "maxConcurrency 5 then 0")
    add("yaml-duplicate-spec", doc + "spec: {}\n", "spec twice, the last empty")
    anchored = "  - actions: [Prep]\n    rolloutStrategy: &rollout {maxConcurrency: 5, timeout: 60}\n  - actions: [Upgrade]\n    rolloutStrategy: *rollout\n  - actions: [FinalizeUpgrade]\n    rolloutStrategy: *rollout\n"
    add("yaml-anchor-rollout", ibgu(plan=anchored), "an anchored rolloutStrategy aliased by later steps")
    add("yaml-anchor-scalar", ibgu(version="&v '4.20.0'", meta="  labels: {version: *v}\n"), "an anchored scalar aliased as a label value")
    add("yaml-anchor-zero", ibgu(plan="  - actions: [Prep]\n    rolloutStrategy: &r {maxConcurrency: 0}\n  - actions: [Upgrade]\n    rolloutStrategy: *r\n"), "an aliased maxConcurrency 0")
    merged = "  - actions: [Prep]\n    rolloutStrategy: &defaults {maxConcurrency: 5, timeout: 60}\n  - actions: [Upgrade]\n    rolloutStrategy:\n      <<: *defaults\n      timeout: 30\n"
    add("yaml-merge-key", ibgu(plan=merged), "a merge key with an override")
    add("yaml-merge-key-zero", ibgu(plan=merged.replace("timeout: 30", "maxConcurrency: 0")), "a merge key overridden to maxConcurrency 0")
    add("yaml-merge-key-list", ibgu(plan="  - actions: [Prep]\n    rolloutStrategy: &a {maxConcurrency: 5}\n  - actions: [Upgrade]\n    rolloutStrategy:\n      <<: [*a, {timeout: 9}]\n"), "a merge key of a list of maps")
    flow = (
        f"{{apiVersion: {HEAD[0]}, kind: {HEAD[1]}, metadata: {{name: diff}}, spec: {{ibuSpec: "
        "{seedImageRef: {image: 'quay.io/seed/image:4.20.0', version: '4.20.0'}}, "
        "plan: [{actions: [Prep], rolloutStrategy: {maxConcurrency: 5, timeout: 60}}]}}\n"
    )
    add("yaml-flow-document", flow, "the whole document in flow style")
    add("yaml-flow-document-bad", flow.replace("maxConcurrency: 5", "maxConcurrency: 0"), "flow style, maxConcurrency 0")
    add("yaml-flow-multiline", flow.replace(", ", ",\n  "), "flow style across lines")
    add("yaml-comments", comment_everywhere(doc), "comments on every line and between them")
    add("yaml-comment-hash-in-string", ibgu(meta="  annotations: {note: 'a # not a comment'}\n"), "a # inside a quoted string")
    add("yaml-multi-two-good", doc + "---\n" + ibgu(name="diff2"), "two allowed IBGUs")
    add("yaml-multi-good-bad", doc + "---\n" + bad, "an allowed IBGU, then a refused one")
    add("yaml-multi-leading-separator", "---\n" + doc, "a leading ---")
    add("yaml-multi-trailing-separator", doc + "---\n", "a trailing ---")
    add("yaml-multi-empty-documents", "---\n---\n" + doc + "---\n---\n", "empty documents around")
    add("yaml-multi-separator-comment", doc + "--- # next\n" + ibgu(name="diff2"), "--- followed by a comment")
    add("yaml-multi-document-end", doc + "...\n---\n" + bad, "a document end marker, then a refused IBGU")
    add("yaml-block-scalar-version", ibgu(version="|-\n        4.20.0"), "version as a literal block scalar")
    add("yaml-folded-image", ibgu(image=">-\n        quay.io/seed/image:4.20.0"), "image as a folded block scalar")
    add("yaml-version-float", ibgu(version="4.20"), "version: 4.20, a float")
    add("yaml-version-plain", ibgu(version="4.20.0"), "version: 4.20.0 unquoted")
    add("yaml-image-plain", ibgu(image="quay.io/seed/image:4.20.0"), "image unquoted")
    add("yaml-crlf", doc.replace("\n", "\r\n"), "CRLF line endings")
    add("yaml-bom", "\ufeff" + doc, "a byte order mark")
    add("yaml-quoted-keys", re.sub(r"^(\s*)([A-Za-z]+):", r'\1"\2":', doc, flags=re.M), "every key quoted")
    add("yaml-explicit-keys", doc.replace("kind: ImageBasedGroupUpgrade\n", "? kind\n: ImageBasedGroupUpgrade\n"), "an explicit ? key")
    add("yaml-indent-4", reindent(doc, 4), "four-space indentation")
    add("yaml-sequence-indented", doc.replace("  plan:\n  - ", "  plan:\n    - ").replace("\n    rolloutStrategy:\n      maxConcurrency: 5\n      timeout: 60", "\n      rolloutStrategy:\n        maxConcurrency: 5\n        timeout: 60"), "a plan indented under its key")
    add("yaml-spec-null", doc.split("spec:")[0] + "spec: ~\n", "spec: null")
    add("yaml-empty-file", "", "an empty file")
    add("yaml-only-comments", "# nothing here\n", "a file of comments")
    add("yaml-only-separator", "---\n", "a file of one ---")
    add("yaml-not-a-mapping", "just a string\n", "a document that is a string")
    add("yaml-tab-indent", doc.replace("  name: diff", "\tname: diff"), "a tab where indentation is expected")
    add("yaml-unclosed-flow", doc.replace("[Prep]", "[Prep"), "an unclosed flow sequence")
    add("yaml-tag-str-version", ibgu(version="!!str 4.20"), "!!str on a float-looking version")
    add("yaml-local-tag", ibgu(version="!custom '4.20.0'"), "a local tag on a scalar")
    add("yaml-null-key-value", doc.replace("spec:\n", "~: x\nspec:\n"), "a null key at the top")
    add("yaml-bool-key", doc.replace("spec:\n", "yes: x\nspec:\n"), "a boolean key at the top (an unknown field)")
    add("yaml-int-label-key", ibgu(meta="  labels: {1: one}\n"), "an integer label key")

    # JSON files.
    jdoc = json_ibgu('{"maxConcurrency": 5, "timeout": 60}')
    add("json-pretty", jdoc, "pretty JSON", ext="json")
    add("json-compact", json.dumps(json.loads(jdoc), separators=(",", ":")), "compact JSON", ext="json")
    add("json-stream", jdoc + "\n" + jdoc.replace('"diff"', '"diff2"'), "two JSON objects in a stream", ext="json")
    add("json-stream-bad", jdoc + "\n" + json_ibgu('{"maxConcurrency": 0}'), "a stream whose second object is refused", ext="json")
    add("json-array", "[" + jdoc + "]", "a top-level JSON array", ext="json")
    add("json-trailing-comma", jdoc.replace('"timeout": 60', '"timeout": 60,'), "a trailing comma", ext="json")
    add("json-duplicate-key", jdoc.replace('"maxConcurrency": 5', '"maxConcurrency": 0, "maxConcurrency": 5'), "a duplicate key, the last valid", ext="json")
    add("json-comment", "// an IBGU\n" + jdoc, "a // comment before JSON", ext="json")
    add("json-leading-space", "\n  " + jdoc, "whitespace before the object", ext="json")
    add("json-unicode-escape", jdoc.replace('"diff"', '"d\\u0069ff"'), "a \\u escape in the name", ext="json")
    add("json-list", json.dumps({"apiVersion": "v1", "kind": "List", "items": [json.loads(jdoc)]}), "a JSON List", ext="json")
    return out


def json_ibgu(rollout):
    return (
        "{\n"
        f'  "apiVersion": "{HEAD[0]}",\n  "kind": "{HEAD[1]}",\n'
        '  "metadata": {"name": "diff"},\n'
        '  "spec": {\n'
        '    "ibuSpec": {"seedImageRef": {"image": "quay.io/seed/image:4.20.0", "version": "4.20.0"}},\n'
        f'    "plan": [{{"actions": ["Prep"], "rolloutStrategy": {rollout}}}]\n'
        "  }\n}\n"
    )


def comment_everywhere(doc):
    lines = ["# an IBGU, commented"]
    for line in doc.splitlines():
        lines.append(line + "  # " + line.strip().split(":")[0])
        lines.append("  # between")
    return "\n".join(lines) + "\n"


def reindent(doc, width):
    import yaml

    return yaml.safe_dump(yaml.safe_load(doc), indent=width, sort_keys=False)


def generate(root, directory, seed, namespace):
    os.makedirs(directory, exist_ok=True)
    index = []
    names = set()
    for i, (name, ext, text, about) in enumerate(cases(root, seed, namespace)):
        if name in names:
            sys.exit(f"differential: two cases named {name}")
        names.add(name)
        file = f"{i:03d}-{name}.{ext}"
        with open(os.path.join(directory, file), "w", encoding="utf-8", newline="") as f:
            f.write(text)
        index.append({"name": name, "file": file, "about": about})
    with open(os.path.join(directory, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"seed": seed, "cases": index}, f, indent=1)
    return index


# --- the comparison ---------------------------------------------------------------------


def known(path):
    """The listed disagreements, [(pattern, why)]: under KNOWN_HEADING, each item's leading
    backquoted patterns, then `: ` and why."""
    if not path:
        return []
    items, inside = [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                inside = line.strip() == KNOWN_HEADING
                continue
            if not inside:
                continue
            m = re.match(r"^- ((?:`[^`]+`(?:, )?)+):(?: (.*))?$", line.rstrip("\n"))
            if m:
                items.append((re.findall(r"`([^`]+)`", m.group(1)), (m.group(2) or "").strip()))
            elif items and line.startswith("  ") and line.strip():
                items[-1] = (items[-1][0], (items[-1][1] + " " + line.strip()).strip())
    return [(pattern, why) for patterns, why in items for pattern in patterns]


def judge(case, directory, check, check_args, kubectl):
    path = os.path.join(directory, case["file"])
    c = subprocess.run([check, "check", *check_args, path], capture_output=True, text=True)
    check_verdict = {0: "allowed", 1: "refused", 2: "refused"}.get(c.returncode, "crash")
    k = subprocess.run([*kubectl, "create", "--dry-run=server", "-f", path], capture_output=True, text=True)
    kubectl_verdict = "allowed" if k.returncode == 0 else "refused"
    return {
        **case,
        "check": check_verdict,
        "check_exit": c.returncode,
        "check_output": (c.stdout + c.stderr).strip(),
        "kubectl": kubectl_verdict,
        "kubectl_output": (k.stdout + k.stderr).strip(),
    }


def clip(text, lines=12, width=400):
    out = [line if len(line) <= width else line[:width] + "..." for line in text.splitlines()[:lines]]
    if len(text.splitlines()) > lines:
        out.append(f"... ({len(text.splitlines()) - lines} more lines)")
    return "\n".join("      " + line for line in out)


def run(args):
    with open(os.path.join(args.dir, "cases.json"), encoding="utf-8") as f:
        index = json.load(f)
    kubectl = ["kubectl", "--cache-dir", os.path.join(args.dir, ".kube-cache")]
    listed = known(args.known)
    started = time.time()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(
            pool.map(lambda c: judge(c, args.dir, args.check, args.check_args, kubectl), index["cases"])
        )
    seconds = time.time() - started
    disagree = [r for r in results if r["check"] != r["kubectl"]]
    unlisted, seen = [], set()
    for r in disagree:
        hits = [p for p, _ in listed if fnmatch.fnmatchcase(r["name"], p)]
        seen.update(hits)
        r["listed"] = bool(hits)
        if not hits:
            unlisted.append(r)
    stale = [(p, why) for p, why in listed if p not in seen]
    crashed = [r for r in results if r["check"] == "crash"]
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            for r in disagree:
                f.write(
                    f"{r['name']} ({r['file']}): {r['about']}\n"
                    f"  kubectl create --dry-run=server: {r['kubectl']}\n{clip(r['kubectl_output'])}\n"
                    f"  ibgu-webhook check: {r['check']} (exit {r['check_exit']})"
                    f"{'' if r['listed'] else ', NOT LISTED'}\n{clip(r['check_output'])}\n\n"
                )
    allowed = sum(r["kubectl"] == "allowed" for r in results)
    print(
        f"differential: {len(results)} manifests (seed {index['seed']}) in {seconds:.0f} s: "
        f"the apiserver allowed {allowed}, refused {len(results) - allowed}; check agrees on "
        f"{len(results) - len(disagree)}, disagrees on {len(disagree)} "
        f"({len(disagree) - len(unlisted)} listed in {args.known or 'no list'})"
    )
    for r in disagree:
        mark = "listed" if r["listed"] else "NOT LISTED"
        print(f"differential: {mark}: {r['name']}: apiserver {r['kubectl']}, check {r['check']}: {r['about']}")
    for p, why in stale:
        short = why if len(why) <= 100 else why[:97] + "..."
        print(f"differential: LISTED BUT NOT SEEN: `{p}`: {short}")
    for r in crashed:
        print(f"differential: CHECK CRASHED (exit {r['check_exit']}): {r['name']}")
    if args.report:
        print(f"differential: every disagreement, with both outputs: {args.report}")
    return 1 if unlisted or stale or crashed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("dir")
    g.add_argument("--seed", type=int, default=int(os.environ.get("IBGU_DIFFERENTIAL_SEED", "24")))
    g.add_argument("--namespace", default="differential", help="the namespace manifests that name one name")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("--check", required=True, help="the ibgu-webhook binary")
    r.add_argument("--known", help="the file listing known disagreements (docs/check.md)")
    r.add_argument("--report", help="where to write every disagreement with both outputs")
    r.add_argument("--jobs", type=int, default=2)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.check_args = argv[split + 1 :]
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    if args.command == "generate":
        index = generate(root, args.dir, args.seed, args.namespace)
        print(f"differential: {len(index)} manifests written to {args.dir} (seed {args.seed})")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
