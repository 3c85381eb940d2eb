"""Per-scene outcomes of the mirror runs (their eval report.json files) into per_seed_500.csv, and paired
differences (mean per-scene difference, +-1.96 standard errors) against each other and the earlier models'
columns on the same 500 seeds. `python pair.py out/s19/eval_s0/report.json out/s19/eval_s1/report.json out/s19/eval_8k/report.json`."""

import csv
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2] / "docs" / "results" / Path(__file__).parent.name  # its results folder
EARLIER = {
    "cem_4k_below (session 10)": ("kuka_diverse_readout_height_2026-12-02", "cem_4k_below"),
    "cem_4k_s13 (session 13, same data)": ("kuka_diverse_16k_2026-12-02", "cem_4k_s13"),
    "cem_16k_seed0": ("kuka_diverse_16k_2026-12-02", "cem_16k_seed0"),
    "cem_16k_seed1": ("kuka_diverse_16k_2026-12-02", "cem_16k_seed1"),
    "cem_16k_ensemble2": ("kuka_diverse_16k_2026-12-02", "cem_16k_ensemble2"),
    "ensemble4_below": ("kuka_diverse_readout_height_2026-12-02", "ensemble4_below"),
}


def paired(a: list[int], b: list[int]) -> str:
    d = [x - y for x, y in zip(a, b, strict=True)]
    m = sum(d) / len(d)
    h = 1.96 * math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d))
    return f"{100 * m:+.1f} ({100 * (m - h):+.1f} to {100 * (m + h):+.1f})"


cols: dict[str, dict[int, int]] = {}
for report in sys.argv[1:]:
    for name, p in json.loads(Path(report).read_text())["policies"].items():
        cols[name] = {e["seed"]: int(e["success"]) for e in p["per_episode"]}
seeds = sorted(next(iter(cols.values())))
assert all(sorted(c) == seeds for c in cols.values())
with open(HERE / "per_seed_500.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["seed", *cols])
    w.writerows([s, *(c[s] for c in cols.values())] for s in seeds)

earlier = {}
for label, (folder, col) in EARLIER.items():
    rows = {int(r["seed"]): int(r[col]) for r in csv.DictReader(open(HERE.parent / folder / "per_seed_500.csv"))}
    earlier[label] = [rows[s] for s in seeds]
names = list(cols)
print("| policy | success | " + " | ".join(f"vs {n}" for n in names) + " |")
print("|---" * (len(names) + 2) + "|")
for n in names:
    a = [cols[n][s] for s in seeds]
    print(f"| {n} | {sum(a) / len(a):.3f} | " + " | ".join("" if m == n else paired(a, [cols[m][s] for s in seeds])
                                                          for m in names) + " |")  # fmt: skip
print()
print("| policy | " + " | ".join(f"vs {k} ({sum(v) / len(v):.1%})" for k, v in earlier.items()) + " |")
print("|---" * (len(earlier) + 1) + "|")
for n in names:
    a = [cols[n][s] for s in seeds]
    print(f"| {n} | " + " | ".join(paired(a, v) for v in earlier.values()) + " |")
