"""Paired success differences between evaluation runs on the same episode seeds.

    python scripts/paired.py out/eval_a/report.json out/eval_b/report.json \
        --earlier docs/results/kuka_diverse_16k_2026-12-02/per_seed_500.csv:cem_16k_seed0 \
        --csv docs/results/NEW/per_seed_500.csv --md docs/results/NEW/paired.md

Reads every policy of each `robolearn eval` report (its per-episode outcomes) and, with --earlier, columns of
per-seed CSVs that earlier results folders keep (`FILE:COLUMN`, or `FILE` for all its columns). Writes the
reports' per-seed outcomes as one CSV (--csv) and prints, or writes (--md), two markdown tables: each new
policy's success and its paired difference from every other new policy, and from each earlier column. A
difference is the mean per-scene difference with a 95% normal interval
(robolearn.evaluation.report.paired_difference); every source must cover the same seeds.

With --pool, runs on different seeds join: a policy named in several reports (or a column of the same name in
several CSVs) counts every seed of all of them, e.g. two sets of 500 scenes as one of 1,000.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robolearn.evaluation.report import join_outcomes, paired_difference, read_outcomes  # noqa: E402

Outcomes = list[dict]  # [{"seed": int, "success": bool}], as a report's per_episode


def fail(message: str) -> None:
    print(f"paired.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_reports(paths: list[str], pool: bool = False) -> dict[str, Outcomes]:
    try:
        return read_outcomes(paths, pool)
    except ValueError as e:
        fail(str(e))


def read_columns(specs: list[str], pool: bool = False) -> dict[str, Outcomes]:
    out: dict[str, Outcomes] = {}
    for spec in specs:
        path, _, column = spec.partition(":") if spec.count(":") == 1 else (spec, "", "")
        try:
            rows = list(csv.DictReader(open(path)))
        except OSError as e:
            fail(f"--earlier {spec}: {e.strerror}")
        columns = [c for c in rows[0] if c != "seed"] if rows else []
        for c in [column] if column else columns:
            if c not in columns:
                fail(f"--earlier {spec}: no column {c!r}; {path} has {', '.join(columns)}")
            outcomes = [{"seed": int(r["seed"]), "success": bool(int(r[c]))} for r in rows]
            try:
                join_outcomes(out, c if pool else f"{c} ({Path(path).parent.name})", outcomes, path, pool)
            except ValueError as e:
                fail(str(e))
    return out


def diff(a: Outcomes, b: Outcomes) -> str:
    try:
        m, lo, hi = paired_difference(a, b)
    except ValueError as e:
        fail(str(e))
    return f"{100 * m:+.1f} ({100 * lo:+.1f} to {100 * hi:+.1f})"


def rate(a: Outcomes) -> str:
    return f"{sum(e['success'] for e in a) / len(a):.1%}"


def tables(new: dict[str, Outcomes], earlier: dict[str, Outcomes]) -> str:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+", help="robolearn eval report.json files")
    ap.add_argument("--earlier", action="append", default=[], help="FILE.csv:COLUMN (or FILE.csv) of per-seed outcomes")
    ap.add_argument("--csv", help="write the reports' per-seed outcomes here")
    ap.add_argument("--md", help="write the tables here instead of printing them")
    ap.add_argument("--pool", action="store_true", help="join the runs of a policy (or column) on different seeds")
    args = ap.parse_args()
    new, earlier = read_reports(args.reports, args.pool), read_columns(args.earlier, args.pool)
    text = tables(new, earlier)
    if args.csv:
        seeds = sorted({e["seed"] for v in new.values() for e in v})
        by_seed = {n: {e["seed"]: int(e["success"]) for e in v} for n, v in new.items()}
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["seed", *new])
            w.writerows([s, *(by_seed[n].get(s, "") for n in new)] for s in seeds)
    if args.md:
        Path(args.md).write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
