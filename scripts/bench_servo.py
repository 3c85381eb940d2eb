"""Milliseconds per CEM servo `act()` on the CPU, KukaDiverse-v0 at 48 px, untrained spatial models (the time does
not depend on the weights): one model with Levine's search (3 x 64 samples), and six models scoring in both worlds
with 3 x 256 samples (the servo of docs/RESULTS.md, 2026-12-06). Each act sees a new image, as in an episode.

    python scripts/bench_servo.py [--acts 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--acts", type=int, default=40, help="timed act() calls per servo")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (an eval worker uses 1)")
    args = ap.parse_args()
    import torch

    from robolearn.config import load_toml
    from robolearn.envs import load_env_config
    from robolearn.models import GraspCNN, GraspCNNConfig
    from robolearn.policies.cem import CEMConfig, CEMServo, model_scorer
    from robolearn.sim.camera import fixed_clip_matrix
    from robolearn.train.grasp import TrainConfig

    torch.set_num_threads(args.threads)
    env = load_env_config("robolearn/KukaDiverse-v0")
    camera = tuple(fixed_clip_matrix(env.camera).ravel())
    fields = load_toml(Path(__file__).resolve().parents[1] / "policies" / "grasp_cnn_recipe.toml", TrainConfig).model
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.acts + 3, 48, 48, 3), dtype=np.uint8)
    state = np.array([0.57, 0.02, 0.3, 0.0, 1.0, 1.0, 3 / 8], np.float32)
    for models, samples, elites in ((1, 64, 6), (6, 256, 16)):
        scorers = []
        for k in range(models):
            torch.manual_seed(k)
            model = GraspCNN(GraspCNNConfig.for_size(48, camera=camera, **fields))
            scorers.append(model_scorer(model, mirror_camera=camera))

        def mean(obs, commands, scorers=scorers):
            return np.mean([s(obs, commands) for s in scorers], axis=0)

        servo = CEMServo(mean, env, CEMConfig(samples=samples, elites=elites))
        for img in images[:3]:  # warm-up
            servo.act({"rgb": img, "state": state})
        t = time.perf_counter()
        for img in images[3:]:
            servo.act({"rgb": img, "state": state})
        ms = 1000 * (time.perf_counter() - t) / args.acts
        print(f"{models} model(s), mirror average, 3 x {samples} samples: {ms:.1f} ms per act", flush=True)


if __name__ == "__main__":
    main()
