"""Where the servo's grasps close: distance to the nearest object's grasp point, yaw error against its
narrow side, whether that object fits the fingers, and the outcome. An ad hoc count for docs/RESULTS.md
(2026-12-02), not a maintained tool:

    python docs/results/kuka_diverse_readout_height_2026-12-02/aim_count.py CHECKPOINT 80 1002000 OUT.json
"""

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from robolearn.envs import make_env
from robolearn.envs.task import grasp_frame
from robolearn.policies.cem import load_servo

ck, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
env = make_env("robolearn/KukaDiverse-v0", objects={"split": "test"})
servo = load_servo(ck, env.config)
rows = []
for k in range(n):
    obs, _ = env.reset(seed=seed + k)
    servo.reset()
    done = False
    while not done:
        frames = [grasp_frame(env.world, i) for i in range(len(env.world.objects))]
        obs, _, term, trunc, info = env.step(servo.act(obs))
        done = term or trunc
    x, y, z, yaw = info["gripper_pose"]
    d = [np.hypot(*(f[0] - [x, y])) for f in frames]
    i = int(np.argmin(d))
    turn = (yaw - env.world.arm.yaw_for_axis(frames[i][1]) + math.pi / 2) % math.pi - math.pi / 2
    rows.append(
        dict(
            dist=float(d[i]),
            yaw_err=float(abs(turn)),
            width=float(frames[i][2]),
            fits=bool(frames[i][2] < env.world.arm.finger_gap - 0.005),
            late=env.t > 7,
            success=bool(info["is_success"]),
        )
    )
env.close()
json.dump(rows, open(sys.argv[4], "w"))
r = rows


def show(name, sel):
    sel = [x for x in r if sel(x)]
    if sel:
        print(f"{name:28s} n={len(sel):3d} success={np.mean([x['success'] for x in sel]):.2f}")


print(
    f"median dist {np.median([x['dist'] for x in r]):.3f} m, median yaw err {np.median([x['yaw_err'] for x in r]):.2f} rad"
)
show("all", lambda x: True)
show("dist<2cm", lambda x: x["dist"] < 0.02)
show("dist 2-4cm", lambda x: 0.02 <= x["dist"] < 0.04)
show("dist>=4cm", lambda x: x["dist"] >= 0.04)
show("yaw err<0.3", lambda x: x["yaw_err"] < 0.3)
show("yaw err 0.3-0.8", lambda x: 0.3 <= x["yaw_err"] < 0.8)
show("yaw err>=0.8", lambda x: x["yaw_err"] >= 0.8)
show("nearest fits", lambda x: x["fits"])
show("nearest too wide", lambda x: not x["fits"])
show("late", lambda x: x["late"])
