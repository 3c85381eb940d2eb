"""What each hand-weight run learned, at the moment the demonstration's gripper starts to close: how far the grasp
point is (and how much of it height), the learner's mean gripper opening before it (the demonstration's: 1.0), and
whether the learner's motion with the demonstration's gripper commands lifts.

    python research/imitation_hand_weight_2026-12-07/gripper.py [RUNS]   # default out/imitation_hand
"""

import sys
from pathlib import Path

import numpy as np

from robolearn.data import open_dataset
from robolearn.train.imitation import ImitationConfig, ImitationEnv
from robolearn.train.sequence import load_sequence, play

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imitation_object_bound_2026-12-07"))
from diagnose import tips_and_hands  # noqa: E402  (the same play, recording grasp point and hand)

DEMO = "out/tcn_levers/data/kuka_test"
RUNS = Path(sys.argv[1] if len(sys.argv) > 1 else "out/imitation_hand")


def main() -> None:
    dataset = open_dataset(DEMO)
    print("| run | closing at | grasp point off (cm) | of it, height (cm) | opening before: learner / demo "
          "| learner's motion, demo's gripper: object error (cm) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for run in sorted(RUNS.glob("w*-e*")):
        if not (run / "summary.json").exists():
            continue
        k = int(run.name.split("-e")[1].split("-")[0])
        ep = dataset[k]
        env = ImitationEnv(ImitationConfig(demo=DEMO, episode=k, reward="true_state"))
        seq = load_sequence(run / "best").mean.numpy()
        tips, hands = tips_and_hands(env, seq)
        demo_tip, demo_open = ep["tip"][1:, :3], ep["state"][1:, 5]
        close = int(np.argmax(demo_open < 0.99))
        actions = ep["action"].astype(np.float64)
        n = min(len(seq), len(actions))
        mixed = play(env, np.c_[seq[:n, :4], actions[:n, 4:]])[1]
        env.close()
        print(f"| {run.name} | {close} | {100 * np.linalg.norm(tips[close] - demo_tip[close]):.1f} | "
              f"{100 * (tips[close, 2] - demo_tip[close, 2]):+.1f} | {hands[:close, 2].mean():.2f} / "
              f"{demo_open[:close].mean():.2f} | {mixed['object_error_cm']:.1f} |")


if __name__ == "__main__":
    main()
