"""Does a time-indexed learner imitate where PPO did not? CEM over the action sequence of the demonstration's scene.

Sermanet et al. (2017) learned imitation with time-varying controllers (PILQR) from one start state; the simplest
member of that family is a Gaussian over the whole action sequence, refitted to its best samples (CEM). The env is
robolearn's ImitationEnv (the same scene every episode, deterministic), so a sequence's return is exact.

    python research/imitation_sequence_2026-12-07/cem_pilot.py --reward true_pose --out out/imitation_cem/true_pose
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from robolearn.train.imitation import ImitationConfig, ImitationEnv
from robolearn.train.sequence import play  # the prototype's own copy, identical, moved there


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reward", default="true_pose")
    ap.add_argument("--form", default="time")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--demo", default="out/tcn_experiment/data/kuka_test")
    ap.add_argument("--episode", type=int, default=0)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--elites", type=int, default=4)
    ap.add_argument("--std", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--per-step",
        action="store_true",
        help="each moment's elites by the reward from it on "
        "(PI2's cost-to-go: an action changes only what comes after it); else by the whole return",
    )
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    env = ImitationEnv(ImitationConfig(demo=a.demo, episode=a.episode, reward=a.reward, form=a.form,
                                       checkpoint=a.checkpoint))  # fmt: skip
    horizon = len(env.demo.tip) - 1
    rng = np.random.default_rng(a.seed)
    mu, sd = np.zeros((horizon, 5)), np.full((horizon, 5), a.std)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, steps, t0 = [], 0, time.perf_counter()
    while steps + a.samples * horizon <= a.steps:
        seqs = np.clip(mu + sd * rng.standard_normal((a.samples, horizon, 5)), -1, 1)
        rewards = np.stack([play(env, s)[0] for s in seqs])  # (samples, horizon)
        steps += a.samples * horizon
        if a.per_step:
            to_go = np.cumsum(rewards[:, ::-1], 1)[:, ::-1]  # (samples, horizon): the reward from t on
            best = np.argsort(to_go, 0)[-a.elites :]  # (elites, horizon)
            elite = np.take_along_axis(seqs, best[:, :, None], 0)
        else:
            elite = seqs[np.argsort(rewards.sum(1))[-a.elites :]]
        mu, sd = elite.mean(0), np.maximum(elite.std(0), 0.05)
        played, info = play(env, mu)  # the mean sequence: what the learner plays deterministically
        row = {"step": steps, "return": float(played.sum()), "best_sample_return": float(rewards.sum(1).max()),
               **{k: float(info[k]) for k in ("pose_error_cm", "final_error_cm", "object_error_cm")},
               "seconds": time.perf_counter() - t0}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    (out / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    play(env, mu)
    np.savez(out / "played.npz", actions=mu, path=np.asarray(env.path), demo=env.demo.tip)


if __name__ == "__main__":
    main()
