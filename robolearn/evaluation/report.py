"""Several policies evaluated side by side: the comparison table, a plot, the JSON report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def join_outcomes(out: dict[str, list[dict]], name: str, outcomes: list[dict], where: str, pool: bool) -> None:
    """Add a source's per-episode outcomes under `name`: beside the others (renamed by `where`), or, with `pool`,
    after them; pooled runs must be on disjoint seeds (ValueError)."""
    if name not in out:
        out[name] = list(outcomes)
    elif not pool:
        out[f"{name} ({where})"] = list(outcomes)
    elif {e["seed"] for e in out[name]} & {e["seed"] for e in outcomes}:
        raise ValueError(f"{name} in {where} repeats seeds it already has; pool runs on disjoint seeds")
    else:
        out[name] += outcomes


def read_outcomes(paths: list[str], pool: bool = False) -> dict[str, list[dict]]:
    """Every policy's per-episode outcomes from `robolearn eval` report.json files (see `join_outcomes`);
    ValueError naming a file that is not a report."""
    import json

    out: dict[str, list[dict]] = {}
    for path in paths:
        try:
            policies = json.loads(Path(path).read_text())["policies"]
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"{path}: not a robolearn eval report.json ({e.__class__.__name__}: {e})") from None
        for name, result in policies.items():
            join_outcomes(out, name, result["per_episode"], path, pool)
    return out


def paired_difference(a: list[dict], b: list[dict], z: float = 1.96) -> tuple[float, float, float]:
    """Success of `a` minus success of `b` over the same episode seeds (their `per_episode` lists), with a 95%
    normal interval over the per-seed differences. Pairing removes what the scenes share: two policies of
    about 65% that differ by chance in a third of the scenes are a few points apart on 300 seeds, and an
    unpaired pair of Wilson intervals cannot tell that from a real gain."""
    sa, sb = {e["seed"]: e["success"] for e in a}, {e["seed"]: e["success"] for e in b}
    if sa.keys() != sb.keys() or not sa:
        raise ValueError("a paired difference needs the same episode seeds on both sides")
    d = [float(sa[s]) - float(sb[s]) for s in sa]
    n = len(d)
    mean = sum(d) / n
    sd = (sum((x - mean) ** 2 for x in d) / (n - 1)) ** 0.5 if n > 1 else 0.0
    half = z * sd / n**0.5
    return mean, mean - half, mean + half


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per policy with success, its 95% Wilson interval, episodes and speed; from the second
    policy on, its difference from the first over the same seeds, with a paired 95% interval."""
    first = next(iter(results))
    rows = [f"| policy | success | 95% CI | episodes | episodes/s | vs {first}, paired (95% CI) |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in results.items():
        lo, hi = r["success_ci95"]
        diff = ""
        if name != first:
            d, dlo, dhi = paired_difference(r["per_episode"], results[first]["per_episode"])
            diff = f"{d:+.3f} ({dlo:+.3f} to {dhi:+.3f})"
        rows.append(f"| {name} | {r['success_rate']:.3f} | {lo:.3f}–{hi:.3f} | {r['episodes']} | "
                    f"{r['episodes_per_s']:.2f} | {diff} |")  # fmt: skip
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


def read_columns(specs: list[str], pool: bool = False) -> dict[str, list[dict]]:
    """Per-seed outcomes from CSV columns of earlier results folders: `FILE:COLUMN`, or `FILE` for all its columns
    (a `seed` column and one 0/1 column per policy). Named `COLUMN (folder)`, or with `pool` by the column alone and
    joined across files (see `join_outcomes`). ValueError naming a file or column that is not there."""
    import csv

    out: dict[str, list[dict]] = {}
    for spec in specs:
        path, _, column = spec.partition(":") if spec.count(":") == 1 else (spec, "", "")
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            raise ValueError(f"--earlier {spec}: {exc.strerror}") from None
        columns = [c for c in rows[0] if c != "seed"] if rows else []
        for c in [column] if column else columns:
            if c not in columns:
                raise ValueError(f"--earlier {spec}: no column {c!r}; {path} has {', '.join(columns)}")
            outcomes = [{"seed": int(r["seed"]), "success": bool(int(r[c]))} for r in rows]
            join_outcomes(out, c if pool else f"{c} ({Path(path).parent.name})", outcomes, path, pool)
    return out


def paired_tables(new: dict[str, list[dict]], earlier: dict[str, list[dict]]) -> str:
    """Markdown: each new policy's success and its paired difference (points, 95% interval) from every other new
    policy; with `earlier`, from each earlier column too. ValueError where two sources cover other seeds."""

    def rate(a: list[dict]) -> str:
        return f"{sum(e['success'] for e in a) / len(a):.1%}"

    def diff(a: list[dict], b: list[dict]) -> str:
        m, lo, hi = paired_difference(a, b)
        return f"{100 * m:+.1f} ({100 * lo:+.1f} to {100 * hi:+.1f})"

    names = list(new)
    lines = ["| policy | success | " + " | ".join(f"vs {n}" for n in names) + " |", "|---" * (len(names) + 2) + "|"]
    for n in names:
        cells = ["" if m == n else diff(new[n], new[m]) for m in names]
        lines.append(f"| {n} | {rate(new[n])} | " + " | ".join(cells) + " |")
    if earlier:
        lines += ["", "| policy | " + " | ".join(f"vs {k} ({rate(v)})" for k, v in earlier.items()) + " |",
                  "|---" * (len(earlier) + 1) + "|"]  # fmt: skip
        lines += [f"| {n} | " + " | ".join(diff(new[n], v) for v in earlier.values()) + " |" for n in names]
    return "\n".join(lines) + "\n"


def write_outcomes_csv(path: Path, outcomes: dict[str, list[dict]]) -> None:
    """One row per seed, one 0/1 column per policy (empty where a policy did not play that seed)."""
    import csv

    seeds = sorted({e["seed"] for v in outcomes.values() for e in v})
    by_seed = {n: {e["seed"]: int(e["success"]) for e in v} for n, v in outcomes.items()}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seed", *outcomes])
        w.writerows([s, *(by_seed[n].get(s, "") for n in outcomes)] for s in seeds)
