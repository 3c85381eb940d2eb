"""Benchmark `robolearn train`'s default thread count against every fixed one, side by side; writes a section of
docs/BENCHMARKS.md.

Grasp CNN training (64 px, batch 64) on a synthetic store, timed by its own summary (steps/s after start-up), in
each of four settings: the frames in memory or streamed by 2 loader workers, on an idle machine or beside one
process that keeps a core busy (a collection, a notebook, a browser). In each setting the default (`threads = 0`)
and torch threads 1 .. cores run one after another, twice, alternating; the best of each. The target: the default
within 20% of the best fixed setting everywhere.

    python scripts/bench_threads.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchdoc import publish  # noqa: E402

from robolearn.data.synthetic import write_blob_store  # noqa: E402

BUSY = "while True: pass"  # one core kept busy by another program


def steps_per_s(store: Path, out: Path, *, threads: int, in_memory: bool, steps: int) -> tuple[float, int]:
    """One `robolearn train` run; (steps/s after start-up, the threads it used)."""
    cfg = out.parent / f"{out.name}.toml"
    cfg.write_text(f"steps = {steps}\neval_every = {steps}\ncheckpoint_every = {steps}\nlog_every = 50\n"
                   f"threads = {threads}\n[data]\nstores = [\"{store}\"]\nholdout = 0.02\nworkers = 2\n"
                   f"in_memory = \"{'yes' if in_memory else 'no'}\"\n")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cmd = [sys.executable, "-m", "robolearn.cli", "train", str(cfg), "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"training failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out)
    return summary["samples_per_s"] / 64, summary["threads"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100, help="training steps a run")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each setting, alternating; the best counts")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    fixed = list(range(1, cores + 1))
    tmp = Path(tempfile.mkdtemp(prefix="bench_threads_"))
    rows = []
    try:
        store = tmp / "blobs.zarr"
        write_blob_store(store, episodes=160, size=64, frames=32)
        for busy in (False, True):
            hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
            try:
                for in_memory in (True, False):
                    best: dict[int, float] = {}
                    chosen = None
                    for _ in range(args.repeats):
                        for threads in [0, *fixed]:
                            rate, used = steps_per_s(store, tmp / "run", threads=threads, in_memory=in_memory,
                                                     steps=args.steps)  # fmt: skip
                            best[threads] = max(best.get(threads, 0.0), rate)
                            chosen = used if threads == 0 else chosen
                    top = max(best[t] for t in fixed)
                    rows.append({"busy": busy, "in_memory": in_memory, "default_threads": chosen,
                                 "steps_per_s": {str(t): best[t] for t in [0, *fixed]},
                                 "default_vs_best": best[0] / top})  # fmt: skip
                    print(rows[-1], flush=True)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    cmd = " ".join(["python scripts/bench_threads.py", *sys.argv[1:]])
    lines = [
        "## Training threads (`python scripts/bench_threads.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {cores} cores, torch {torch.__version__}; "
        f"command: `{cmd}`. `robolearn train` of the default grasp CNN (64 px, batch 64), {args.steps} steps a run, "
        "steps/s after start-up from its summary; within each setting the default and every fixed thread count "
        f"alternate, {args.repeats} times, best of each. \"Busy\": another process keeps one core busy throughout.",
        "",
        "| machine | frames | default picks | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in fixed)
        + " | default | default / best |",
        "|---|---|---|" + "---|" * len(fixed) + "---|---|",
    ]
    for r in rows:
        s = r["steps_per_s"]
        lines.append(f"| {'busy' if r['busy'] else 'idle'} | {'in memory' if r['in_memory'] else '2 loader workers'} "
                     f"| {r['default_threads']} | " + " | ".join(f"{s[str(t)]:.1f}" for t in fixed)
                     + f" | {s['0']:.1f} | **{r['default_vs_best']:.2f}** |")  # fmt: skip
    worst = min(r["default_vs_best"] for r in rows)
    lines += ["", f"The default (the cores free when training starts) reaches {worst:.2f} of the best fixed setting at "
              "worst (target: within 20%, ≥ 0.80). Set `threads` in a training TOML, or OMP_NUM_THREADS, to override "
              "it."]  # fmt: skip
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
