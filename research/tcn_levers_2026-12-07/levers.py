"""Which cheap change speeds a multi-view TCN's learning on this CPU: one seed, 2,000 steps each, side by side.

    python research/tcn_levers_2026-12-07/levers.py --data out/tcn_levers/data --out out/tcn_levers

Each variant is the experiment's multi-view TCN (policies/tcn.toml, the KUKA's training episodes, views 0-2, view 3
held out) with one thing changed. Two runs at a time, one thread each; then one `robolearn eval-embedding` of all of
them beside the untrained network and pixels on the held-out episodes. A rerun continues unfinished runs.
Run at a0c71d7: `data.shift` (shift4) left the library after this run (it was not kept).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from robolearn.config import load_toml
from robolearn.train.tcn import TCNTrainConfig
from robolearn.workflows.reproduce import finished_checkpoint, run_parallel

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = {  # name: (data overrides, optim overrides, model overrides)
    "control": ({}, {}, {}),
    "shift4": ({"shift": 4}, {}, {}),
    "lr3e-3": ({}, {"lr": 3e-3}, {}),
    "stride4": ({"stride": 4}, {}, {}),
    "episodes8": ({"episodes": 8}, {}, {}),
    "embedding128": ({}, {}, {"embedding": 128}),  # added after the first five had run
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS)[:5])
    args = ap.parse_args()
    base = load_toml(ROOT / "policies" / "tcn.toml", TCNTrainConfig)
    cfgs = []
    for name in args.variants:
        data, optim, model = VARIANTS[name]
        cfgs.append(base.model_copy(update={
            "seed": args.seed, "steps": args.steps, "eval_every": args.steps, "checkpoint_every": args.steps // 4,
            "out": str(args.out / "runs" / name), "optim": base.optim.model_copy(update=optim),
            "model": {**base.model, **model},
            "data": base.data.model_copy(update={"stores": [str(args.data / "kuka_train")], "views": [0, 1, 2],
                                                 "memory_limit_mb": 16384, **data})}))  # fmt: skip
    run_parallel(cfgs, 2, lambda c: finished_checkpoint(c.out, c.steps))
    checkpoints = [a for n, c in zip(args.variants, cfgs) for a in ("-c", f"{n}={finished_checkpoint(c.out, c.steps)}")]
    ap_out = args.out / ("eval" if args.variants == list(VARIANTS)[:5] else f"eval_{'_'.join(args.variants)}")
    cmd = [sys.executable, "-m", "robolearn.cli", "eval-embedding", str(args.data / "kuka_test"), *checkpoints,
           "--train-store", str(args.data / "kuka_train"), "--held-out-view", "3", "--out", str(ap_out),
           "--force"]  # fmt: skip
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
