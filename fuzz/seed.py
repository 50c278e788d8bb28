#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the project's own test inputs.

Usage: seed.py REPO_ROOT CORPUS_DIR

- admission: every tests/fixtures/*/review.json and tests/data/bench/*.json up to 64 KB,
  as written and compacted;
- admission_objects: each review's `object`, followed by its `oldObject` when it has one
  (the JSON stream the structure-aware target reads);
- check_yaml: examples/manifests/*.yaml, and each fixture's objects as JSON, as YAML
  block style, as YAML flow style, as a multi-document file and as a `List`.

Seeds are named by the SHA-1 of their content, as libFuzzer names what it adds, so
re-seeding an existing corpus adds nothing twice. Standard library only.
"""

import hashlib
import json
import pathlib
import re
import sys


def yaml_block(value, indent=0):
    """Renders a JSON value as YAML block style (strings double-quoted, JSON escapes)."""
    pad = "  " * indent
    if isinstance(value, dict) and value:
        lines = []
        for k, v in value.items():
            key = yaml_key(k)
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{key}:\n{yaml_block(v, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {scalar(v)}")
        return "\n".join(lines)
    if isinstance(value, list) and value:
        lines = []
        for v in value:
            if isinstance(v, (dict, list)) and v:
                inner = yaml_block(v, indent + 1).lstrip()
                lines.append(f"{pad}- {inner}")
            else:
                lines.append(f"{pad}- {scalar(v)}")
        return "\n".join(lines)
    return pad + scalar(value)


PLAIN_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]*$")
RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def yaml_key(key):
    """A key as a person writes it: plain when that is unambiguous, else double-quoted."""
    if PLAIN_KEY.match(key) and key.lower() not in RESERVED:
        return key
    return json.dumps(key, ensure_ascii=False)


def scalar(value):
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value, ensure_ascii=False)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def main():
    root = pathlib.Path(sys.argv[1])
    out = pathlib.Path(sys.argv[2])
    seeds = {"admission": [], "admission_objects": [], "check_yaml": []}

    reviews = sorted(root.glob("tests/fixtures/*/review.json"))
    # The fleet-sized body (585 KB) is left out: under the sanitizer each run of it takes
    # long enough to cut a target's executions per second by five to ten times.
    reviews += sorted(p for p in root.glob("tests/data/bench/*.json")
                      if p.stat().st_size <= 64 * 1024)
    for path in reviews:
        raw = path.read_bytes()
        review = json.loads(raw)
        seeds["admission"] += [raw, compact(review).encode()]
        request = review.get("request") or {}
        obj, old = request.get("object"), request.get("oldObject")
        if obj is None:
            continue
        stream = compact(obj) + ("\n" + compact(old) if old is not None else "")
        seeds["admission_objects"].append(stream.encode())
        docs = [d for d in (old, obj) if isinstance(d, dict)]
        for d in docs:
            seeds["check_yaml"] += [
                compact(d).encode(),
                (yaml_block(d) + "\n").encode(),
                ("---\n" + compact(d) + "\n").encode(),
            ]
        if len(docs) == 2:
            seeds["check_yaml"].append(
                ("\n---\n".join(yaml_block(d) for d in docs) + "\n").encode()
            )
            lst = {"apiVersion": "v1", "kind": "List", "items": docs}
            seeds["check_yaml"].append((yaml_block(lst) + "\n").encode())
    for path in sorted(root.glob("examples/manifests/*.yaml")):
        seeds["check_yaml"].append(path.read_bytes())

    for target, items in seeds.items():
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        added = 0
        for data in items:
            f = d / hashlib.sha1(data).hexdigest()
            if not f.exists():
                f.write_bytes(data)
                added += 1
        print(f"seed: {target}: {len(items)} seeds, {added} new in {d}")


if __name__ == "__main__":
    main()
