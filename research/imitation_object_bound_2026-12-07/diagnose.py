"""Why does the true-state reward not lift the object? Two measures on the comparison's scenes (demonstrations 0-2):

1. Is the object task reachable near the demonstration? Replay the demonstration's own actions (which no learner
   sees), then copies with Gaussian noise of spread 0.05, 0.1 and 0.2 (actions in [-1, 1]), 6 each: object error
   and final grasp-point error, and how many meet the object task (every object within 5 cm).
2. What did the learner play? The mean sequence of `true_state-s{k}` (20,000 steps), beside the demonstration at
   the moment the demonstration's gripper starts to close (the grasps, 0 and 2): grasp-point error, height, gripper opening; and the mean
   |action change| between moments (the demonstration's actions are smooth).
3. Is it the motion or the gripper? The learner's motion (dx, dy, dz, dyaw) with the demonstration's gripper
   commands, and the demonstration's motion with the learner's gripper commands: the object task met or not.

    python research/imitation_object_bound_2026-12-07/diagnose.py [RUNS]   # from the repository root; ~2 min
RUNS: the comparison's runs folder (default out/imitation/runs).
"""

import sys

import numpy as np

from robolearn.data import open_dataset
from robolearn.train.imitation import ImitationConfig, ImitationEnv
from robolearn.train.sequence import load_sequence, play

DEMO = "out/tcn_experiment/data/kuka_test"
RUNS = sys.argv[1] if len(sys.argv) > 1 else "out/imitation/runs"


def tips_and_hands(env: ImitationEnv, actions: np.ndarray):
    env.reset()
    tips, hands = [], []
    for a in actions:
        obs, _, terminated, truncated, info = env.step(a.astype(np.float32))
        tips.append(info["labels"]["tip"][:3])
        hands.append(obs["state"][3:6])
        if terminated or truncated:
            break
    return np.asarray(tips, np.float64), np.asarray(hands, np.float64)


def main() -> None:
    dataset = open_dataset(DEMO)
    print("| demo | replay: object / final cm | noise 0.05: task met | 0.1 | 0.2 |")
    print("|---|---|---|---|---|")
    learned, swapped = [], []
    for k in range(3):
        ep = dataset[k]
        env = ImitationEnv(ImitationConfig(demo=DEMO, episode=k, reward="true_state"))
        actions = ep["action"].astype(np.float64)
        _, info = play(env, actions)
        row = [f"{info['object_error_cm']:.1f} / {info['final_error_cm']:.1f}"]
        rng = np.random.default_rng(0)
        for scale in (0.05, 0.1, 0.2):
            met = [play(env, np.clip(actions + scale * rng.standard_normal(actions.shape), -1, 1))[1]["objects_success"]
                   for _ in range(6)]  # fmt: skip
            row.append(f"{sum(met)} of 6")
        print(f"| {k} | " + " | ".join(row) + " |")
        seq = load_sequence(f"{RUNS}/true_state-s{k}/best").mean.numpy()
        tips, hands = tips_and_hands(env, seq)
        demo_tip, demo_open = ep["tip"][1:, :3], ep["state"][1:, 5]
        if demo_open[0] < 0.99:  # a push: the gripper never opens
            env.close()
            continue
        close = int(np.argmax(demo_open < 0.99))  # the first moment the demonstration's gripper is closing
        learned.append((k, close, 100 * np.linalg.norm(tips[close] - demo_tip[close]),
                        100 * (tips[close, 2] - demo_tip[close, 2]), hands[:close, 2].mean(), demo_open[:close].mean(),
                        np.abs(np.diff(seq, axis=0)).mean(), np.abs(np.diff(actions, axis=0)).mean()))  # fmt: skip
        n = min(len(seq), len(actions))
        for name, mixed in (("learner's motion, demonstration's gripper", np.c_[seq[:n, :4], actions[:n, 4:]]),
                            ("demonstration's motion, learner's gripper", np.c_[actions[:n, :4], seq[:n, 4:]])):
            info = play(env, mixed)[1]
            swapped.append((k, name, info["objects_success"], info["object_error_cm"], info["pose_error_cm"]))
        env.close()
    print("\n| demo | closing at | grasp point off (cm) | of it, height (cm) | opening before: learner / demo "
          "| mean action change: learner / demo |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for k, close, off, dz, o_l, o_d, c_l, c_d in learned:
        print(f"| {k} | {close} | {off:.1f} | {dz:+.1f} | {o_l:.2f} / {o_d:.2f} | {c_l:.2f} / {c_d:.2f} |")
    print("\n| demo | played | object task met | object error (cm) | path error (cm) |")
    print("|---|---|---|---|---|")
    for k, name, met, obj, path in swapped:
        print(f"| {k} | {name} | {'yes' if met else 'no'} | {obj:.1f} | {path:.1f} |")


if __name__ == "__main__":
    main()
