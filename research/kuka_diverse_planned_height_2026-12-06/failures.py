"""Ad hoc (session 25): play the scenes a policy failed in an eval report again, and say how each grasp went.

For each failed scene (its seed), from index FROM to TO of the report's failures: the oracle first rehearses a
straight grasp of each object (which objects a grasp at the true pose lifts), then the policy plays the scene again,
with the random state its CEM search has by then (other samples than in the report's run). One JSON line a scene:
success now, where the grasp closed against the nearest object (distance, yaw error, whether it fits the fingers,
the gap to its neighbour), whether it closed late, whether a straight grasp lifts that object, how many objects a
straight grasp lifts, and the object's rank in the oracle's heuristic. It was stopped after 48 of 125 scenes
(failures_replayed.jsonl):

    D=docs/results/kuka_diverse_planned_height_2026-12-06
    python $D/failures.py out/s25/eval_ens6_a/report.json $D/cem_ens6_avg.toml cem_ens6_avg 0 1000
    python $D/failures.py out/s25/eval_ens6_b/report.json $D/cem_ens6_avg.toml cem_ens6_avg 0 1000
"""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from diagnose_servo import grasp_facts  # noqa: E402

from robolearn.envs import make_env  # noqa: E402
from robolearn.envs.task import OraclePolicy, grasp_frame  # noqa: E402
from robolearn.policies.registry import make_policy, policy_config  # noqa: E402

report, policy_toml, name, first, last = sys.argv[1:6]
episodes = json.loads(Path(report).read_text())["policies"][name]["per_episode"]
failed = [e["seed"] for e in episodes if not e["success"]][int(first) : int(last)]
env = make_env("robolearn/KukaDiverse-v0", objects={"split": "test"})
policy = make_policy(policy_config(policy_toml), env)
for seed in failed:
    obs, _ = env.reset(seed=seed)
    policy.reset()
    oracle = OraclePolicy(env)
    straight = [oracle.rehearsal_succeeds(i) for i in range(len(env.world.objects))]
    ranking = oracle.ranking()
    done = False
    while not done:
        frames = [grasp_frame(env.world, i) for i in range(len(env.world.objects))]
        obs, _, terminated, truncated, info = env.step(policy.act(obs))
        done = terminated or truncated
    x, y, _, yaw = info["gripper_pose"]
    facts = grasp_facts(env.world, frames, x, y, yaw)
    nearest = int(np.argmin(np.hypot(*(np.array([f[0] for f in frames]) - [x, y]).T)))
    row = {"seed": seed, "success": bool(info["is_success"]), "dist": round(facts["dist"], 3),
           "yaw_err": round(facts["yaw_err"], 2), "fits": bool(facts["fits"]), "gap": round(facts["gap"], 3),
           "late": env.t > env.config.task.max_steps - 1, "target_straight_ok": bool(straight[nearest]),
           "n_straight_ok": int(sum(straight)), "oracle_first_ok": bool(straight[ranking[0]]),
           "target_rank": ranking.index(nearest)}  # fmt: skip
    print(json.dumps(row), flush=True)
env.close()
