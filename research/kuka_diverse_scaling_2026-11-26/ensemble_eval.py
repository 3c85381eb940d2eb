"""Experiment: CEM servo over the mean score of several GraspCNN checkpoints, on the 300 held-out scenes."""

import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

W = {}


def init(ckpts):
    import torch

    torch.set_num_threads(1)
    from robolearn.envs import make_env
    from robolearn.policies.cem import CEMServo, load_servo

    env = make_env("robolearn/KukaDiverse-v0", objects={"split": "test"})
    servos = [load_servo(c, env.config) for c in ckpts]
    scorers = [s.scorer for s in servos]

    def score(obs, commands):
        return np.mean([f(obs, commands) for f in scorers], axis=0)

    W.update(env=env, policy=CEMServo(score, env.config))


def run(seeds):
    from robolearn.evaluation.rollout import rollout

    r = rollout(W["env"], W["policy"], seeds)
    return [(e.seed, e.success) for e in r.episodes]


if __name__ == "__main__":
    out, ckpts = sys.argv[1], sys.argv[2:]
    seeds = list(range(1_000_000, 1_000_300))
    chunks = [seeds[i : i + 10] for i in range(0, 300, 10)]
    t = time.time()
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"), initializer=init, initargs=(ckpts,)) as pool:
        res = [x for part in pool.map(run, chunks) for x in part]
    s = np.array([x[1] for x in res])
    print(
        f"{out}: {s.mean():.3f} over {len(s)} (first 100 {s[:100].mean():.2f}, next 200 {s[100:].mean():.3f}) in {time.time() - t:.0f} s"
    )
    json.dump({"checkpoints": ckpts, "episodes": res, "success_rate": float(s.mean())}, open(out, "w"))
