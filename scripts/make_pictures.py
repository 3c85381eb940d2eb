"""Pictures for the README: each grasping env's camera view (PNG, at the env's resolution and at 256 px) and a
GIF of one oracle episode; for the motion envs, one episode's 4 views side by side (the KUKA above, the Panda playing
the same path below). Written to docs/img/.

    python scripts/make_pictures.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robolearn.collection.record import record_episode
from robolearn.envs import ENV_IDS, MOTION_ENV_IDS, make_env
from robolearn.evaluation.media import write_gif, write_png
from robolearn.evaluation.rollout import rollout
from robolearn.policies.registry import make_policy

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for env_id, preset in ENV_IDS.items():
        env = make_env(env_id, objects={"split": "test"})
        try:
            obs, _ = env.reset(seed=3)
            write_png(OUT / f"{preset}_view.png", obs["rgb"])
            report = rollout(env, make_policy("oracle", env), [3], record_first=1)
            write_gif(OUT / f"{preset}_oracle.gif", report.frames)
        finally:
            env.close()
        big = make_env(env_id, objects={"split": "test"}, camera={"width": 256, "height": 256})
        try:
            obs, _ = big.reset(seed=3)
            write_png(OUT / f"{preset}_view_256.png", obs["rgb"], min_size=256)
        finally:
            big.close()
        print(f"{env_id}: wrote docs/img/{preset}_view.png, {preset}_view_256.png, {preset}_oracle.gif")
    videos = []
    for env_id in MOTION_ENV_IDS:  # seed 2: a grasp
        env = make_env(env_id, objects={"split": "test"})
        try:
            frames, _ = record_episode(env, env.task.oracle(env), 2)
        finally:
            env.close()
        videos.append(np.concatenate(list(frames["rgb"].transpose(1, 0, 2, 3, 4)), axis=2))  # (T, H, V*W, 3)
    write_gif(OUT / "motion_views.gif", list(np.concatenate(videos, axis=1)), fps=8, min_size=128)
    print("motion envs: wrote docs/img/motion_views.gif")


if __name__ == "__main__":
    main()
