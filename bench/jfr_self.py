#!/usr/bin/env python3
"""Aggregates JFR execution samples by the innermost gsa4j frame (so JDK helpers inlined into a
kernel, e.g. Objects.checkIndex inside FloatVector.fromArray, count for the kernel that called them).
Usage: jfr print --json --events jdk.ExecutionSample FILE.jfr | bench/jfr_self.py [top]"""
import collections
import json
import sys

top = int(sys.argv[1]) if len(sys.argv) > 1 else 25
data = json.load(sys.stdin)
events = data["recording"]["events"]
by_method, total = collections.Counter(), 0
for e in events:
    frames = e["values"]["stackTrace"]["frames"] if e["values"].get("stackTrace") else []
    name = None
    for f in frames:
        m = f["method"]
        cls = m["type"]["name"]
        if cls.startswith("org.gsa4j") or cls.startswith("org/gsa4j"):
            name = cls.replace("/", ".") + "." + m["name"]
            break
    if name is None and frames:
        m = frames[0]["method"]
        name = "(no gsa4j frame) " + m["type"]["name"].replace("/", ".") + "." + m["name"]
    by_method[name or "(no stack)"] += 1
    total += 1
print(f"{total} samples; innermost gsa4j frame:")
for name, n in by_method.most_common(top):
    print(f"{100.0 * n / total:6.1f}%  {n:6d}  {name}")
