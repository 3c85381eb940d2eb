"""The learning curve of docs/RESULTS.md (2026-12-02; the round of the servo's own grasps added later that day): CEM servo success on the same 500 held-out
KukaDiverse scenes (seeds 1,002,300-1,002,799) against the grasp attempts its model was trained on.

    python docs/results/kuka_diverse_readout_height_2026-12-02/plot_learning_curve.py
"""

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parents[2] / "docs" / "results" / Path(__file__).parent.name  # its results folder
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from robolearn.evaluation.rollout import wilson_interval  # noqa: E402


def column(path: Path, name: str) -> list[int]:
    return [int(row[name]) for row in csv.DictReader(path.open())]


now = HERE / "per_seed_500.csv"
before = HERE.parent / "kuka_diverse_grasp_height_2026-12-01" / "per_seed_500.csv"
later = HERE.parent / "kuka_diverse_outcomes_2026-12-02" / "per_seed_500.csv"
series = [
    ("readout at the grasp and below it (2026-12-02)", now, [(4000, "cem_4k_below"), (8000, "cem_8k_below")], "o-"),
    ("readout at the grasp only (2026-12-01)", before, [(4000, "cem_4k"), (8000, "cem_8k")], "s--"),
    ("below, 4,000 mix + 4,000 probe episodes", now, [(8000, "cem_probe_below")], "^"),
    ("ensemble of the four below models (mix, mix2, probe)", now, [(12000, "ensemble4_below")], "D"),
    ("below, fine-tuned on + 2,500 of its servo's episodes", later, [(6500, "round1_finetuned")], "v"),
]
fig, ax = plt.subplots(figsize=(5.6, 3.4), dpi=120)
for label, path, points, style in series:
    xs, ys, err = [], [], [[], []]
    for attempts, name in points:
        ok = column(path, name)
        p = sum(ok) / len(ok)
        lo, hi = wilson_interval(sum(ok), len(ok))
        xs.append(attempts)
        ys.append(p)
        err[0].append(p - lo)
        err[1].append(hi - p)
    ax.errorbar(xs, ys, yerr=err, fmt=style, capsize=4, label=label)
ax.axhline(0.9, color="grey", lw=0.8, ls=":")
ax.text(4100, 0.905, "target 90%", fontsize=7, color="grey")
ax.set_xlabel("grasp attempts the model was trained on")
ax.set_ylabel("CEM servo success, 500 held-out scenes")
ax.set_xticks([4000, 8000, 12000])
ax.set_xlim(3000, 13000)
ax.set_ylim(0.4, 1.0)
ax.grid(alpha=0.3)
ax.legend(fontsize=7, loc="lower right")
ax.set_title("robolearn/KukaDiverse-v0, test objects", fontsize=9)
fig.tight_layout()
fig.savefig(HERE / "learning_curve.png")
print(f"wrote {HERE / 'learning_curve.png'}")
