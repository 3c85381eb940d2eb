"""Ad hoc (session 25): does a model trained on the recorded commands read lateness off the command's height?

For each store: its episodes by the number of actions before the grasp (7 on time, 8 late) and their success, and
how far the last action of a late episode moved the gripper sideways; then, on the first frame of up to 120 late
episodes, the label, the model's score of the recorded command (ending where the grasp closed, 0.02 m high) and of
the same command ending at the height the servo searches (0.08 m).

    python docs/results/kuka_diverse_planned_height_2026-12-06/leak.py out/s23/cnn/scratch24k/best \
        out/s22/data/mix12k_seg out/s23/data/cem8k_seg
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from robolearn.data.info import campaign_manifest, dataset_stores  # noqa: E402
from robolearn.envs.grasp import actions_left, planned_drop  # noqa: E402
from robolearn.models.checkpoint import load_model  # noqa: E402
from robolearn.train.grasp import dataset_task  # noqa: E402

LATE_EPISODES = 120

model, _ = load_model(sys.argv[1], expect="GraspCNN")
model.eval()
for path in sys.argv[2:]:
    task = dataset_task({path: campaign_manifest(path)})
    steps, success, moves, scores = [], [], [], []  # scores: (label, recorded, planned height) per late episode
    for store in dataset_stores(path):
        n = np.diff(store.episode_ends, prepend=0)
        steps.append(n)
        success.append(store.values("success"))
        last = store.episode_ends[n == task.max_steps] - 1  # a late episode's last frame: its 8th action's start
        moves.append(np.hypot(*store.group["data/motor_command"][:][last, :2].T))
        for k in np.flatnonzero(n == task.max_steps):
            if len(scores) == LATE_EPISODES:
                break
            ep = store.episode(int(k))
            state = torch.from_numpy(np.asarray(ep["state"][:1], np.float32))
            recorded = torch.from_numpy(np.asarray(ep["motor_command"][:1], np.float32))
            planned = recorded.clone()
            planned[0, 2] = float(planned_drop(state[0, 2].item(), actions_left(state[0].numpy(), task), task))
            with torch.no_grad():
                feats = model.features(torch.from_numpy(np.ascontiguousarray(ep["rgb"][:1])))
                p = [torch.sigmoid(model.score(feats, c, state)).item() for c in (recorded, planned)]
            scores.append((float(ep["success"]), *p))
    steps, success = np.concatenate(steps), np.concatenate(success)
    counts = ", ".join(f"{a} actions: {np.sum(steps == a)} ({success[steps == a].mean():.3f} successful)"
                       for a in np.unique(steps))  # fmt: skip
    label, recorded, planned = np.mean(scores, axis=0)
    print(f"{path}: {len(steps)} episodes; {counts}; a late episode's last action moved the gripper a median "
          f"{np.median(np.concatenate(moves)):.3f} m sideways")  # fmt: skip
    print(
        f"  first frames of {len(scores)} late episodes: {label:.3f} successful; the model scores the recorded "
        f"command {recorded:.3f}, the same command at the planned height {planned:.3f}"
    )
