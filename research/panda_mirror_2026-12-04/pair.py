"""Per-scene outcomes of the GraspPanda-v0 mirror run into per_seed.csv, and the paired differences that
matter (each seed's mirror model against the plain model of the same seed, and both-world scoring on each)
with robolearn's own paired interval. `python pair.py out/s21/eval_panda/report.json`."""

import csv
import json
import sys
from pathlib import Path

from robolearn.evaluation.report import paired_difference

HERE = Path(__file__).resolve().parents[2] / "docs" / "results" / Path(__file__).parent.name  # its results folder
PAIRS = [("panda_mirror_s0", "panda_plain_s0"), ("panda_mirror_avg_s0", "panda_plain_s0"),
         ("panda_mirror_avg_s0", "panda_mirror_s0"), ("panda_plain_avg_s0", "panda_plain_s0"),
         ("panda_mirror_avg_s1", "panda_plain_s1")]  # fmt: skip

pol = json.loads(Path(sys.argv[1]).read_text())["policies"]
seeds = sorted(e["seed"] for e in next(iter(pol.values()))["per_episode"])
cols = {n: {e["seed"]: int(e["success"]) for e in p["per_episode"]} for n, p in pol.items()}
with open(HERE / "per_seed.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["seed", *cols])
    w.writerows([s, *(c[s] for c in cols.values())] for s in seeds)
print("| policy | against | paired difference (95% CI) |\n|---|---|---|")
for a, b in PAIRS:
    d, lo, hi = paired_difference(pol[a]["per_episode"], pol[b]["per_episode"])
    print(f"| {a} | {b} | {100 * d:+.1f} ({100 * lo:+.1f} to {100 * hi:+.1f}) |")
