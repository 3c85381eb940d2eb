"""Ad hoc: the Kuka servo with no lateral motion for the last K actions (search yaw only). Not kept code."""

import json
import sys

import torch

from robolearn.envs import make_env
from robolearn.evaluation.rollout import rollout
from robolearn.policies.cem import CEMServo, load_servo

ckpt, k, seed0, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(1)
env = make_env("robolearn/KukaDiverse-v0", objects={"split": "test"})
servo = load_servo(ckpt, env.config)
orig = CEMServo._bounds
held = [0]


def bounds(self, pos, steps_left):
    lo, hi = orig(self, pos, steps_left)
    if steps_left <= k:
        lo[:2] = hi[:2] = 0.0
        held[0] += 1
    return lo, hi


servo._bounds = bounds.__get__(servo)
rep = rollout(env, servo, range(seed0, seed0 + n), progress=True, desc=f"hold{k}")
print(f"K={k}: {rep.successes}/{rep.n}, held searches {held[0]}")
with open(out, "w") as f:
    json.dump([{"seed": e.seed, "success": e.success} for e in rep.episodes], f)
