"""Which negatives a multi-view TCN learns best from: a pilot on the TCN experiment's data (one seed, 2,000 steps).

    python research/tcn_negatives_2026-12-07/pilot.py --data out/tcn_experiment/data --out out/tcn_negatives

Trains each variant of policies/tcn.toml on the KUKA training episodes (views 0-2; view 3 held out), then one
`robolearn eval-embedding` of all of them beside the untrained network and pixels on the held-out episodes.
A rerun skips the variants already trained.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from robolearn.config import load_toml
from robolearn.train.tcn import TCNTrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = {  # name: (negatives, stride, episodes a batch, window)
    "control": ("batch", 1, 4, 8),
    "episode": ("episode", 1, 4, 8),
    "stride4": ("batch", 4, 4, 8),
    "episode_stride4": ("episode", 4, 4, 8),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    base = load_toml(ROOT / "policies" / "tcn.toml", TCNTrainConfig)
    checkpoints = []
    for name in args.variants:
        negatives, stride, episodes, window = VARIANTS[name]
        out = args.out / "runs" / name
        cfg = base.model_copy(update={
            "negatives": negatives, "seed": args.seed, "steps": args.steps, "eval_every": args.steps,
            "checkpoint_every": args.steps, "out": str(out),
            "data": base.data.model_copy(update={"stores": [str(args.data / "kuka_train")], "views": [0, 1, 2],
                                                 "stride": stride, "episodes": episodes, "window": window,
                                                 "memory_limit_mb": 16384})})  # fmt: skip
        if not (out / "summary.json").exists():
            summary = train(cfg, resume=out.exists())
            print(f"{name}: validation {summary['val']}", flush=True)
        checkpoints += ["-c", f"{name}={out / 'checkpoints' / f'step-{args.steps:07d}'}"]
    cmd = [sys.executable, "-m", "robolearn.cli", "eval-embedding", str(args.data / "kuka_test"), *checkpoints,
           "--train-store", str(args.data / "kuka_train"), "--held-out-view", "3", "--out", str(args.out / "eval"),
           "--force"]  # fmt: skip
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
