"""The sequence learner over a few knots instead of every moment: does it make the object task's bound work?

The library's learner (robolearn/train/sequence.py) searches 31 moments x 5 actions = 155 numbers with 16 samples an
iteration. Played back after 20,000 steps its mean jumps from moment to moment and, on the grasps, reaches the
closing moment 5-8 cm above the demonstration with the gripper half open, so it never lifts
(research/imitation_object_bound_2026-12-07). Here the sequence is `knots` control points per action dimension,
linearly interpolated over the moments; each knot is refitted to the samples with the best reward from the first
moment it moves on (the library's rule, per knot). Everything else is the library's: env, reward, CEM settings,
seeding by (seed, iteration).

    python research/imitation_knots_2026-12-07/pilot.py --reward true_state --episode 0 --seed 0 --knots 8 \
        --out out/imitation_knots/true_state-e0-k8
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from robolearn.train.imitation import ImitationConfig, ImitationEnv
from robolearn.train.sequence import play


def basis(horizon: int, knots: int) -> np.ndarray:
    """(horizon, knots) weights of linear interpolation between knots spread evenly over the moments."""
    at = np.linspace(0, horizon - 1, knots)
    w = np.zeros((horizon, knots))
    for t in range(horizon):
        k = min(int(np.searchsorted(at, t, side="right")) - 1, knots - 2)
        f = (t - at[k]) / (at[k + 1] - at[k])
        w[t, k], w[t, k + 1] = 1 - f, f
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reward", default="true_state")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--demo", default="out/tcn_experiment/data/kuka_test")
    ap.add_argument("--episode", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--knots", type=int, default=8)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--elites", type=int, default=4)
    ap.add_argument("--std", type=float, default=0.5)
    ap.add_argument("--min-std", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=2000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    env = ImitationEnv(ImitationConfig(demo=a.demo, episode=a.episode, reward=a.reward, checkpoint=a.checkpoint))
    horizon, dims = env.env.config.frames - 1, env.action_space.shape[0]
    w = basis(horizon, a.knots)
    first = np.array([int(np.nonzero(w[:, k])[0][0]) for k in range(a.knots)])  # the first moment each knot moves
    mu, sd = np.zeros((a.knots, dims)), np.full((a.knots, dims), a.std)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, step, it, t0 = [], 0, 0, time.perf_counter()
    while step < a.steps:
        rng = np.random.default_rng([a.seed, it])
        draws = mu + sd * rng.standard_normal((a.samples, a.knots, dims))
        seqs = np.clip(np.einsum("tk,skd->std", w, draws), -1, 1)
        rewards = np.stack([play(env, s)[0] for s in seqs])
        to_go = np.cumsum(rewards[:, ::-1], 1)[:, ::-1][:, first]  # (samples, knots)
        best = np.argsort(to_go, 0, kind="stable")[-a.elites :]
        elite = np.take_along_axis(draws, best[:, :, None], 0)
        mu, sd = elite.mean(0), np.maximum(elite.std(0), a.min_std)
        before, step, it = step, step + a.samples * horizon, it + 1
        if step // a.eval_every > before // a.eval_every or step >= a.steps:
            played, info = play(env, np.clip(w @ mu, -1, 1))
            row = {
                "step": step,
                "return": float(played.sum()),
                "seconds": round(time.perf_counter() - t0, 1),
                **{k: round(float(info[k]), 2) for k in ("pose_error_cm", "final_error_cm", "object_error_cm")},
                "pose_success": bool(info["pose_success"]),
                "objects_success": bool(info["objects_success"]),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    np.save(out / "knots.npy", mu)
    env.close()


if __name__ == "__main__":
    main()
