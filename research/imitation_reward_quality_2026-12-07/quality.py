"""Does a reward rank behaviours as the simulator's truth does? Around each demonstration's own actions (which no
learner sees), play perturbed copies at several noise scales, score every play with each reward from the same
frames, and report the Spearman correlation of each reward's return with the true-pose return (minus the summed
distance between the grasp points). A reward the learner can climb must correlate; one that does not can mislead it.

    python research/imitation_reward_quality_2026-12-07/quality.py   # from the repository root; about 5 minutes
"""

import json
import sys
from pathlib import Path

import numpy as np

from robolearn.data import open_dataset
from robolearn.train.imitation import ImitationConfig, ImitationEnv

DEMO = "out/tcn_experiment/data/kuka_test"
REWARDS = {  # name -> ImitationConfig overrides
    "tcn (2,000 steps)": {"reward": "tcn", "checkpoint": "out/tcn_experiment/runs/tcn-s0/checkpoints/step-0002000"},
    "tcn (8,000 steps)": {"reward": "tcn", "checkpoint": "out/tcn_long/checkpoints/step-0008000"},
    "single-view tcn": {"reward": "tcn",
                        "checkpoint": "out/tcn_experiment/runs/single_view-s0/checkpoints/step-0002000"},
    "supervised (pose labels)": {"reward": "tcn",
                                 "checkpoint": "out/tcn_experiment/runs/supervised-s0/checkpoints/step-0002000"},
    "untrained": {"reward": "untrained", "checkpoint": "out/tcn_experiment/runs/tcn-s0/checkpoints/step-0002000"},
    "pixels": {"reward": "pixels"},
}
SCALES, PER_SCALE = (0.0, 0.1, 0.2, 0.4, 0.8), 12
OUT = Path("docs/results/imitation_reward_quality_2026-12-07")


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties given their mean rank."""
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):
        r[x == v] = r[x == v].mean()
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def plays(episode: int):
    """Each play's frames (the learner's camera), grasp points, wrist and gripper, and objects, step by step."""
    env = ImitationEnv(ImitationConfig(demo=DEMO, episode=episode, reward="true_pose"))
    actions = open_dataset(DEMO)[episode]["action"].astype(np.float64)
    rng = np.random.default_rng(episode)
    runs = []
    for scale in SCALES:
        for k in range(PER_SCALE if scale > 0 else 1):
            noisy = np.clip(actions + scale * rng.standard_normal(actions.shape), -1, 1)
            obs, _ = env.reset()
            steps, true = [], 0.0
            for t, a in enumerate(noisy[: env.env.config.frames - 1]):
                obs, r, term, trunc, info = env.step(a.astype(np.float32))
                tip = info["labels"]["tip"][:3].astype(np.float64)
                objects = info["labels"]["objects"][:, :3].astype(np.float64)
                steps.append((obs["rgb"], tip, obs["state"][3:6], objects, min(env.env.t, len(env.demo.tip) - 1)))
                true += r
                if term or trunc:
                    break
            runs.append({"scale": scale, "true": true, "steps": steps})
    still = [np.zeros(5, np.float32)] * (env.env.config.frames - 1)  # standing still, as a play too
    obs, _ = env.reset()
    steps, true = [], 0.0
    for a in still:
        obs, r, term, trunc, info = env.step(a)
        steps.append((obs["rgb"], info["labels"]["tip"][:3].astype(np.float64), obs["state"][3:6],
                      info["labels"]["objects"][:, :3].astype(np.float64), min(env.env.t, len(env.demo.tip) - 1)))
        true += r
        if term or trunc:
            break
    runs.append({"scale": "still", "true": true, "steps": steps})
    env.close()
    return runs


def main() -> None:
    table = {}
    for episode in range(3):
        runs = plays(episode)
        true = np.array([r["true"] for r in runs])
        for name, over in REWARDS.items():
            env = ImitationEnv(ImitationConfig(demo=DEMO, episode=episode, **over))
            got = np.array([sum(env.reward(*step, 0) for step in r["steps"]) for r in runs])  # (rgb, tip, hand, objects, t)
            env.close()
            rho = spearman(got, true)
            still_rank = float((got > got[-1]).mean())  # the share of plays this reward prefers to standing still
            table.setdefault(name, {})[episode] = {"spearman": rho, "better_than_still": still_rank}
            print(episode, name, f"spearman {rho:.2f}", f"prefers to still: {still_rank:.2f}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "quality.json").write_text(json.dumps(table, indent=2))
    lines = ["| reward | Spearman with the true pose: demo 0 / 1 / 2 | mean |", "|---|---|---|"]
    for name, per in table.items():
        rhos = [per[e]["spearman"] for e in range(3)]
        lines.append(f"| {name} | {' / '.join(f'{r:.2f}' for r in rhos)} | {np.mean(rhos):.2f} |")
    (OUT / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
