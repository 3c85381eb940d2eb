"""Where a collection episode's time goes, by phase, in one process: rebuilding the world, dropping and
settling the objects, the arm's moves, rendering, and the grasp (close and lift), the last split by the
grasp's outcome. The policy is the oracle mix of the KukaDiverse-v0 data-scaling runs (half the actions
random). Writes a section of docs/BENCHMARKS.md.

    python scripts/profile_collect.py [--episodes 30] [--no-write]
"""

from __future__ import annotations

import argparse
import collections
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchdoc import publish  # noqa: E402

from robolearn.collection.campaign import CampaignConfig, episode_seeds  # noqa: E402
from robolearn.collection.record import record_episode  # noqa: E402
from robolearn.envs import load_env_config  # noqa: E402
from robolearn.envs.grasp_env import GraspEnv  # noqa: E402
from robolearn.policies.registry import make_policy  # noqa: E402
from robolearn.sim.world import World  # noqa: E402

PHASES = [(World, "reset", "rebuild the world"), (World, "place_objects", "drop and settle the objects"),
          (World, "move_arm", "the arm's moves"), (World, "render", "rendering the frames"),
          (GraspEnv, "_grasp", "the grasp: close and lift")]  # fmt: skip


def timed(totals: dict[str, float], cls: type, name: str) -> None:
    """Wrap `cls.name` so each call adds its seconds to totals[name]."""
    inner = getattr(cls, name)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - t

    setattr(cls, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=30, help="episodes timed (after one warm-up episode)")
    ap.add_argument(
        "--no-write", action="store_true", help="print the section only, do not put it in docs/BENCHMARKS.md"
    )
    args = ap.parse_args()
    if args.episodes < 1:
        ap.error(f"--episodes {args.episodes}: must be at least 1")

    totals: dict[str, float] = collections.defaultdict(float)
    for cls, name, _ in PHASES:
        timed(totals, cls, name)
    cfg = CampaignConfig(env="robolearn/KukaDiverse-v0", objects="train", seed=901, store="unused",
                         policy={"name": "oracle", "epsilon": 0.5, "down_bias": 0.5})  # fmt: skip
    env = GraspEnv(load_env_config(cfg.env, objects={"split": cfg.objects}))
    policy = make_policy(cfg.policy, env)
    record_episode(env, policy, *episode_seeds(cfg, 0))  # warm-up: imports, first mesh loads
    totals.clear()
    grasp_by_outcome: dict[bool, list[float]] = {True: [], False: []}
    t0 = time.perf_counter()
    for i in range(1, args.episodes + 1):
        before = totals["_grasp"]
        _, values = record_episode(env, policy, *episode_seeds(cfg, i))
        grasp_by_outcome[bool(values["success"])].append(totals["_grasp"] - before)
    seconds = time.perf_counter() - t0
    env.close()

    n = args.episodes
    rows = [f"| {label} | {1000 * totals[name] / n:.0f} | {totals[name] / seconds:.0%} |" for _, name, label in PHASES]
    rest = seconds - sum(totals[name] for _, name, _ in PHASES)
    rows.append(f"| the rest (policy, recording, python) | {1000 * rest / n:.0f} | {rest / seconds:.0%} |")
    outcome = "; ".join(
        f"{'successful' if ok else 'failed'} grasps ({len(v)}): {1000 * np.mean(v):.0f} ms"
        for ok, v in grasp_by_outcome.items()
        if v
    )
    text = "\n".join(
        [
            "## Collection: where an oracle-mix episode's time goes (`python scripts/profile_collect.py`)",
            "",
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, one process; command: "
            f"`python scripts/profile_collect.py --episodes {n}`. KukaDiverse-v0, training objects, the oracle with "
            "half its actions random (the data-scaling campaigns' policy), default physics. "
            f"{n / seconds:.2f} episodes/s ({1000 * seconds / n:.0f} ms an episode).",
            "",
            "| phase | ms/episode | share |",
            "|---|---|---|",
            *rows,
            "",
            f"The grasp phase by outcome: {outcome}. A successful grasp lifts for all of its substeps; a failed one "
            "stops early once the gripper holds nothing and is clear of the objects.",
        ]
    )
    publish(text, write=not args.no_write)


if __name__ == "__main__":
    main()
