"""Verdicts of the OASIS STIX pattern matcher (stix2-matcher, PyPI) for tests/stix_differential.rs.

Usage: stix_verdicts.py CASES.json

For every pattern of `patterns` and `rejected` and every observation of `observations` in the
cases file, wraps the observation's cyber-observable objects in a STIX 2.1 bundle with one
observed-data object referring to all of them, and asks stix2-matcher whether the pattern
matches. Prints {"pattern id or text": {"observation id": true|false, ...}, ...} as JSON.
"""
import json
import sys

from stix2matcher.matcher import match


def bundle(obs):
    observed = {
        "type": "observed-data",
        "spec_version": "2.1",
        "id": "observed-data--00000000-0000-4000-8000-0000000000%02d" % int(obs["id"][1:]),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "first_observed": "2026-01-01T00:00:00Z",
        "last_observed": "2026-01-01T00:00:00Z",
        "number_observed": 1,
        "object_refs": [o["id"] for o in obs["objects"]],
    }
    return {"type": "bundle", "id": "bundle--" + observed["id"].split("--")[1],
            "objects": [observed] + obs["objects"]}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    bundles = [(o["id"], bundle(o)) for o in cases["observations"]]
    out = {}
    patterns = [(p["id"], p["pattern"]) for p in cases["patterns"]]
    patterns += [(r["pattern"], r["pattern"]) for r in cases["rejected"]]
    for key, pattern in patterns:
        out[key] = {oid: bool(match(pattern, [b], stix_version="2.1")) for oid, b in bundles}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
