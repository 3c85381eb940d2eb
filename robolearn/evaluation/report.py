"""Several policies evaluated side by side: the comparison table, a plot, the JSON report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per policy with success, its 95% Wilson interval, episodes and speed."""
    rows = ["| policy | success | 95% CI | episodes | episodes/s |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lo, hi = r["success_ci95"]
        rows.append(f"| {name} | {r['success_rate']:.3f} | {lo:.3f}–{hi:.3f} | {r['episodes']} | "
                    f"{r['episodes_per_s']:.2f} |")  # fmt: skip
    return "\n".join(rows)


def success_plot(results: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    """A bar per policy: success rate with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    rates = [results[n]["success_rate"] for n in names]
    err = [[r - results[n]["success_ci95"][0] for n, r in zip(names, rates)],
           [results[n]["success_ci95"][1] - r for n, r in zip(names, rates)]]  # fmt: skip
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names), 3.2), dpi=120)
    ax.bar(names, rates, yerr=err, capsize=4, color="#4c72b0")
    ax.set_ylim(0, 1)
    ax.set_ylabel("grasp success (95% CI)")
    ax.set_title(title, fontsize=9)
    for i, r in enumerate(rates):
        ax.text(i, min(r + 0.03, 0.95), f"{r:.2f}", ha="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
