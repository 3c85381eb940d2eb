"""Does a heavier weight on the wrist and gripper in the true-state reward give the object task a working bound?

    python research/imitation_hand_weight_2026-12-07/run.py --weight 0.5 --episode 2 --out out/imitation_hand

One run of the comparison's object bound (`true_state`, the sequence learner, 20,000 env steps, seed = the
demonstration's episode, camera 1 seeing demonstration camera 0's scene) with robolearn.train.imitation.HAND_M set
to --weight (the library's value: 0.1 metres of reward per unit of sin / cos yaw or gripper opening). Writes
<out>/w<weight>-e<episode>[-d<discount>]/ (the run, summary.json); a rerun continues it. --discount: the
learner's (robolearn.train.sequence.SequenceConfig), for ../imitation_smoothing_2026-12-07. The smoothing runs
(-r<smoothing>) were made at d4b6703, with a --smoothing option; smoothing left the library after them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import robolearn.train.imitation as imitation
from robolearn.train.imitation import ImitationConfig
from robolearn.train.sequence import SequenceConfig, SequenceTrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weight", type=float, required=True)
    ap.add_argument("--episode", type=int, required=True)
    ap.add_argument("--demo", default="out/tcn_levers/data/kuka_test")
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path("out/imitation_hand"))
    ap.add_argument("--discount", type=float, default=1.0, help="the learner's discount (1: the library's default)")
    args = ap.parse_args()
    imitation.HAND_M = args.weight  # read by ImitationEnv.reward at each step
    out = args.out / (f"w{args.weight:g}-e{args.episode}" + (f"-d{args.discount:g}" if args.discount != 1 else ""))
    every = args.steps // 4
    cfg = SequenceTrainConfig(
        imitation=ImitationConfig(demo=args.demo, episode=args.episode, demo_view=0, agent_view=1,
                                  reward="true_state", task="objects"),
        learner=SequenceConfig(discount=args.discount), steps=args.steps, seed=args.episode, eval_every=every,
        checkpoint_every=every, out=str(out))  # fmt: skip
    summary = train(cfg, resume=out.exists(), progress=False)
    print(json.dumps({"weight": args.weight, "episode": args.episode, **summary}, default=str))


if __name__ == "__main__":
    main()
