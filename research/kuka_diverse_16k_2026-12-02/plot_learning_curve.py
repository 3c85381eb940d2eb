"""The learning curve of docs/RESULTS.md (2026-12-02, night): CEM servo success on the same 500 held-out
KukaDiverse scenes (seeds 1,002,300-1,002,799) against the oracle-mix grasp attempts its model was trained on,
one point per training run, and the mean over training seeds as a line.

    python docs/results/kuka_diverse_16k_2026-12-02/plot_learning_curve.py
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


def success(path: Path, name: str) -> tuple[float, list[list[float]]]:
    """The success rate of column `name` of a per-seed CSV and its Wilson interval as errorbar's yerr."""
    ok = [int(row[name]) for row in csv.DictReader(path.open())]
    p = sum(ok) / len(ok)
    lo, hi = wilson_interval(sum(ok), len(ok))
    return p, [[p - lo], [hi - p]]


now = HERE / "per_seed_500.csv"
before = HERE.parent / "kuka_diverse_readout_height_2026-12-02" / "per_seed_500.csv"
single = [  # (attempts, csv, column): one model each, `policies/grasp_cnn_spatial.toml`
    (4000, before, "cem_4k_below"),
    (4000, now, "cem_4k_s13"),
    (8000, before, "cem_8k_below"),
    (16000, now, "cem_16k_seed0"),
    (16000, now, "cem_16k_seed1"),
]
ensembles = [
    (12000, before, "ensemble4_below", "ensemble of four (mix, mix2, probe)"),
    (16000, now, "cem_16k_ensemble2", "ensemble of the two 16k seeds"),
]

fig, ax = plt.subplots(figsize=(5.6, 3.4), dpi=120)
means: dict[int, list[float]] = {}
for i, (attempts, path, name) in enumerate(single):
    p, yerr = success(path, name)
    means.setdefault(attempts, []).append(p)
    ax.errorbar(
        [attempts],
        [p],
        yerr=yerr,
        fmt="o",
        color="C0",
        capsize=4,
        alpha=0.7,
        label="one model (a training run)" if i == 0 else None,
    )
xs = sorted(means)
ax.plot(xs, [sum(means[x]) / len(means[x]) for x in xs], "-", color="C0", label="mean over training runs")
for (attempts, path, name, label), style in zip(ensembles, ["D", "s"], strict=True):
    p, yerr = success(path, name)
    ax.errorbar([attempts + 300], [p], yerr=yerr, fmt=style, capsize=4, label=label)
ax.axhline(0.9, color="grey", lw=0.8, ls=":")
ax.text(3000, 0.905, "target 90%", fontsize=7, color="grey")
ax.set_xscale("log", base=2)
ax.set_xticks([4000, 8000, 16000], ["4,000", "8,000", "16,000"])
ax.set_xlim(2800, 23000)
ax.set_xlabel("oracle-mix grasp attempts the model was trained on")
ax.set_ylabel("CEM servo success, 500 held-out scenes")
ax.set_ylim(0.5, 1.0)
ax.grid(alpha=0.3)
ax.legend(fontsize=7, loc="lower right")
ax.set_title("robolearn/KukaDiverse-v0, test objects", fontsize=9)
fig.tight_layout()
fig.savefig(HERE / "learning_curve.png")
print(f"wrote {HERE / 'learning_curve.png'}")
