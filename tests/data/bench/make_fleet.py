#!/usr/bin/env python3
"""Writes update-3500-clusters.json: update-50-clusters.json with TALM's status for 3,500
clusters in both objects, as the apiserver sends an UPDATE of a fleet's IBGU (about
600 KB). Run from this folder: python3 make_fleet.py"""

import copy
import json

CLUSTERS = 3500

with open("update-50-clusters.json") as f:
    review = json.load(f)
request = review["request"]
template = request["oldObject"]["status"]["clusters"][0]
clusters = []
for i in range(CLUSTERS):
    c = copy.deepcopy(template)
    c["name"] = f"sno-du-{i:04d}"
    clusters.append(c)
for side in ("object", "oldObject"):
    request[side]["status"]["clusters"] = clusters
request["uid"] = "c0ffee00-3500-4000-8000-000000003500"
with open("update-3500-clusters.json", "w") as f:
    json.dump(review, f, separators=(",", ":"))
