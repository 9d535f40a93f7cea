"""Percentiles of `bench/run`'s latency files, the same code for both sides.

usage: stats.py FILE  (lines `set <µs>` / `query <µs>`); prints `KIND COUNT P50 P95 P99` per kind,
nearest-rank percentiles in µs.
"""

import math
import sys


def percentile(sorted_values, p):
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


samples = {}
with open(sys.argv[1]) as f:
    for line in f:
        kind, micros = line.split()
        samples.setdefault(kind, []).append(float(micros))
for kind in ("set", "query"):
    values = sorted(samples.get(kind, []))
    if not values:
        raise SystemExit(f"{sys.argv[1]}: no `{kind}` samples")
    p50, p95, p99 = (percentile(values, p) for p in (50, 95, 99))
    print(f"{kind} {len(values)} {p50:.1f} {p95:.1f} {p99:.1f}")
